"""Engine test helpers: a registry with the test workers, a fresh tracks.db per test."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.engine.workers import SPECS
from trackdesk.engine.engine import Engine, EngineSettings
from trackdesk.engine.states import TERMINAL, Status
from trackdesk.skills.registry import BUILTIN_SPECS, SkillRegistry


def worker_registry() -> SkillRegistry:
    return SkillRegistry(list(BUILTIN_SPECS) + SPECS)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "tracks.db"


@pytest.fixture
def make_engine(db_path: Path) -> Callable[..., Engine]:
    def make(**settings: Any) -> Engine:
        base = {"poll_interval_s": 0.1, "flush_interval_s": 0.1, "cancel_grace_s": 1.0}
        base.update(settings)
        return Engine(db_path, registry=worker_registry(), settings=EngineSettings(**base))

    return make


def run(coro: Awaitable[Any], timeout: float = 60.0) -> Any:
    async def guarded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(guarded())


async def wait_until(predicate: Callable[[], bool], timeout: float = 20.0,
                     what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def finished(engine: Engine, *ids: int, timeout: float = 30.0) -> None:
    await wait_until(lambda: all(engine.tasks[i].status in TERMINAL for i in ids), timeout,
                     f"tasks {ids} to finish")


def counted(db: Path, key: str) -> list[int]:
    with sqlite3.connect(db) as conn:
        try:
            return [r[0] for r in conn.execute(
                "SELECT i FROM test_counts WHERE key = ? ORDER BY i", (key,))]
        except sqlite3.OperationalError:
            return []


__all__ = ["Status", "counted", "finished", "run", "worker_registry", "wait_until"]
