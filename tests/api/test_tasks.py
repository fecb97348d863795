"""Every endpoint through a real HTTP client against a real server and a real Engine."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.api.conftest import P, Served, serving
from tests.engine.conftest import run, wait_until
from trackdesk.engine.states import TERMINAL, Status


def counted(db: Path, key: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM test_counts WHERE key = ?",
                            (key,)).fetchone()[0]


async def finished(s: Served, *ids: int, timeout: float = 30.0) -> None:
    await wait_until(lambda: all(s.engine.tasks[i].status in TERMINAL for i in ids), timeout,
                     f"tasks {ids} to finish")


async def create(s: Served, **body: object) -> dict:
    status, out = await s.call("POST", f"{P}/tasks", json=body)
    assert status == 200, out
    assert out["code"] == 200
    return out["data"]


def test_created_task_runs_in_the_engine_and_shows_its_progress(tmp_path: Path) -> None:
    db = tmp_path / "tracks.db"

    async def main() -> None:
        async with serving(db) as s:
            task = await create(s, skill_name="count", task_type="INCREMENTAL",
                                params={"n": 40, "batch": 10, "key": "api"})
            assert task["id"] in s.engine.tasks
            assert task["created_by"] == "api"
            assert task["status"] == "pending"
            assert task["params"]["n"] == 40
            await finished(s, task["id"])
            status, out = await s.call("GET", f"{P}/tasks/{task['id']}")
            assert status == 200 and out["code"] == 200
            got = out["data"]
            for field in ("progress_percent", "processed_points", "total_points",
                          "failed_points", "eta_seconds", "start_time", "updated_at"):
                assert field in got
            assert got["status"] == "completed"
            assert got["processed_points"] == got["total_points"] == 40
            assert got["progress_percent"] == 100.0
            assert got["start_time"].endswith("Z") and got["end_time"].endswith("Z")
            assert got["result_summary"] == {"counted": 40, "started_at": 0}
            assert s.engine.tasks[task["id"]].status == Status.COMPLETED

            status, out = await s.call("GET", f"{P}/tasks/{task['id']}/log")
            assert status == 200
            messages = [line["message"] for line in out["data"]]
            assert any("starting at 0 of 40" in m for m in messages)
            assert "completed" in messages
            _, tail = await s.call("GET", f"{P}/tasks/{task['id']}/log",
                                   params={"tail": "true", "limit": "1"})
            assert [x["message"] for x in tail["data"]] == [messages[-1]]
            _, after = await s.call("GET", f"{P}/tasks/{task['id']}/log",
                                    params={"after_id": str(out["data"][-1]["id"])})
            assert after["data"] == []
        assert counted(db, "api") == 40

    run(main())


def test_list_filters_by_status_skill_and_pages(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path / "tracks.db", schedule=False) as s:
            a = await create(s, skill_name="count", params={"n": 1})
            b = await create(s, skill_name="noop", priority="high", timeout_s=5,
                             max_retries=2, threshold_profile_id=3, created_by="script",
                             task_type="FULL_RECOMPUTE", launcher="local",
                             params='{}')
            assert (b["timeout_s"], b["max_retries"], b["threshold_profile_id"],
                    b["created_by"], b["task_type"]) == (5, 2, 3, "script",
                                                        "FULL_RECOMPUTE")
            c = await create(s, skill_name="count", depends_on_task_ids=[a["id"]])
            assert c["depends_on_task_ids"] == [a["id"]]
            assert b["priority"] == "high"
            await s.call("DELETE", f"{P}/tasks/{b['id']}")
            _, out = await s.call("GET", f"{P}/tasks")
            assert [t["id"] for t in out["data"]] == [a["id"], b["id"], c["id"]]
            assert out["data"][0]["blocks_task_ids"] == [c["id"]]
            _, out = await s.call("GET", f"{P}/tasks", params={"status": "cancelled"})
            assert [t["id"] for t in out["data"]] == [b["id"]]
            _, out = await s.call("GET", f"{P}/tasks", params={"status": "pending,cancelled"})
            assert len(out["data"]) == 3
            _, out = await s.call("GET", f"{P}/tasks", params={"status": "running"})
            assert out == {"code": 200, "data": []}
            _, out = await s.call("GET", f"{P}/tasks", params={"skill_name": "noop"})
            assert [t["id"] for t in out["data"]] == [b["id"]]
            _, out = await s.call("GET", f"{P}/tasks", params={"offset": "1", "limit": "1"})
            assert [t["id"] for t in out["data"]] == [b["id"]]

    run(main())


def test_cancel_pause_resume_priority_of_a_running_task(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path / "tracks.db") as s:
            task = await create(s, skill_name="count",
                                params={"n": 2000, "batch": 10, "sleep_s": 0.02})
            tid = task["id"]
            await wait_until(lambda: s.engine.tasks[tid].processed_points > 0, what="progress")
            status, out = await s.call("POST", f"{P}/tasks/{tid}/pause")
            assert status == 200 and out["data"]["status"] == "paused"
            assert s.engine.tasks[tid].status == Status.PAUSED
            status, out = await s.call("POST", f"{P}/tasks/{tid}/resume", json={})
            assert status == 200 and out["data"]["status"] == "running"
            status, out = await s.call("POST", f"{P}/tasks/{tid}/priority",
                                       json={"priority": "urgent"})
            assert status == 200 and out["data"]["priority"] == "urgent"
            status, out = await s.call("DELETE", f"{P}/tasks/{tid}")
            assert status == 200 and out["data"]["id"] == tid
            await finished(s, tid)
            _, out = await s.call("GET", f"{P}/tasks/{tid}")
            assert out["data"]["status"] == "cancelled"
            assert 0 < out["data"]["processed_points"] < 2000

    run(main())


def test_pending_task_is_held_released_and_cancelled(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path / "tracks.db", schedule=False) as s:
            tid = (await create(s, skill_name="noop"))["id"]
            _, out = await s.call("POST", f"{P}/tasks/{tid}/pause")
            assert out["data"]["status"] == "paused"
            assert out["data"]["status_reason"] == "held by the user"
            _, out = await s.call("POST", f"{P}/tasks/{tid}/resume")
            assert out["data"]["status"] == "pending"
            _, out = await s.call("POST", f"{P}/tasks/{tid}/priority", json={"priority": 4})
            assert out["data"]["priority"] == "critical"
            _, out = await s.call("DELETE", f"{P}/tasks/{tid}")
            assert out["data"]["status"] == "cancelled"

    run(main())


def test_rerun_full_and_downstream(tmp_path: Path) -> None:
    db = tmp_path / "tracks.db"

    async def main() -> None:
        async with serving(db) as s:
            a = await create(s, skill_name="count", params={"n": 20, "key": "r"})
            b = await create(s, skill_name="noop", depends_on_task_ids=[a["id"]])
            await finished(s, a["id"], b["id"])
            status, out = await s.call("POST", f"{P}/tasks/{a['id']}/rerun",
                                       json={"full": True})
            assert status == 200, out
            assert out["data"]["task_ids"] == [a["id"]]
            assert "full recompute" in out["data"]["message"]
            assert s.engine.tasks[a["id"]].task_type == "FULL_RECOMPUTE"
            await finished(s, a["id"])
            assert s.engine.tasks[a["id"]].status == Status.COMPLETED
            status, out = await s.call("POST", f"{P}/tasks/{a['id']}/rerun",
                                       json={"downstream": True})
            assert status == 200 and out["data"]["task_ids"] == [a["id"], b["id"]]
            await finished(s, a["id"], b["id"])
            assert s.engine.tasks[b["id"]].attempt == 1
            # No body at all: an incremental rerun of this task only.
            status, out = await s.call("POST", f"{P}/tasks/{b['id']}/rerun")
            assert status == 200 and out["data"]["task_ids"] == [b["id"]]
            await finished(s, b["id"])
        assert counted(db, "r") == 20

    run(main())


CHAIN = {"nodes": [{"id": "first", "skill": "count", "params": {"n": 10, "key": "c1"}},
                   {"id": "second", "skill": "count", "params": {"n": 5, "key": "c2"}}],
         "links": [["first", "second"]]}


def test_chain_templates_and_trigger_chain(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path / "tracks.db") as s:
            status, out = await s.call("PUT", f"{P}/chains/mine", json={"document": CHAIN})
            assert status == 200, out
            assert out["data"]["name"] == "mine" and not out["data"]["read_only"]
            assert out["data"]["document"]["links"] == [["first", "second"]]
            _, out = await s.call("GET", f"{P}/chains")
            assert {t["name"] for t in out["data"]} == {"default", "mine"}
            _, out = await s.call("GET", f"{P}/chains/default")
            assert out["data"]["read_only"] is True
            assert out["data"]["document"]["nodes"][0]["skill"] == "outlier_detection"

            status, out = await s.call("POST", f"{P}/trigger-chain",
                                       json={"task_type": "INCREMENTAL", "name": "mine"})
            assert status == 200, out
            ids = out["data"]["task_ids"]
            assert len(ids) == 2 and "2 task(s)" in out["data"]["message"]
            assert s.engine.tasks[ids[1]].depends_on_task_ids == [ids[0]]
            await finished(s, *ids)
            assert all(s.engine.tasks[i].status == Status.COMPLETED for i in ids)
            assert {s.engine.tasks[i].chain_run_id for i in ids} == {out["data"]["chain_run_id"]}

            # Replace the template with a failing first node; retry-failed reruns it.
            bad = {**CHAIN, "nodes": [{**CHAIN["nodes"][0], "params": {"n": 10, "fail_at": 3,
                                                                      "key": "c3"}},
                                      CHAIN["nodes"][1]]}
            status, _ = await s.call("PUT", f"{P}/chains/mine", json={"document": bad})
            assert status == 200
            _, out = await s.call("POST", f"{P}/trigger-chain", json={"name": "mine"})
            ids, run_id = out["data"]["task_ids"], out["data"]["chain_run_id"]
            await finished(s, *ids)
            assert [s.engine.tasks[i].status for i in ids] == [Status.FAILED, Status.SKIPPED]
            status, out = await s.call("POST", f"{P}/retry-failed",
                                       json={"chain_run_id": run_id})
            assert status == 200 and out["data"]["task_ids"] == [ids[0]]
            await finished(s, *ids)

            status, out = await s.call("DELETE", f"{P}/chains/mine")
            assert status == 200 and out["data"]["name"] == "mine"
            status, out = await s.call("GET", f"{P}/chains/mine")
            assert status == 404 and "no chain template named 'mine'" in out["message"]

    run(main())


def test_trigger_default_chain_queues_one_task_per_skill(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path / "tracks.db", schedule=False) as s:
            status, out = await s.call("POST", f"{P}/trigger-chain",
                                       json={"task_type": "FULL_RECOMPUTE"})
            assert status == 200
            assert set(out["data"]) >= {"message", "task_ids"}
            tasks = [s.engine.tasks[i] for i in out["data"]["task_ids"]]
            assert [t.skill_name for t in tasks][0] == "outlier_detection"
            assert len(tasks) == 9
            assert all(t.task_type == "FULL_RECOMPUTE" and t.created_by == "api"
                       for t in tasks)

    run(main())


def test_skills_health_and_openapi(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path / "tracks.db", schedule=False) as s:
            _, out = await s.call("GET", f"{P}/skills")
            names = [x["name"] for x in out["data"]]
            assert "count" in names and "outlier_detection" in names
            status, out = await s.call("GET", f"{P}/skills/stay_detection")
            assert status == 200
            assert {p["name"] for p in out["data"]["params"]} >= {"dist_threshold_m"}
            status, out = await s.call("GET", "/api/health")
            assert status == 200 and out["data"]["engine_running"] is True
            status, doc = await s.call("GET", "/api/openapi.json")
            assert status == 200 and doc["openapi"].startswith("3.")
            assert f"{P}/tasks" in doc["paths"] and f"{P}/events" in doc["paths"]
            create = doc["components"]["schemas"]["CreateTask"]
            assert "count" in create["properties"]["skill_name"]["enum"]

    run(main())


def test_a_repeated_listing_follows_every_change(tmp_path: Path) -> None:
    """Listings are cached whole while nothing changes; any change shows at once."""
    async def main() -> None:
        async with serving(tmp_path / "tracks.db", schedule=False) as s:
            ids = [(await create(s, skill_name="noop"))["id"] for _ in range(3)]
            first = (await s.call("GET", f"{P}/tasks"))[1]
            assert first == (await s.call("GET", f"{P}/tasks"))[1]
            await s.call("POST", f"{P}/tasks/{ids[1]}/priority", json={"priority": "high"})
            _, out = await s.call("GET", f"{P}/tasks")
            assert [t["priority"] for t in out["data"]] == ["normal", "high", "normal"]
            await s.call("DELETE", f"{P}/tasks/{ids[2]}")
            _, out = await s.call("GET", f"{P}/tasks", params={"status": "pending"})
            assert [t["id"] for t in out["data"]] == ids[:2]
            await s.engine.remove([ids[2]])
            _, out = await s.call("GET", f"{P}/tasks")
            assert [t["id"] for t in out["data"]] == ids[:2]
            ids.append((await create(s, skill_name="noop"))["id"])
            _, out = await s.call("GET", f"{P}/tasks")
            assert [t["id"] for t in out["data"]] == [ids[0], ids[1], ids[3]]

    run(main())
