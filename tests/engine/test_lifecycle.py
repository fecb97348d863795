"""Cancel, pause, crashes and recovery, with real worker and engine processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime

import psutil
import pytest

from tests.engine.conftest import counted, finished, run, wait_until
from trackdesk.engine.events import EventBus, TaskChanged
from trackdesk.engine.lifecycle import ENDED, Lifecycle
from trackdesk.engine.lock import EngineLockedError
from trackdesk.engine.records import TaskRecord
from trackdesk.engine.runner import Run
from trackdesk.engine.states import ACTIVE, TRANSITIONS, IllegalTransition, Status
from trackdesk.engine.store import TaskStore

SLOW = {"n": 10_000, "batch": 1, "sleep_s": 0.02}


def test_cancel_stops_a_running_worker_within_two_seconds(make_engine, db_path):
    async def go():
        e = make_engine(cancel_grace_s=3.0)
        await e.start()
        t = await e.create_task("count", params={**SLOW, "key": "c"})
        await wait_until(lambda: e.tasks[t.id].processed_points > 5, what="progress")
        pid = int(e.tasks[t.id].worker_ref.split(":")[1])
        asked = time.monotonic()
        await e.cancel(t.id)
        await finished(e, t.id)
        took = time.monotonic() - asked
        await e.stop()
        return e.tasks[t.id], pid, took

    t, pid, took = run(go())
    assert t.status == Status.CANCELLED
    assert took < 2.0, f"cancel took {took:.2f} s"  # the promise, with margin
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def test_a_worker_ignoring_the_stop_request_is_killed_after_the_grace_period(make_engine):
    async def go():
        e = make_engine(cancel_grace_s=0.5)
        await e.start()
        t = await e.create_task("count", params={**SLOW, "ignore_term": True, "key": "i"})
        await wait_until(lambda: e.tasks[t.id].processed_points > 2, what="progress")
        await e.cancel(t.id)
        await finished(e, t.id)
        await e.stop()
        return e.tasks[t.id]

    assert run(go()).status == Status.CANCELLED


def test_a_worker_killed_by_sigkill_fails_with_its_stderr_tail(make_engine):
    async def go():
        e = make_engine()
        await e.start()
        t = await e.create_task("count", params={"n": 50, "batch": 5, "crash_at": 20})
        await finished(e, t.id)
        await e.stop()
        return e.tasks[t.id]

    t = run(go())
    assert t.status == Status.FAILED and t.failure_kind == "crash"
    assert t.error_message.startswith("worker crashed (killed by SIGKILL)")
    assert "about to crash at 20" in t.error_message
    assert "starting at 0 of 50" in t.error_message


def test_pause_stops_the_worker_and_resume_finishes_the_work(make_engine, db_path):
    async def go():
        e = make_engine()
        await e.start()
        t = await e.create_task("count", params={"n": 60, "batch": 1, "sleep_s": 0.02,
                                                 "key": "p"})
        await wait_until(lambda: e.tasks[t.id].processed_points > 3, what="progress")
        await e.pause(t.id)
        assert e.tasks[t.id].status == Status.PAUSED
        pid = int(e.tasks[t.id].worker_ref.split(":")[1])
        await wait_until(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED)
        frozen = len(counted(db_path, "p"))
        time.sleep(0.3)
        still = len(counted(db_path, "p"))
        await e.resume(t.id)
        await finished(e, t.id)
        await e.stop()
        return e.tasks[t.id], frozen, still

    t, frozen, still = run(go())
    assert frozen == still
    assert t.status == Status.COMPLETED and counted(db_path, "p") == list(range(60))


def test_a_second_engine_on_the_same_db_is_refused(make_engine):
    async def go():
        e1 = make_engine()
        await e1.start()
        try:
            with pytest.raises(EngineLockedError, match=f"pid {os.getpid()}"):
                await make_engine().start()
        finally:
            await e1.stop()
        e3 = make_engine()  # released: a new engine may drive it now
        await e3.start(schedule=False)
        await e3.stop()

    run(go())


def _engine_process(db_path):
    env = {**os.environ, "TRACKDESK_SKILL_MODULES": "tests.engine.workers"}
    return subprocess.Popen([sys.executable, "-m", "trackdesk", "--db", str(db_path), "run"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_engine_killed_mid_run_leaves_the_task_interrupted_and_resume_matches(
        make_engine, db_path):
    from tests.engine.conftest import worker_registry
    from trackdesk.engine.engine import Engine

    store = TaskStore(db_path)
    params = {"n": 400, "batch": 5, "sleep_s": 0.02, "key": "resume"}
    [rec] = store.insert_tasks([Engine.new_record(worker_registry(), "count", params=params)])
    proc = _engine_process(db_path)
    try:
        deadline = time.monotonic() + 30
        while store.load(rec.id).processed_points < 50:
            assert time.monotonic() < deadline, proc.stderr.read1().decode()
            time.sleep(0.05)
        worker_pid = int(store.load(rec.id).worker_ref.split(":")[1])
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # The worker dies with its app (it ends its batch whole on SIGTERM).
    deadline = time.monotonic() + 10
    while psutil.pid_exists(worker_pid) and psutil.Process(worker_pid).status() != "zombie":
        assert time.monotonic() < deadline, "the worker outlived its app"
        time.sleep(0.05)
    assert store.load(rec.id).status == Status.RUNNING  # what the dead app left behind
    partial = counted(db_path, "resume")
    assert 0 < len(partial) < 400

    async def go():
        e = make_engine()
        await e.start()
        after_restart = e.tasks[rec.id].status
        await e.resume(rec.id)
        await finished(e, rec.id)
        other = await e.create_task("count", params={**params, "key": "uninterrupted"})
        await finished(e, other.id)
        await e.stop()
        return after_restart, e.tasks[rec.id]

    after_restart, t = run(go())
    store.close()
    assert after_restart == Status.INTERRUPTED
    assert t.status == Status.COMPLETED
    assert counted(db_path, "resume") == counted(db_path, "uninterrupted") == list(range(400))


def test_stopping_the_engine_interrupts_running_tasks_so_they_can_resume(make_engine, db_path):
    async def go():
        e = make_engine()
        await e.start()
        t = await e.create_task("count", params={"n": 200, "batch": 2, "sleep_s": 0.02,
                                                 "key": "q"})
        await wait_until(lambda: e.tasks[t.id].processed_points > 4, what="progress")
        await e.stop(running="stop")
        first = e.tasks[t.id].status
        e2 = make_engine()
        await e2.start()
        await e2.resume(t.id)
        await finished(e2, t.id)
        await e2.stop()
        return first, e2.tasks[t.id]

    first, t = run(go())
    assert first == Status.INTERRUPTED
    assert t.status == Status.COMPLETED and counted(db_path, "q") == list(range(200))


def test_a_change_made_just_before_closing_is_saved_even_behind_a_slow_read(
        make_engine, db_path):
    """Closing cancels the engine's write loop; a write already handed to the (busy)
    database thread must still land, or the app forgets a task finished as it closed."""
    async def go():
        e = make_engine(flush_interval_s=0.05, poll_interval_s=0.05)
        await e.start()
        t = await e.create_task("count", params={"n": 3, "key": "slow-read"})
        await finished(e, t.id)
        slow = e.store.news

        def slow_read(*args):
            time.sleep(0.6)  # a poll that holds the database thread (a busy disk)
            return slow(*args)

        e.store.news = slow_read
        await asyncio.sleep(0.2)  # the poll loop is now inside the slow read
        await e.set_priority(t.id, "high")
        await asyncio.sleep(0.15)  # the write loop has queued its write behind it
        await e.stop()
        return t.id, e.tasks[t.id].priority

    task_id, priority = run(go())
    saved = TaskStore(db_path)
    try:
        assert saved.load(task_id).priority == priority
    finally:
        saved.close()


def test_a_log_read_while_the_write_loop_is_writing_sees_the_lines_being_written(
        make_engine):
    """The detail pane (and the API's /log) flush, then read. When the write loop has
    just taken the pending lines, the read must wait for that write, not overtake it on
    the database thread: CI read a finished task's log empty (1 run in 150 under load)."""
    async def go():
        e = make_engine(flush_interval_s=60.0)  # no periodic write of its own
        await e.start(schedule=False)
        t = await e.create_task("count", params={"n": 3, "key": "log-race"})
        await e.flush()
        e.note(t.id, "engine", "a line the user waits for")
        loop_write = asyncio.create_task(e.flush())  # as the write loop would
        await asyncio.sleep(0)  # it has taken the line and handed it on
        lines = await e.read_log(t.id)
        await loop_write
        await e.stop()
        return [x.message for x in lines]

    assert "a line the user waits for" in run(go())


# ---------------------------------------------------------------- the one transition ----
# Every state change goes through Lifecycle.transition (issue 22): these prove its rules
# on real records, with no database, then the attempts it closes with a real engine.

ALL_PAIRS = [(a, b) for a in Status for b in Status if a != b]
ALLOWED = [(a, b) for a, b in ALL_PAIRS if b in TRANSITIONS[a]]
REFUSED = [(a, b) for a, b in ALL_PAIRS if b not in TRANSITIONS[a]]
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def a_task_in(status: Status) -> tuple[Lifecycle, TaskRecord, list]:
    """A task in ``status`` as the engine would hold it, with a worker when active."""
    seen: list = []
    events = EventBus()
    events.subscribe(seen.append)
    book = Lifecycle(events)
    rec = TaskRecord(id=7, skill_name="count", status=status, start_time=LONG_AGO,
                     end_time=LONG_AGO if status in ENDED else None, eta_seconds=42.0,
                     worker_ref="local:123" if status in ACTIVE else None,
                     cpu_percent=50.0, memory_mb=80.0, next_attempt_at=1e12,
                     status_reason="before", attempt=1, failure_kind=None)
    book.load([rec])
    if status in ACTIVE:
        book.running[rec.id] = Run(rec.id)
        book.open_attempts.add(rec.id)
    return book, rec, seen


@pytest.mark.parametrize(("old", "new"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_every_allowed_transition_applies_the_entry_rules_of_its_new_state(old, new):
    book, rec, seen = a_task_in(old)
    before = datetime.now(UTC)
    book.transition(rec, new, "because")
    assert rec.status == new and rec.status_reason == "because"
    assert book.dirty[rec.id]["status"] == new.value  # written at the next flush
    assert any(isinstance(e, TaskChanged) and e.changes.get("status") == new for e in seen)
    assert (rec.id in book.pending) == (new == Status.PENDING)
    if new not in ACTIVE:  # the worker is released, its live figures go with it
        assert rec.worker_ref is None and rec.id not in book.running
        assert rec.cpu_percent is None and rec.memory_mb is None
    if new not in ACTIVE or new == Status.PAUSED:
        assert rec.eta_seconds is None
    if new in ENDED:  # the run is over: when is known, and no retry is due
        assert rec.end_time is not None and rec.end_time >= before
        assert rec.next_attempt_at is None
    if new == Status.PENDING:
        assert rec.end_time is None
    if old in ACTIVE and new not in ACTIVE:  # the attempt row is closed
        [row] = book.attempts
        assert row["task_id"] == rec.id
        assert row["outcome"] == (new.value if new != Status.PENDING else "restarted")
        assert rec.id not in book.open_attempts
    else:
        assert book.attempts == []


@pytest.mark.parametrize(("old", "new"), REFUSED, ids=[f"{a}->{b}" for a, b in REFUSED])
def test_every_other_transition_is_refused_and_changes_nothing(old, new):
    book, rec, seen = a_task_in(old)
    with pytest.raises(IllegalTransition, match=f"cannot go from {old} to {new}"):
        book.transition(rec, new, "because")
    assert rec.status == old and rec.status_reason == "before"
    assert book.dirty == {} and seen == [] and book.attempts == []


def test_terminal_states_are_left_only_for_a_rerun_or_retry():
    # completed, failed and cancelled go only back to pending (rerun, retry);
    # skipped and interrupted may also be cancelled by the user.
    for status in (Status.COMPLETED, Status.FAILED, Status.CANCELLED):
        assert TRANSITIONS[status] == {Status.PENDING}
    assert TRANSITIONS[Status.SKIPPED] == TRANSITIONS[Status.INTERRUPTED] == \
        {Status.PENDING, Status.CANCELLED}


def test_a_status_never_changes_outside_transition():
    book, rec, _ = a_task_in(Status.RUNNING)
    with pytest.raises(TypeError, match="only through Lifecycle.transition"):
        book.update(rec, status=Status.COMPLETED)
    assert rec.status == Status.RUNNING


def stored_attempts(db: os.PathLike, task_id: int) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(db)) as con:
        return con.execute("SELECT attempt, outcome, exit_reason, started_at, ended_at, "
                           "processed_points FROM task_attempts WHERE task_id = ? "
                           "ORDER BY attempt", (task_id,)).fetchall()


def test_attempt_rows_after_a_retry_and_after_a_rerun_keep_what_completed(make_engine,
                                                                          db_path):
    async def first_run():
        e = make_engine()
        await e.start()
        t = await e.create_task("count_retry", params={"n": 4, "fail_attempts": 1})
        await finished(e, t.id)
        await e.stop()
        return t.id

    task_id = run(first_run())
    after_retry = stored_attempts(db_path, task_id)
    assert [(a[0], a[1], a[2]) for a in after_retry] == [(1, "failed", "skill"),
                                                         (2, "completed", None)]

    async def rerun():
        e = make_engine()
        await e.start()
        await e.rerun(task_id, full=True)
        await finished(e, task_id)
        await e.stop()
        return e.tasks[task_id]

    assert run(rerun()).status == Status.COMPLETED
    after_rerun = stored_attempts(db_path, task_id)
    # The rerun added its own row; the completed run before it is there as it was.
    assert after_rerun[:2] == after_retry
    assert [(a[0], a[1]) for a in after_rerun[2:]] == [(3, "completed")]
    assert after_rerun[2][3] > after_retry[1][4]  # started after the earlier run ended
