"""Cancel, pause, crashes and recovery, with real worker and engine processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.engine.conftest import counted, finished, run, wait_until
from trackdesk.engine.lock import EngineLockedError
from trackdesk.engine.states import Status
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
