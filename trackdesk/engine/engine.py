"""The task engine: one facade over the parts that schedule, run and record tasks.

It knows nothing of Qt nor of which loop it runs on: the window runs it on qasync's loop,
the CLI on a plain asyncio loop. The parts (docs/CONTRACTS.md, "Inside the engine"):

- ``lifecycle.Lifecycle``: the tasks in memory and every change of their state; how a
  task ends is decided there and nowhere else;
- ``scheduler.Scheduler``: which ready task starts next;
- ``runner.AttemptRunner``: one attempt of a task (launch, messages, exit);
- ``graph``: the dependencies between tasks;
- ``persistence.Persistence``: the database thread and the periodic write;
- ``inbox.Inbox``: tasks and requests other processes left in tracks.db.

Everything the window, the CLI and the REST API use is a public name of ``Engine``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from trackdesk.engine import graph, planning
from trackdesk.engine.events import EventBus
from trackdesk.engine.inbox import Inbox
from trackdesk.engine.launchers import default_launchers
from trackdesk.engine.launchers.base import Launcher, WorkerHandle
from trackdesk.engine.lifecycle import EngineError, Lifecycle
from trackdesk.engine.lock import EngineLock
from trackdesk.engine.persistence import Persistence
from trackdesk.engine.planning import ChainRef, UnknownChainError
from trackdesk.engine.records import TaskRecord, utcnow
from trackdesk.engine.runner import AttemptRunner
from trackdesk.engine.scheduler import Scheduler
from trackdesk.engine.services import Profiles, Templates
from trackdesk.engine.settings import EngineSettings
from trackdesk.engine.states import ENDED, Status
from trackdesk.engine.store import LogRecord, TaskStore
from trackdesk.skills.registry import SkillRegistry, load_registry

__all__ = ["Engine", "EngineError", "EngineSettings", "UnknownChainError"]
T = TypeVar("T")


class Engine:
    """Schedules, runs and records analysis tasks for one tracks.db."""

    new_record = staticmethod(planning.new_record)
    chain_records = staticmethod(planning.chain_records)
    plan_chain_run = staticmethod(planning.plan_chain_run)

    def __init__(self, db_path: Path | str, registry: SkillRegistry | None = None,
                 settings: EngineSettings | None = None,
                 launchers: dict[str, Launcher] | None = None) -> None:
        self.db_path = Path(db_path).expanduser().resolve()
        self.registry = registry or load_registry()
        self.settings = settings or EngineSettings()
        self.events = EventBus()
        self._book = Lifecycle(self.events)
        self._lock = EngineLock(self.db_path)
        self._db = Persistence(self._book, self.db_path, self._lock)
        self._runner = AttemptRunner(self._book, self._db, self.registry,
                                     launchers if launchers is not None
                                     else default_launchers(), self.settings)
        self._scheduler = Scheduler(self._book, self._runner, self.registry, self.settings)
        self._inbox = Inbox(self._book, self._db, self)
        self.templates = Templates(self._db, self.registry)
        self.profiles = Profiles(self._db, self.registry)
        #: Live snapshot of every task, by id: read it, never change it.
        self.tasks: dict[int, TaskRecord] = self._book.tasks
        self._loops: list[asyncio.Task[None]] = []
        self._started = False

    # ================================================================ life cycle ====
    @property
    def started(self) -> bool:
        return self._started

    @property
    def launchers(self) -> dict[str, Launcher]:
        """The launchers by name ("local", "docker"); a test may swap them before start."""
        return self._runner.launchers

    @launchers.setter
    def launchers(self, value: dict[str, Launcher]) -> None:
        self._runner.launchers = value

    @property
    def store(self) -> TaskStore | None:
        """The engine's blocking store (None until started); call it only through
        :meth:`call`, on the database thread."""
        return self._db.store

    @property
    def unsaved_error(self) -> str | None:
        """Why the last write of task states failed (None: everything is saved)."""
        return self._db.unsaved_error

    async def start(self, schedule: bool = True) -> None:
        """Take the lock, open and migrate the db, recover, then begin scheduling.

        ``schedule=False`` only recovers and accepts requests (a CLI acting on a task
        while no app runs must not start the queue as a side effect)."""
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        try:
            self._book.load(await self._db.open(self.registry))
            waiting = [r.id for r in self.tasks.values()
                       if r.status in (Status.PENDING, Status.PAUSED) and r.start_time is None]
            if waiting:
                store = self._db.require_store()
                self._book.remember_earlier(await self._db.call(store.attempts, waiting))
        except BaseException:
            self._lock.release()
            raise
        await self._runner.recover()
        await self._db.flush()
        self._started = True
        self._book.stopping = self._scheduler.draining = False
        s = self.settings
        self._loops = [asyncio.create_task(self._db.flush_loop(s.flush_interval_s),
                                           name="trackdesk-flush")]
        if schedule:
            self._loops += [
                asyncio.create_task(self._scheduler.loop(), name="trackdesk-schedule"),
                asyncio.create_task(self._inbox.loop(lambda: s.poll_interval_s),
                                    name="trackdesk-poll"),
                asyncio.create_task(self._runner.sample_loop(), name="trackdesk-sample"),
            ]

    async def stop(self, running: str = "stop") -> None:
        """Stop scheduling. ``running="stop"`` asks workers to stop (their tasks become
        interrupted and can be resumed); ``"leave"`` leaves them to be recovered."""
        if not self._started:
            return
        self._book.stopping = True
        await self._runner.stop_all(running)
        for t in self._loops:
            t.cancel()
        for t in self._loops:
            # Python 3.11's wait_for swallows a cancel that lands just as the event it
            # waits on is set (a finishing worker sets both): cancel until it really ends.
            while not t.done():
                await asyncio.wait({t}, timeout=0.2)
                t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._loops = []
        await self._db.final_flush()
        self._started = False
        await self._db.close()
        self._lock.release()

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking call (e.g. of :attr:`store`) on the engine's database thread."""
        return await self._db.call(fn, *args, **kwargs)

    async def flush(self) -> None:
        """Write every pending change now."""
        await self._db.flush()

    def note(self, task_id: int, stream: str, message: str) -> None:
        """Add a line to a task's log (shown live in the detail pane)."""
        self._book.note(task_id, stream, message)

    async def check_db(self) -> None:
        """Raise when tracks.db does not answer (a read on the database thread)."""
        await self._db.call(self._db.require_store().max_id)

    # ================================================================ new tasks =====
    def task(self, task_id: int) -> TaskRecord:
        """The task with this id; UnknownTaskError when there is none."""
        return self._book.task(task_id)

    async def create_task(self, skill: str, task_type: str = "INCREMENTAL",
                          params: dict[str, Any] | None = None,
                          priority: str | int = "normal", depends_on: Iterable[int] = (),
                          launcher: str | None = None, created_by: str | None = None,
                          threshold_profile_id: int | None = None,
                          timeout_s: float | None = None, max_retries: int | None = None
                          ) -> TaskRecord:
        """Validate and queue one task; raises EngineError with a clear reason."""
        params = {**self.settings.skill_params.get(skill, {}), **(params or {})}
        rec = planning.new_record(self.registry, skill, task_type, params, priority,
                                  depends_on, launcher or self.settings.default_launcher,
                                  created_by or self.settings.created_by,
                                  threshold_profile_id, timeout_s, max_retries)
        for dep in rec.depends_on_task_ids:
            self.task(dep)
        return (await self.queue([rec]))[0]

    async def queue(self, records: list[TaskRecord], local_deps: list[list[int]] | None = None
                    ) -> list[TaskRecord]:
        """Insert records built with :meth:`new_record` / :meth:`plan_chain_run` (one
        transaction) and adopt them at once."""
        saved = await self._db.call(self._db.require_store().insert_tasks, records,
                                    local_deps or [])
        return self._book.add(saved)

    async def run_chain(self, name: ChainRef = None, task_type: str = "INCREMENTAL",
                        launcher: str | None = None, chain: ChainRef = None,
                        created_by: str | None = None) -> list[TaskRecord]:
        """One task per node of a chain, named (None: the default chain) or given as a
        Chain or a document; dependencies set, one chain-run id. UnknownChainError when
        no template has the name."""
        records, local = await self._db.call(
            planning.plan_chain_run, self._db.require_store(), self.registry,
            chain if chain is not None else name, task_type,
            launcher or self.settings.default_launcher,
            created_by or self.settings.created_by, self.settings.batch_size,
            self.settings.skill_params)
        return await self.queue(records, local)

    async def add_dependency(self, task_id: int, upstream_id: int) -> None:
        """Make a pending task wait for another; a cycle is refused with its path."""
        self._book.add_dependency(self.task(task_id), self.task(upstream_id))

    # ================================================================ actions =======
    async def cancel(self, task_id: int) -> None:
        await self._runner.cancel(self.task(task_id))

    async def pause(self, task_id: int) -> None:
        await self._runner.pause(self.task(task_id))

    async def resume(self, task_id: int) -> None:
        """Resume a paused task, or restart an interrupted one where it left off."""
        await self._runner.resume(self.task(task_id))

    async def restart(self, task_id: int) -> None:
        """Stop a running (e.g. stuck) task's worker and queue the task again."""
        await self._runner.restart(task_id)

    async def set_priority(self, task_id: int, level: str | int) -> None:
        self._book.set_priority(self.task(task_id), level)

    async def rerun(self, task_id: int, full: bool = False, downstream: bool = False,
                    launcher: str | None = None) -> list[int]:
        """Queue a finished task again (and with ``downstream`` everything after it);
        ``launcher`` moves them, e.g. a docker task to the local launcher when Docker
        is not running."""
        rec = self.task(task_id)
        if launcher is not None and launcher not in self.launchers:
            raise EngineError(f"unknown launcher {launcher!r} "
                              f"({' or '.join(sorted(self.launchers))})")
        return self._book.rerun(rec, full, downstream, launcher, self.registry)

    async def retry_failed(self, chain_run_id: str) -> list[int]:
        """Rerun the failed tasks of a chain run; their skipped dependents come back too."""
        failed = [t for t in self.tasks.values()
                  if t.chain_run_id == chain_run_id and t.status == Status.FAILED]
        ids: list[int] = []
        for t in failed:
            ids += await self.rerun(t.id)
        return ids

    async def remove(self, task_ids: Iterable[int]) -> list[int]:
        """Forget finished tasks (their analysis results stay)."""
        ids = self._book.finished_ids(task_ids)
        await self._db.remove(ids, archive=False)
        return ids

    async def prune(self, older_than_s: float | None = None, keep: int | None = None,
                    archive: bool = False) -> list[int]:
        """Archive or remove finished tasks older than ``older_than_s`` or beyond the
        newest ``keep``; analysis results are untouched, and a task that a remaining task
        depends on stays, so every dependency still resolves."""
        if older_than_s is None and keep is None:
            raise EngineError("say which tasks to prune: an age, a count to keep, or both")
        ids = graph.prune_choice(self.tasks, utcnow(), older_than_s, keep)
        if ids:
            await self._db.remove(ids, archive)
        return ids

    # ================================================================ reading =======
    async def read_log(self, task_id: int, after_id: int = 0, limit: int = 1000,
                       tail: bool = False) -> list[LogRecord]:
        self.task(task_id)
        await self._db.flush()
        return await self._db.call(self._db.require_store().read_log, task_id, after_id,
                                   limit, tail)

    async def attempts(self, task_id: int) -> list[dict[str, Any]]:
        """Every ended run of a task, oldest first (task_attempts), as JSON-ready dicts."""
        self.task(task_id)
        rows = await self._db.call(self._db.require_store().attempts, [task_id])
        return self._book.with_unwritten(task_id, rows.get(task_id, []))

    def is_idle(self) -> bool:
        """Nothing running, and no pending task that could still start on its own."""
        return graph.is_idle(self.tasks, self._book.running)

    async def wait_idle(self, poll: float = 1.0) -> None:
        await self._book.until(self.is_idle, poll)
        await self._db.flush()

    async def wait_for(self, task_ids: Iterable[int], poll: float = 1.0) -> list[TaskRecord]:
        ids = list(task_ids)
        await self._book.until(lambda: all(
            self.tasks[i].status in ENDED
            for i in ids if i in self.tasks), poll)
        await self._db.flush()
        return [self.tasks[i] for i in ids if i in self.tasks]

    def drain(self) -> None:
        """Start nothing more; what runs finishes. A CLI engine whose own tasks have
        ended drains before it stops: a task it adopted from another process is never
        cut off, and a steady stream of new work cannot keep it alive for ever."""
        self._scheduler.draining = True

    def busy(self) -> bool:
        """A worker is starting or running."""
        return bool(self._book.running)

    def running_handles(self) -> dict[int, WorkerHandle]:
        return {i: r.handle for i, r in self._book.running.items() if r.handle is not None}

    def sample_once(self) -> None:
        """CPU and memory of every running worker; flag the silent ones as stuck."""
        self._runner.sample_once()

    def is_stuck(self, rec: TaskRecord, now: Any = None) -> bool:
        return self._runner.is_stuck(rec, now)

    def stuck_ids(self) -> list[int]:
        return [t.id for t in self.tasks.values() if self.is_stuck(t)]

    # ================================================================ other processes
    async def pick_up(self, force: bool = False) -> bool:
        """Adopt every task row other processes queued; return whether requests wait."""
        return await self._inbox.pick_up(force)

    async def handle_request(self, action: str, task_id: int | None,
                             payload: dict[str, Any]) -> dict[str, Any]:
        """Carry out one request from another process; never raises."""
        return await self._inbox.handle(action, task_id, payload)
