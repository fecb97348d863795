"""API test helpers: a real Engine on a tmp tracks.db, the API on a real socket, a client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.engine.conftest import worker_registry as registry
from trackdesk.api import ApiServer, start_api
from trackdesk.engine.engine import Engine, EngineSettings

P = "/api/admin/analysis"


@dataclass
class Served:
    engine: Engine
    server: ApiServer
    http: aiohttp.ClientSession

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        """(HTTP status, decoded JSON body) of one request."""
        async with self.http.request(method, path, **kw) as resp:
            body = await resp.json(content_type=None)
            return resp.status, body


@contextlib.asynccontextmanager
async def serving(db_path: Path, token: str | None = None, schedule: bool = True,
                  client_token: str | None = None, **settings: Any) -> AsyncIterator[Served]:
    base = {"poll_interval_s": 0.1, "flush_interval_s": 0.1, "cancel_grace_s": 1.0}
    base.update(settings)
    engine = Engine(db_path, registry=registry(), settings=EngineSettings(**base))
    await engine.start(schedule=schedule)
    server = None
    try:
        server = await start_api(engine, "127.0.0.1", 0, token)
        sent = client_token if client_token is not None else token
        headers = {"Authorization": f"Bearer {sent}"} if sent else {}
        async with aiohttp.ClientSession(base_url=server.url, headers=headers) as http:
            yield Served(engine, server, http)
    finally:
        if server is not None:
            await server.stop()
        await engine.stop(running="stop")


async def sse_events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, Any, str | None]]:
    """(event, decoded data, id) from a text/event-stream response, as a browser would."""
    event, data, eid = "message", [], None
    async for raw in resp.content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield event, json.loads("\n".join(data)), eid
            event, data, eid = "message", [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            eid = value


async def next_event(stream: AsyncIterator[tuple[str, Any, str | None]],
                     predicate: Callable[[str, Any], bool], timeout: float = 15.0
                     ) -> tuple[str, Any, str | None]:
    """The first event from ``stream`` that matches, within ``timeout`` seconds."""
    async def find() -> tuple[str, Any, str | None]:
        async for kind, data, eid in stream:
            if predicate(kind, data):
                return kind, data, eid
        raise AssertionError("the event stream ended")

    return await asyncio.wait_for(find(), timeout)


class BackgroundServer:
    """Engine and API on a loop of their own thread, for synchronous clients (the fuzzer)."""

    def __init__(self, db_path: Path, token: str | None = None, schedule: bool = False
                 ) -> None:
        import threading

        self.db_path = db_path
        self.token = token
        self.schedule = schedule
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="api-test-server")
        self.engine: Engine | None = None
        self.server: ApiServer | None = None

    def call(self, coro: Awaitable[Any], timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        self.call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.call(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def _start(self) -> None:
        settings = EngineSettings(poll_interval_s=0.1, flush_interval_s=0.1,
                                  cancel_grace_s=1.0)
        self.engine = Engine(self.db_path, registry=registry(), settings=settings)
        await self.engine.start(schedule=self.schedule)
        self.server = await start_api(self.engine, "127.0.0.1", 0, self.token)

    async def _stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
        if self.engine is not None:
            await self.engine.stop(running="stop")

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url
