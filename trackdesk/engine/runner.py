"""The attempt runner: launch a task's worker, read its messages, hand over its exit.

One :class:`Run` per live worker. The runner starts it with the task's launcher, turns
each stdout line into a protocol message (``trackdesk.protocol.decode``), keeps stderr
as the task's log, watches the timeout, samples CPU and memory, and stops the worker
when asked. How the task then ends is not decided here: :meth:`Lifecycle.end_run` is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trackdesk.engine.eta import EtaMeter
from trackdesk.engine.launchers.base import Launcher, LauncherUnavailable, WorkerHandle
from trackdesk.engine.launchers.local import kill_stale_local_worker
from trackdesk.engine.lifecycle import EngineError, Lifecycle
from trackdesk.engine.persistence import Persistence
from trackdesk.engine.records import TaskRecord, utcnow
from trackdesk.engine.settings import EngineSettings
from trackdesk.engine.states import ACTIVE, TERMINAL, Status
from trackdesk.protocol import (
    Error,
    FailureKind,
    Log,
    Progress,
    Resources,
    Result,
    StopReason,
    decode,
)
from trackdesk.skills.registry import SkillRegistry
from trackdesk.skills.spec import SkillSpec

log = logging.getLogger(__name__)
STDERR_TAIL_LINES = 20


@dataclass
class Run:
    """A task whose worker is starting or alive."""

    task_id: int
    handle: WorkerHandle | None = None
    stop_reason: StopReason | None = None
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
    supervisor: asyncio.Task[None] | None = None

    def running_time(self) -> float:
        now = time.monotonic()
        paused = self.paused_total + ((now - self.paused_at) if self.paused_at else 0.0)
        return now - self.run_started - paused


class AttemptRunner:
    def __init__(self, book: Lifecycle, db: Persistence, registry: SkillRegistry,
                 launchers: dict[str, Launcher], settings: EngineSettings) -> None:
        self.book = book
        self.db = db
        self.registry = registry
        self.launchers = launchers
        self.settings = settings

    def worker_argv(self, rec: TaskRecord, spec: SkillSpec) -> list[str]:
        return ["-m", spec.module, rec.skill_name, "--task-id", str(rec.id),
                "--db-path", str(self.db.db_path), "--task-type", rec.task_type,
                "--params", json.dumps(rec.params),
                "--batch-size", str(rec.batch_size or self.settings.batch_size)]

    def launch(self, rec: TaskRecord) -> None:
        """Open a new attempt of a ready task and start its worker in the background."""
        run = Run(rec.id)
        self.book.start_attempt(rec, run)
        run.supervisor = asyncio.create_task(self._run(rec, run),
                                             name=f"trackdesk-task-{rec.id}")

    async def _run(self, rec: TaskRecord, run: Run) -> None:
        try:
            spec = self.registry.get(rec.skill_name)
        except KeyError as exc:
            self.book.fail(rec, str(exc), FailureKind.LAUNCH, retry=False)
            return
        launcher = self.launchers.get(rec.launcher)
        if launcher is None:
            self.book.fail(rec, f"the {rec.launcher} launcher is not available here; rerun "
                           "the task with the local launcher", FailureKind.LAUNCH,
                           retry=False)
            return
        try:
            run.handle = await launcher.start(spec, self.worker_argv(rec, spec),
                                              self.db.db_path, rec.id,
                                              {"TRACKDESK_TASK_ID": str(rec.id)})
        except LauncherUnavailable as exc:
            self.book.fail(rec, str(exc), FailureKind.LAUNCH, retry=False)
            return
        except Exception as exc:  # noqa: BLE001 - a launch failure ends the task, not us
            self.book.fail(rec, f"could not start the worker: {exc}", FailureKind.LAUNCH,
                           retry=True)
            return
        self.book.update(rec, worker_ref=run.handle.ref)
        self.book.flush_now.set()
        if run.stop_reason is not None:  # cancelled while starting
            await self.stop(run, run.stop_reason)
        await self._supervise(rec, run)

    async def _supervise(self, rec: TaskRecord, run: Run) -> None:
        assert run.handle is not None
        watchdog = asyncio.create_task(self._watchdog(rec, run))
        try:
            async for stream, line in run.handle.lines():
                if stream == "stdout":
                    self.on_message(rec, run, line)
                else:
                    run.stderr_tail.append(line)
                    self.book.log(rec.id, run, "stderr", "info", line)
            code = await run.handle.wait()
        except asyncio.CancelledError:
            # stop(running="leave"): the worker goes on; the next start recovers it.
            self.book.running.pop(rec.id, None)
            raise
        finally:
            watchdog.cancel()
            if run.kill_timer is not None:
                run.kill_timer.cancel()
        self.book.end_run(rec, run, code)

    async def _watchdog(self, rec: TaskRecord, run: Run) -> None:
        if not rec.timeout_s:
            return
        while True:
            left = rec.timeout_s - run.running_time()
            if left <= 0:
                self.book.note(rec.id, "engine", f"timed out after {rec.timeout_s:g} s")
                await self.stop(run, StopReason.TIMEOUT)
                return
            await asyncio.sleep(min(left, 1.0))

    def on_message(self, rec: TaskRecord, run: Run, line: str) -> None:
        """One stdout line of the worker (docs/PROTOCOL.md)."""
        msg = decode(line)
        if isinstance(msg, Progress):
            changes: dict[str, Any] = {"heartbeat_at": utcnow()}
            for value, column in ((msg.processed, "processed_points"),
                                  (msg.failed, "failed_points"),
                                  (msg.total, "total_points")):
                if value is not None:
                    changes[column] = value
            processed = changes.get("processed_points", rec.processed_points)
            total = changes.get("total_points", rec.total_points)
            if total:
                changes["progress_percent"] = round(min(100.0, 100.0 * processed / total), 2)
            if rec.status == Status.RUNNING:
                run.meter.add(processed)
                eta = run.meter.eta(processed, total)
                changes["eta_seconds"] = None if eta is None else round(eta, 1)
            self.book.update(rec, **changes)
        elif isinstance(msg, Log):
            self.book.log(rec.id, run, "worker", msg.level, msg.message)
        elif isinstance(msg, Result):
            run.summary = msg.summary
        elif isinstance(msg, Resources):
            changes = {}
            if msg.peak_rss_mb is not None:
                changes["peak_memory_mb"] = round(max(msg.peak_rss_mb,
                                                      rec.peak_memory_mb or 0.0), 1)
            if msg.cpu_time_s is not None:
                changes["cpu_time_s"] = round(msg.cpu_time_s, 3)
            self.book.update(rec, **changes)
        elif isinstance(msg, Error):
            run.error = msg.message
            self.book.log(rec.id, run, "worker", "error", run.error)
        else:
            self.book.log(rec.id, run, "stdout", "info", line)

    # ------------------------------------------------------------------ control ----
    async def stop(self, run: Run, reason: StopReason) -> None:
        """Ask the worker to stop; kill it when it has not after the grace period. The
        reason decides how the task ends (a user's cancel wins over any other)."""
        if run.stop_reason is None or reason == StopReason.CANCEL:
            run.stop_reason = reason
        if run.handle is None:
            return
        with contextlib.suppress(Exception):
            await run.handle.terminate()
        if run.paused_at is not None:
            run.paused_total += time.monotonic() - run.paused_at
            run.paused_at = None
        loop = asyncio.get_running_loop()
        handle = run.handle

        def kill() -> None:
            loop.create_task(handle.kill())

        if run.kill_timer is None:
            run.kill_timer = loop.call_later(self.settings.cancel_grace_s, kill)

    # The user's actions: on the worker when the task has one, else on its lifecycle.
    async def cancel(self, rec: TaskRecord) -> None:
        if rec.status in TERMINAL - {Status.SKIPPED}:
            raise EngineError(f"task {rec.id} is already {rec.status}")
        run = self.book.running.get(rec.id)
        if run is None:
            self.book.cancel_waiting(rec)
            return
        self.book.note(rec.id, "engine", "cancel requested")
        await self.stop(run, StopReason.CANCEL)

    async def pause(self, rec: TaskRecord) -> None:
        run = self.book.running.get(rec.id)
        if rec.status == Status.RUNNING and run is not None and run.handle is not None:
            await run.handle.pause()
            run.paused_at = time.monotonic()
            self.book.transition(rec, Status.PAUSED)
        elif rec.status == Status.PENDING:
            self.book.transition(rec, Status.PAUSED, "held by the user")
        else:
            raise EngineError(f"task {rec.id} is {rec.status}; only a running or pending "
                              "task can be paused")

    async def resume(self, rec: TaskRecord) -> None:
        run = self.book.running.get(rec.id)
        if rec.status == Status.PAUSED and run is not None and run.handle is not None:
            await run.handle.resume()
            if run.paused_at is not None:
                run.paused_total += time.monotonic() - run.paused_at
                run.paused_at = None
            run.meter.reset()
            self.book.transition(rec, Status.RUNNING, None)
            self.book.wake.set()
        else:
            self.book.resume_waiting(rec)

    async def restart(self, task_id: int) -> None:
        run = self.book.running.get(task_id)
        if run is None:
            raise EngineError(f"task {task_id} is not running")
        self.book.note(task_id, "engine", "restart requested")
        await self.stop(run, StopReason.RESTART)

    async def stop_all(self, running: str) -> None:
        """``"stop"``: every worker is asked to stop and waited for; ``"leave"``: they
        go on without us (the next start recovers them)."""
        if running == "stop":
            for run in list(self.book.running.values()):
                await self.stop(run, StopReason.SHUTDOWN)
            waits = [r.supervisor for r in self.book.running.values() if r.supervisor]
            if waits:
                await asyncio.wait(waits, timeout=self.settings.cancel_grace_s + 5)
        else:
            for run in list(self.book.running.values()):
                if run.supervisor:
                    run.supervisor.cancel()

    # ------------------------------------------------------------------ recovery ---
    async def recover(self) -> None:
        """Tasks left running by a dead app: follow what still runs, the rest interrupted."""
        book = self.book
        followed: set[int] = set()
        for launcher in self.launchers.values():
            try:
                found = await launcher.recover(self.db.db_path)
            except Exception as exc:  # noqa: BLE001 - recovery of one launcher is optional
                log.warning("recovery with the %s launcher failed: %s", launcher.name, exc)
                continue
            for worker in found:
                rec = book.tasks.get(worker.task_id)
                if rec is None or rec.status not in ACTIVE:
                    with contextlib.suppress(Exception):
                        await worker.handle.kill()
                    continue
                followed.add(rec.id)
                if rec.status == Status.PAUSED:
                    with contextlib.suppress(Exception):
                        await worker.handle.resume()
                run = Run(rec.id, worker.handle)
                book.follow(rec, run)
                book.note(rec.id, "engine", f"following worker {worker.handle.ref} "
                          "left by the previous app")
                if worker.handle.replays_output and self.db.store is not None:
                    await self.db.flush()  # the note above, and anything else pending
                    since = rec.start_time.timestamp() if rec.start_time else 0.0
                    run.replayed = await self.db.call(self.db.store.log_counts, rec.id, since)
                    run.replayed.pop("engine", None)
                    run.log_lines = sum(run.replayed.values())
                run.supervisor = asyncio.create_task(self._supervise(rec, run))
        for rec in list(book.tasks.values()):
            # A paused task without a worker is only held: it never started.
            held = rec.status == Status.PAUSED and rec.worker_ref is None
            if rec.status in ACTIVE and rec.id not in followed and not held:
                kill_stale_local_worker(rec.worker_ref, rec.id)
                book.interrupt_orphan(rec)

    # ------------------------------------------------------------------ resources --
    async def sample_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sample_interval_s)
            try:
                self.sample_once()
            except Exception:  # noqa: BLE001 - sampling is best effort
                log.exception("sampling worker resources failed")

    def sample_once(self) -> None:
        """CPU and memory of every running worker; flag the silent ones as stuck."""
        now = utcnow()
        for task_id, run in list(self.book.running.items()):
            rec = self.book.tasks.get(task_id)
            if rec is None or run.handle is None:
                continue
            s = run.handle.sample() if rec.status == Status.RUNNING else None
            if s is not None:
                changes: dict[str, Any] = {
                    "cpu_percent": round(s.cpu_percent, 1), "memory_mb": round(s.rss_mb, 1),
                    "peak_memory_mb": round(max(s.rss_mb, rec.peak_memory_mb or 0.0), 1)}
                if s.cpu_time_s is not None:
                    changes["cpu_time_s"] = round(s.cpu_time_s, 3)
                self.book.update(rec, **changes)
            if rec.status == Status.RUNNING and self.is_stuck(rec, now) and not run.stuck:
                run.stuck = True
                silent = (now - (rec.heartbeat_at or rec.start_time or now)).total_seconds()
                self.book.update(rec, status_reason=f"stuck: no progress message for "
                                 f"{silent:.0f} s")
                self.book.note(task_id, "engine", f"no progress message for {silent:.0f} "
                               "s: flagged as stuck (restart it from the menu)")

    def is_stuck(self, rec: TaskRecord, now: datetime | None = None) -> bool:
        """A running task silent for longer than its skill allows."""
        if rec.status != Status.RUNNING:
            return False
        limit = (self.registry.get(rec.skill_name).stuck_after_s
                 if rec.skill_name in self.registry else 300.0)
        last = rec.heartbeat_at or rec.start_time
        if last is None:
            return False
        return ((now or utcnow()) - last).total_seconds() > limit

