"""The launcher interface: how the engine starts and steers a worker, wherever it runs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from trackdesk.worker.spec import SkillSpec


class LauncherUnavailable(Exception):
    """The launcher cannot run anything here; the message says what is missing and how."""


@dataclass(frozen=True)
class ResourceSample:
    cpu_percent: float
    rss_mb: float
    cpu_time_s: float | None = None


@dataclass(frozen=True)
class RecoveredWorker:
    """A worker found alive after the app died: its task and a handle to follow it."""

    task_id: int
    handle: WorkerHandle


class WorkerHandle(ABC):
    """One running worker."""

    ref: str = ""
    #: True when ``lines()`` starts over from the worker's first line (a worker found
    #: again after the app died): the engine then skips what it already stored.
    replays_output: bool = False

    @abstractmethod
    def lines(self) -> AsyncIterator[tuple[str, str]]:
        """Yield ``(stream, line)`` with stream "stdout" or "stderr" until both close."""

    @abstractmethod
    async def wait(self) -> int:
        """The exit code; ``-N`` when killed by signal N."""

    @abstractmethod
    async def terminate(self) -> None:
        """Ask the worker to stop (it ends its batch and exits with code 3)."""

    @abstractmethod
    async def kill(self) -> None:
        """Stop it now."""

    @abstractmethod
    async def pause(self) -> None: ...

    @abstractmethod
    async def resume(self) -> None: ...

    def sample(self) -> ResourceSample | None:
        """CPU share and memory now, or None when not measurable."""
        return None


class Launcher(ABC):
    name: str = ""

    @abstractmethod
    async def start(self, spec: SkillSpec, argv: list[str], db_path: Path, task_id: int,
                    env: dict[str, str]) -> WorkerHandle:
        """Start ``python ARGV...`` for ``task_id``; raise LauncherUnavailable if it can't."""

    async def ensure_available(self) -> None:
        """Raise LauncherUnavailable (saying what is missing and how to get it) when this
        launcher cannot run anything now; asked before a run, off the GUI thread. A local
        process launcher is always available."""
        return None

    async def recover(self, db_path: Path) -> list[RecoveredWorker]:
        """Workers of this launcher left running by a dead app (none by default)."""
        return []
