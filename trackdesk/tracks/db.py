"""Opening a tracks.db: checks, pragmas shared by every writer, migrations."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import Engine, create_engine, event

from trackdesk.protocol import writer_pragmas
from trackdesk.tracks.migrations import NotATracksDb, migrate

__all__ = ["NotATracksDb", "ReadOnlyTracksDb", "check_tracks_db", "default_db_path",
           "open_db", "connect_raw", "on_read_only_fs", "ro_uri"]


class ReadOnlyTracksDb(NotATracksDb):
    """A valid tracks.db this process cannot write (a read-only file system or file):
    read-only commands can still open it with ``read_only=True``."""


def on_read_only_fs(path: Path) -> bool:
    """Whether ``path`` (or the folder it would be in) is on a read-only mount: root may
    write any file, but not there."""
    probe = path if path.exists() else path.parent
    try:
        return bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def default_db_path() -> Path:
    """The embedded default: ``tracks.db`` in the user's data folder (XDG on Linux)."""
    env = os.environ.get("TRACKDESK_DB")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "trackdesk" / "tracks.db"


def check_tracks_db(path: Path, create: bool, read_only: bool = False) -> None:
    """Raise NotATracksDb with a clear reason when ``path`` cannot be a tracks.db, and
    ReadOnlyTracksDb when it is one this process cannot write (unless ``read_only``)."""
    if path.is_dir():
        raise NotATracksDb(f"{path} is a folder, not a tracks.db file")
    if not path.exists():
        if not create:
            raise NotATracksDb(f"{path} does not exist")
        if on_read_only_fs(path):  # probes the folder it would be in
            raise ReadOnlyTracksDb(f"cannot create {path}: the folder is on a read-only "
                                   "file system")
        if not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        return
    if not path.is_file():
        # /dev/null, a FIFO, a socket: SQLite would fail deep inside with "disk I/O error".
        raise NotATracksDb(f"{path} is not a regular file, so it cannot be a tracks.db")
    if path.stat().st_size == 0:
        # A new tracks.db to fill; a /proc file also says 0 bytes, and SQLite's own open
        # then fails (open_db says so in one line). Never open it ourselves: see below.
        return
    # Ask SQLite rather than read the header ourselves: closing any descriptor of the
    # file drops every POSIX lock this process holds on it, including those of open
    # connections, which can corrupt the database (see SQLite's "How To Corrupt").
    try:
        conn = sqlite3.connect(ro_uri(path), uri=True, timeout=60.0)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        raise NotATracksDb(f"{path} is not a tracks.db (not an SQLite database)") from None
    if not read_only and (on_read_only_fs(path) or not os.access(path, os.W_OK)):
        where = "on a read-only file system" if on_read_only_fs(path) else "read-only"
        raise ReadOnlyTracksDb(f"{path} is {where}: trackdesk can show it (tasks list, "
                               "status) but cannot import or analyse into it")


def ro_uri(path: Path) -> str:
    """The URI of a read-only SQLite connection to ``path``."""
    # immutable on a read-only mount: nobody can change the file there, and without it
    # SQLite wants to create the -shm of a WAL database, which that mount refuses.
    return f"{path.as_uri()}?mode=ro" + ("&immutable=1" if on_read_only_fs(path) else "")


def connect_raw(path: Path | str, read_only: bool = False) -> sqlite3.Connection:
    """A plain sqlite3 connection in autocommit mode with the shared pragmas."""
    if read_only:
        conn = sqlite3.connect(ro_uri(Path(path)), uri=True, timeout=60.0,
                               isolation_level=None, check_same_thread=False)
        _pragmas(conn, read_only=True)
        return conn
    conn = sqlite3.connect(str(path), timeout=60.0, isolation_level=None,
                           check_same_thread=False)
    _pragmas(conn)
    return conn


def _pragmas(conn: sqlite3.Connection, read_only: bool = False) -> None:
    if read_only:
        conn.execute("PRAGMA busy_timeout=60000")
        conn.execute("PRAGMA query_only=ON")
        return
    writer_pragmas(conn)


def open_db(path: Path | str, create: bool = True, read_only: bool = False) -> Engine:
    """Check, migrate and open ``path``; returns an SQLAlchemy engine. ``read_only``
    opens an existing, up-to-date tracks.db without ever writing to it (no migration)."""
    path = Path(path).expanduser().resolve()
    check_tracks_db(path, create and not read_only, read_only)
    try:
        conn = connect_raw(path, read_only)
    except sqlite3.DatabaseError as exc:
        raise NotATracksDb(f"cannot open {path} as a tracks.db: {exc}") from None
    try:
        if read_only:
            _check_current(conn, path)
        else:
            migrate(conn)
    except sqlite3.DatabaseError as exc:
        raise NotATracksDb(f"{path} is not a usable tracks.db: {exc}") from exc
    finally:
        conn.close()
    url = f"sqlite:///{ro_uri(path)}&uri=true" if read_only else f"sqlite:///{path}"
    engine = create_engine(url, connect_args={"timeout": 60.0, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # noqa: ANN001 - SQLAlchemy's signature
        # pysqlite's own transaction handling fights BEGIN IMMEDIATE; let SQLAlchemy drive.
        dbapi_conn.isolation_level = None
        _pragmas(dbapi_conn, read_only)

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # noqa: ANN001
        # Writers take the lock up front (engine.execution_options(immediate=True)): a
        # deferred transaction that upgrades to a write can fail at once with "database is
        # locked" instead of waiting. Readers stay deferred so they never block a worker.
        if conn.get_execution_options().get("immediate"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def _check_current(conn: sqlite3.Connection, path: Path) -> None:
    """A read-only open cannot migrate: refuse an older schema in one line rather than
    fail later on a missing column."""
    from trackdesk.tracks.migrations import MIGRATIONS, current_version

    have, newest = current_version(conn), max(m.version for m in MIGRATIONS)
    if have < newest:
        raise ReadOnlyTracksDb(f"{path} needs an update (schema {have} -> {newest}) that "
                               "cannot be written where it is")
