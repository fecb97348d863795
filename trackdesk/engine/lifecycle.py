"""How a task lives and ends: the one place where a task's state changes.

Every status change goes through :meth:`Lifecycle.transition`, which checks the move
against ``states.TRANSITIONS`` (an illegal one raises ``IllegalTransition``) and applies
the entry rules of the new state, so that no caller copies them by hand:

==================  =====================================================================
entering            rules
==================  =====================================================================
any idle state      the worker is released (no ``worker_ref``, no live cpu/memory, off
                    the running set), the ETA is cleared
``paused``          the ETA is cleared (the worker, if any, is kept: it is only stopped)
an end state        ``end_time`` is now (unless given), no retry is due
(terminal or
``interrupted``)
``pending``         ``end_time`` is cleared
every state         ``reason`` becomes ``status_reason`` (``KEEP`` leaves it as it is)
==================  =====================================================================

When a run of the worker ends (any move out of ``running``/``paused`` of a task whose
attempt is open) its ``task_attempts`` row is closed, in the same write as the new state.

"How does a task end?" is answered here, top to bottom: :meth:`Lifecycle.end_run` decides
the outcome of a worker's exit (completed, failed with or without a retry, cancelled,
interrupted, restarted), :meth:`Lifecycle.fail` the retry rule, and the user's actions on
tasks that have no worker (cancel, hold, resume, rerun) are the methods below it. The
engine's other parts only call these.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from trackdesk.engine import graph
from trackdesk.engine.events import EventBus, LogLine, TaskAdded, TaskChanged, TaskRemoved
from trackdesk.engine.records import TaskRecord, column_value, utcnow
from trackdesk.engine.states import (
    ACTIVE,
    ENDED,
    RERUNNABLE,
    TERMINAL,
    IllegalTransition,
    Priority,
    Status,
    TaskType,
    check_transition,
)
from trackdesk.engine.store import UnknownTaskError
from trackdesk.protocol import EXIT_STOPPED, FailureKind, StopReason
from trackdesk.skills.registry import SkillRegistry

if TYPE_CHECKING:
    from trackdesk.engine.runner import Run

__all__ = ["ENDED", "KEEP", "EngineError", "IllegalTransition", "Lifecycle"]

# Past this many stored lines per attempt a chatty worker's log is only counted.
MAX_LOG_LINES = 50_000


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


#: ``reason`` for a transition that leaves ``status_reason`` as it is.
KEEP: Any = _Keep()

LogEntry = tuple[int, float, str, str, str]  # task id, ts, stream, level, message


class EngineError(Exception):
    """A request the engine refuses; the message is meant for a person."""


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
    assert isinstance(value, datetime)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def entry_rules(to: Status, now: datetime) -> dict[str, Any]:
    """The fields every task entering ``to`` gets (a caller's own values win)."""
    rules: dict[str, Any] = {}
    if to not in ACTIVE:
        rules.update(worker_ref=None, cpu_percent=None, memory_mb=None, eta_seconds=None)
    if to == Status.PAUSED:
        rules["eta_seconds"] = None
    if to in ENDED:
        rules.update(end_time=now, next_attempt_at=None)
    if to == Status.PENDING:
        rules["end_time"] = None
    return rules


class Lifecycle:
    """The engine's tasks in memory and every change to them.

    Changes are remembered for the next write (``dirty``, ``logs``, ``attempts``: the
    persistence part takes them) and announced on the event bus at once."""

    def __init__(self, events: EventBus) -> None:
        self.events = events
        self.tasks: dict[int, TaskRecord] = {}
        #: Tasks whose worker is starting or alive.
        self.running: dict[int, Run] = {}
        # Ids of pending tasks: the scheduler looks at these only, not at the whole
        # history (tens of thousands of finished tasks in a lifetime's tracks.db).
        self.pending: set[int] = set()
        self.dirty: dict[int, dict[str, Any]] = {}
        self.logs: list[LogEntry] = []
        self.attempts: list[dict[str, Any]] = []
        # Tasks whose attempt (a run of the worker) is under way: recorded when it ends.
        self.open_attempts: set[int] = set()
        # A rerun not yet started: the completed run it would replace (restored when the
        # rerun is cancelled or skipped before it runs: the earlier run stands).
        self.earlier: dict[int, dict[str, Any]] = {}
        self.max_seen_id = 0
        #: The engine is stopping: no retry is queued any more.
        self.stopping = False
        self.wake = asyncio.Event()  # the scheduler has something to look at
        self.flush_now = asyncio.Event()  # a state changed: write soon
        self.status_changed = asyncio.Event()

    # ------------------------------------------------------------------ records ----
    def task(self, task_id: int) -> TaskRecord:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise UnknownTaskError(task_id) from None

    def _track(self, rec: TaskRecord) -> None:
        if rec.status == Status.PENDING:
            self.pending.add(rec.id)
        else:
            self.pending.discard(rec.id)

    def load(self, records: Iterable[TaskRecord]) -> None:
        """The tasks as tracks.db holds them when the engine starts (not announced)."""
        for rec in records:
            self.tasks[rec.id] = rec
            self._track(rec)
        self.max_seen_id = max(self.tasks, default=0)

    def add(self, records: Iterable[TaskRecord]) -> list[TaskRecord]:
        """Adopt new rows (inserted by this engine or another process) and announce them."""
        out = []
        for saved in records:
            if saved.id in self.tasks:
                out.append(self.tasks[saved.id])
                continue
            self.tasks[saved.id] = saved
            self._track(saved)
            self.max_seen_id = max(self.max_seen_id, saved.id)
            self.events.emit(TaskAdded(saved))
            for dep in saved.depends_on_task_ids:
                up = self.tasks.get(dep)
                if up is not None and saved.id not in up.blocks_task_ids:
                    # Already written with the new row: announce it, nothing to flush.
                    up.blocks_task_ids = [*up.blocks_task_ids, saved.id]
                    self.events.emit(TaskChanged(up.id, {"blocks_task_ids":
                                                         up.blocks_task_ids}))
            out.append(saved)
        self.wake.set()
        return out

    def forget(self, ids: Iterable[int]) -> None:
        """Tasks removed from the db: out of memory, announced."""
        for task_id in ids:
            self.tasks.pop(task_id, None)
            self.pending.discard(task_id)
            self.dirty.pop(task_id, None)
            self.earlier.pop(task_id, None)
            self.open_attempts.discard(task_id)
            self.events.emit(TaskRemoved(task_id))

    # ------------------------------------------------------------------ changes ----
    def update(self, rec: TaskRecord, **changes: Any) -> None:
        """Change fields other than the status (that is :meth:`transition`'s job)."""
        if "status" in changes:
            raise TypeError("a task's status changes only through Lifecycle.transition")
        self._apply(rec, changes)

    def transition(self, rec: TaskRecord, to: Status, reason: str | None = KEEP,
                   **changes: Any) -> None:
        """Move ``rec`` to ``to`` with the entry rules of ``to``; raise IllegalTransition
        when the table does not allow it. Moving to the state it is in only applies
        ``changes`` (and ``reason``)."""
        if reason is not KEEP:
            changes["status_reason"] = reason
        if to == rec.status:
            self._apply(rec, changes)
            return
        to = check_transition(rec.id, rec.status, to)
        fields = entry_rules(to, utcnow())
        fields.update(changes)
        fields["status"] = to
        if to not in ACTIVE:
            self.running.pop(rec.id, None)
        self._apply(rec, fields)

    def _apply(self, rec: TaskRecord, changes: dict[str, Any]) -> None:
        real = {k: v for k, v in changes.items() if getattr(rec, k) != v}
        if not real:
            return
        for key, value in real.items():
            setattr(rec, key, value)
        if "status" in real:
            self._track(rec)
            if rec.id in self.open_attempts and rec.status not in ACTIVE:
                # A run of the worker ended (also a failure with a retry to come).
                self.open_attempts.discard(rec.id)
                self.attempts.append(self.attempt_row(rec))
        rec.updated_at = utcnow()
        pending = self.dirty.setdefault(rec.id, {})
        for key, value in real.items():
            column, stored = column_value(key, value)
            pending[column] = stored
        if "status" in real:
            self.flush_now.set()
            self.status_changed.set()
        self.events.emit(TaskChanged(rec.id, real))

    async def until(self, done: Callable[[], bool], poll: float) -> None:
        """Wait until ``done()``; woken by every status change, ``poll`` is a safety net."""
        while not done():
            self.status_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.status_changed.wait(), poll)

    # ------------------------------------------------------------------ logs -------
    def log(self, task_id: int, run: Run | None, stream: str, level: str,
            message: str) -> None:
        ts = time.time()
        if run is not None:
            if run.replayed.get(stream):
                run.replayed[stream] -= 1  # stored before the app went away: once is enough
                return
            run.log_lines += 1
            if run.log_lines == MAX_LOG_LINES:
                message = f"[log truncated: more than {MAX_LOG_LINES} lines]"
                stream = "engine"
            elif run.log_lines > MAX_LOG_LINES:
                return
        self.logs.append((task_id, ts, stream, level, message))
        self.events.emit(LogLine(task_id, ts, stream, level, message))

    def note(self, task_id: int, stream: str, message: str) -> None:
        self.log(task_id, None, stream, "info", message)

    # ------------------------------------------------------------------ a run ------
    def start_attempt(self, rec: TaskRecord, run: Run) -> None:
        """A pending task's worker is about to start: a new attempt opens."""
        self.running[rec.id] = run
        self.earlier.pop(rec.id, None)  # the rerun runs: it makes its own record
        self.open_attempts.add(rec.id)
        now = utcnow()
        self.transition(rec, Status.RUNNING, None, start_time=now, end_time=None,
                        attempt=rec.attempt + 1, next_attempt_at=None, eta_seconds=None,
                        error_message=None, failure_kind=None, heartbeat_at=now,
                        peak_memory_mb=None, cpu_time_s=None)

    def follow(self, rec: TaskRecord, run: Run) -> None:
        """A worker left by a dead app still runs: its attempt goes on under this app."""
        self.open_attempts.add(rec.id)
        if rec.status == Status.PAUSED:
            self.transition(rec, Status.RUNNING)
        self.running[rec.id] = run

    def interrupt_orphan(self, rec: TaskRecord) -> None:
        """Left running or paused by a dead app and no worker can be followed."""
        self.open_attempts.add(rec.id)  # its run ended with the app: record it
        self.transition(rec, Status.INTERRUPTED, "the app stopped while this task ran; "
                        "resume it to continue")

    def end_run(self, rec: TaskRecord, run: Run, code: int) -> None:
        """The worker exited with ``code``: decide how the task ends (or goes on)."""
        self.update(rec, cpu_percent=None, memory_mb=None)
        stop = run.stop_reason
        if stop == StopReason.CANCEL and code != 0:
            self.transition(rec, Status.CANCELLED, "cancelled by the user")
            self.skip_dependents(rec, f"upstream task {rec.id} ({rec.skill_name}) was "
                                 "cancelled")
        elif stop == StopReason.TIMEOUT:
            self.fail(rec, f"timed out after {rec.timeout_s:g} s", FailureKind.TIMEOUT,
                      retry=True)
        elif stop == StopReason.RESTART:
            self.transition(rec, Status.PENDING, "restarted", attempt=0)
        elif stop == StopReason.SHUTDOWN or (code == EXIT_STOPPED and stop is None):
            self.transition(rec, Status.INTERRUPTED, "stopped when the app quit; resume "
                            "it to continue")
        elif code == 0:
            changes: dict[str, Any] = {}
            if not rec.total_points or rec.processed_points >= rec.total_points:
                changes["progress_percent"] = 100.0
            # A worker may say why its completion is not a plain one ("completed with 2 of
            # 9 files not imported"): the summary's status_reason, shown beside the status.
            said = (run.summary or {}).get("status_reason")
            reason = said[:500] if isinstance(said, str) and said else KEEP
            self.transition(rec, Status.COMPLETED, reason, result_summary=run.summary or {},
                            **changes)
            self.note(rec.id, "engine", "completed")
        else:
            message, kind = self._failure(run, code)
            self.fail(rec, message, kind, retry=True)
        self.wake.set()
        self.flush_now.set()

    @staticmethod
    def _failure(run: Run, code: int) -> tuple[str, FailureKind]:
        """The error message and failure kind of a worker that exited with ``code``."""
        reason = getattr(run.handle, "exit_reason", None)
        extra = reason() if callable(reason) else None
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            head, kind = f"worker crashed (killed by {name})", FailureKind.CRASH
        elif run.error is not None:
            head, kind = run.error, FailureKind.SKILL
        else:
            head, kind = f"worker exited with code {code}", FailureKind.CRASH
        if extra:
            head = f"{extra}; {head}"
        tail = "\n".join(run.stderr_tail)
        if tail and kind == FailureKind.CRASH:
            head += f"\n--- last lines of the worker's log ---\n{tail}"
        return head, kind

    def fail(self, rec: TaskRecord, message: str, kind: FailureKind, retry: bool) -> None:
        """A run failed: back to pending with a retry time while retries are left (and
        the engine is not stopping), else failed and everything downstream skipped."""
        self.running.pop(rec.id, None)
        if retry and rec.attempt <= rec.max_retries and not self.stopping:
            delays = rec.retry_delays or [1.0]
            delay = float(delays[min(rec.attempt - 1, len(delays) - 1)])
            self.note(rec.id, "engine", f"attempt {rec.attempt} failed: "
                      f"{message.splitlines()[0]}; retrying in {delay:g} s")
            self.transition(rec, Status.PENDING, f"retry {rec.attempt} of "
                            f"{rec.max_retries} in {delay:g} s",
                            next_attempt_at=time.time() + delay, error_message=message,
                            failure_kind=kind.value)
            return
        self.transition(rec, Status.FAILED, None, error_message=message,
                        failure_kind=kind.value)
        self.note(rec.id, "engine", f"failed: {message.splitlines()[0]}")
        self.skip_dependents(rec, f"upstream task {rec.id} ({rec.skill_name}) failed")
        self.wake.set()

    # ------------------------------------------------------------------ no worker --
    def cancel_waiting(self, rec: TaskRecord) -> None:
        """Cancel a task that has no worker (pending, held, skipped, interrupted)."""
        if not self.restore_earlier(rec, "cancelled before it ran"):
            self.transition(rec, Status.CANCELLED, "cancelled by the user")
        self.skip_dependents(rec, f"upstream task {rec.id} ({rec.skill_name}) was cancelled")

    def resume_waiting(self, rec: TaskRecord) -> None:
        """A held task is released; an interrupted one is queued to run again."""
        if rec.status == Status.PAUSED:
            self.transition(rec, Status.PENDING, None)
        elif rec.status == Status.INTERRUPTED:
            # INCREMENTAL work picks up what the interrupted run did not commit.
            self.transition(rec, Status.PENDING, "resumed", attempt=0)
            self.rearm_dependents(rec)
        else:
            raise EngineError(f"task {rec.id} is {rec.status}; only a paused or "
                              "interrupted task can be resumed")
        self.wake.set()

    def rerun(self, rec: TaskRecord, full: bool, downstream: bool, launcher: str | None,
              registry: SkillRegistry) -> list[int]:
        """Queue a finished task again (with ``downstream`` everything after it too),
        keeping the record of what completed before; return the ids queued."""
        targets = [rec]
        if downstream:
            targets += [self.tasks[i] for i in graph.downstream_ids(self.tasks, rec.id)
                        if i in self.tasks]
        busy = [t.id for t in targets if t.status in ACTIVE or
                (t.status == Status.PENDING and t.id == rec.id)]
        if busy:
            raise EngineError(f"task {busy[0]} is {self.tasks[busy[0]].status}; wait for it "
                              "or cancel it first")
        for t in targets:
            if t.status not in RERUNNABLE and t.status != Status.PENDING:
                raise EngineError(f"task {t.id} is {t.status} and cannot be rerun")
            if launcher == "docker" and t.skill_name in registry and \
                    not registry.get(t.skill_name).docker:
                raise EngineError(f"skill {t.skill_name!r} runs only with the local launcher")
        for t in targets:
            if t.status == Status.PENDING:
                continue
            if t.status == Status.COMPLETED and t.end_time is not None:
                # The completed run stays on record (a history from before the attempts
                # table gets its row now; a row for this very end is not written twice)
                # and comes back if this rerun is cancelled or skipped before it runs.
                row = self.attempt_row(t)
                self.attempts.append(row)
                self.earlier[t.id] = row
            self.note(t.id, "engine", "rerun" + (" as full recompute" if full else ""))
            self.transition(t, Status.PENDING, "rerun",
                            task_type=TaskType.FULL_RECOMPUTE.value if full else t.task_type,
                            progress_percent=0.0, processed_points=0, failed_points=0,
                            total_points=0, error_message=None, result_summary=None,
                            start_time=None, attempt=0, next_attempt_at=None,
                            failure_kind=None, launcher=launcher or t.launcher)
        if not downstream:
            self.rearm_dependents(rec)
        self.wake.set()
        return [t.id for t in targets]

    def finished_ids(self, task_ids: Iterable[int]) -> list[int]:
        """The ids, when every one names a finished task (only those may be removed)."""
        ids = []
        for task_id in task_ids:
            rec = self.task(task_id)
            if rec.status not in TERMINAL:
                raise EngineError(f"task {task_id} is {rec.status}; only finished tasks "
                                  "can be removed")
            ids.append(task_id)
        return ids

    def set_priority(self, rec: TaskRecord, level: str | int) -> None:
        try:
            prio = Priority.parse(level)
        except ValueError as exc:
            raise EngineError(str(exc)) from None
        self.update(rec, priority=prio.rank)
        self.wake.set()

    def add_dependency(self, rec: TaskRecord, up: TaskRecord) -> None:
        """Make a pending task wait for another; a cycle is refused with its path."""
        if rec.status != Status.PENDING:
            raise EngineError(f"task {rec.id} is {rec.status}; only a pending task can "
                              "get a new dependency")
        graph.check_new_link(self.tasks, rec.id, up.id)
        self.update(rec, depends_on_task_ids=sorted({*rec.depends_on_task_ids, up.id}))
        self.update(up, blocks_task_ids=[*up.blocks_task_ids, rec.id])
        self.wake.set()

    def skip_dependents(self, rec: TaskRecord, reason: str) -> None:
        for i in graph.downstream_ids(self.tasks, rec.id):
            t = self.tasks[i]
            if t.status in (Status.PENDING, Status.PAUSED) and i not in self.running:
                if self.restore_earlier(t, f"not run ({reason})"):
                    continue
                self.transition(t, Status.SKIPPED, reason)
                self.note(i, "engine", f"skipped: {reason}")

    def rearm_dependents(self, rec: TaskRecord) -> None:
        for i in graph.downstream_ids(self.tasks, rec.id):
            t = self.tasks[i]
            if t.status == Status.SKIPPED:
                self.transition(t, Status.PENDING, None)

    # ------------------------------------------------------------------ attempts ---
    @staticmethod
    def attempt_row(rec: TaskRecord) -> dict[str, Any]:
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

    def remember_earlier(self, rows: dict[int, list[dict[str, Any]]]) -> None:
        """At start: waiting reruns whose last recorded run completed (restorable)."""
        for task_id, attempts in rows.items():
            if attempts and attempts[-1]["outcome"] == Status.COMPLETED.value:
                self.earlier[task_id] = attempts[-1]

    def restore_earlier(self, rec: TaskRecord, why: str) -> bool:
        """A rerun that never ran is cancelled or skipped: the completed run it was to
        replace stands again, as it was (issue 18: a cancelled rerun turned completed
        rows into 'skipped'). False when there is no such run."""
        row = self.earlier.pop(rec.id, None)
        if row is None or rec.start_time is not None or rec.id in self.running:
            return False
        summary = row.get("result_summary")
        if isinstance(summary, str):
            try:
                summary = json.loads(summary)
            except ValueError:
                summary = None
        self.transition(rec, Status.COMPLETED, f"rerun {why}; the earlier run stands",
                        task_type=row.get("task_type") or rec.task_type,
                        launcher=row.get("launcher") or rec.launcher,
                        start_time=_aware(row.get("started_at")),
                        end_time=_aware(row["ended_at"]),
                        processed_points=row.get("processed_points") or 0,
                        failed_points=row.get("failed_points") or 0,
                        total_points=row.get("total_points") or 0,
                        progress_percent=row.get("progress_percent") or 100.0,
                        peak_memory_mb=row.get("peak_memory_mb"),
                        cpu_time_s=row.get("cpu_time_s"),
                        result_summary=summary if summary is not None else {},
                        error_message=None, failure_kind=None)
        self.note(rec.id, "engine", f"rerun {why}: the earlier completed run stands")
        return True

    def with_unwritten(self, task_id: int, rows: list[dict[str, Any]]
                       ) -> list[dict[str, Any]]:
        """``rows`` (stored attempts) plus those ended a moment ago and not written yet
        (the next flush writes them), numbered as the write will number them."""
        stored_ends = {r["ended_at"] for r in rows}
        for a in self.attempts:
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
