"""The window serves the API from its own engine on qasync's loop: the same code works
there (aiohttp's server and the engine on Qt's event loop, requests from another thread)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

qasync = pytest.importorskip("qasync")
pytest.importorskip("PySide6")

from tests.api.conftest import P, registry  # noqa: E402
from trackdesk.api import start_api  # noqa: E402
from trackdesk.engine.engine import Engine, EngineSettings  # noqa: E402


def fetch(url: str, body: dict | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def test_api_on_the_qasync_loop_runs_tasks(qapp: Any, tmp_path: Path) -> None:
    loop = qasync.QEventLoop(qapp)
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))

    async def main() -> tuple[str, int, list[str]]:
        engine = Engine(tmp_path / "tracks.db", registry=registry(),
                        settings=EngineSettings(poll_interval_s=0.1, flush_interval_s=0.1))
        await engine.start()
        server = await start_api(engine, "127.0.0.1", 0)
        try:
            out = await asyncio.to_thread(fetch, f"{server.url}{P}/tasks",
                                          {"skill_name": "count", "params": {"n": 20}})
            tid = out["data"]["id"]
            for _ in range(600):
                if engine.tasks[tid].status.value == "completed":
                    break
                await asyncio.sleep(0.05)
            got = await asyncio.to_thread(fetch, f"{server.url}{P}/tasks/{tid}")
            listed = await asyncio.to_thread(fetch, f"{server.url}{P}/tasks")
            return (got["data"]["status"], got["data"]["processed_points"],
                    [t["status"] for t in listed["data"]])
        finally:
            await server.stop()
            await engine.stop()

    try:
        status, processed, listed = loop.run_until_complete(
            asyncio.wait_for(main(), 60))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    assert (status, processed, listed) == ("completed", 20, ["completed"])
    assert not errors, errors
