"""The server-sent event stream: task changes as they happen, JSON with ISO datetimes."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from tests.api.conftest import P, next_event, serving, sse_events
from tests.engine.conftest import run, wait_until
from trackdesk.engine.states import TERMINAL


def test_stream_reports_added_changed_and_removed_tasks(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path / "tracks.db") as s:
            async with s.http.get(f"{P}/events") as resp:
                assert resp.status == 200
                assert resp.content_type == "text/event-stream"
                stream = sse_events(resp)
                kind, data, _ = await next_event(stream, lambda k, d: True)
                assert kind == "ready" and data["tasks"] == 0
                _, out = await s.call("POST", f"{P}/tasks",
                                      json={"skill_name": "count", "params": {"n": 30}})
                tid = out["data"]["id"]
                kind, data, eid = await next_event(stream, lambda k, d: k == "task_added")
                assert data["task_id"] == tid and data["task"]["skill_name"] == "count"
                assert data["task"]["status"] == "pending" and eid is not None
                kind, data, _ = await next_event(
                    stream, lambda k, d: k == "task_changed" and
                    d["changes"].get("status") == "running")
                # Datetimes travel as ISO 8601 UTC strings.
                started = data["changes"]["start_time"]
                assert started.endswith("Z") and datetime.fromisoformat(started[:-1])
                assert data["task"]["status"] == "running"
                kind, data, _ = await next_event(
                    stream, lambda k, d: k == "task_changed" and
                    d["changes"].get("status") == "completed")
                assert data["task"]["processed_points"] == 30
                assert data["changes"]["result_summary"] == {"counted": 30, "started_at": 0}
                await s.call("POST", f"{P}/tasks/{tid}/priority", json={"priority": "low"})
                kind, data, _ = await next_event(
                    stream, lambda k, d: k == "task_changed" and "priority" in d["changes"])
                assert data["changes"]["priority"] == "low"  # a name, as in to_dict()
                # A dependent task: the upstream's blocks_task_ids change is announced.
                _, out = await s.call("POST", f"{P}/tasks", json={
                    "skill_name": "noop", "depends_on_task_ids": [tid]})
                child = out["data"]["id"]
                kind, data, _ = await next_event(
                    stream, lambda k, d: k == "task_changed" and d["task_id"] == tid and
                    "blocks_task_ids" in d["changes"])
                assert data["changes"]["blocks_task_ids"] == [child]
                assert data["task"]["blocks_task_ids"] == [child]
                await wait_until(lambda: s.engine.tasks[child].status in TERMINAL)
                await s.engine.remove([child])
                await s.engine.remove([tid])
                kind, data, _ = await next_event(stream, lambda k, d: k == "task_removed")
                assert data == {"task_id": child}
                kind, data, _ = await next_event(stream, lambda k, d: k == "task_removed")
                assert data == {"task_id": tid}

    run(main())


def test_stream_filters_by_task_and_carries_logs_on_request(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path / "tracks.db") as s:
            _, a = await s.call("POST", f"{P}/tasks", json={"skill_name": "noop"})
            a_id = a["data"]["id"]
            await wait_until(lambda: s.engine.tasks[a_id].status in TERMINAL)
            async with s.http.get(f"{P}/events", params={"task_id": "999999",
                                                         "logs": "1"}) as other, \
                    s.http.get(f"{P}/events", params={"logs": "true"}) as resp:
                others = sse_events(other)
                await next_event(others, lambda k, d: k == "ready")
                stream = sse_events(resp)
                await next_event(stream, lambda k, d: k == "ready")
                _, out = await s.call("POST", f"{P}/tasks",
                                      json={"skill_name": "count", "params": {"n": 5}})
                tid = out["data"]["id"]
                kind, data, _ = await next_event(
                    stream, lambda k, d: k == "log" and "starting at" in d["message"])
                assert data["task_id"] == tid and data["stream"] == "stderr"
                assert isinstance(data["ts"], float)
                # The other client asked for task 999999 only: it saw nothing.
                try:
                    got = await asyncio.wait_for(others.__anext__(), 0.5)
                except TimeoutError:
                    got = None
                assert got is None

    run(main())


def test_last_event_id_replays_missed_events_or_asks_for_a_reset(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path / "tracks.db", schedule=False) as s:
            async with s.http.get(f"{P}/events") as resp:
                stream = sse_events(resp)
                await next_event(stream, lambda k, d: k == "ready")
                await s.call("POST", f"{P}/tasks", json={"skill_name": "noop"})
                _, _, first_id = await next_event(stream, lambda k, d: k == "task_added")
            # Disconnected: two more tasks happen meanwhile.
            for _ in range(2):
                await s.call("POST", f"{P}/tasks", json={"skill_name": "noop"})
            async with s.http.get(f"{P}/events",
                                  headers={"Last-Event-ID": str(first_id)}) as resp:
                stream = sse_events(resp)
                await next_event(stream, lambda k, d: k == "ready")
                seen = [(await next_event(stream, lambda k, d: k == "task_added"))[1]["task_id"]
                        for _ in range(2)]
                assert seen == [2, 3]
            # An id from before the kept history: the client must list the tasks again.
            hub_history = 2_000
            for _ in range(hub_history // 2 + 5):
                await s.engine.set_priority(1, "high")
                await s.engine.set_priority(1, "low")
            async with s.http.get(f"{P}/events", headers={"Last-Event-ID": "1"}) as resp:
                stream = sse_events(resp)
                await next_event(stream, lambda k, d: k == "ready")
                kind, data, _ = await next_event(stream, lambda k, d: True)
                assert kind == "reset" and data["reason"] == "missed events"

    run(main())


def test_stopping_the_server_ends_open_streams(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path / "tracks.db", schedule=False) as s:
            async with s.http.get(f"{P}/events") as resp:
                stream = sse_events(resp)
                await next_event(stream, lambda k, d: k == "ready")
                t0 = asyncio.get_running_loop().time()
                await s.server.stop()
                assert asyncio.get_running_loop().time() - t0 < 2.0
                rest = [e async for e in stream]
                assert rest == []
            assert not s.engine.events._subscribers  # the API let go of the engine

    run(main())
