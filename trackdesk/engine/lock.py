"""One engine per tracks.db: an advisory file lock beside the database."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import IO

# How long acquire() waits out a lock held by a probe (holder()) rather than an engine.
PROBE_GRACE_S = 1.0


# Bytes the lock file keeps allocated for the engine's last writes on a full disk.
RESERVE_BYTES = 512 * 1024


class EngineLockedError(Exception):
    """Another engine drives this tracks.db."""


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".engine.lock")


def _pid_line(fh: IO[str]) -> dict:
    """The holder's first line, {"pid", "host"} ({} when it wrote none: a probe)."""
    fh.seek(0)
    try:
        return json.loads(fh.readline() or "{}")
    except ValueError:
        return {}


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
            return _pid_line(fh)
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return None


class EngineLock:
    """Held for as long as an engine drives the database; released by the OS on death."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.path = lock_path(db_path)
        self._fh: IO[str] | None = None
        self._head = 0

    def acquire(self) -> None:
        fh = open(self.path, "a+")  # noqa: SIM115 - held open for the engine's lifetime
        deadline = time.monotonic() + PROBE_GRACE_S
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                info = _pid_line(fh)
                # No pid written: not an engine but holder() looking (a follower or
                # `status` probing for a live engine holds the lock for a moment).
                if "pid" not in info and time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
            fh.close()
            who = f" (pid {info['pid']})" if "pid" in info else ""
            raise EngineLockedError(
                f"another trackdesk engine{who} is already driving {self.db_path}; "
                "use that one, or stop it first") from None
        fh.seek(0)
        fh.truncate()
        head = json.dumps({"pid": os.getpid(), "host": socket.gethostname()}) + "\n"
        fh.write(head)
        fh.flush()
        self._fh = fh
        self._head = len(head.encode())
        # Disk space held in reserve behind the pid line: when the disk fills up, the
        # engine gives it back so that the last task states can still be written (what
        # tracks.db says then matches what the user was shown).
        with contextlib.suppress(OSError, AttributeError):
            os.posix_fallocate(fh.fileno(), self._head, RESERVE_BYTES)

    def release_reserve(self) -> bool:
        """Give the reserved space back to the file system; True when some was held."""
        if self._fh is None:
            return False
        try:
            held = os.fstat(self._fh.fileno()).st_size > self._head
            if held:
                os.ftruncate(self._fh.fileno(), self._head)
            return held
        except OSError:
            return False

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
