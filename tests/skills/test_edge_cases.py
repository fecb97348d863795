"""The chain on what a new user has: an empty tracks.db, a phone left on a desk."""

from __future__ import annotations

import random

import pytest

from tests.skills.chain import connect, new_db, run_chain
from trackdesk.skills.registry import DEFAULT_CHAIN


@pytest.mark.parametrize("task_type", ["INCREMENTAL", "FULL_RECOMPUTE"])
def test_every_skill_completes_on_an_empty_tracks_db(tmp_path, task_type):
    db = new_db(tmp_path / "tracks.db")
    summaries = run_chain(db, task_type)
    assert set(summaries) >= set(DEFAULT_CHAIN) - {"import"}


def test_standing_still_for_hours_covers_no_distance(tmp_path):
    db = new_db(tmp_path / "tracks.db")
    rnd = random.Random(7)
    t0 = 1_700_000_000.0
    # Six hours on a desk, a fix every 10 s, 5-15 m of GPS jitter around one spot.
    rows = [(t0 + 10 * i, 46.05 + rnd.gauss(0, 8e-5), 14.50 + rnd.gauss(0, 1.1e-4))
            for i in range(6 * 360)]
    conn = connect(db)
    conn.executemany("INSERT INTO points (ts, lat, lon) VALUES (?, ?, ?)", rows)
    conn.commit()
    run_chain(db, "FULL_RECOMPUTE")
    moved = connect(db).execute(
        "SELECT COALESCE(SUM(distance_m), 0) FROM footprint_day_modes "
        "WHERE mode = 'stationary'").fetchone()[0]
    assert moved == 0.0
    assert connect(db).execute("SELECT COUNT(*) FROM stays").fetchone()[0] == 1
