"""The task engine: a scheduler on asyncio over the analysis_tasks queue in tracks.db.

It knows nothing of Qt nor of which loop it runs on: the window runs it on qasync's loop,
the CLI on a plain asyncio loop. Database calls go through one executor thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import signal
import sqlite3
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from trackdesk.engine.chains import DEFAULT_CHAIN_NAME, Chain, default_chain, find_order
from trackdesk.engine.eta import EtaMeter
from trackdesk.engine.events import EventBus, LogLine, TaskAdded, TaskChanged, TaskRemoved
from trackdesk.engine.launchers import default_launchers
from trackdesk.engine.launchers.base import Launcher, LauncherUnavailable, WorkerHandle
from trackdesk.engine.launchers.local import kill_stale_local_worker
from trackdesk.engine.lock import EngineLock
from trackdesk.engine.records import TaskRecord, column_value, utcnow
from trackdesk.engine.states import (
    ACTIVE,
    FAILURE_CRASH,
    FAILURE_LAUNCH,
    FAILURE_SKILL,
    FAILURE_TIMEOUT,
    RERUNNABLE,
    TERMINAL,
    Priority,
    Status,
    TaskType,
    check_transition,
)
from trackdesk.engine.store import LogRecord, TaskStore, UnknownTaskError
from trackdesk.skills.registry import SkillRegistry, load_registry
from trackdesk.skills.spec import SkillSpec
from trackdesk.skills.user import reload_async

log = logging.getLogger(__name__)
T = TypeVar("T")

EXIT_STOPPED = 3
STDERR_TAIL_LINES = 20
# Past this many stored lines per attempt a chatty worker's log is only counted.
MAX_LOG_LINES = 50_000


def _naive(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


def _iso(value: datetime) -> str:
    """A naive UTC time as TaskStore.attempts returns stored ones."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _aware(value: Any) -> datetime | None:
    """A stored or in-memory time back as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _disk_full(exc: BaseException) -> bool:
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return True
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC or \
        "disk is full" in str(exc)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class EngineError(Exception):
    """A request the engine refuses; the message is meant for a person."""


@dataclass
class EngineSettings:
    concurrency: int = 2
    per_skill_limits: dict[str, int] = field(default_factory=dict)
    poll_interval_s: float = 0.5
    flush_interval_s: float = 0.5
    cancel_grace_s: float = 3.0
    default_launcher: str = "local"
    batch_size: int = 50_000
    sample_interval_s: float = 1.0
    created_by: str = "app"
    # Parameters a new task of a skill gets unless its chain node or caller sets them (the
    # app's Settings → "A day starts at" for footprint_stats, issue 21).
    skill_params: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Running:
    """A task whose worker is alive."""

    task_id: int
    handle: WorkerHandle | None = None
    stop_reason: str | None = None  # cancel | timeout | shutdown
    error: str | None = None
    summary: dict[str, Any] | None = None
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=STDERR_TAIL_LINES))
    meter: EtaMeter = field(default_factory=EtaMeter)
    run_started: float = field(default_factory=time.monotonic)
    paused_at: float | None = None
    paused_total: float = 0.0
    log_lines: int = 0
    #: Lines per stream already in task_logs that a recovered worker's output replays
    #: from its start (a container attached anew): skipped, not stored twice.
    replayed: dict[str, int] = field(default_factory=dict)
    stuck: bool = False
    kill_timer: asyncio.TimerHandle | None = None
    supervisor: asyncio.Task | None = None

    def running_time(self) -> float:
        now = time.monotonic()
        paused = self.paused_total + ((now - self.paused_at) if self.paused_at else 0.0)
        return now - self.run_started - paused


class Engine:
    """Schedules, runs and records analysis tasks for one tracks.db."""

    def __init__(
        self,
        db_path: Path | str,
        registry: SkillRegistry | None = None,
        settings: EngineSettings | None = None,
        launchers: dict[str, Launcher] | None = None,
    ) -> None:
        self.db_path = Path(db_path).expanduser().resolve()
        self.registry = registry or load_registry()
        self.settings = settings or EngineSettings()
        self.launchers: dict[str, Launcher] = (launchers if launchers is not None
                                               else default_launchers())
        self.events = EventBus()
        self.tasks: dict[int, TaskRecord] = {}
        self.store: TaskStore | None = None
        self._lock = EngineLock(self.db_path)
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trackdesk-db")
        self._running: dict[int, _Running] = {}
        # Ids of pending tasks: the scheduler looks at these only, not at the whole
        # history (tens of thousands of finished tasks in a lifetime's tracks.db).
        self._pending: set[int] = set()
        self._dirty: dict[int, dict[str, Any]] = {}
        self._logs: list[tuple[int, float, str, str, str]] = []
        self._wake = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._status_changed = asyncio.Event()
        self._loops: list[asyncio.Task] = []
        self._started = False
        self._stopping = False
        self._draining = False
        self._max_seen_id = 0
        self._attempts: list[dict[str, Any]] = []
        # Tasks whose attempt (a run of the worker) is under way: recorded when it ends.
        self._open_attempts: set[int] = set()
        # A rerun not yet started: the completed run it would replace (restored when the
        # rerun is cancelled or skipped before it runs: the earlier run stands).
        self._earlier: dict[int, dict[str, Any]] = {}
        #: Why the last write of task states failed (None: everything is saved).
        self.unsaved_error: str | None = None
        self._last_db_error: str | None = None
        # PRAGMA data_version at the last look for other processes' work (None: look).
        self._seen_version: int | None = None

    # ================================================================ life cycle ====
    @property
    def started(self) -> bool:
        return self._started

    async def start(self, schedule: bool = True) -> None:
        """Take the lock, open and migrate the db, recover, then begin scheduling.

        ``schedule=False`` only recovers and accepts requests (a CLI acting on a task
        while no app runs must not start the queue as a side effect)."""
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        try:
            self.store = await self._call(TaskStore, self.db_path)
            await self._call(self._ensure_default_chain)
            records = await self._call(self.store.load_all)
        except BaseException:
            self._lock.release()
            raise
        for rec in records:
            self.tasks[rec.id] = rec
            self._track(rec)
        self._max_seen_id = max(self.tasks, default=0)
        waiting = [r.id for r in records
                   if r.status in (Status.PENDING, Status.PAUSED) and r.start_time is None]
        if waiting:
            for task_id, rows in (await self._call(self.store.attempts, waiting)).items():
                if rows and rows[-1]["outcome"] == Status.COMPLETED.value:
                    self._earlier[task_id] = rows[-1]
        await self._recover()
        await self._flush()
        self._started = True
        self._stopping = False
        self._draining = False
        self._loops = [asyncio.create_task(self._flush_loop(), name="trackdesk-flush")]
        if schedule:
            self._loops += [
                asyncio.create_task(self._schedule_loop(), name="trackdesk-schedule"),
                asyncio.create_task(self._poll_loop(), name="trackdesk-poll"),
                asyncio.create_task(self._sample_loop(), name="trackdesk-sample"),
            ]

    async def stop(self, running: str = "stop") -> None:
        """Stop scheduling. ``running="stop"`` asks workers to stop (their tasks become
        interrupted and can be resumed); ``"leave"`` leaves them to be recovered."""
        if not self._started:
            return
        self._stopping = True
        if running == "stop":
            for rt in list(self._running.values()):
                await self._stop_worker(rt, "shutdown")
            waits = [rt.supervisor for rt in self._running.values() if rt.supervisor]
            if waits:
                await asyncio.wait(waits, timeout=self.settings.cancel_grace_s + 5)
        else:
            for rt in list(self._running.values()):
                if rt.supervisor:
                    rt.supervisor.cancel()
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
        for attempt in range(3):
            try:
                await self._flush()
                break
            except Exception as exc:  # noqa: BLE001 - stopping must finish regardless
                # unsaved_error says whether the task states were lost (the caller tells
                # the user what the db holds); log lines alone may be.
                self._log_db_error("the last task states are " +
                                   ("NOT saved" if self.unsaved_error else
                                    "saved, their last log lines are not"), exc)
                await asyncio.sleep(0.2 * (attempt + 1))
        self._started = False
        if self.store is not None:
            with contextlib.suppress(Exception):
                await self._call(self.store.close)
        self._lock.release()
        self._db.shutdown(wait=True)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking call on the database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, partial(fn, *args, **kwargs))

    def _ensure_default_chain(self) -> None:
        assert self.store is not None
        doc = default_chain(self.registry).to_document()
        current = self.store.get_template(DEFAULT_CHAIN_NAME)
        if current is None or current["document"] != doc:
            self.store.save_template(DEFAULT_CHAIN_NAME, doc, read_only=True,
                                     overwrite_read_only=True)

    async def _recover(self) -> None:
        """Tasks left running by a dead app: follow what still runs, the rest interrupted."""
        followed: set[int] = set()
        for launcher in self.launchers.values():
            try:
                found = await launcher.recover(self.db_path)
            except Exception as exc:  # noqa: BLE001 - recovery of one launcher is optional
                log.warning("recovery with the %s launcher failed: %s", launcher.name, exc)
                continue
            for worker in found:
                rec = self.tasks.get(worker.task_id)
                if rec is None or rec.status not in ACTIVE:
                    with contextlib.suppress(Exception):
                        await worker.handle.kill()
                    continue
                followed.add(rec.id)
                self._open_attempts.add(rec.id)
                if rec.status == Status.PAUSED:
                    with contextlib.suppress(Exception):
                        await worker.handle.resume()
                    self._set(rec, status=Status.RUNNING)
                self._note(rec.id, "engine", f"following worker {worker.handle.ref} "
                           "left by the previous app")
                rt = _Running(rec.id, worker.handle)
                if worker.handle.replays_output and self.store is not None:
                    await self._flush()  # the note above, and anything else pending
                    since = rec.start_time.timestamp() if rec.start_time else 0.0
                    rt.replayed = await self._call(self.store.log_counts, rec.id, since)
                    rt.replayed.pop("engine", None)
                    rt.log_lines = sum(rt.replayed.values())
                self._running[rec.id] = rt
                rt.supervisor = asyncio.create_task(self._supervise(rec, rt))
        for rec in self.tasks.values():
            # A paused task without a worker is only held: it never started.
            held = rec.status == Status.PAUSED and rec.worker_ref is None
            if rec.status in ACTIVE and rec.id not in followed and not held:
                kill_stale_local_worker(rec.worker_ref, rec.id)
                self._open_attempts.add(rec.id)  # its run ended with the app: record it
                self._set(rec, status=Status.INTERRUPTED, worker_ref=None, eta_seconds=None,
                          status_reason="the app stopped while this task ran; resume it "
                          "to continue", end_time=utcnow())

    # ================================================================ public API ====
    def task(self, task_id: int) -> TaskRecord:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise UnknownTaskError(task_id) from None

    async def create_task(
        self,
        skill: str,
        task_type: str = "INCREMENTAL",
        params: dict[str, Any] | None = None,
        priority: str | int = "normal",
        depends_on: Iterable[int] = (),
        launcher: str | None = None,
        created_by: str | None = None,
        threshold_profile_id: int | None = None,
        timeout_s: float | None = None,
        max_retries: int | None = None,
    ) -> TaskRecord:
        """Validate and queue one task; raises EngineError with a clear reason."""
        params = {**self.settings.skill_params.get(skill, {}), **(params or {})}
        rec = self.new_record(self.registry, skill, task_type, params, priority, depends_on,
                              launcher or self.settings.default_launcher,
                              created_by or self.settings.created_by,
                              threshold_profile_id, timeout_s, max_retries)
        for dep in rec.depends_on_task_ids:
            self.task(dep)
        assert self.store is not None
        [saved] = await self._call(self.store.insert_tasks, [rec])
        return self._adopt([saved])[0]

    @staticmethod
    def new_record(
        registry: SkillRegistry,
        skill: str,
        task_type: str = "INCREMENTAL",
        params: dict[str, Any] | None = None,
        priority: str | int = "normal",
        depends_on: Iterable[int] = (),
        launcher: str = "local",
        created_by: str | None = None,
        threshold_profile_id: int | None = None,
        timeout_s: float | None = None,
        max_retries: int | None = None,
        chain_run_id: str | None = None,
        batch_size: int | None = None,
    ) -> TaskRecord:
        """A validated, not yet stored task (shared by the engine, the CLI and the API)."""
        try:
            spec = registry.get(skill)
        except KeyError as exc:
            raise EngineError(str(exc)) from None
        try:
            ttype = TaskType(task_type).value
        except ValueError:
            raise EngineError(f"unknown task type {task_type!r} "
                              "(INCREMENTAL or FULL_RECOMPUTE)") from None
        try:
            checked = spec.validate_params(params)
            prio = Priority.parse(priority)
        except ValueError as exc:
            raise EngineError(f"{skill}: {exc}") from None
        if launcher not in ("local", "docker"):
            raise EngineError(f"unknown launcher {launcher!r} (local or docker)")
        if launcher == "docker" and not spec.docker:
            raise EngineError(f"skill {skill!r} runs only with the local launcher")
        return TaskRecord(
            id=0, skill_name=skill, task_type=ttype, params=checked,
            threshold_profile_id=threshold_profile_id,
            depends_on_task_ids=sorted(set(depends_on)), created_by=created_by,
            priority=prio.rank, launcher=launcher,
            max_retries=spec.retries if max_retries is None else max_retries,
            retry_delays=list(spec.retry_delays),
            timeout_s=spec.timeout_s if timeout_s is None else timeout_s,
            chain_run_id=chain_run_id, batch_size=batch_size,
        )

    async def run_chain(self, name: str | None = None, task_type: str = "INCREMENTAL",
                        launcher: str | None = None, chain: Chain | None = None,
                        created_by: str | None = None) -> list[TaskRecord]:
        """One task per node of the chain, dependencies set, one chain-run id."""
        assert self.store is not None
        if chain is None:
            name = name or DEFAULT_CHAIN_NAME
            tpl = await self._call(self.store.get_template, name)
            if tpl is None:
                raise EngineError(f"no chain template named {name!r}")
            chain = Chain.from_document(tpl["document"])
        profiles = await self._call(self.store.profile_ids,
                                    [(n.skill, n.profile) for n in chain.nodes if n.profile])
        records, local = self.chain_records(
            self.registry, chain, task_type, launcher or self.settings.default_launcher,
            created_by or self.settings.created_by, self.settings.batch_size, profiles,
            self.settings.skill_params)
        saved = await self._call(self.store.insert_tasks, records, local)
        return self._adopt(saved)

    @classmethod
    def chain_records(cls, registry: SkillRegistry, chain: Chain, task_type: str,
                      launcher: str, created_by: str | None, batch_size: int | None = None,
                      profile_ids: dict[tuple[str, str], int] | None = None,
                      defaults: dict[str, dict[str, Any]] | None = None
                      ) -> tuple[list[TaskRecord], list[list[int]]]:
        """Records for a chain run, in dependency order, with positional dependencies.

        A node's params are what runs; a node whose params came from a threshold profile
        (``node.profile``) also records that profile's id when ``profile_ids`` knows it
        (TaskStore.profile_ids), so the table and the API can say where they came from.
        """
        order = chain.topological_order()
        position = {n.id: i for i, n in enumerate(order)}
        run_id = uuid.uuid4().hex[:12]
        ids = profile_ids or {}
        under = defaults or {}  # EngineSettings.skill_params: the node's own params win
        records = [cls.new_record(registry, n.skill, task_type,
                                  {**under.get(n.skill, {}), **(n.params or {})}, "normal", (),
                                  n.launcher or launcher, created_by,
                                  threshold_profile_id=ids.get((n.skill, n.profile or "")),
                                  chain_run_id=run_id, batch_size=batch_size)
                   for n in order]
        local = [[position[u] for u in chain.upstream_of(n.id)] for n in order]
        return records, local

    async def add_dependency(self, task_id: int, upstream_id: int) -> None:
        """Make a pending task wait for another; a cycle is refused with its path."""
        rec, up = self.task(task_id), self.task(upstream_id)
        if rec.status != Status.PENDING:
            raise EngineError(f"task {task_id} is {rec.status}; only a pending task can "
                              "get a new dependency")
        links = [(d, t.id) for t in self.tasks.values() for d in t.depends_on_task_ids]
        links.append((upstream_id, task_id))
        find_order(list(self.tasks), [(a, b) for a, b in links if a in self.tasks])
        self._set(rec, depends_on_task_ids=sorted({*rec.depends_on_task_ids, upstream_id}))
        self._set(up, blocks_task_ids=[*up.blocks_task_ids, task_id])
        self._wake.set()

    async def cancel(self, task_id: int) -> None:
        rec = self.task(task_id)
        if rec.status in TERMINAL - {Status.SKIPPED}:
            raise EngineError(f"task {task_id} is already {rec.status}")
        rt = self._running.get(task_id)
        if rt is not None:
            self._note(task_id, "engine", "cancel requested")
            await self._stop_worker(rt, "cancel")
            return
        if not self._restore_earlier(rec, "cancelled before it ran"):
            self._set(rec, status=Status.CANCELLED, end_time=utcnow(), eta_seconds=None,
                      status_reason="cancelled by the user")
        self._skip_dependents(rec, f"upstream task {rec.id} ({rec.skill_name}) was cancelled")

    async def pause(self, task_id: int) -> None:
        rec = self.task(task_id)
        rt = self._running.get(task_id)
        if rec.status == Status.RUNNING and rt is not None and rt.handle is not None:
            await rt.handle.pause()
            rt.paused_at = time.monotonic()
            self._set(rec, status=Status.PAUSED, eta_seconds=None)
        elif rec.status == Status.PENDING:
            self._set(rec, status=Status.PAUSED, status_reason="held by the user")
        else:
            raise EngineError(f"task {task_id} is {rec.status}; only a running or pending "
                              "task can be paused")

    async def resume(self, task_id: int) -> None:
        """Resume a paused task, or restart an interrupted one where it left off."""
        rec = self.task(task_id)
        rt = self._running.get(task_id)
        if rec.status == Status.PAUSED and rt is not None and rt.handle is not None:
            await rt.handle.resume()
            if rt.paused_at is not None:
                rt.paused_total += time.monotonic() - rt.paused_at
                rt.paused_at = None
            rt.meter.reset()
            self._set(rec, status=Status.RUNNING, status_reason=None)
        elif rec.status == Status.PAUSED:
            self._set(rec, status=Status.PENDING, status_reason=None)
        elif rec.status == Status.INTERRUPTED:
            # INCREMENTAL work picks up what the interrupted run did not commit.
            self._set(rec, status=Status.PENDING, status_reason="resumed", end_time=None,
                      attempt=0)
            self._rearm_dependents(rec)
        else:
            raise EngineError(f"task {task_id} is {rec.status}; only a paused or "
                              "interrupted task can be resumed")
        self._wake.set()

    async def set_priority(self, task_id: int, level: str | int) -> None:
        rec = self.task(task_id)
        try:
            prio = Priority.parse(level)
        except ValueError as exc:
            raise EngineError(str(exc)) from None
        self._set(rec, priority=prio.rank)
        self._wake.set()

    async def rerun(self, task_id: int, full: bool = False, downstream: bool = False,
                    launcher: str | None = None) -> list[int]:
        """Queue a finished task again (and with ``downstream`` everything after it);
        ``launcher`` moves them, e.g. a docker task to the local launcher when Docker
        is not running."""
        rec = self.task(task_id)
        if launcher is not None and launcher not in self.launchers:
            raise EngineError(f"unknown launcher {launcher!r} "
                              f"({' or '.join(sorted(self.launchers))})")
        targets = [rec]
        if downstream:
            targets += [self.tasks[i] for i in self._downstream_ids(rec) if i in self.tasks]
        busy = [t.id for t in targets if t.status in ACTIVE or
                (t.status == Status.PENDING and t.id == task_id)]
        if busy:
            raise EngineError(f"task {busy[0]} is {self.tasks[busy[0]].status}; wait for it "
                              "or cancel it first")
        for t in targets:
            if t.status not in RERUNNABLE and t.status != Status.PENDING:
                raise EngineError(f"task {t.id} is {t.status} and cannot be rerun")
            if launcher == "docker" and t.skill_name in self.registry and \
                    not self.registry.get(t.skill_name).docker:
                raise EngineError(f"skill {t.skill_name!r} runs only with the local launcher")
        for t in targets:
            if t.status == Status.PENDING:
                continue
            if t.status == Status.COMPLETED and t.end_time is not None:
                # The completed run stays on record (a history from before the attempts
                # table gets its row now; a row for this very end is not written twice)
                # and comes back if this rerun is cancelled or skipped before it runs.
                row = self._attempt_row(t)
                self._attempts.append(row)
                self._earlier[t.id] = row
            self._note(t.id, "engine", "rerun" + (" as full recompute" if full else ""))
            self._set(t, status=Status.PENDING,
                      task_type=TaskType.FULL_RECOMPUTE.value if full else t.task_type,
                      progress_percent=0.0, processed_points=0, failed_points=0,
                      total_points=0, eta_seconds=None, error_message=None,
                      result_summary=None, start_time=None, end_time=None, attempt=0,
                      next_attempt_at=None, failure_kind=None, status_reason="rerun",
                      worker_ref=None, launcher=launcher or t.launcher)
        if not downstream:
            self._rearm_dependents(rec)
        self._wake.set()
        return [t.id for t in targets]

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
        ids = []
        for task_id in task_ids:
            rec = self.task(task_id)
            if rec.status not in TERMINAL:
                raise EngineError(f"task {task_id} is {rec.status}; only finished tasks "
                                  "can be removed")
            ids.append(task_id)
        await self._remove(ids, archive=False)
        return ids

    async def prune(self, older_than_s: float | None = None, keep: int | None = None,
                    archive: bool = False) -> list[int]:
        """Archive or remove finished tasks older than ``older_than_s`` or beyond the
        newest ``keep``; analysis results are untouched, and a task that a remaining task
        depends on stays, so every dependency still resolves."""
        if older_than_s is None and keep is None:
            raise EngineError("say which tasks to prune: an age, a count to keep, or both")
        now = utcnow()
        finished = sorted((t for t in self.tasks.values()
                           if t.status in TERMINAL and t.end_time is not None),
                          key=lambda t: (t.end_time, t.id), reverse=True)
        chosen: set[int] = set()
        if older_than_s is not None:
            chosen |= {t.id for t in finished
                       if (now - t.end_time).total_seconds() > older_than_s}  # type: ignore[operator]
        if keep is not None:
            chosen |= {t.id for t in finished[max(0, keep):]}
        dependents: dict[int, set[int]] = {}
        for t in self.tasks.values():
            for d in t.depends_on_task_ids:
                dependents.setdefault(d, set()).add(t.id)
        changed = True
        while changed:
            changed = False
            for task_id in list(chosen):
                if dependents.get(task_id, set()) - chosen:
                    chosen.discard(task_id)
                    changed = True
        if not chosen:
            return []
        ids = sorted(chosen)
        await self._remove(ids, archive)
        return ids

    async def _remove(self, ids: list[int], archive: bool) -> None:
        """Archive or delete finished tasks in the db, then forget and announce them."""
        assert self.store is not None
        await self._flush()
        if archive:
            await self._call(self.store.archive_tasks, [self.tasks[i] for i in ids])
        else:
            await self._call(self.store.delete_tasks, ids)
        for task_id in ids:
            self.tasks.pop(task_id, None)
            self._pending.discard(task_id)
            self._dirty.pop(task_id, None)
            self._earlier.pop(task_id, None)
            self._open_attempts.discard(task_id)
            self.events.emit(TaskRemoved(task_id))

    async def read_log(self, task_id: int, after_id: int = 0, limit: int = 1000,
                       tail: bool = False) -> list[LogRecord]:
        self.task(task_id)
        await self._flush()
        assert self.store is not None
        return await self._call(self.store.read_log, task_id, after_id, limit, tail)

    def is_idle(self) -> bool:
        """Nothing running, and no pending task that could still start on its own (one
        waiting behind a paused or interrupted task waits for a person, not for us)."""
        if self._running:
            return False
        stuck: dict[int, bool] = {}

        def blocked(rec: TaskRecord) -> bool:
            if rec.id in stuck:
                return stuck[rec.id]
            stuck[rec.id] = True  # guards against a cycle in bad data
            result = False
            for dep in rec.depends_on_task_ids:
                up = self.tasks.get(dep)
                if up is None or up.status == Status.COMPLETED:
                    continue
                if up.status != Status.PENDING or blocked(up):
                    result = True
                    break
            stuck[rec.id] = result
            return result

        return all(blocked(t) for t in self.tasks.values() if t.status == Status.PENDING)

    async def _until(self, done: Callable[[], bool], poll: float) -> None:
        # Woken by every status change; ``poll`` only bounds the wait as a safety net.
        while not done():
            self._status_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._status_changed.wait(), poll)

    async def wait_idle(self, poll: float = 1.0) -> None:
        await self._until(self.is_idle, poll)
        await self._flush()

    async def wait_for(self, task_ids: Iterable[int], poll: float = 1.0) -> list[TaskRecord]:
        ids = list(task_ids)
        await self._until(lambda: all(
            self.tasks[i].status in TERMINAL | {Status.INTERRUPTED}
            for i in ids if i in self.tasks), poll)
        await self._flush()
        return [self.tasks[i] for i in ids if i in self.tasks]

    def drain(self) -> None:
        """Start nothing more; what runs finishes. A CLI engine whose own tasks have
        ended drains before it stops: a task it adopted from another process is never
        cut off, and a steady stream of new work cannot keep it alive for ever."""
        self._draining = True

    def busy(self) -> bool:
        """A worker is starting or running."""
        return bool(self._running)

    def running_handles(self) -> dict[int, WorkerHandle]:
        return {i: rt.handle for i, rt in self._running.items() if rt.handle is not None}

    # ================================================================ scheduling ====
    async def _schedule_loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                next_due = self._dispatch()
            except Exception:  # noqa: BLE001 - the scheduler must survive a bad row
                log.exception("scheduler pass failed")
                next_due = 1.0
            timeout = self.settings.poll_interval_s if next_due is None else \
                max(0.01, min(next_due, self.settings.poll_interval_s))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _track(self, rec: TaskRecord) -> None:
        if rec.status == Status.PENDING:
            self._pending.add(rec.id)
        else:
            self._pending.discard(rec.id)

    def _ready(self, rec: TaskRecord, now: float) -> bool:
        if rec.status != Status.PENDING:
            return False
        if rec.next_attempt_at is not None and rec.next_attempt_at > now:
            return False
        for dep in rec.depends_on_task_ids:
            up = self.tasks.get(dep)
            if up is not None and up.status != Status.COMPLETED:
                return False
        return True

    def _dispatch(self) -> float | None:
        """Start what may start; return seconds until the next retry falls due."""
        if self._stopping or self._draining:
            return None
        now = time.time()
        next_due: float | None = None
        pending = [self.tasks[i] for i in self._pending if i in self.tasks]
        for rec in pending:
            if rec.status == Status.PENDING and rec.next_attempt_at and rec.next_attempt_at > now:
                wait = rec.next_attempt_at - now
                next_due = wait if next_due is None else min(next_due, wait)
        if len(self._running) >= self.settings.concurrency:
            return next_due
        # Highest priority first, then oldest; readiness (dependencies done, retry due)
        # is asked only until the free slots are filled, not of the whole queue.
        pending.sort(key=lambda r: (-r.priority, r.id))
        per_skill: dict[str, int] = {}
        for rt in self._running.values():
            name = self.tasks[rt.task_id].skill_name
            per_skill[name] = per_skill.get(name, 0) + 1
        for rec in pending:
            if len(self._running) >= self.settings.concurrency:
                break
            if not self._ready(rec, now):
                continue
            limit = self._skill_limit(rec.skill_name)
            if limit is not None and per_skill.get(rec.skill_name, 0) >= limit:
                continue
            per_skill[rec.skill_name] = per_skill.get(rec.skill_name, 0) + 1
            rt = _Running(rec.id)
            self._running[rec.id] = rt
            self._earlier.pop(rec.id, None)  # the rerun runs: it makes its own record
            self._open_attempts.add(rec.id)
            self._set(rec, status=Status.RUNNING, start_time=utcnow(), end_time=None,
                      attempt=rec.attempt + 1, next_attempt_at=None, eta_seconds=None,
                      error_message=None, failure_kind=None, status_reason=None,
                      heartbeat_at=utcnow(), peak_memory_mb=None, cpu_time_s=None)
            rt.supervisor = asyncio.create_task(self._run(rec, rt),
                                                name=f"trackdesk-task-{rec.id}")
        return next_due

    def _skill_limit(self, skill: str) -> int | None:
        if skill in self.settings.per_skill_limits:
            return self.settings.per_skill_limits[skill]
        if skill in self.registry:
            return self.registry.get(skill).max_concurrency
        return None

    # ================================================================ one task =====
    def worker_argv(self, rec: TaskRecord, spec: SkillSpec) -> list[str]:
        return ["-m", spec.module, rec.skill_name, "--task-id", str(rec.id),
                "--db-path", str(self.db_path), "--task-type", rec.task_type,
                "--params", json.dumps(rec.params),
                "--batch-size", str(rec.batch_size or self.settings.batch_size)]

    async def _run(self, rec: TaskRecord, rt: _Running) -> None:
        try:
            spec = self.registry.get(rec.skill_name)
        except KeyError as exc:
            self._finish_failed(rec, rt, str(exc), FAILURE_LAUNCH, retry=False)
            return
        launcher = self.launchers.get(rec.launcher)
        if launcher is None:
            self._finish_failed(rec, rt, f"the {rec.launcher} launcher is not available "
                                "here; rerun the task with the local launcher",
                                FAILURE_LAUNCH, retry=False)
            return
        try:
            rt.handle = await launcher.start(spec, self.worker_argv(rec, spec), self.db_path,
                                             rec.id, {"TRACKDESK_TASK_ID": str(rec.id)})
        except LauncherUnavailable as exc:
            self._finish_failed(rec, rt, str(exc), FAILURE_LAUNCH, retry=False)
            return
        except Exception as exc:  # noqa: BLE001 - a launch failure ends the task, not us
            self._finish_failed(rec, rt, f"could not start the worker: {exc}", FAILURE_LAUNCH,
                                retry=True)
            return
        self._set(rec, worker_ref=rt.handle.ref)
        self._flush_now.set()
        if rt.stop_reason is not None:  # cancelled while starting
            await self._stop_worker(rt, rt.stop_reason)
        await self._supervise(rec, rt)

    async def _supervise(self, rec: TaskRecord, rt: _Running) -> None:
        assert rt.handle is not None
        watchdog = asyncio.create_task(self._watchdog(rec, rt))
        try:
            async for stream, line in rt.handle.lines():
                if stream == "stdout":
                    self._on_message(rec, rt, line)
                else:
                    rt.stderr_tail.append(line)
                    self._log(rec.id, rt, "stderr", "info", line)
            code = await rt.handle.wait()
        except asyncio.CancelledError:
            # stop(running="leave"): the worker goes on; the next start recovers it.
            self._running.pop(rec.id, None)
            raise
        finally:
            watchdog.cancel()
            if rt.kill_timer is not None:
                rt.kill_timer.cancel()
        self._finish(rec, rt, code)

    async def _watchdog(self, rec: TaskRecord, rt: _Running) -> None:
        if not rec.timeout_s:
            return
        while True:
            left = rec.timeout_s - rt.running_time()
            if left <= 0:
                self._note(rec.id, "engine", f"timed out after {rec.timeout_s:g} s")
                await self._stop_worker(rt, "timeout")
                return
            await asyncio.sleep(min(left, 1.0))

    def _on_message(self, rec: TaskRecord, rt: _Running, line: str) -> None:
        try:
            msg = json.loads(line)
            if not isinstance(msg, dict):
                raise ValueError
        except ValueError:
            self._log(rec.id, rt, "stdout", "info", line)
            return
        kind = msg.get("type")
        if kind == "progress":
            changes: dict[str, Any] = {"heartbeat_at": utcnow()}
            for key, column in (("processed", "processed_points"), ("failed", "failed_points"),
                                ("total", "total_points")):
                if isinstance(msg.get(key), int | float):
                    changes[column] = int(msg[key])
            processed = changes.get("processed_points", rec.processed_points)
            total = changes.get("total_points", rec.total_points)
            if total:
                changes["progress_percent"] = round(min(100.0, 100.0 * processed / total), 2)
            if rec.status == Status.RUNNING:
                rt.meter.add(processed)
                eta = rt.meter.eta(processed, total)
                changes["eta_seconds"] = None if eta is None else round(eta, 1)
            self._set(rec, **changes)
        elif kind == "log":
            self._log(rec.id, rt, "worker", str(msg.get("level", "info")),
                      str(msg.get("message", "")))
        elif kind == "result":
            summary = msg.get("summary")
            rt.summary = summary if isinstance(summary, dict) else {"value": summary}
        elif kind == "resources":
            peak = msg.get("peak_rss_mb")
            changes = {}
            if isinstance(peak, int | float):
                changes["peak_memory_mb"] = round(max(float(peak), rec.peak_memory_mb or 0.0), 1)
            if isinstance(msg.get("cpu_time_s"), int | float):
                changes["cpu_time_s"] = round(float(msg["cpu_time_s"]), 3)
            self._set(rec, **changes)
        elif kind == "error":
            rt.error = str(msg.get("message", "the worker reported an error"))
            self._log(rec.id, rt, "worker", "error", rt.error)
        else:
            self._log(rec.id, rt, "stdout", "info", line)

    def _finish(self, rec: TaskRecord, rt: _Running, code: int) -> None:
        self._set(rec, cpu_percent=None, memory_mb=None)
        if rt.stop_reason == "cancel" and code != 0:
            self._running.pop(rec.id, None)
            self._set(rec, status=Status.CANCELLED, end_time=utcnow(), eta_seconds=None,
                      status_reason="cancelled by the user", worker_ref=None)
            self._skip_dependents(rec, f"upstream task {rec.id} ({rec.skill_name}) was "
                                  "cancelled")
        elif rt.stop_reason == "timeout":
            self._finish_failed(rec, rt, f"timed out after {rec.timeout_s:g} s",
                                FAILURE_TIMEOUT, retry=True)
        elif rt.stop_reason == "restart":
            self._running.pop(rec.id, None)
            self._set(rec, status=Status.PENDING, worker_ref=None, eta_seconds=None,
                      attempt=0, status_reason="restarted", cpu_percent=None, memory_mb=None)
        elif rt.stop_reason == "shutdown" or (code == EXIT_STOPPED and rt.stop_reason is None):
            self._running.pop(rec.id, None)
            self._set(rec, status=Status.INTERRUPTED, end_time=utcnow(), eta_seconds=None,
                      worker_ref=None, status_reason="stopped when the app quit; resume it "
                      "to continue")
        elif code == 0:
            self._running.pop(rec.id, None)
            changes: dict[str, Any] = {}
            if rec.total_points and rec.processed_points >= rec.total_points:
                changes["progress_percent"] = 100.0
            elif not rec.total_points:
                changes["progress_percent"] = 100.0
            # A worker may say why its completion is not a plain one ("completed with 2 of
            # 9 files not imported"): the summary's status_reason, shown beside the status.
            reason = (rt.summary or {}).get("status_reason")
            if isinstance(reason, str) and reason:
                changes["status_reason"] = reason[:500]
            self._set(rec, status=Status.COMPLETED, end_time=utcnow(), eta_seconds=None,
                      result_summary=rt.summary or {}, worker_ref=None, **changes)
            self._note(rec.id, "engine", "completed")
        else:
            reason = getattr(rt.handle, "exit_reason", None)
            extra = reason() if callable(reason) else None
            if code < 0:
                try:
                    name = signal.Signals(-code).name
                except ValueError:
                    name = f"signal {-code}"
                head = f"worker crashed (killed by {name})"
                kind = FAILURE_CRASH
            elif rt.error is not None:
                head = rt.error
                kind = FAILURE_SKILL
            else:
                head = f"worker exited with code {code}"
                kind = FAILURE_CRASH
            if extra:
                head = f"{extra}; {head}"
            tail = "\n".join(rt.stderr_tail)
            message = head + (f"\n--- last lines of the worker's log ---\n{tail}"
                              if tail and kind == FAILURE_CRASH else "")
            self._finish_failed(rec, rt, message, kind, retry=True)
        self._wake.set()
        self._flush_now.set()

    def _finish_failed(self, rec: TaskRecord, rt: _Running, message: str, kind: str,
                       retry: bool) -> None:
        self._running.pop(rec.id, None)
        if retry and rec.attempt <= rec.max_retries and not self._stopping:
            delays = rec.retry_delays or [1.0]
            delay = float(delays[min(rec.attempt - 1, len(delays) - 1)])
            self._note(rec.id, "engine", f"attempt {rec.attempt} failed: {message.splitlines()[0]}"
                       f"; retrying in {delay:g} s")
            self._set(rec, status=Status.PENDING, next_attempt_at=time.time() + delay,
                      error_message=message, failure_kind=kind, eta_seconds=None,
                      worker_ref=None, status_reason=f"retry {rec.attempt} of "
                      f"{rec.max_retries} in {delay:g} s")
            return
        self._set(rec, status=Status.FAILED, end_time=utcnow(), error_message=message,
                  failure_kind=kind, eta_seconds=None, worker_ref=None,
                  status_reason=None)
        self._note(rec.id, "engine", f"failed: {message.splitlines()[0]}")
        self._skip_dependents(rec, f"upstream task {rec.id} ({rec.skill_name}) failed")
        self._wake.set()

    async def _stop_worker(self, rt: _Running, reason: str) -> None:
        """Ask the worker to stop; kill it when it has not after the grace period."""
        if rt.stop_reason is None or reason == "cancel":
            rt.stop_reason = reason
        if rt.handle is None:
            return
        with contextlib.suppress(Exception):
            await rt.handle.terminate()
        if rt.paused_at is not None:
            rt.paused_total += time.monotonic() - rt.paused_at
            rt.paused_at = None
        loop = asyncio.get_running_loop()
        handle = rt.handle

        def kill() -> None:
            loop.create_task(handle.kill())

        if rt.kill_timer is None:
            rt.kill_timer = loop.call_later(self.settings.cancel_grace_s, kill)

    # ================================================================ resources =====
    async def _sample_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sample_interval_s)
            try:
                self.sample_once()
            except Exception:  # noqa: BLE001 - sampling is best effort
                log.exception("sampling worker resources failed")

    def sample_once(self) -> None:
        """CPU and memory of every running worker; flag the silent ones as stuck."""
        now = utcnow()
        for task_id, rt in list(self._running.items()):
            rec = self.tasks.get(task_id)
            if rec is None or rt.handle is None:
                continue
            s = rt.handle.sample() if rec.status == Status.RUNNING else None
            if s is not None:
                changes: dict[str, Any] = {
                    "cpu_percent": round(s.cpu_percent, 1), "memory_mb": round(s.rss_mb, 1),
                    "peak_memory_mb": round(max(s.rss_mb, rec.peak_memory_mb or 0.0), 1)}
                if s.cpu_time_s is not None:
                    changes["cpu_time_s"] = round(s.cpu_time_s, 3)
                self._set(rec, **changes)
            if rec.status == Status.RUNNING and self.is_stuck(rec, now) and not rt.stuck:
                rt.stuck = True
                silent = (now - (rec.heartbeat_at or rec.start_time or now)).total_seconds()
                self._set(rec, status_reason=f"stuck: no progress message for {silent:.0f} s")
                self._note(task_id, "engine", f"no progress message for {silent:.0f} s: "
                           "flagged as stuck (restart it from the menu)")

    def is_stuck(self, rec: TaskRecord, now: Any = None) -> bool:
        """A running task silent for longer than its skill allows."""
        if rec.status != Status.RUNNING:
            return False
        limit = (self.registry.get(rec.skill_name).stuck_after_s
                 if rec.skill_name in self.registry else 300.0)
        last = rec.heartbeat_at or rec.start_time
        if last is None:
            return False
        return ((now or utcnow()) - last).total_seconds() > limit

    def stuck_ids(self) -> list[int]:
        return [t.id for t in self.tasks.values() if self.is_stuck(t)]

    async def restart(self, task_id: int) -> None:
        """Stop a running (e.g. stuck) task's worker and queue the task again."""
        rt = self._running.get(task_id)
        if rt is None:
            raise EngineError(f"task {task_id} is not running")
        self._note(task_id, "engine", "restart requested")
        await self._stop_worker(rt, "restart")

    # ================================================================ graph =========
    def _downstream_ids(self, rec: TaskRecord) -> list[int]:
        """Every task that depends on ``rec``, directly or not, in dependency order."""
        children: dict[int, list[int]] = {}
        for t in self.tasks.values():
            for d in t.depends_on_task_ids:
                children.setdefault(d, []).append(t.id)
        seen: list[int] = []
        stack = list(children.get(rec.id, []))
        while stack:
            i = stack.pop(0)
            if i in seen:
                continue
            seen.append(i)
            stack.extend(children.get(i, []))
        return seen

    def _skip_dependents(self, rec: TaskRecord, reason: str) -> None:
        for i in self._downstream_ids(rec):
            t = self.tasks[i]
            if t.status in (Status.PENDING, Status.PAUSED) and i not in self._running:
                if self._restore_earlier(t, f"not run ({reason})"):
                    continue
                self._set(t, status=Status.SKIPPED, status_reason=reason, end_time=utcnow(),
                          next_attempt_at=None)
                self._note(i, "engine", f"skipped: {reason}")

    def _rearm_dependents(self, rec: TaskRecord) -> None:
        for i in self._downstream_ids(rec):
            t = self.tasks[i]
            if t.status == Status.SKIPPED:
                self._set(t, status=Status.PENDING, status_reason=None, end_time=None)

    # ================================================================ state =========
    def _set(self, rec: TaskRecord, **changes: Any) -> None:
        """Change fields of a task: checked, remembered for the next flush, announced."""
        if "status" in changes:
            new = changes["status"]
            if new == rec.status:
                changes.pop("status")
            else:
                changes["status"] = check_transition(rec.id, rec.status, new)
        real = {k: v for k, v in changes.items() if getattr(rec, k) != v}
        if not real:
            return
        for key, value in real.items():
            setattr(rec, key, value)
        if "status" in real:
            self._track(rec)
            if rec.id in self._open_attempts and rec.status not in ACTIVE:
                # A run of the worker ended (also a failure with a retry to come).
                self._open_attempts.discard(rec.id)
                self._attempts.append(self._attempt_row(rec))
        rec.updated_at = utcnow()
        pending = self._dirty.setdefault(rec.id, {})
        for key, value in real.items():
            column, stored = column_value(key, value)
            pending[column] = stored
        if "status" in real:
            self._flush_now.set()
            self._status_changed.set()
        self.events.emit(TaskChanged(rec.id, real))

    def _adopt(self, records: list[TaskRecord]) -> list[TaskRecord]:
        out = []
        for saved in records:
            if saved.id in self.tasks:
                out.append(self.tasks[saved.id])
                continue
            self.tasks[saved.id] = saved
            self._track(saved)
            self._max_seen_id = max(self._max_seen_id, saved.id)
            self.events.emit(TaskAdded(saved))
            for dep in saved.depends_on_task_ids:
                up = self.tasks.get(dep)
                if up is not None and saved.id not in up.blocks_task_ids:
                    # Already written with the new row: announce it, nothing to flush.
                    up.blocks_task_ids = [*up.blocks_task_ids, saved.id]
                    self.events.emit(TaskChanged(up.id, {"blocks_task_ids":
                                                         up.blocks_task_ids}))
            out.append(saved)
        self._wake.set()
        return out

    @staticmethod
    def _attempt_row(rec: TaskRecord) -> dict[str, Any]:
        """The task_attempts row of the run that just ended (TaskStore.ATTEMPT_FIELDS)."""
        outcome = rec.status.value
        if rec.status == Status.PENDING:  # back in the queue: a retry, or a restart
            outcome = Status.FAILED.value if rec.failure_kind else "restarted"
        return {
            "task_id": rec.id, "task_type": rec.task_type, "launcher": rec.launcher,
            "started_at": _naive(rec.start_time), "ended_at": _naive(rec.end_time or utcnow()),
            "outcome": outcome, "exit_reason": rec.failure_kind or rec.status_reason,
            "error": rec.error_message if outcome == Status.FAILED.value else None,
            "processed_points": rec.processed_points, "failed_points": rec.failed_points,
            "total_points": rec.total_points, "progress_percent": rec.progress_percent,
            "peak_memory_mb": rec.peak_memory_mb, "cpu_time_s": rec.cpu_time_s,
            "result_summary": (None if rec.result_summary is None
                               else json.dumps(rec.result_summary, default=str)),
        }

    def _restore_earlier(self, rec: TaskRecord, why: str) -> bool:
        """A rerun that never ran is cancelled or skipped: the completed run it was to
        replace stands again, as it was (issue 18: a cancelled rerun turned completed
        rows into 'skipped'). False when there is no such run."""
        row = self._earlier.pop(rec.id, None)
        if row is None or rec.start_time is not None or rec.id in self._running:
            return False
        summary = row.get("result_summary")
        if isinstance(summary, str):
            try:
                summary = json.loads(summary)
            except ValueError:
                summary = None
        self._set(rec, status=Status.COMPLETED, task_type=row.get("task_type") or rec.task_type,
                  launcher=row.get("launcher") or rec.launcher,
                  start_time=_aware(row.get("started_at")), end_time=_aware(row["ended_at"]),
                  processed_points=row.get("processed_points") or 0,
                  failed_points=row.get("failed_points") or 0,
                  total_points=row.get("total_points") or 0,
                  progress_percent=row.get("progress_percent") or 100.0,
                  peak_memory_mb=row.get("peak_memory_mb"), cpu_time_s=row.get("cpu_time_s"),
                  result_summary=summary if summary is not None else {},
                  error_message=None, failure_kind=None, next_attempt_at=None,
                  eta_seconds=None, status_reason=f"rerun {why}; the earlier run stands")
        self._note(rec.id, "engine", f"rerun {why}: the earlier completed run stands")
        return True

    async def attempts(self, task_id: int) -> list[dict[str, Any]]:
        """Every ended run of a task, oldest first (task_attempts), as JSON-ready dicts."""
        self.task(task_id)
        assert self.store is not None
        rows = (await self._call(self.store.attempts, [task_id])).get(task_id, [])
        # Ended a moment ago and not written yet (the next flush writes them): shown too,
        # numbered as the write will number them, without forcing a write per request.
        stored_ends = {r["ended_at"] for r in rows}
        for a in self._attempts:
            if a["task_id"] != task_id:
                continue
            row = {k: (_iso(v) if isinstance(v, datetime) else v) for k, v in a.items()}
            if row["ended_at"] in stored_ends:
                continue
            if isinstance(row.get("result_summary"), str):
                with contextlib.suppress(ValueError):
                    row["result_summary"] = json.loads(row["result_summary"])
            row["attempt"] = (rows[-1]["attempt"] if rows else 0) + 1
            rows.append(row)
        return rows

    def _log(self, task_id: int, rt: _Running | None, stream: str, level: str,
             message: str) -> None:
        ts = time.time()
        if rt is not None:
            if rt.replayed.get(stream):
                rt.replayed[stream] -= 1  # stored before the app went away: once is enough
                return
            rt.log_lines += 1
            if rt.log_lines == MAX_LOG_LINES:
                message = f"[log truncated: more than {MAX_LOG_LINES} lines]"
                stream = "engine"
            elif rt.log_lines > MAX_LOG_LINES:
                return
        self._logs.append((task_id, ts, stream, level, message))
        self.events.emit(LogLine(task_id, ts, stream, level, message))

    def _note(self, task_id: int, stream: str, message: str) -> None:
        self._log(task_id, None, stream, "info", message)

    # ================================================================ persistence ===
    async def _flush(self) -> None:
        if self.store is None or (not self._dirty and not self._logs and not self._attempts):
            return
        dirty, self._dirty = self._dirty, {}
        logs, self._logs = self._logs, []
        attempts, self._attempts = self._attempts, []
        try:
            # Shielded: stop() cancels the write loop, and cancelling the awaiting future
            # would also cancel a write still queued behind a slow read on the database
            # thread: the changes (a task that just finished) would be lost.
            await asyncio.shield(self._call(self._write_batch, dirty, logs, attempts))
        except Exception as exc:
            self._logs = logs + self._logs
            self._attempts = attempts + self._attempts
            # A full disk refuses growth first; the task states alone are updates in
            # place and may still fit. What the db says about a task's state must
            # match what was shown: the states go first, the log lines wait.
            freed = _disk_full(exc) and self._lock.release_reserve()
            if freed:
                log.debug("the disk is full: gave back the engine's reserved space")
            if dirty and (logs or attempts or freed):
                try:
                    await asyncio.shield(self._call(self._write_batch, dirty, [], []))
                except Exception:  # noqa: BLE001 - the first error is the one to tell
                    pass
                else:
                    dirty = {}
            if dirty:
                for task_id, values in dirty.items():
                    self._dirty.setdefault(task_id, {}).update(
                        {k: v for k, v in values.items()
                         if k not in self._dirty.get(task_id, {})})
                self.unsaved_error = _one_line(exc)
            elif not self._dirty:
                self.unsaved_error = None
            raise
        self.unsaved_error = None

    def _write_batch(self, dirty: dict[int, dict[str, Any]],
                     logs: list[tuple[int, float, str, str, str]],
                     attempts: list[dict[str, Any]] | None = None) -> None:
        assert self.store is not None
        self.store.write_batch(dirty, [entry for entry in logs if entry[0] in self.tasks],
                               [a for a in attempts or () if a["task_id"] in self.tasks])

    def _log_db_error(self, what: str, exc: BaseException) -> None:
        """One line per distinct database error (a full disk fails every write until
        space is freed: the terminal gets it once, not a traceback twice a second)."""
        text = _one_line(exc)
        if isinstance(exc, sqlite3.Error | OSError):
            if text != self._last_db_error:
                self._last_db_error = text
                log.warning("tracks.db: %s; %s", text, what)
        else:
            log.exception("%s", what)

    async def _flush_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), self.settings.flush_interval_s)
            self._flush_now.clear()
            try:
                await self._flush()
            except Exception as exc:  # noqa: BLE001
                self._log_db_error("task progress is not saved for now (trying again)", exc)
            # Coalesce: at most one write per interval, even when states change fast.
            await asyncio.sleep(min(0.1, self.settings.flush_interval_s))

    # ================================================================ other processes
    async def _poll_loop(self) -> None:
        while True:
            try:
                await self._poll_once()
            except Exception as exc:  # noqa: BLE001 - a busy db must not end the engine
                self._log_db_error("cannot look for new tasks for now (trying again)", exc)
            await asyncio.sleep(self.settings.poll_interval_s)

    async def _poll_once(self) -> None:
        assert self.store is not None
        asked = await self.pick_up()
        if not asked:
            return
        for req in await self._call(self.store.open_requests):
            outcome = await self.handle_request(req.action, req.task_id, req.payload)
            await self._call(self.store.finish_request, req.id, outcome)

    async def pick_up(self, force: bool = False) -> bool:
        """Adopt every task row not yet known, whoever wrote it; return whether requests
        from other processes wait. ``force`` looks even when the db says nothing changed
        (the API asked for a task it does not know yet)."""
        assert self.store is not None
        known_max = self._max_seen_id
        candidates, asked, version = await self._call(
            self.store.news, known_max, None if force else self._seen_version)
        ids = sorted(i for i in candidates if i not in self.tasks)
        if ids:
            new = await self._call(self.store.load_ids, ids)
            self._adopt([r for r in new if r.id not in self.tasks])
        # Remembered only after the rows were read: a failed read looks again next time.
        self._seen_version = version
        return asked

    async def handle_request(self, action: str, task_id: int | None,
                             payload: dict[str, Any]) -> dict[str, Any]:
        """Carry out one request from another process; never raises."""
        handlers: dict[str, Callable[[], Awaitable[Any]]] = {
            "cancel": lambda: self.cancel(int(task_id or 0)),
            "pause": lambda: self.pause(int(task_id or 0)),
            "resume": lambda: self.resume(int(task_id or 0)),
            "rerun": lambda: self.rerun(int(task_id or 0), bool(payload.get("full")),
                                        bool(payload.get("downstream")),
                                        payload.get("launcher")),
            "priority": lambda: self.set_priority(int(task_id or 0),
                                                  payload.get("level", "normal")),
            "remove": lambda: self.remove([int(task_id or 0)]),
            "restart": lambda: self.restart(int(task_id or 0)),
            "prune": lambda: self.prune(payload.get("older_than_s"), payload.get("keep"),
                                        bool(payload.get("archive"))),
            # `trackdesk skills reload`: the user skills folder again, in this registry.
            "reload_skills": lambda: reload_async(self.registry),
        }
        handler = handlers.get(action)
        if handler is None:
            return {"ok": False, "message": f"unknown action {action!r}"}
        try:
            if task_id and task_id not in self.tasks:
                # Queued by another process a moment ago: adopt it now, not next poll.
                await self.pick_up(force=True)
            result = await handler()
        except (EngineError, UnknownTaskError) as exc:
            return {"ok": False, "message": str(exc)}
        except Exception as exc:  # noqa: BLE001
            log.exception("request %s failed", action)
            return {"ok": False, "message": f"{type(exc).__name__}: {exc}"}
        return {"ok": True, "message": f"{action} done", "result": result}
