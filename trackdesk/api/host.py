"""The REST API served from the desktop app: started and stopped in one place. No Qt.

The app's composition root (``trackdesk.ui.app``) owns one ``ApiHost`` and calls
``serve`` whenever what it should serve changes: an engine opened or closed (the
session announces it) or the settings' "serve the REST API, port" changed. ``serve``
stops the running server first, so an old engine is never served after a switch and
the port is free once ``serve(None, ...)`` returns.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from trackdesk.engine.engine import Engine

log = logging.getLogger(__name__)

HOST = "127.0.0.1"  # the app serves this machine only (no token: docs/API.md)


class RunningApi(Protocol):
    """What the host uses of a server (``trackdesk.api.server.ApiServer``)."""

    port: int

    @property
    def url(self) -> str: ...

    async def stop(self) -> None:
        """Close the event streams and the socket."""


Starter = Callable[["Engine", str, int], Awaitable[RunningApi]]


async def _start_api(engine: Engine, host: str, port: int) -> RunningApi:
    # aiohttp loads on first use: the window starts without it.
    from trackdesk.api.server import start_api

    return await start_api(engine, host, port, None)


def api_available() -> bool:
    """Whether this installation can serve the API (aiohttp is installed); found
    without importing it, which would cost the GUI thread a fifth of a second."""
    return importlib.util.find_spec("aiohttp") is not None


class ApiHost:
    """At most one REST API server, on the engine it was last asked to serve."""

    def __init__(self, starter: Starter = _start_api) -> None:
        self._start = starter
        self.server: RunningApi | None = None

    @property
    def url(self) -> str | None:
        return self.server.url if self.server is not None else None

    async def serve(self, engine: Engine | None, port: int) -> RunningApi | None:
        """Serve ``engine`` on 127.0.0.1:``port`` (``engine`` None: serve nothing).

        The server running now stops first. Raises OSError when the port is taken and
        ApiConfigError for a refused configuration; then nothing is served."""
        server, self.server = self.server, None
        if server is not None:
            await server.stop()
            log.info("REST API on %s stopped", server.url)
        if engine is None:
            return None
        self.server = await self._start(engine, HOST, port)
        log.info("REST API on %s", self.server.url)
        return self.server

    async def stop(self) -> None:
        await self.serve(None, 0)


__all__ = ["HOST", "ApiHost", "RunningApi", "api_available"]
