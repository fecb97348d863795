"""The worker protocol, in one place: messages, exit codes and the shared enums.

Everything here is the standard library only: the worker runtime imports it inside a slim
container, the engine and the CLI import it in the app. docs/PROTOCOL.md describes the same
protocol in prose; a test checks the two agree.

A worker writes one JSON object per line to stdout. Each object has a ``type`` naming one
of the message classes below; unknown keys are ignored and unknown types are kept in the
task's log as plain output, so a newer worker never breaks an older engine.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, ClassVar


class ExitCode(IntEnum):
    """How a worker process ends. Any other code is a failure."""

    COMPLETED = 0
    FAILED = 1
    USAGE = 2
    STOPPED = 3


EXIT_COMPLETED = ExitCode.COMPLETED
EXIT_FAILED = ExitCode.FAILED
EXIT_USAGE = ExitCode.USAGE
EXIT_STOPPED = ExitCode.STOPPED


class Status(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


class TaskType(StrEnum):
    INCREMENTAL = "INCREMENTAL"
    FULL_RECOMPUTE = "FULL_RECOMPUTE"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _PRIORITIES.index(self)

    @classmethod
    def from_rank(cls, rank: int) -> Priority:
        return _PRIORITIES[max(0, min(len(_PRIORITIES) - 1, rank))]

    @classmethod
    def parse(cls, value: str | int) -> Priority:
        if isinstance(value, int):
            return cls.from_rank(value)
        try:
            return cls(value.lower())
        except ValueError:
            raise ValueError(
                f"unknown priority {value!r} (one of {', '.join(p.value for p in cls)})"
            ) from None


_PRIORITIES: list[Priority] = list(Priority)


class StopReason(StrEnum):
    """Why the engine stopped a running worker; decides the state the task ends in."""

    CANCEL = "cancel"
    TIMEOUT = "timeout"
    SHUTDOWN = "shutdown"
    RESTART = "restart"


class FailureKind(StrEnum):
    """Why a task failed: the skill said so, or the infrastructure died under it."""

    SKILL = "skill"
    CRASH = "crash"
    TIMEOUT = "timeout"
    LAUNCH = "launch"


# -- messages -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Message:
    TYPE: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.TYPE}
        out.update({k: v for k, v in asdict(self).items() if v is not None})
        return out

    def encode(self) -> str:
        """One protocol line, without the newline."""
        return json.dumps(self.to_dict(), separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Progress(Message):
    """Absolute counts so far; ``total`` once the worker knows it."""

    TYPE: ClassVar[str] = "progress"
    processed: int | None = None
    failed: int | None = None
    total: int | None = None


@dataclass(frozen=True)
class Log(Message):
    TYPE: ClassVar[str] = "log"
    message: str = ""
    level: str = "info"


@dataclass(frozen=True)
class Result(Message):
    """The task's summary, shown in the detail pane and kept with the task."""

    TYPE: ClassVar[str] = "result"
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Error(Message):
    """The reason the worker gives up; becomes the task's error message."""

    TYPE: ClassVar[str] = "error"
    message: str = "the worker reported an error"


@dataclass(frozen=True)
class Resources(Message):
    """The worker's own peak memory and CPU time, exact where sampling could miss a peak."""

    TYPE: ClassVar[str] = "resources"
    peak_rss_mb: float | None = None
    cpu_time_s: float | None = None


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.TYPE: cls for cls in (Progress, Log, Result, Error, Resources)
}


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def decode(line: str) -> Message | None:
    """The message on one stdout line, or None when the line is not a protocol message
    (the engine keeps such lines in the log as the worker's plain output)."""
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    kind = raw.get("type")
    if kind == Progress.TYPE:
        counts = {k: int(v) for k in ("processed", "failed", "total")
                  if (v := _num(raw.get(k))) is not None}
        return Progress(**counts)
    if kind == Log.TYPE:
        return Log(message=str(raw.get("message", "")), level=str(raw.get("level", "info")))
    if kind == Result.TYPE:
        summary = raw.get("summary")
        return Result(summary=summary if isinstance(summary, dict) else {"value": summary})
    if kind == Error.TYPE:
        return Error(message=str(raw.get("message", Error.message)))
    if kind == Resources.TYPE:
        return Resources(peak_rss_mb=_num(raw.get("peak_rss_mb")),
                         cpu_time_s=_num(raw.get("cpu_time_s")))
    return None


# -- the tracks.db settings every writer shares ----------------------------------------
# Engine, CLI, window and workers are separate processes writing one SQLite file; they must
# agree on these or one of them can undo another's (a rollback journal beside a WAL).
BUSY_TIMEOUT_S = 60.0


def writer_pragmas(conn: sqlite3.Connection) -> None:
    """Put a writable connection in WAL mode with the shared busy timeout and pragmas.

    Switching a new database to WAL needs an exclusive lock, and SQLite answers "database
    is locked" at once, without waiting for the busy timeout, when two connections try it
    together (two ``chain run --wait`` creating one tracks.db; CI saw it). So the switch is
    retried until the timeout, and skipped when another process has already made it."""
    conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    pause = 0.01
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.2)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
