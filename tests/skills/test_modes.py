"""Transport mode on loggers that record rarely: one walk is one walk segment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.skills.chain import connect, new_db, run_chain
from tests.skills.helpers import T0, cat, insert, offset, stay
from trackdesk.skills.groundtruth import generate, insert_points


def _sparse_walk(t0: float, duration: float, speed: float, east0: float, seed: int,
                 pause_at: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A walk logged the way a hand-held GPS's 'smart' recording does: a fix every 10 to
    90 s, more often on turns; optionally one 40 s pause (a crossing) at ``pause_at``."""
    rng = np.random.default_rng(seed)
    ts = t0 + np.cumsum(rng.choice([10.0, 13.0, 15.0, 40.0, 70.0, 90.0], 400))
    ts = ts[ts < t0 + duration]
    moving = ts - t0
    if pause_at is not None:
        moving = np.where(ts > t0 + pause_at, np.maximum(moving - 40.0, pause_at), moving)
    east = east0 + speed * moving + rng.normal(0, 4.0, len(ts))
    lat, lon = offset(east, rng.normal(0, 4.0, len(ts)))
    return ts, lat, lon


def _segments(path: Path, t0: float, t1: float) -> list[tuple]:
    conn = connect(path)
    try:
        return conn.execute("SELECT mode, start_ts, end_ts, n_points FROM mode_segments "
                            "WHERE end_ts > ? AND start_ts < ? ORDER BY start_ts",
                            (t0, t1)).fetchall()
    finally:
        conn.close()


def test_a_walk_logged_every_10_to_90_seconds_is_one_walk(tmp_path: Path) -> None:
    walk_s = 2400.0
    track = cat(stay(T0, 900, 5),
                _sparse_walk(T0 + 900, walk_s, 1.3, 0.0, seed=3, pause_at=1200.0),
                stay(T0 + 900 + walk_s + 60, 900, 5, east=1.3 * (walk_s - 40) + 80))
    path = new_db(tmp_path / "tracks.db")
    conn = connect(path)
    insert(conn, *track)
    conn.close()
    run_chain(path)
    # Inside the walk (its first and last minutes belong to the stays' edges).
    segs = _segments(path, T0 + 900 + 120, T0 + 900 + walk_s - 120)
    assert [s[0] for s in segs] == ["walk"], segs


@pytest.mark.parametrize("sample_s", [(1.0, 5.0), (15.0, 80.0)])
def test_two_neighbouring_segments_never_have_one_mode(tmp_path: Path,
                                                       sample_s: tuple[float, float]) -> None:
    # A slow stretch of a car ride promoted to car sat beside the car it belongs to.
    truth = generate(days=3, seed=9, sample_s=sample_s)
    path = new_db(tmp_path / "tracks.db")
    conn = connect(path)
    insert_points(conn, truth)
    run_chain(path)
    rows = conn.execute("SELECT mode, start_ts, end_ts FROM mode_segments "
                        "ORDER BY start_ts").fetchall()
    conn.close()
    assert len(rows) > 50
    for (m0, _, e0), (m1, s1, _) in zip(rows, rows[1:], strict=False):
        # A logging gap longer than gap_s (600 s) is the only thing that splits a mode.
        assert m0 != m1 or s1 - e0 > 600, (m0, e0, s1)
