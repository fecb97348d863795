"""The record of a task's runs (issue 18): every attempt that ends is kept in
task_attempts; a rerun never changes what already completed."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from tests.engine.conftest import finished, run, wait_until
from tests.engine.test_cli import ENV
from trackdesk.engine.states import Status
from trackdesk.engine.store import TaskStore


def stored(db, task_id):
    store = TaskStore(db)
    try:
        return store.load(task_id), store.attempts([task_id]).get(task_id, [])
    finally:
        store.close()


def test_every_attempt_is_recorded_retries_included_and_shown_by_the_cli(make_engine,
                                                                          db_path):
    async def go():
        e = make_engine()
        await e.start()
        t = await e.create_task("count_retry", params={"n": 3, "fail_attempts": 2})
        await finished(e, t.id)
        await e.stop()
        return t.id

    task_id = run(go())
    task, attempts = stored(db_path, task_id)
    assert task.status == Status.COMPLETED
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["outcome"] for a in attempts] == ["failed", "failed", "completed"]
    assert "failing attempt 1 on purpose" in attempts[0]["error"]
    assert attempts[0]["exit_reason"] == "skill"
    assert attempts[2]["processed_points"] == 3 and attempts[2]["launcher"] == "local"
    assert all(a["started_at"] <= a["ended_at"] for a in attempts)
    shown = subprocess.run([sys.executable, "-m", "trackdesk", "--db", str(db_path), "tasks",
                            "show", str(task_id), "--json"], capture_output=True, text=True,
                           env=ENV, timeout=60)
    assert [a["outcome"] for a in json.loads(shown.stdout)["attempts"]] == \
        ["failed", "failed", "completed"]
    text = subprocess.run([sys.executable, "-m", "trackdesk", "--db", str(db_path), "tasks",
                           "show", str(task_id)], capture_output=True, text=True, env=ENV,
                          timeout=60).stdout
    assert "attempts: 3" in text and "failing attempt 2 on purpose" in text


def test_a_cancelled_rerun_leaves_the_completed_chain_as_it_was(make_engine, db_path):
    """Rerun from here (downstream) then cancel before it ran: eight completed rows turned
    'skipped' and the first 'cancelled'. The earlier runs stand, and stay on record."""
    async def go():
        e = make_engine(concurrency=1)
        await e.start()
        a = await e.create_task("count", params={"n": 4, "key": "ra"})
        b = await e.create_task("count", params={"n": 4, "key": "rb"}, depends_on=[a.id])
        c = await e.create_task("count", params={"n": 4, "key": "rc"}, depends_on=[b.id])
        await finished(e, a.id, b.id, c.id)
        before = {i: (e.tasks[i].end_time, e.tasks[i].result_summary,
                      e.tasks[i].processed_points) for i in (a.id, b.id, c.id)}
        # Hold the only slot, so the rerun is still queued when it is cancelled.
        blocker = await e.create_task("count", params={"n": 10**6, "sleep_s": 0.05,
                                                       "key": "blk"})
        await wait_until(lambda: e.tasks[blocker.id].status == Status.RUNNING)
        ids = await e.rerun(a.id, downstream=True)
        assert [e.tasks[i].status for i in ids] == [Status.PENDING] * 3
        await e.cancel(a.id)
        after = {i: (e.tasks[i].status, e.tasks[i].end_time, e.tasks[i].result_summary,
                     e.tasks[i].processed_points, e.tasks[i].status_reason)
                 for i in (a.id, b.id, c.id)}
        await e.cancel(blocker.id)
        await finished(e, blocker.id)
        await e.stop()
        return before, after

    before, after = run(go())
    for task_id, (end, summary, points) in before.items():
        status, end2, summary2, points2, reason = after[task_id]
        assert (status, end2, summary2, points2) == (Status.COMPLETED, end, summary, points)
        assert "the earlier run stands" in reason
        task, attempts = stored(db_path, task_id)  # and so says the db
        assert task.status == Status.COMPLETED and task.result_summary == summary
        assert [x["outcome"] for x in attempts] == ["completed"]


def test_a_rerun_that_runs_keeps_the_earlier_attempt(make_engine, db_path):
    async def go():
        e = make_engine()
        await e.start()
        t = await e.create_task("count", params={"n": 5, "key": "kk"})
        await finished(e, t.id)
        await e.rerun(t.id, full=True)
        await finished(e, t.id)
        await e.stop()
        return t.id

    task_id = run(go())
    _task, attempts = stored(db_path, task_id)
    assert [(a["attempt"], a["outcome"], a["task_type"]) for a in attempts] == \
        [(1, "completed", "INCREMENTAL"), (2, "completed", "FULL_RECOMPUTE")]


def test_the_attempts_of_a_rerun_cancelled_after_a_restart_still_restore(make_engine,
                                                                         db_path):
    """The earlier run is read back from task_attempts when the app opens again."""
    async def first():
        e = make_engine()
        await e.start()
        t = await e.create_task("count", params={"n": 5, "key": "rs"})
        await finished(e, t.id)
        end = e.tasks[t.id].end_time
        await e.stop()
        return t.id, end

    task_id, end = run(first())
    conn = sqlite3.connect(db_path)  # a rerun queued while no engine ran its worker
    conn.execute("UPDATE analysis_tasks SET status = 'pending', start_time = NULL, "
                 "end_time = NULL, status_reason = 'rerun' WHERE id = ?", (task_id,))
    conn.commit()
    conn.close()

    async def second():
        e = make_engine()
        await e.start(schedule=False)
        await e.cancel(task_id)
        rec = e.tasks[task_id]
        await e.stop()
        return rec

    rec = run(second())
    assert rec.status == Status.COMPLETED and rec.end_time == end


def test_the_api_task_detail_lists_the_attempts(db_path):
    from tests.api.conftest import P, serving

    async def go():
        async with serving(db_path) as srv:
            code, made = await srv.call("POST", f"{P}/tasks", json={
                "skill_name": "count_retry", "params": {"n": 2, "fail_attempts": 1}})
            assert code in (200, 201), made
            task_id = made["data"]["id"]
            await finished(srv.engine, task_id)
            return await srv.call("GET", f"{P}/tasks/{task_id}")

    code, body = run(go())
    assert code == 200
    attempts = body["data"]["attempts"]
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "failed"), (2, "completed")]
    assert "failing attempt 1 on purpose" in attempts[0]["error"]
