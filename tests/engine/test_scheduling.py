"""The scheduler with real worker processes: order, failures, limits, retries, timeouts."""

from __future__ import annotations

import sqlite3

import pytest

from tests.engine.conftest import counted, finished, run, wait_until
from trackdesk.engine.chains import Chain, CycleError, Node
from trackdesk.engine.engine import EngineError
from trackdesk.engine.states import Status


def test_dependent_task_starts_only_after_its_upstream_completed(make_engine, db_path):
    async def go():
        e = make_engine(concurrency=2)
        await e.start()
        a = await e.create_task("count", params={"n": 30, "batch": 10, "sleep_s": 0.05,
                                                 "key": "a"})
        b = await e.create_task("count", params={"n": 5, "key": "b"}, depends_on=[a.id])
        await finished(e, a.id, b.id)
        await e.stop()
        return e.tasks[a.id], e.tasks[b.id]

    a, b = run(go())
    assert a.status == b.status == Status.COMPLETED
    assert b.start_time >= a.end_time
    assert a.blocks_task_ids == [b.id] and b.depends_on_task_ids == [a.id]
    assert counted(db_path, "a") == list(range(30))


def test_a_cycle_is_refused_and_named(make_engine):
    async def go():
        e = make_engine()
        await e.start(schedule=False)
        a = await e.create_task("count")
        b = await e.create_task("count", depends_on=[a.id])
        c = await e.create_task("count", depends_on=[b.id])
        with pytest.raises(CycleError) as info:
            await e.add_dependency(a.id, c.id)
        await e.stop()
        return info.value, e.tasks[a.id]

    err, a = run(go())
    assert set(err.cycle) == {1, 2, 3} and err.cycle[0] == err.cycle[-1]
    assert "->" in str(err)
    assert a.depends_on_task_ids == []


def test_a_chain_with_a_cycle_is_refused_before_any_task_exists(make_engine):
    chain = Chain("loop", [Node("x", "count"), Node("y", "count")], [("x", "y"), ("y", "x")])

    async def go():
        e = make_engine()
        await e.start(schedule=False)
        with pytest.raises(CycleError, match="x -> y -> x|y -> x -> y"):
            await e.run_chain(chain=chain)
        await e.stop()
        return e.tasks

    assert run(go()) == {}


def test_a_failure_skips_every_dependent_with_the_reason(make_engine):
    async def go():
        e = make_engine()
        await e.start()
        a = await e.create_task("count", params={"n": 20, "fail_at": 5, "key": "f"})
        b = await e.create_task("count", params={"key": "g"}, depends_on=[a.id])
        c = await e.create_task("count", params={"key": "h"}, depends_on=[b.id])
        await finished(e, a.id, b.id, c.id)
        await e.stop()
        return [e.tasks[i] for i in (a.id, b.id, c.id)]

    a, b, c = run(go())
    assert a.status == Status.FAILED and a.error_message == "bad point at 5"
    assert a.failure_kind == "skill"
    assert b.status == c.status == Status.SKIPPED
    assert b.status_reason == f"upstream task {a.id} (count) failed"
    assert c.status_reason == f"upstream task {a.id} (count) failed"


def test_rerun_of_a_failed_task_rearms_its_skipped_dependents(make_engine, db_path):
    async def go():
        e = make_engine()
        await e.start()
        a = await e.create_task("count", params={"n": 20, "fail_attempts": 1, "key": "r"})
        b = await e.create_task("count", params={"n": 3, "key": "s"}, depends_on=[a.id])
        await finished(e, a.id, b.id)
        first = (e.tasks[a.id].status, e.tasks[b.id].status)
        await e.rerun(a.id)
        await finished(e, a.id, b.id)
        await e.stop()
        return first, e.tasks[a.id], e.tasks[b.id]

    first, a, b = run(go())
    assert first == (Status.FAILED, Status.SKIPPED)
    assert a.status == b.status == Status.COMPLETED
    assert counted(db_path, "s") == [0, 1, 2]


def test_rerun_downstream_runs_the_whole_rest_of_the_chain_again(make_engine):
    async def go():
        e = make_engine()
        await e.start()
        a = await e.create_task("count", params={"n": 5, "key": "d1"})
        b = await e.create_task("count", params={"n": 5, "key": "d2"}, depends_on=[a.id])
        await finished(e, a.id, b.id)
        before = e.tasks[b.id].end_time
        ids = await e.rerun(a.id, full=True, downstream=True)
        await finished(e, a.id, b.id)
        await e.stop()
        return ids, before, e.tasks[a.id], e.tasks[b.id]

    ids, before, a, b = run(go())
    assert ids == [a.id, b.id]
    assert a.task_type == b.task_type == "FULL_RECOMPUTE"
    assert b.status == Status.COMPLETED and b.end_time > before


def test_retries_follow_the_backoff_delays_then_succeed(make_engine):
    async def go():
        e = make_engine()
        await e.start()
        t = await e.create_task("count_retry", params={"n": 3, "fail_attempts": 2})
        await finished(e, t.id)
        log = await e.read_log(t.id)
        await e.stop()
        return e.tasks[t.id], log

    t, log = run(go())
    assert t.status == Status.COMPLETED and t.attempt == 3
    notes = [r.message for r in log if r.stream == "engine" and "retrying" in r.message]
    assert len(notes) == 2
    assert "retrying in 0.3 s" in notes[0] and "retrying in 0.6 s" in notes[1]


def test_retries_give_up_after_the_limit(make_engine):
    async def go():
        e = make_engine()
        await e.start()
        t = await e.create_task("count_retry", params={"n": 3, "fail_attempts": 5})
        await finished(e, t.id)
        await e.stop()
        return e.tasks[t.id]

    t = run(go())
    assert t.status == Status.FAILED and t.attempt == 3
    assert "failing attempt 3" in t.error_message


def test_a_task_over_its_timeout_is_stopped_and_fails(make_engine):
    async def go():
        e = make_engine()
        await e.start()
        t = await e.create_task("count", params={"n": 1000, "batch": 1, "sleep_s": 0.05},
                                timeout_s=1.0)
        await finished(e, t.id)
        await e.stop()
        return e.tasks[t.id]

    t = run(go())
    assert t.status == Status.FAILED and t.failure_kind == "timeout"
    assert t.error_message == "timed out after 1 s"
    assert 0 < t.processed_points < 1000


def test_higher_priority_runs_first(make_engine):
    async def go():
        e = make_engine(concurrency=1)
        await e.start(schedule=False)  # queue everything before anything starts
        low = await e.create_task("count", params={"n": 1, "key": "low"}, priority="low")
        normal = await e.create_task("count", params={"n": 1, "key": "n"})
        crit = await e.create_task("count", params={"n": 1, "key": "c"}, priority="critical")
        high = await e.create_task("count", params={"n": 1, "key": "h"}, priority="high")
        await e.stop()
        e2 = make_engine(concurrency=1)
        await e2.start()
        await finished(e2, low.id, normal.id, crit.id, high.id)
        await e2.stop()
        order = sorted(e2.tasks.values(), key=lambda t: t.start_time)
        return [t.id for t in order], [crit.id, high.id, normal.id, low.id]

    got, want = run(go())
    assert got == want


def test_the_concurrency_limits_are_never_exceeded(make_engine):
    async def go():
        e = make_engine(concurrency=2)
        seen_total, seen_limited = [], []

        def watch(_event):
            running = [t for t in e.tasks.values() if t.status == Status.RUNNING]
            seen_total.append(len(running))
            seen_limited.append(sum(t.skill_name == "count_limited" for t in running))

        e.events.subscribe(watch)
        await e.start()
        ids = []
        for i in range(4):
            ids.append((await e.create_task("count", params={
                "n": 4, "sleep_s": 0.05, "batch": 1, "key": f"c{i}"})).id)
            ids.append((await e.create_task("count_limited", params={
                "n": 4, "sleep_s": 0.05, "batch": 1, "key": f"l{i}"})).id)
        await finished(e, *ids)
        await e.stop()
        return seen_total, seen_limited, [e.tasks[i].status for i in ids]

    total, limited, statuses = run(go())
    assert max(total) == 2 and max(limited) == 1
    assert set(statuses) == {Status.COMPLETED}


def test_a_task_row_inserted_by_another_process_is_picked_up(make_engine, db_path):
    import subprocess
    import sys

    async def go():
        e = make_engine()
        await e.start()
        code = (
            "from trackdesk.engine.store import TaskStore\n"
            "from trackdesk.engine.engine import Engine\n"
            "from tests.engine.conftest import worker_registry\n"
            f"s = TaskStore({str(db_path)!r})\n"
            "rec = Engine.new_record(worker_registry(), 'count', params={'n': 7, 'key': 'x'})\n"
            "print(s.insert_tasks([rec])[0].id)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
        task_id = int(out.stdout.strip())
        await wait_until(lambda: task_id in e.tasks, 10, "the engine to see the new row")
        await finished(e, task_id)
        await e.stop()
        return e.tasks[task_id]

    t = run(go())
    assert t.status == Status.COMPLETED and t.created_by is None
    assert counted(db_path, "x") == list(range(7))


def test_only_finished_tasks_can_be_removed_and_results_stay(make_engine, db_path):
    async def go():
        e = make_engine()
        await e.start()
        a = await e.create_task("count", params={"n": 3, "key": "rm"})
        b = await e.create_task("count", params={"n": 100, "batch": 1, "sleep_s": 0.05,
                                                 "key": "busy"})
        await finished(e, a.id)
        await wait_until(lambda: e.tasks[b.id].status == Status.RUNNING)
        with pytest.raises(EngineError, match="only finished tasks"):
            await e.remove([b.id])
        await e.remove([a.id])
        await e.cancel(b.id)
        await finished(e, b.id)
        await e.stop()
        return a.id, e.tasks

    a_id, tasks = run(go())
    assert a_id not in tasks
    assert counted(db_path, "rm") == [0, 1, 2]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM analysis_tasks WHERE id=?",
                            (a_id,)).fetchone()[0] == 0


def test_adding_a_dependent_announces_the_upstream_tasks_new_blocks_list(make_engine):
    async def go():
        e = make_engine()
        await e.start(schedule=False)
        a = await e.create_task("count")
        seen = []
        e.events.subscribe(lambda ev: seen.append(ev))
        b = await e.create_task("count", depends_on=[a.id])
        await e.stop()
        return a.id, b.id, seen

    a_id, b_id, seen = run(go())
    changes = [ev.changes for ev in seen if getattr(ev, "task_id", None) == a_id]
    assert {"blocks_task_ids": [b_id]} in changes


def test_a_docker_task_can_be_rerun_with_the_local_launcher(make_engine, db_path):
    from trackdesk.engine.launchers.base import LauncherUnavailable
    from trackdesk.engine.launchers.local import LocalLauncher

    class NoDocker(LocalLauncher):
        name = "docker"

        async def start(self, *args, **kwargs):
            raise LauncherUnavailable("Docker is not running: start it with `dockerd`")

    async def go():
        e = make_engine()
        e.launchers = {"local": LocalLauncher(), "docker": NoDocker()}
        await e.start()
        t = await e.create_task("count", params={"n": 4, "key": "moved"}, launcher="docker")
        await finished(e, t.id)
        first = (e.tasks[t.id].status, e.tasks[t.id].error_message)
        await e.rerun(t.id, launcher="local")
        await finished(e, t.id)
        await e.stop()
        return first, e.tasks[t.id]

    (status, message), t = run(go())
    assert status == Status.FAILED and message.startswith("Docker is not running")
    assert t.status == Status.COMPLETED and t.launcher == "local"
    assert counted(db_path, "moved") == [0, 1, 2, 3]
