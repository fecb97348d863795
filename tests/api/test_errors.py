"""Every error keeps the envelope: a non-200 code equal to the HTTP status and a message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.api.conftest import BackgroundServer, P, Served, serving
from tests.engine.conftest import run


async def expect(s: Served, method: str, path: str, code: int, words: str,
                 **kw: Any) -> dict:
    status, out = await s.call(method, path, **kw)
    assert status == code, (status, out)
    assert out["code"] == code and out["data"] is None, out
    assert words.lower() in out["message"].lower(), out["message"]
    return out


JSON = {"Content-Type": "application/json"}

CASES: list[tuple[str, str, int, str, dict[str, Any]]] = [
    # unknown skill, bad parameters
    ("POST", "/tasks", 400, "unknown skill 'nope'", {"json": {"skill_name": "nope"}}),
    ("POST", "/tasks", 400, "field 'skill_name' is required", {"json": {"params": {}}}),
    ("POST", "/tasks", 400, "must be a string", {"json": {"skill_name": 3}}),
    ("POST", "/tasks", 400, "has no parameter 'bogus'",
     {"json": {"skill_name": "count", "params": {"bogus": 1}}}),
    ("POST", "/tasks", 400, "below its minimum",
     {"json": {"skill_name": "count", "params": {"n": -5}}}),
    ("POST", "/tasks", 400, "must be a whole number",
     {"json": {"skill_name": "count", "params": {"n": "many"}}}),
    ("POST", "/tasks", 400, "must be a whole number",
     {"data": '{"skill_name": "count", "params": {"n": 1e400}}', "headers": JSON}),
    ("POST", "/tasks", 400, "must be a finite number",
     {"data": '{"skill_name": "count", "params": {"sleep_s": -1e400}}', "headers": JSON}),
    ("POST", "/tasks", 400, "field 'params' must be an object",
     {"json": {"skill_name": "count", "params": [1]}}),
    ("POST", "/tasks", 400, "unknown task type",
     {"json": {"skill_name": "count", "task_type": "SOMETIMES"}}),
    ("POST", "/tasks", 400, "unknown priority",
     {"json": {"skill_name": "count", "priority": "asap"}}),
    ("POST", "/tasks", 400, "'priority'", {"json": {"skill_name": "count", "priority": 9}}),
    ("POST", "/tasks", 400, "unknown launcher",
     {"json": {"skill_name": "count", "launcher": "cloud"}}),
    ("POST", "/tasks", 400, "runs only with the local launcher",
     {"json": {"skill_name": "import", "launcher": "docker"}}),
    ("POST", "/tasks", 400, "depends_on_task_ids: no task with id 99",
     {"json": {"skill_name": "count", "depends_on_task_ids": [99]}}),
    ("POST", "/tasks", 400, "list of task ids",
     {"json": {"skill_name": "count", "depends_on_task_ids": "1"}}),
    ("POST", "/tasks", 400, "unknown field 'colour'",
     {"json": {"skill_name": "count", "colour": "red"}}),
    ("POST", "/tasks", 400, "'timeout_s'", {"json": {"skill_name": "count", "timeout_s": -1}}),
    ("POST", "/tasks", 400, "'max_retries'",
     {"json": {"skill_name": "count", "max_retries": 1000}}),
    ("POST", "/tasks", 400, "'threshold_profile_id'",
     {"json": {"skill_name": "count", "threshold_profile_id": 2**70}}),
    ("POST", "/tasks", 400, "not valid unicode",
     {"data": '{"skill_name": "count", "created_by": "\\ud800"}', "headers": JSON}),
    # malformed JSON, wrong content type, not an object, no body
    ("POST", "/tasks", 400, "malformed JSON", {"data": '{"skill_name": ', "headers": JSON}),
    ("POST", "/tasks", 400, "malformed JSON", {"data": b"\xff\xfe{}", "headers": JSON}),
    ("POST", "/tasks", 400, "malformed JSON",
     {"data": '{"skill_name": "count", "params": {"n": NaN}}', "headers": JSON}),
    ("POST", "/tasks", 400, "malformed JSON", {"data": "[" * 100_000, "headers": JSON}),
    ("POST", "/tasks", 415, "application/json",
     {"data": "skill_name=count", "headers": {"Content-Type":
                                              "application/x-www-form-urlencoded"}}),
    ("POST", "/tasks", 415, "application/json",
     {"data": '{"skill_name": "count"}', "headers": {"Content-Type": "text/plain"}}),
    ("POST", "/tasks", 400, "must be a JSON object", {"json": ["count"]}),
    ("POST", "/tasks", 400, "must be a JSON object, not null", {"data": "null", "headers": JSON}),
    ("POST", "/tasks", 400, "needs a JSON object", {}),
    # unknown ids and names
    ("GET", "/tasks/12345", 404, "no task with id 12345", {}),
    ("GET", "/tasks/abc", 400, "task id must be a whole number", {}),
    ("GET", f"/tasks/{2**80}", 404, "no task with id", {}),
    ("DELETE", "/tasks/777", 404, "no task with id 777", {}),
    ("POST", "/tasks/777/pause", 404, "no task with id 777", {}),
    ("POST", "/tasks/777/resume", 404, "no task with id 777", {}),
    ("POST", "/tasks/777/rerun", 404, "no task with id 777", {}),
    ("POST", "/tasks/777/priority", 404, "no task with id 777", {"json": {"priority": 1}}),
    ("GET", "/tasks/777/log", 404, "no task with id 777", {}),
    ("GET", "/skills/nope", 404, "unknown skill 'nope'", {}),
    ("GET", "/chains/nope", 404, "no chain template named 'nope'", {}),
    ("DELETE", "/chains/nope", 404, "no chain template named 'nope'", {}),
    ("GET", "/chains/..%2F..%2Fetc", 400, "chain template name", {}),
    ("POST", "/trigger-chain", 404, "no chain template named 'nope'", {"json": {"name": "nope"}}),
    ("POST", "/trigger-chain", 400, "unknown task type", {"json": {"task_type": "SOON"}}),
    ("POST", "/retry-failed", 404, "no chain run", {"json": {"chain_run_id": "zzz"}}),
    # query parameters
    ("GET", "/tasks?status=sleeping", 400, "unknown status 'sleeping'", {}),
    ("GET", "/tasks?limit=-1", 400, "'limit' must be between", {}),
    ("GET", "/tasks?offset=x", 400, "'offset' must be a whole number", {}),
    ("GET", "/events?logs=maybe", 400, "'logs' must be true or false", {}),
    # chain templates
    ("DELETE", "/chains/default", 403, "read-only", {}),
    ("PUT", "/chains/default", 403, "read-only",
     {"json": {"document": {"nodes": [{"id": "a", "skill": "noop"}]}}}),
    ("PUT", "/chains/x", 400, "field 'document'", {"json": {"document": 3}}),
    ("PUT", "/chains/x", 400, "'nodes' must be a list", {"json": {"document": {"links": []}}}),
    ("PUT", "/chains/x", 400, "unknown skill 'ghost'",
     {"json": {"document": {"nodes": [{"id": "a", "skill": "ghost"}]}}}),
    ("PUT", "/chains/x", 400, "dependency cycle: a -> b -> a",
     {"json": {"document": {"nodes": [{"id": "a", "skill": "noop"},
                                      {"id": "b", "skill": "noop"}],
                            "links": [["a", "b"], ["b", "a"]]}}}),
    ("PUT", "/chains/x", 400, "not a valid chain",
     {"json": {"document": {"nodes": [{"id": "a", "skill": "noop"}],
                            "links": [["a", "missing"]]}}}),
    ("PUT", "/chains/x", 400, "not a valid chain",
     {"json": {"document": {"nodes": [{"id": "a", "skill": "noop"}], "links": [[1]]}}}),
    ("PUT", "/chains/x", 400, "above its maximum",
     {"json": {"document": {"nodes": [{"id": "a", "skill": "count",
                                       "params": {"n": 10**9}}]}}}),
    ("PUT", "/chains/x", 400, "'links' must be a list",
     {"json": {"document": {"nodes": [], "links": {}}}}),
    ("PUT", "/chains/x", 400, "a node's 'id' must be a string",
     {"json": {"document": {"nodes": [{"id": 1, "skill": "noop"}]}}}),
    ("PUT", "/chains/x", 400, "a node's 'x' must be a number",
     {"json": {"document": {"nodes": [{"id": "a", "skill": "noop", "x": "left"}]}}}),
    ("PUT", "/chains/x", 400, "field 'document' is required"[:15], {"json": {}}),
    ("POST", "/trigger-chain", 400, "unknown launcher", {"json": {"launcher": ""}}),
    ("POST", "/trigger-chain", 400, "unknown task type", {"json": {"task_type": ""}}),
    # routing
    ("GET", "/nothing/here", 404, "no such endpoint", {}),
    ("PATCH", "/tasks", 405, "PATCH is not allowed", {}),
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    """One engine and server for all the error cases: an error changes nothing."""
    with BackgroundServer(tmp_path_factory.mktemp("errors") / "tracks.db") as bg:
        yield bg


@pytest.mark.parametrize("method,path,code,words,kw", CASES,
                         ids=[f"{c[0]} {c[1]} {c[2]} {c[3][:30]}" for c in CASES])
def test_error(shared: BackgroundServer, method: str, path: str, code: int, words: str,
               kw: dict[str, Any]) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession(base_url=shared.url) as http:
            assert shared.engine is not None and shared.server is not None
            await expect(Served(shared.engine, shared.server, http), method, P + path, code,
                         words, **kw)

    run(main())
    # An error never changes anything.
    assert shared.engine is not None and not shared.engine.tasks
    templates = shared.call(shared.engine.call(shared.engine.store.list_templates))
    assert [t["name"] for t in templates] == ["default"]


def test_state_conflicts_are_409(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path / "tracks.db", schedule=False) as s:
            _, out = await s.call("POST", f"{P}/tasks", json={"skill_name": "noop"})
            tid = out["data"]["id"]
            await expect(s, "POST", f"{P}/tasks/{tid}/resume", 409, "only a paused")
            await expect(s, "POST", f"{P}/tasks/{tid}/rerun", 409, "is pending")
            await s.call("DELETE", f"{P}/tasks/{tid}")
            await expect(s, "DELETE", f"{P}/tasks/{tid}", 409, "already cancelled")
            await expect(s, "POST", f"{P}/tasks/{tid}/pause", 409, "only a running or pending")
            await expect(s, "POST", f"{P}/tasks/{tid}/rerun", 400, "true or false",
                         json={"full": "yes"})
            await expect(s, "POST", f"{P}/tasks/{tid}/rerun", 400, "unknown field",
                         json={"fully": True})
            await expect(s, "POST", f"{P}/tasks/{tid}/pause", 400, "unknown field",
                         json={"now": True})
            await expect(s, "POST", f"{P}/tasks/{tid}/priority", 400, "'priority'",
                         json={"priority": True})
            await expect(s, "POST", f"{P}/tasks/{tid}/priority", 400, "unknown priority",
                         json={"priority": "meh"})

    run(main())


def test_oversized_body_is_413_in_the_envelope(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path / "tracks.db", schedule=False) as s:
            big = '{"skill_name": "count", "created_by": "' + "x" * (2 << 20) + '"}'
            await expect(s, "POST", f"{P}/tasks", 413, "larger than", data=big, headers=JSON)

            async def chunks() -> Any:  # no Content-Length: refused while reading
                for _ in range(40):
                    yield b" " * 65536

            await expect(s, "POST", f"{P}/tasks", 413, "larger than", data=chunks(),
                         headers=JSON)
            assert not s.engine.tasks

    run(main())


def test_engine_stopped_is_503(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path / "tracks.db", schedule=False) as s:
            await s.engine.stop()
            await expect(s, "GET", f"{P}/tasks", 503, "engine is not running")
            await expect(s, "POST", f"{P}/tasks", 503, "engine is not running",
                         json={"skill_name": "noop"})
            status, out = await s.call("GET", "/api/health")
            assert status == 200 and out["data"]["engine_running"] is False

    run(main())


def test_errors_are_json_even_for_aiohttp_level_failures(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path / "tracks.db", schedule=False) as s:
            async with s.http.request("PATCH", f"{P}/tasks/1") as resp:
                assert resp.status == 405
                assert resp.content_type == "application/json"
                assert "DELETE" in resp.headers["Allow"]
            with pytest.raises(aiohttp.ClientResponseError):
                async with s.http.get(f"{P}/nope", raise_for_status=True):
                    pass

    run(main())
