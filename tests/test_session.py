"""The session (trackdesk/session.py): one engine at a time, announced in order, without Qt."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from trackdesk.engine.engine import Engine, EngineSettings
from trackdesk.engine.lock import EngineLockedError, holder
from trackdesk.session import Session
from trackdesk.skills.registry import BUILTIN_SPECS, SkillRegistry


class Settings:
    on_quit = "stop"

    def apply(self, engine_settings: EngineSettings) -> None:
        engine_settings.concurrency = 3


def factory(path: Path) -> Engine:
    return Engine(path, registry=SkillRegistry(list(BUILTIN_SPECS)),
                  settings=EngineSettings(poll_interval_s=0.1, flush_interval_s=0.1))


def test_followers_hear_every_switch_and_let_go_while_the_old_engine_still_runs(tmp_path):
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    session = Session(Settings(), factory)
    heard: list[tuple[str, Path | None, bool]] = []

    def table(engine: Engine | None) -> None:
        heard.append(("table", engine.db_path if engine else None, False))

    async def api(engine: Engine | None) -> None:
        # Told of the close while the old engine still holds its tracks.db: a server
        # on it can stop before the engine it serves goes.
        old = session_dbs[-1] if engine is None else None
        held = old is not None and (holder(old) or {}).get("pid") == os.getpid()
        heard.append(("api", engine.db_path if engine else None, held))

    session_dbs: list[Path] = []
    session.subscribe(table)
    session.subscribe(api)

    async def scenario() -> None:
        a = await session.open(first)
        session_dbs.append(a.db_path)
        assert a.settings.concurrency == 3  # the settings reach the engine before it starts
        b = await session.open(second)
        session_dbs.append(b.db_path)
        assert session.engine is b and session.db_path == second.resolve()
        late: list[Path | None] = []
        session.subscribe(lambda e: late.append(e.db_path if e else None))
        assert late == [second.resolve()]  # a late follower hears of the open db at once
        await session.close()
        assert session.engine is None

    asyncio.run(scenario())
    a, b = first.resolve(), second.resolve()
    assert heard == [("table", a, False), ("api", a, False),
                     ("table", None, False), ("api", None, True),
                     ("table", b, False), ("api", b, False),
                     ("table", None, False), ("api", None, True)]
    assert holder(first) is None and holder(second) is None  # both engines stopped


def test_a_db_another_engine_drives_leaves_the_session_closed(tmp_path):
    db, other = tmp_path / "a.db", tmp_path / "b.db"
    session = Session(Settings(), factory)
    engines: list[Engine | None] = []
    session.subscribe(engines.append)

    async def scenario() -> None:
        await session.open(db)
        rival = factory(other)
        await rival.start()
        try:
            with pytest.raises(EngineLockedError):
                await session.open(other)
        finally:
            await rival.stop(running="stop")
        assert session.engine is None
        assert holder(db) is None  # the old one stopped: no half-open state

    asyncio.run(scenario())
    assert [e is None for e in engines] == [False, True]
