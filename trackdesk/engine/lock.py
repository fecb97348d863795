"""One engine per tracks.db: an advisory file lock beside the database."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from pathlib import Path


class EngineLockedError(Exception):
    """Another engine drives this tracks.db."""


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".engine.lock")


def holder(db_path: Path) -> dict | None:
    """Who holds the engine lock of ``db_path`` (pid, host), or None when nobody does."""
    path = lock_path(db_path)
    if not path.exists():
        return None
    try:
        fh = open(path, "a+")  # noqa: SIM115 - closed by the with below
    except OSError:
        # A read-only mount: flock works on a descriptor opened for reading too.
        fh = open(path)  # noqa: SIM115
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            try:
                return json.loads(fh.read() or "{}")
            except ValueError:
                return {}
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return None


class EngineLock:
    """Held for as long as an engine drives the database; released by the OS on death."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.path = lock_path(db_path)
        self._fh = None

    def acquire(self) -> None:
        fh = open(self.path, "a+")  # noqa: SIM115 - held open for the engine's lifetime
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            try:
                info = json.loads(fh.read() or "{}")
            except ValueError:
                info = {}
            fh.close()
            who = f" (pid {info['pid']})" if "pid" in info else ""
            raise EngineLockedError(
                f"another trackdesk engine{who} is already driving {self.db_path}; "
                "use that one, or stop it first") from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.seek(0)
                self._fh.truncate()
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    @property
    def held(self) -> bool:
        return self._fh is not None
