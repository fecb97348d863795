"""Results are readable with plain SQL through the documented names."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.skills.chain import connect, new_db, run_chain, run_skill
from tests.skills.helpers import T0, cat, insert, line, stay
from trackdesk.skills.grid import Grid
from trackdesk.skills.groundtruth import Truth


def _columns(conn, name: str) -> list[str]:  # noqa: ANN001
    return [r[1] for r in conn.execute(f"PRAGMA table_info({name})")]


def test_the_documented_tables_and_view_have_their_columns(
        truth_db: tuple[Truth, Path]) -> None:
    _, path = truth_db
    run_chain(path)
    conn = connect(path)
    assert _columns(conn, "point_analysis")[:10] == [
        "point_id", "ts", "lat", "lon", "is_outlier", "is_synthetic", "transport_mode",
        "stay_id", "trip_id", "grid_cell"]
    assert _columns(conn, "stays")[:7] == ["id", "start_ts", "end_ts", "lat", "lon",
                                          "n_points", "place_id"]
    assert _columns(conn, "trips")[:7] == ["id", "start_ts", "end_ts", "origin_stay_id",
                                          "destination_stay_id", "distance_m", "main_mode"]
    assert _columns(conn, "places")[:6] == ["id", "lat", "lon", "n_visits", "total_dwell_s",
                                           "label"]
    # Every stay belongs to a place, every trip joins known stays, labels are given.
    assert conn.execute("SELECT COUNT(*) FROM stays WHERE place_id IS NULL").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM trips t LEFT JOIN stays s "
                        "ON s.id = t.destination_stay_id WHERE t.destination_stay_id "
                        "IS NOT NULL AND s.id IS NULL").fetchone()[0] == 0
    labels = {r[0] for r in conn.execute("SELECT label FROM places WHERE label IS NOT NULL")}
    assert labels == {"home", "work"}
    conn.close()


def test_the_views_grid_cell_is_the_skills_cell(truth_db: tuple[Truth, Path]) -> None:
    _, path = truth_db
    run_chain(path)
    conn = connect(path)
    rows = np.array(conn.execute("SELECT lat, lon, grid_cell FROM point_analysis WHERE "
                                 "is_outlier = 0 AND is_synthetic = 0 LIMIT 20000").fetchall())
    g = conn.execute("SELECT cell_size_m, top_level FROM grid_params").fetchone()
    grid = Grid(g[0], g[1])
    row0, col0 = grid.level0(rows[:, 0], rows[:, 1])
    assert np.array_equal(Grid.cell_id(0, row0, col0), rows[:, 2].astype(np.int64))
    cells = {r[0] for r in conn.execute("SELECT cell_id FROM grid_cells WHERE level = 0")}
    assert set(rows[:, 2].astype(np.int64).tolist()) <= cells
    # Coarser levels aggregate the finer ones exactly.
    for level in (1, 3):
        a = conn.execute("SELECT SUM(n_points) FROM grid_cells WHERE level = 0").fetchone()[0]
        b = conn.execute("SELECT SUM(n_points) FROM grid_cells WHERE level = ?",
                         (level,)).fetchone()[0]
        assert a == b
    conn.close()


def test_gaps_are_filled_with_marked_synthetic_points_a_full_recompute_removes(
        tmp_path: Path) -> None:
    path = new_db(tmp_path / "tracks.db")
    conn = connect(path)
    walk = line(T0 + 600, 900, 2, 1.4)
    keep = (walk[0] < T0 + 900) | (walk[0] > T0 + 1100)  # a 200 s hole in the walk
    insert(conn, *cat(stay(T0, 600, 3), tuple(a[keep] for a in walk),
                      stay(T0 + 1500, 900, 3, east=1260)))
    run_chain(path)
    syn = conn.execute("SELECT point_id, ts FROM point_analysis WHERE is_synthetic = 1"
                       ).fetchall()
    assert 15 <= len(syn) <= 25 and all(p < 0 for p, _ in syn)
    assert all(T0 + 900 < t < T0 + 1100 for _, t in syn)
    assert conn.execute("SELECT COUNT(*) FROM points").fetchone()[0] == int(
        600 / 3 + keep.sum() + 900 / 3)
    run_skill(path, "trajectory_completion", params={"min_gap_s": 300.0})
    assert conn.execute("SELECT COUNT(*) FROM synthetic_points").fetchone()[0] == 0
    conn.close()


def test_a_noisy_bike_ride_stays_a_bike_and_a_car_a_car(tmp_path: Path) -> None:
    path = new_db(tmp_path / "tracks.db")
    conn = connect(path)
    # 10 m of GPS noise at 1 Hz adds ~14 m/s to naive step speeds.
    insert(conn, *cat(stay(T0, 900, 3), line(T0 + 900, 1200, 1, 5.0, noise=10.0, seed=1),
                      stay(T0 + 2100, 900, 3, east=6000),
                      line(T0 + 3000, 900, 1, 14.0, east0=6000, noise=10.0, seed=2),
                      stay(T0 + 3900, 900, 3, east=6000 + 14 * 900)))
    run_chain(path)
    modes = dict(conn.execute("SELECT main_mode, COUNT(*) FROM trips GROUP BY 1").fetchall())
    assert modes == {"bike": 1, "car": 1}
    share = conn.execute("SELECT AVG(transport_mode = 'bike') FROM point_analysis "
                         "WHERE ts BETWEEN ? AND ?", (T0 + 960, T0 + 2040)).fetchone()[0]
    assert share > 0.95
    conn.close()


def test_footprint_and_rendering_cover_the_data(truth_db: tuple[Truth, Path]) -> None:
    truth, path = truth_db
    run_chain(path)
    conn = connect(path)
    days = conn.execute("SELECT COUNT(*) FROM footprint_days").fetchone()[0]
    assert days == 5
    area, dist = conn.execute("SELECT area_km2, distance_m FROM footprint_periods "
                              "WHERE period_type = 'all'").fetchone()
    assert area > 0 and dist > 10_000
    b = conn.execute("SELECT * FROM render_bounds").fetchone()
    assert b[0] <= truth.lat.min() + 0.1 and b[1] >= np.median(truth.lat)
    z = conn.execute("SELECT zoom, n_points FROM render_zooms ORDER BY zoom").fetchall()
    counts = [n for _, n in z]
    assert counts == sorted(counts) and counts[-1] > counts[0]
    blob = conn.execute("SELECT coords, n_points FROM render_tracks WHERE zoom = 16 "
                        "ORDER BY n_points DESC LIMIT 1").fetchone()
    xy = np.frombuffer(blob[0], dtype="<f4").reshape(-1, 2)
    assert np.count_nonzero(~np.isnan(xy[:, 0])) == blob[1]
    conn.close()
