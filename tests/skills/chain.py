"""Helpers for the skill tests: a fresh tracks.db and the chain run in-process."""

from __future__ import annotations

import importlib
import io
import sqlite3
from pathlib import Path
from typing import Any

from trackdesk.skills.registry import BUILTIN_SPECS, DEFAULT_CHAIN
from trackdesk.tracks.db import open_db
from trackdesk.worker import WorkerContext

SPECS = {s.name: s for s in BUILTIN_SPECS}
# Days in UTC so the tests do not depend on the machine's zone.
TEST_PARAMS: dict[str, dict[str, Any]] = {
    "footprint_stats": {"timezone": "UTC"},
    "stay_stats": {"timezone": "UTC"},
}


def new_db(path: Path) -> Path:
    open_db(path).dispose()
    return path


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA busy_timeout=60000")
    return conn


def run_skill(path: Path, name: str, task_type: str = "FULL_RECOMPUTE",
              params: dict[str, Any] | None = None) -> dict[str, Any]:
    merged = {**TEST_PARAMS.get(name, {}), **(params or {})}
    ctx = WorkerContext(name, 1, str(path), task_type, SPECS[name].validate_params(merged),
                        out=io.StringIO())
    return importlib.import_module(f"trackdesk.skills.{name}").run(ctx)


def run_chain(path: Path, task_type: str = "FULL_RECOMPUTE",
              params: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    return {name: run_skill(path, name, task_type, (params or {}).get(name))
            for name in DEFAULT_CHAIN}


RESULT_QUERIES = {
    "point_analysis": "SELECT * FROM point_analysis ORDER BY ts, point_id",
    "outlier_flags": "SELECT * FROM outlier_flags ORDER BY point_id",
    "synthetic_points": "SELECT * FROM synthetic_points ORDER BY id",
    "mode_segments": "SELECT * FROM mode_segments ORDER BY id",
    "stays": "SELECT * FROM stays ORDER BY id",
    "trips": "SELECT * FROM trips ORDER BY id",
    "places": "SELECT * FROM places ORDER BY id",
    "grid_cells": "SELECT * FROM grid_cells ORDER BY cell_id",
    "grid_cell_days": "SELECT * FROM grid_cell_days ORDER BY cell_id, day",
    "footprint_days": "SELECT * FROM footprint_days ORDER BY day",
    "footprint_day_modes": "SELECT * FROM footprint_day_modes ORDER BY day, mode",
    "footprint_day_cells": "SELECT * FROM footprint_day_cells ORDER BY day, cell_id",
    "footprint_periods": "SELECT * FROM footprint_periods ORDER BY period_type, period",
    "footprint_period_modes": "SELECT * FROM footprint_period_modes "
                              "ORDER BY period_type, period, mode",
    "footprint_summary": "SELECT * FROM footprint_summary ORDER BY key",
    "render_days": "SELECT * FROM render_days ORDER BY day",
    "render_tracks": "SELECT * FROM render_tracks ORDER BY zoom, day",
    "render_zooms": "SELECT * FROM render_zooms ORDER BY zoom",
}


def snapshot(path: Path) -> dict[str, list[tuple]]:
    conn = connect(path)
    try:
        return {name: conn.execute(sql).fetchall() for name, sql in RESULT_QUERIES.items()}
    finally:
        conn.close()
