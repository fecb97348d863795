"""The server's life cycle and its parts: port in use, a slow event client, no Qt."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.conftest import P, serving
from tests.engine.conftest import run
from tests.test_layers import qt_loaded_by
from trackdesk.api import start_api
from trackdesk.api.sse import MAX_PENDING, EventHub
from trackdesk.engine.events import TaskChanged


def test_a_taken_port_is_an_oserror_and_the_engine_goes_on(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path / "tracks.db", schedule=False) as s:
            with pytest.raises(OSError):
                await start_api(s.engine, "127.0.0.1", s.server.port)
            status, _ = await s.call("GET", f"{P}/tasks")
            assert status == 200

    run(main())


def test_two_servers_on_one_engine_share_its_events(tmp_path: Path) -> None:
    """The window may switch the API off and on again: each start is independent."""
    async def main() -> None:
        async with serving(tmp_path / "tracks.db", schedule=False) as s:
            subscribers = len(s.engine.events._subscribers)
            second = await start_api(s.engine, "127.0.0.1", 0)
            assert len(s.engine.events._subscribers) == subscribers + 1
            await second.stop()
            assert len(s.engine.events._subscribers) == subscribers
            status, _ = await s.call("GET", f"{P}/tasks")
            assert status == 200

    run(main())


def test_a_client_that_falls_behind_is_told_to_reset() -> None:
    class FakeEngine:
        tasks: dict = {}

    hub = EventHub(FakeEngine())  # type: ignore[arg-type]
    client = hub.add(logs=False, only=None)
    for i in range(MAX_PENDING + 1):
        hub.on_event(TaskChanged(1, {"progress_percent": float(i)}))
    assert client.overflow and client.frames == []
    # Others are unaffected; the replay history is bounded.
    fresh = hub.add(logs=False, only=None)
    hub.on_event(TaskChanged(1, {"progress_percent": 1.0}))
    assert len(fresh.frames) == 1
    assert hub.since(0) is None and len(hub.since(hub.seq - 5) or []) == 5


def test_the_api_and_serve_load_no_qt() -> None:
    assert qt_loaded_by("trackdesk.api, trackdesk.api.openapi, trackdesk.cli") == []
