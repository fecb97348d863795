"""Outliers are flagged, never deleted; bad values are counted, not fatal."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from tests.skills.chain import SPECS, connect, new_db, run_chain
from tests.skills.helpers import T0, cat, insert, line, offset, stay
from trackdesk.skills import outlier_detection
from trackdesk.worker import WorkerContext


def _track_db(tmp_path: Path) -> Path:
    path = new_db(tmp_path / "tracks.db")
    conn = connect(path)
    insert(conn, *cat(stay(T0, 1200, 3), line(T0 + 1200, 600, 2, 1.4),
                      stay(T0 + 1800, 1200, 3, east=840)))
    conn.close()
    return path


def test_imported_points_are_never_altered_by_the_chain(tmp_path: Path) -> None:
    path = _track_db(tmp_path)
    conn = connect(path)
    before = conn.execute("SELECT * FROM points ORDER BY id").fetchall()
    run_chain(path)
    run_chain(path, "INCREMENTAL")
    assert conn.execute("SELECT * FROM points ORDER BY id").fetchall() == before
    conn.close()


def test_a_spike_is_flagged_and_kept_in_the_points_table(tmp_path: Path) -> None:
    path = _track_db(tmp_path)
    conn = connect(path)
    lat, lon = offset(900.0, 700.0)
    spike_ts = T0 + 600.5  # in the middle of the first stay
    insert(conn, np.array([spike_ts]), np.atleast_1d(lat), np.atleast_1d(lon))
    run_chain(path)
    row = conn.execute("SELECT point_id, is_outlier, stay_id FROM point_analysis "
                       "WHERE ts = ?", (spike_ts,)).fetchone()
    assert row[1] == 1 and row[2] is None
    assert conn.execute("SELECT COUNT(*) FROM points WHERE ts = ?", (spike_ts,)).fetchone()[0] == 1
    conn.close()


def test_points_with_bad_values_count_as_failed_and_the_run_goes_on(tmp_path: Path) -> None:
    path = _track_db(tmp_path)
    conn = connect(path)
    conn.execute("INSERT INTO points (ts, lat, lon) VALUES (?, 95.0, 11.5)", (T0 + 10.5,))
    conn.execute("INSERT INTO points (ts, lat, lon) VALUES (?, 48.1, 200.0)", (T0 + 20.5,))
    conn.execute("INSERT INTO points (ts, lat, lon) VALUES (?, 48.1, 11.5)", (5e9,))
    out = io.StringIO()
    ctx = WorkerContext("outlier_detection", 1, str(path), "FULL_RECOMPUTE",
                        SPECS["outlier_detection"].validate_params({}), out=out)
    summary = outlier_detection.run(ctx)
    ctx.progress(force=True)
    last = [json.loads(line) for line in out.getvalue().splitlines()][-1]
    assert summary["failed_points"] == 3
    assert last["failed"] == 3 and last["processed"] == last["total"]
    flagged = conn.execute("SELECT COUNT(*) FROM outlier_flags WHERE reasons & 1").fetchone()[0]
    assert flagged == 3
    run_chain(path)  # the rest of the chain takes them in its stride
    conn.close()


def test_duplicate_timestamps_flag_the_later_fix(tmp_path: Path) -> None:
    path = _track_db(tmp_path)
    conn = connect(path)
    first = conn.execute("SELECT id, ts, lat, lon FROM points ORDER BY id LIMIT 1 OFFSET 50"
                         ).fetchone()
    conn.execute("INSERT INTO points (ts, lat, lon, accuracy) VALUES (?, ?, ?, 5)",
                 (first[1], first[2] + 1e-5, first[3]))
    run_chain(path)
    rows = conn.execute("SELECT point_id, is_outlier FROM point_analysis WHERE ts = ? "
                        "ORDER BY point_id", (first[1],)).fetchall()
    assert rows[0] == (first[0], 0) and rows[1][1] == 1
    conn.close()
