"""Shared helpers: a fresh tracks.db, and running the import worker in-process."""

from __future__ import annotations

import io
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from trackdesk.skills.registry import BUILTIN_SPECS
from trackdesk.tracks import worker
from trackdesk.tracks.migrations import migrate
from trackdesk.worker import SkillError, WorkerContext

IMPORT_SPEC = next(s for s in BUILTIN_SPECS if s.name == "import")
CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "gpx"


@dataclass
class Outcome:
    summary: dict[str, Any] | None
    error: str | None
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def new_db(path: Path) -> Path:
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    conn.close()
    return path


def run_import(db: Path, paths: list[Path | str], batch_size: int = 50_000,
               **params: Any) -> Outcome:
    """The worker's run() in this process, exactly as run_worker would call it."""
    out = io.StringIO()
    values = IMPORT_SPEC.validate_params(
        {"paths": json.dumps([str(p) for p in paths]), **params})
    ctx = WorkerContext("import", 1, str(db), params=values, batch_size=batch_size, out=out)
    try:
        summary = worker.run(ctx)
        error = None
    except SkillError as exc:
        summary, error = None, str(exc)
    msgs = [json.loads(line) for line in out.getvalue().splitlines()]
    return Outcome(summary, error, msgs)


def points(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT ts, lat, lon, altitude, speed, accuracy, heading, source "
                            "FROM points ORDER BY ts, lat, lon").fetchall()
    finally:
        conn.close()


def count(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return new_db(tmp_path / "tracks.db")
