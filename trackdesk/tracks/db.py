"""Opening a tracks.db: checks, pragmas shared by every writer, migrations."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import Engine, create_engine, event

from trackdesk.tracks.migrations import NotATracksDb, migrate

__all__ = ["NotATracksDb", "check_tracks_db", "default_db_path", "open_db", "connect_raw"]


def default_db_path() -> Path:
    """The embedded default: ``tracks.db`` in the user's data folder (XDG on Linux)."""
    env = os.environ.get("TRACKDESK_DB")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "trackdesk" / "tracks.db"


def check_tracks_db(path: Path, create: bool) -> None:
    """Raise NotATracksDb with a clear reason when ``path`` cannot be a tracks.db."""
    if path.is_dir():
        raise NotATracksDb(f"{path} is a folder, not a tracks.db file")
    if not path.exists():
        if not create:
            raise NotATracksDb(f"{path} does not exist")
        if not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        return
    if path.stat().st_size == 0:
        return
    # Ask SQLite rather than read the header ourselves: closing any descriptor of the
    # file drops every POSIX lock this process holds on it, including those of open
    # connections, which can corrupt the database (see SQLite's "How To Corrupt").
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=60.0)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        raise NotATracksDb(f"{path} is not a tracks.db (not an SQLite database)") from None


def connect_raw(path: Path | str) -> sqlite3.Connection:
    """A plain sqlite3 connection in autocommit mode with the shared pragmas."""
    conn = sqlite3.connect(str(path), timeout=60.0, isolation_level=None,
                           check_same_thread=False)
    _pragmas(conn)
    return conn


def _pragmas(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=60000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")


def open_db(path: Path | str, create: bool = True) -> Engine:
    """Check, migrate and open ``path``; returns an SQLAlchemy engine."""
    path = Path(path).expanduser().resolve()
    check_tracks_db(path, create)
    conn = connect_raw(path)
    try:
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        raise NotATracksDb(f"{path} is not a usable tracks.db: {exc}") from exc
    finally:
        conn.close()
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 60.0,
                                                               "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # noqa: ANN001 - SQLAlchemy's signature
        # pysqlite's own transaction handling fights BEGIN IMMEDIATE; let SQLAlchemy drive.
        dbapi_conn.isolation_level = None
        _pragmas(dbapi_conn)

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
