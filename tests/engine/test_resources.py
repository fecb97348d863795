"""Per-task resources, stuck tasks, metrics and history hygiene, with real workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.engine.conftest import counted, finished, run, wait_until
from trackdesk.engine.metrics import compute_metrics
from trackdesk.engine.states import Status
from trackdesk.engine.store import TaskStore


def test_peak_memory_of_a_worker_is_within_20_percent_of_what_it_allocated(make_engine):
    async def go():
        e = make_engine(sample_interval_s=0.2)
        await e.start()
        t = await e.create_task("count", params={"n": 10, "batch": 1, "sleep_s": 0.1,
                                                 "alloc_mb": 300})
        seen = []
        e.events.subscribe(lambda ev: seen.append(ev.changes.get("memory_mb"))
                           if getattr(ev, "task_id", None) == t.id
                           and hasattr(ev, "changes") else None)
        await finished(e, t.id)
        await e.stop()
        return e.tasks[t.id], [m for m in seen if m]

    t, live = run(go())
    assert t.status == Status.COMPLETED
    assert 300 * 0.8 <= t.peak_memory_mb <= 300 * 1.2 + 40  # + the interpreter itself
    assert t.cpu_time_s is not None and t.cpu_time_s > 0
    assert live and max(live) >= 240  # sampled while it ran, shown live
    assert t.memory_mb is None  # a finished task has no current memory


def test_a_small_worker_is_not_charged_with_the_memory_of_the_app_that_started_it(
        make_engine):
    ballast = bytearray(200 * 2**20)  # the app itself is big; its worker is not
    ballast[::4096] = b"x" * len(ballast[::4096])

    async def go():
        e = make_engine(sample_interval_s=0.2)
        await e.start()
        t = await e.create_task("count", params={"n": 3})
        await finished(e, t.id)
        await e.stop()
        return e.tasks[t.id]

    t = run(go())
    del ballast
    assert t.status == Status.COMPLETED
    assert 0 < t.peak_memory_mb < 100


def test_a_silent_worker_is_flagged_stuck_and_can_be_restarted(make_engine, db_path):
    async def go():
        e = make_engine(sample_interval_s=0.2)
        await e.start()
        t = await e.create_task("count_silent", params={"n": 4, "batch": 1, "sleep_s": 2.0,
                                                        "key": "silent"})
        await wait_until(lambda: (e.tasks[t.id].status_reason or "").startswith("stuck"),
                         20, "the stuck flag")
        flagged = list(e.stuck_ids())
        await e.restart(t.id)
        await wait_until(lambda: e.tasks[t.id].status in (Status.PENDING, Status.RUNNING)
                         and e.tasks[t.id].status_reason != flagged, 20)
        log = await e.read_log(t.id)
        await e.cancel(t.id)
        await finished(e, t.id)
        await e.stop()
        return t.id, flagged, log

    task_id, flagged, log = run(go())
    assert flagged == [task_id]
    messages = [r.message for r in log]
    assert any("flagged as stuck" in m for m in messages)
    assert "restart requested" in messages


def test_metrics_match_the_tasks_that_ran(make_engine, db_path):
    async def go():
        e = make_engine()
        await e.start()
        ok = [await e.create_task("count", params={"n": 10 * (i + 1), "key": f"m{i}"})
              for i in range(3)]
        bad = await e.create_task("count", params={"n": 10, "fail_at": 3, "key": "mf"})
        await finished(e, *(t.id for t in ok), bad.id)
        await e.stop()
        return e.tasks

    tasks = run(go())
    m = compute_metrics(tasks.values())
    assert m["finished"] == 4 and m["failure_rate"] == 0.25
    count = m["per_skill"]["count"]
    assert (count["completed"], count["failed"]) == (3, 1)
    durations = sorted(t.duration_s for t in tasks.values())
    assert count["p95_duration_s"] == round(durations[-1], 3)
    assert m["queue"]["completed"] == 3 and m["queue"]["failed"] == 1
    out = subprocess.run([sys.executable, "-m", "trackdesk", "--db", str(db_path), "metrics",
                          "--json"], capture_output=True, text=True, check=True,
                         env={**os.environ, "TRACKDESK_SKILL_MODULES": "tests.engine.workers"})
    assert json.loads(out.stdout)["per_skill"]["count"]["completed"] == 3


def test_pruning_history_keeps_results_and_every_dependency(make_engine, db_path):
    async def go():
        e = make_engine()
        await e.start()
        a = await e.create_task("count", params={"n": 3, "key": "pa"})
        b = await e.create_task("count", params={"n": 3, "key": "pb"}, depends_on=[a.id])
        c = await e.create_task("count", params={"n": 3, "key": "pc"}, depends_on=[b.id])
        await finished(e, a.id, b.id, c.id)
        alone = await e.create_task("count", params={"n": 3, "key": "palone"})
        await finished(e, alone.id)
        # c and alone are the newest two: a and b stay because c depends on them
        kept_two = await e.prune(keep=2, archive=True)
        # only alone stays: the whole chain goes together, no dangling dependency
        kept_one = await e.prune(keep=1, archive=True)
        remaining = sorted(e.tasks)
        everything = await e.prune(older_than_s=0)
        await e.stop()
        return (a, b, c, alone), kept_two, kept_one, remaining, everything, e.tasks

    (a, b, c, alone), kept_two, kept_one, remaining, everything, tasks = run(go())
    assert kept_two == []
    assert kept_one == [a.id, b.id, c.id]
    assert remaining == [alone.id]
    assert everything == [alone.id] and tasks == {}
    for key in ("pa", "pb", "pc", "palone"):
        assert counted(db_path, key) == [0, 1, 2]  # analysis results untouched
    store = TaskStore(db_path)
    try:
        archived = [i for (i,) in store.conn.execute("SELECT id FROM task_archive")]
    finally:
        store.close()
    assert archived == [a.id, b.id, c.id]
