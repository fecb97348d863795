"""Synthetic location history for the docker tests and bench/docker: stays and trips.

One person: stays of 20 min to 4 h (a point every ~45 s, a few metres of jitter) joined by
trips on foot, by bike, car or train (a point every 5 s), with rare outliers and gaps.
Deterministic for a seed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

M_PER_DEG = 111_320.0
# Tables the engine owns, and caches: not analysis results.
NOT_RESULTS = {"analysis_tasks", "task_logs", "task_requests", "chain_templates",
               "threshold_profiles", "schema_migrations", "point_cache", "imports",
               "import_files",
               # the log of which skill's run changed what, in the order the runs ended:
               # parallel branches end in any order
               "skill_changes",
               # the engine's record of each run (launcher, times, memory): how, not what
               "task_attempts", "task_archive"}
# Columns that say when or by which task a row was written, not what was found.
BOOKKEEPING = {"created_at", "updated_at", "computed_at", "task_id", "seen_change_id"}


def synth_points(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t, lat, lon = 1_600_000_000.0, 47.37, 8.54
    parts: dict[str, list[np.ndarray]] = {"ts": [], "lat": [], "lon": [], "accuracy": []}
    count = 0
    while count < n:
        dur = rng.uniform(1200, 14400)
        k = max(2, int(dur / 45))
        ts = t + np.sort(rng.uniform(0, dur, k))
        parts["ts"].append(ts)
        parts["lat"].append(lat + rng.normal(0, 8 / M_PER_DEG, k))
        parts["lon"].append(lon + rng.normal(0, 8 / M_PER_DEG / np.cos(np.radians(lat)), k))
        parts["accuracy"].append(rng.uniform(5, 30, k))
        t = ts[-1] + rng.uniform(30, 120)
        count += k
        speed = rng.choice([1.4, 4.5, 14.0, 30.0])
        dur = rng.uniform(300, 3600)
        k = max(2, int(dur / 5))
        heading = rng.uniform(0, 2 * np.pi)
        steps = np.arange(1, k + 1) * 5.0
        dist = steps * speed
        la = lat + dist * np.cos(heading) / M_PER_DEG
        lo = lon + dist * np.sin(heading) / M_PER_DEG / np.cos(np.radians(lat))
        la += rng.normal(0, 5 / M_PER_DEG, k)
        lo += rng.normal(0, 5 / M_PER_DEG, k)
        spikes = rng.random(k) < 0.002  # a GPS glitch now and then
        la[spikes] += rng.normal(0, 0.05, spikes.sum())
        ts = t + steps
        if rng.random() < 0.1:  # a gap: the phone was off for a while
            ts[k // 2:] += rng.uniform(600, 7200)
        parts["ts"].append(ts)
        parts["lat"].append(la)
        parts["lon"].append(lo)
        parts["accuracy"].append(rng.uniform(3, 20, k))
        lat, lon, t = float(la[-1]), float(lo[-1]), float(ts[-1]) + 5
        count += k
    return {key: np.concatenate(v)[:n] for key, v in parts.items()}


def fill_db(db: Path, n: int, seed: int = 7) -> None:
    """A migrated tracks.db holding ``n`` synthetic points."""
    from trackdesk.tracks.db import open_db

    open_db(db).dispose()
    pts = synth_points(n, seed)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    with conn:
        conn.executemany(
            "INSERT INTO points (ts, lat, lon, accuracy, source) VALUES (?, ?, ?, ?, 'synth')",
            zip(pts["ts"].tolist(), pts["lat"].tolist(), pts["lon"].tolist(),
                pts["accuracy"].tolist(), strict=True))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def result_tables(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every analysis result table: its rows sorted, bookkeeping columns left out."""
    conn = sqlite3.connect(db)
    out = {}
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    for name in sorted(set(names) - NOT_RESULTS - {"points"}):
        cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{name}")')
                if r[1] not in BOOKKEEPING]
        select = ", ".join(f'"{c}"' for c in cols)
        rows = conn.execute(f'SELECT {select} FROM "{name}"').fetchall()
        out[name] = sorted(rows, key=repr)
    conn.close()
    return out
