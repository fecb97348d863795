"""Issue 20: the user's own labels and corrections, public transport, honest trips."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from tests.skills.chain import connect, new_db, run_chain, snapshot
from tests.skills.helpers import T0, cat, insert, line, query, stay, track_db
from trackdesk.skills.geo import MODE_INDEX
from trackdesk.skills.groundtruth import generate, insert_points
from trackdesk.tracks import corrections


def _point_modes(path: Path) -> np.ndarray:
    conn = connect(path)
    rows = conn.execute("SELECT transport_mode FROM point_analysis WHERE point_id > 0 "
                        "ORDER BY point_id").fetchall()
    conn.close()
    return np.array([MODE_INDEX.get(r[0], -1) if r[0] else -1 for r in rows])


def _label(conn, s: float, e: float, mode: str) -> None:
    conn.execute("INSERT INTO annotations (start_ts, end_ts, kind, value, raw, source, "
                 "created_at) VALUES (?, ?, 'activity', ?, ?, 'user', ?)",
                 (s, e, mode, mode, time.time()))


def test_ten_percent_labelled_segments_make_the_rest_more_accurate(tmp_path: Path) -> None:
    # A brisk walker (1.9x the usual pace, ~2.6 m/s): the rules read her walks as bike.
    truth = generate(days=12, seed=21, pace={"walk": 1.9}, transit=True)
    path = new_db(tmp_path / "tracks.db")
    conn = connect(path)
    insert_points(conn, truth)
    run_chain(path)
    before = _point_modes(path)
    trips = truth.trips
    # Every tenth trip of each mode: 10 % of them, as a user labels a few of each.
    labelled = [k for m in sorted({t[2] for t in trips})
                for k in [j for j, t in enumerate(trips) if t[2] == m][::10]]
    assert len(labelled) <= 0.1 * len(trips) + len({t[2] for t in trips})
    for k in labelled:
        s, e, mode = trips[k]
        _label(conn, s, e, mode)
    results = run_chain(path, "INCREMENTAL")
    after = _point_modes(path)
    conn.close()
    rest = (truth.mode != MODE_INDEX["stationary"]) & ~truth.is_outlier
    for k in labelled:
        s, e, _ = trips[k]
        rest &= ~((truth.ts >= s) & (truth.ts <= e))
    acc_before = float(np.mean(before[rest] == truth.mode[rest]))
    acc_after = float(np.mean(after[rest] == truth.mode[rest]))
    report = results["transport_mode"]["personal_model"]
    assert report["used"], report
    assert report["held_back_accuracy_personal"] > report["held_back_accuracy_rules"]
    assert acc_after > acc_before + 0.05, (acc_before, acc_after)
    # The walks the rules got wrong are walks now.
    walk = rest & (truth.mode == MODE_INDEX["walk"])
    assert np.mean(after[walk] == MODE_INDEX["walk"]) > np.mean(before[walk] == MODE_INDEX[
        "walk"])


def _car_then_stay(tmp_path: Path) -> Path:
    track = cat(stay(T0, 1800, 5), line(T0 + 1800, 1800, 2, 13.0, seed=1),
                stay(T0 + 3600, 1800, 5, east=13.0 * 1800))
    return track_db(tmp_path / "tracks.db", track)


def _modes_in(path: Path, t0: float, t1: float) -> set[str]:
    return {r[0] for r in query(
        path, "SELECT mode FROM mode_segments WHERE end_ts > ? AND start_ts < ?", t0, t1)}


def test_a_mode_correction_survives_full_recompute_and_undo_takes_it_back(
        tmp_path: Path) -> None:
    path = _car_then_stay(tmp_path)
    run_chain(path)
    ride = (T0 + 1900, T0 + 3500)
    assert _modes_in(path, *ride) == {"car"}
    conn = connect(path)
    c = corrections.add(conn, "mode", T0 + 1800, T0 + 3600, "bus", author="test")
    conn.close()
    run_chain(path, "FULL_RECOMPUTE")
    assert _modes_in(path, *ride) == {"bus"}
    run_chain(path, "FULL_RECOMPUTE")  # again: nothing of it is lost
    assert _modes_in(path, *ride) == {"bus"}
    conn = connect(path)
    trip = conn.execute("SELECT main_mode FROM trips").fetchall()
    assert trip == [("bus",)], trip
    corrections.undo(conn, c["id"])
    conn.close()
    out = run_chain(path, "INCREMENTAL")
    assert out["transport_mode"]["mode"] == "full"  # the edit reaches everything
    assert _modes_in(path, *ride) == {"car"}
    # The undone correction is still on record, and exported.
    conn = connect(path)
    doc = corrections.export_json(conn)
    conn.close()
    assert [d["undone_at"] is not None for d in doc["corrections"]] == [True]


def test_incremental_equals_full_with_labels_and_corrections_added_between_runs(
        tmp_path: Path) -> None:
    truth = generate(days=4, seed=5, transit=True)
    half = len(truth) // 2
    inc = new_db(tmp_path / "inc.db")
    full = new_db(tmp_path / "full.db")
    for path in (inc, full):
        conn = connect(path)
        insert_points(conn, truth, np.arange(half))
        conn.close()
    run_chain(inc)
    s, e, m = truth.trips[3]
    for path in (inc, full):
        conn = connect(path)
        insert_points(conn, truth, np.arange(half, len(truth)))
        _label(conn, s, e, m)
        corrections.add(conn, "bad_points", target_ids=[10, 11, 12], author="test")
        corrections.add(conn, "merge_stays", truth.stays[1][0], truth.stays[2][1],
                        author="test")
        conn.close()
    run_chain(inc, "INCREMENTAL")
    run_chain(full, "FULL_RECOMPUTE")
    a, b = snapshot(inc), snapshot(full)
    for table in a:
        assert a[table] == b[table], table
    conn = connect(full)
    assert conn.execute("SELECT COUNT(*) FROM outlier_flags WHERE point_id IN (10, 11, 12) "
                        "AND reasons & 64").fetchone()[0] == 3
    conn.close()


def test_a_train_stopping_at_stations_is_one_train_trip_and_no_stay(tmp_path: Path) -> None:
    # 30 m/s between stations, two 6-minute station stops: one journey, one mode.
    parts = [stay(T0, 1800, 5)]
    t, east = T0 + 1800, 0.0
    for k in range(3):
        parts.append(line(t, 1200, 3, 30.0, east0=east, seed=k))
        t, east = t + 1200, east + 30.0 * 1200
        if k < 2:
            parts.append(stay(t, 360, 5, east=east, seed=10 + k))
            t += 360
    parts.append(stay(t, 1800, 5, east=east))
    path = new_db(tmp_path / "tracks.db")
    conn = connect(path)
    insert(conn, *cat(*parts))
    conn.close()
    run_chain(path)
    conn = connect(path)
    stays = conn.execute("SELECT start_ts FROM stays ORDER BY start_ts").fetchall()
    trips = conn.execute("SELECT main_mode, start_ts, end_ts FROM trips").fetchall()
    conn.close()
    assert len(stays) == 2, stays  # the origin and the destination, no station
    assert len(trips) == 1 and trips[0][0] == "train", trips
    assert _modes_in(path, T0 + 1900, t - 100) == {"train"}


def test_a_trip_never_crosses_a_logging_gap_of_days(tmp_path: Path) -> None:
    # A walk, the logger off for three days, a walk elsewhere: two trips, not one.
    a = cat(stay(T0, 1800, 5), line(T0 + 1800, 900, 3, 1.4, seed=1))
    later = T0 + 3 * 86400
    b = cat(line(later, 900, 3, 1.4, east0=50_000.0, seed=2),
            stay(later + 900, 1800, 5, east=50_000.0 + 1.4 * 900))
    path = new_db(tmp_path / "tracks.db")
    conn = connect(path)
    insert(conn, *cat(a, b))
    conn.close()
    run_chain(path)
    conn = connect(path)
    trips = conn.execute("SELECT duration_s, distance_m FROM trips ORDER BY start_ts"
                         ).fetchall()
    conn.close()
    assert len(trips) == 2, trips
    assert all(d < 3600 and m < 5000 for d, m in trips), trips
