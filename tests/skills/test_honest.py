"""Issue 20, items 3 and 4: trip and place corrections applied by the skills, home and work
from dwell over many nights and working days, statistics that reconcile."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.skills.chain import connect, new_db, run_chain
from tests.skills.helpers import T0, cat, line, offset, query, stay, track_db
from trackdesk.skills.geo import MODES, haversine
from trackdesk.skills.places import build_places
from trackdesk.tracks import corrections

HOUR = 3600.0
DAY = 86400.0


# --------------------------------------------------------------------- corrections -----
def _three_stays(tmp_path: Path) -> Path:
    """Stay A, a 15-minute ride, stay B (1 km on), a 15-minute ride, stay C."""
    track = cat(stay(T0, 1800, 5), line(T0 + 1800, 900, 3, 5.0, seed=1),
                stay(T0 + 2700, 1800, 5, east=4500.0, seed=2),
                line(T0 + 4500, 900, 3, 5.0, east0=4500.0, seed=3),
                stay(T0 + 5400, 1800, 5, east=9000.0, seed=4))
    return track_db(tmp_path / "tracks.db", track)


def _trips(path: Path) -> list[tuple]:
    return query(path, "SELECT id, start_ts, end_ts, origin_stay_id, destination_stay_id, "
                 "distance_m FROM trips ORDER BY start_ts")


def test_merged_trips_are_one_trip_after_every_recompute_and_undo_restores_two(
        tmp_path: Path) -> None:
    path = _three_stays(tmp_path)
    run_chain(path)
    before = _trips(path)
    assert len(before) == 2, before
    conn = connect(path)
    c = corrections.add(conn, "merge_trips", before[0][1], before[1][2], author="test")
    conn.close()
    for _ in range(2):  # and again: nothing of it is lost
        run_chain(path, "FULL_RECOMPUTE")
        after = _trips(path)
        assert len(after) == 1, after
        tid, start, end, origin, dest, dist = after[0]
        assert (start, end, origin, dest) == (before[0][1], before[1][2], before[0][3],
                                              before[1][4])
        assert tid == before[1][0]
        # both rides; the half hour standing in between adds no jitter (360 fixes 4 m
        # apart would add ~2 km): its fixes are stationary (to the float's last digit)
        assert before[0][5] + before[1][5] <= dist + 1e-6 < 1.05 * (before[0][5] + before[1][5])
    conn = connect(path)
    corrections.undo(conn, c["id"])
    conn.close()
    out = run_chain(path, "INCREMENTAL")
    assert out["trip_construction"]["mode"] == "full"
    assert _trips(path) == before


def test_a_split_trip_is_two_trips_that_add_up_and_undo_joins_them(tmp_path: Path) -> None:
    track = cat(stay(T0, 1800, 5), line(T0 + 1800, 1800, 3, 5.0, seed=1),
                stay(T0 + 3600, 1800, 5, east=9000.0, seed=2))
    path = track_db(tmp_path / "tracks.db", track)
    run_chain(path)
    before = _trips(path)
    assert len(before) == 1, before
    at = T0 + 2700.0
    conn = connect(path)
    c = corrections.add(conn, "split_trip", at, author="test")
    conn.close()
    for _ in range(2):
        run_chain(path, "FULL_RECOMPUTE")
        after = _trips(path)
        assert len(after) == 2, after
        assert after[0][1] == before[0][1] and after[1][2] == before[0][2]
        assert after[0][2] == after[1][1] == pytest.approx(at, abs=3.0)
        assert after[0][3] == before[0][3] and after[1][4] == before[0][4]
        assert after[0][4] is None and after[1][3] is None
        assert after[0][5] + after[1][5] == pytest.approx(before[0][5], rel=1e-9)
        assert len({t[0] for t in after}) == 2
    conn = connect(path)
    corrections.undo(conn, c["id"])
    conn.close()
    run_chain(path, "INCREMENTAL")
    assert _trips(path) == before


def _places(path: Path) -> list[tuple]:
    return query(path, "SELECT id, n_visits FROM places ORDER BY id")


def test_merged_places_are_one_place_after_every_recompute_and_undo_restores_them(
        tmp_path: Path) -> None:
    # A, B (800 m away), A again: two places; the user says B is part of A.
    track = cat(stay(T0, 1800, 5), line(T0 + 1800, 600, 3, 800 / 600, seed=1),
                stay(T0 + 2400, 1800, 5, east=800.0, seed=2),
                line(T0 + 4200, 600, 3, -800 / 600, east0=800.0, seed=3),
                stay(T0 + 4800, 1800, 5, seed=4))
    path = track_db(tmp_path / "tracks.db", track)
    run_chain(path)
    before = _places(path)
    assert [n for _, n in before] == [2, 1], before
    a, b = before[0][0], before[1][0]
    conn = connect(path)
    c = corrections.add(conn, "merge_places", target_ids=[a, b], author="test")
    conn.close()
    for _ in range(2):
        run_chain(path, "FULL_RECOMPUTE")
        assert _places(path) == [(a, 3)]
        conn = connect(path)
        assert {r[0] for r in conn.execute("SELECT place_id FROM stays")} == {a}
        conn.close()
    conn = connect(path)
    corrections.undo(conn, c["id"])
    conn.close()
    run_chain(path, "INCREMENTAL")
    assert _places(path) == before


def test_incremental_equals_full_with_trip_and_place_corrections_in_force(
        tmp_path: Path) -> None:
    from tests.skills.chain import snapshot
    from trackdesk.skills.groundtruth import generate, insert_points

    truth = generate(days=4, seed=5, transit=True)
    n = len(truth)
    inc = new_db(tmp_path / "inc.db")
    full = new_db(tmp_path / "full.db")
    t_a, t_b = truth.trips[2], truth.trips[5]
    for path in (inc, full):
        conn = connect(path)
        insert_points(conn, truth, np.arange(n // 3))
        # In force before the data they speak about arrives: the INCREMENTAL runs must
        # apply them exactly where a full run does.
        corrections.add(conn, "merge_trips", truth.trips[1][0], t_a[1], author="test")
        corrections.add(conn, "split_trip", (t_b[0] + t_b[1]) / 2, author="test")
        corrections.add(conn, "merge_trips", truth.trips[7][0], truth.trips[9][1],
                        author="test")
        conn.close()
    run_chain(inc)
    conn = connect(inc)
    ids = [r[0] for r in conn.execute("SELECT id FROM places ORDER BY id LIMIT 2")]
    conn.close()
    for path in (inc, full):
        conn = connect(path)
        corrections.add(conn, "merge_places", target_ids=ids, author="test")
        insert_points(conn, truth, np.arange(n // 3, 2 * n // 3))
        conn.close()
    run_chain(inc, "INCREMENTAL")
    for path in (inc, full):
        conn = connect(path)
        insert_points(conn, truth, np.arange(2 * n // 3, n))
        conn.close()
    run_chain(inc, "INCREMENTAL")
    run_chain(full, "FULL_RECOMPUTE")
    a, b = snapshot(inc), snapshot(full)
    for table in a:
        assert a[table] == b[table], table
    conn = connect(full)
    assert conn.execute("SELECT COUNT(*) FROM trips WHERE start_ts <= ? AND end_ts >= ?",
                        (truth.trips[1][1], t_a[0])).fetchone()[0] == 1
    conn.close()


# ------------------------------------------------------------------ home and work -----
def _at(east: float = 0.0, north: float = 0.0) -> tuple[float, float]:
    lat, lon = offset(east, north)
    return float(lat), float(lon)


def _labels(stays: list[tuple], timezone: str = "UTC") -> dict[str, tuple[float, float]]:
    places, _ = build_places(stays, 150.0, timezone)
    return {p[7]: (p[1], p[2]) for p in places if p[7]}


def test_an_eleven_minute_stop_on_a_two_day_train_journey_is_never_home() -> None:
    # Day 1 08:00 board (an hour at the station), a stop at 01:00 in the night, arrival
    # day 2 at 20:00 and a hotel evening: no night was spent anywhere twice.
    stays = [(1, T0 + 7 * HOUR, T0 + 8 * HOUR, *_at()),
             (2, T0 + DAY + 1 * HOUR, T0 + DAY + 1 * HOUR + 660, *_at(east=600_000.0)),
             (3, T0 + DAY + 20 * HOUR, T0 + DAY + 23 * HOUR, *_at(east=1_200_000.0))]
    assert "home" not in _labels(stays)


def test_twenty_nights_at_a_and_one_at_b_give_home_a() -> None:
    stays = []
    for d in range(21):
        east = 30_000.0 if d == 10 else 0.0
        stays.append((d + 1, T0 + d * DAY - 2 * HOUR, T0 + d * DAY + 7 * HOUR,
                      *_at(east=east)))
    labels = _labels(stays)
    assert labels["home"] == pytest.approx(_at(), abs=1e-5)


def test_nights_each_in_another_place_give_no_home() -> None:
    # A cycling tour: every night at another campsite 60 km on.
    stays = [(d + 1, T0 + d * DAY - 2 * HOUR, T0 + d * DAY + 7 * HOUR,
              *_at(east=60_000.0 * d)) for d in range(12)]
    assert "home" not in _labels(stays)


def test_one_long_weekday_somewhere_is_not_work_but_ten_working_days_are() -> None:
    monday = T0 + 4 * DAY  # 2026-01-05
    home = [(k + 1, monday + k * DAY - 2 * HOUR, monday + k * DAY + 7 * HOUR, *_at())
            for k in range(14)]
    conference = [(100, monday + 9 * HOUR, monday + 17 * HOUR, *_at(east=5000.0))]
    assert set(_labels(home + conference)) == {"home"}
    office = [(200 + k, monday + k * DAY + 9 * HOUR, monday + k * DAY + 16 * HOUR,
               *_at(north=8000.0)) for k in range(14) if (k % 7) < 5]
    labels = _labels(home + conference + office)
    assert labels["work"] == pytest.approx(_at(north=8000.0), abs=1e-5)


def test_the_hotel_of_a_business_trip_is_not_work() -> None:
    # A week at home, then a business trip: the hotel from 15:00 to 10:00 (three hours of
    # office hours a day, more than the office's two and a half), the office 11:00-13:30.
    # A place where the person sleeps is lodging, not where they work.
    monday = T0 + 4 * DAY  # 2026-01-05
    home = [(k + 2, monday + k * DAY - 3 * HOUR, monday + k * DAY + 8 * HOUR, *_at())
            for k in range(-1, 6)]
    hotel = [(100 + k, monday + k * DAY + 15 * HOUR, monday + (k + 1) * DAY + 10 * HOUR,
              *_at(east=9000.0)) for k in range(7, 11)]  # nights Mon-Thu
    office = [(200 + k, monday + k * DAY + 11 * HOUR, monday + k * DAY + 13.5 * HOUR,
               *_at(north=9000.0)) for k in range(8, 11)]  # Tue-Thu
    labels = _labels(sorted(home + hotel + office, key=lambda s: s[1]))
    assert labels["home"] == pytest.approx(_at(), abs=1e-5)
    assert labels.get("work") == pytest.approx(_at(north=9000.0), abs=1e-5)


def test_home_is_where_the_nights_are_in_the_local_time_of_the_place(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Someone in Tokyo (UTC+9): asleep at home 22:00-07:00 JST (13:00-22:00 UTC), at the
    # office 09:00-18:00 JST (00:00-09:00 UTC) on weekdays. 'local' is where they are,
    # not the zone of the machine that runs the analysis (UTC here).
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    tokyo = (35.6812, 139.7671)
    office = (35.6586, 139.7454)
    stays = []
    monday = T0 + 4 * DAY
    for k in range(10):
        d = monday + k * DAY
        stays.append((2 * k + 1, d - 11 * HOUR, d - 2 * HOUR, *tokyo))
        if (k % 7) < 5:
            stays.append((2 * k + 2, d, d + 9 * HOUR, *office))
    try:
        labels = _labels(sorted(stays, key=lambda s: s[1]), "auto")
    finally:
        monkeypatch.undo()
        time.tzset()
    assert labels["home"] == pytest.approx(tokyo, abs=1e-4)
    assert labels["work"] == pytest.approx(office, abs=1e-4)


# ------------------------------------------------------------ statistics reconcile -----
def _assert_statistics_reconcile(path: Path) -> dict:
    """The figures a user compares on the Statistics page and in trackdesk stats."""
    from trackdesk.ui.views import data

    conn = connect(path)
    try:
        s = {k: v for k, v, _ in conn.execute("SELECT key, value, text FROM footprint_summary")}
        total = s["distance_m"]
        # longest trip <= distance travelled; every trip's km is in the total, per mode too
        trips = conn.execute("SELECT distance_m, mode_distances_json FROM trips").fetchall()
        assert trips
        assert s["longest_trip_m"] <= total + 1e-6
        per_mode_trips: dict[str, float] = {}
        for dist, md in trips:
            m = json.loads(md)
            assert sum(m.values()) == pytest.approx(dist, rel=1e-6, abs=0.01)
            for k, v in m.items():
                per_mode_trips[k] = per_mode_trips.get(k, 0.0) + v
        assert sum(t[0] for t in trips) <= total * (1 + 1e-9) + 1e-6
        modes = {m: (d, t) for m, d, t in conn.execute(
            "SELECT mode, distance_m, duration_s FROM footprint_period_modes "
            "WHERE period_type = 'all'")}
        for m, v in per_mode_trips.items():
            assert v <= modes.get(m, (0.0, 0.0))[0] * (1 + 1e-9) + 0.01, (m, v, modes.get(m))
        # per-mode distances sum to the total; per-mode moving times to the moving time
        assert sum(d for d, _ in modes.values()) == pytest.approx(total, rel=1e-9)
        assert sum(t for m, (_, t) in modes.items() if m != "stationary") == pytest.approx(
            s["moving_s"], rel=1e-9)
        # days counted once: months and years partition the days with data
        n_days = conn.execute("SELECT COUNT(*) FROM footprint_days").fetchone()[0]
        assert n_days == s["days_with_data"]
        for ptype in ("month", "year"):
            nd, dist = conn.execute("SELECT SUM(days_with_data), SUM(distance_m) FROM "
                                    "footprint_periods WHERE period_type = ?", (ptype,)
                                    ).fetchone()
            assert nd == n_days and dist == pytest.approx(total, rel=1e-9)
        # the Statistics view's own rows: mode columns add up to the row's km and hours
        stats = data.statistics(conn)
        for ptype in ("month", "year", "all"):
            for r in stats.periods.get(ptype, []):
                assert sum(r[f"{m}_km"] for m in MODES[1:]) == pytest.approx(
                    r["distance_km"], rel=1e-9, abs=1e-9)
                assert sum(r[f"{m}_h"] for m in MODES[1:]) == pytest.approx(
                    r["moving_h"], rel=1e-9, abs=1e-9)
        return s
    finally:
        conn.close()


@pytest.fixture(scope="module")
def gen2_years(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    """Three years of another generator's person: weeks logged, months of silence, a
    flight abroad, trains to the parents (tests/gen2, written without the skills)."""
    from tests.gen2.generator import generate

    gt = generate(11, years=3)
    path = new_db(tmp_path_factory.mktemp("gen2") / "tracks.db")
    conn = connect(path)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO points (ts, lat, lon, accuracy, source) VALUES (?,?,?,?,?)",
                     [(float(t), float(a), float(o), float(c), "gen2")
                      for t, a, o, c in zip(gt.ts, gt.lat, gt.lon, gt.accuracy, strict=True)])
    conn.execute("COMMIT")
    conn.close()
    tz = {"timezone": "Europe/Berlin"}
    run_chain(path, params={"footprint_stats": tz, "stay_stats": tz})
    return gt, path


def test_statistics_reconcile_on_three_years_with_gaps(gen2_years: tuple[object, Path]
                                                         ) -> None:
    _, path = gen2_years
    s = _assert_statistics_reconcile(path)
    assert s["days_with_data"] > 100


def test_home_and_work_of_three_years_are_the_persons_own(gen2_years: tuple[object, Path]
                                                          ) -> None:
    gt, path = gen2_years
    places = gt.params["places"]  # type: ignore[attr-defined]
    conn = connect(path)
    labels = {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT label, lat, lon FROM places WHERE label IS NOT NULL")}
    conn.close()
    for label in ("home", "work"):
        lat, lon = labels[label]
        assert haversine(lat, lon, places[label]["lat"], places[label]["lon"]) < 150.0, label


def test_statistics_reconcile_on_a_real_gpx(tmp_path: Path) -> None:
    # tkrajina/gpxpy test_files/korita-zbevnica.gpx (Apache-2.0; tests/data/real/SOURCES.md)
    from tests.tracks.conftest import run_import

    gpx = Path(__file__).resolve().parents[1] / "data" / "real" / "gpxpy__korita-zbevnica.gpx"
    path = new_db(tmp_path / "tracks.db")
    outcome = run_import(path, [gpx])
    assert outcome.ok, outcome.error
    run_chain(path)
    s = _assert_statistics_reconcile(path)
    assert s["distance_m"] > 1000.0


FLIGHT_M = 1_200_000.0


def _flight_with_no_fix_in_the_air(tmp_path: Path) -> Path:
    """An hour at the airport, a 10-minute walk, no fix for 2 h 30 min, then a 15-minute
    taxi ride FLIGHT_M away and an hour at the hotel; analysed."""
    track = cat(stay(T0, 3600, 10), line(T0 + 3600, 600, 5, 1.4, seed=1),
                line(T0 + 4200 + 9000, 900, 5, 5.5, east0=FLIGHT_M, seed=2),
                stay(T0 + 4200 + 9900, 3600, 10, east=FLIGHT_M + 5.5 * 900, seed=3))
    path = track_db(tmp_path / "tracks.db", track)
    run_chain(path)
    return path


def test_a_flight_with_no_fix_in_the_air_is_plane_kilometres_not_the_taxis(
        tmp_path: Path) -> None:
    # At the airport, no fix for 2 h 30 min, then 1,200 km away: a taxi ride to a hotel.
    path = _flight_with_no_fix_in_the_air(tmp_path)
    conn = connect(path)
    plane = conn.execute("SELECT distance_m FROM footprint_period_modes WHERE "
                         "period_type = 'all' AND mode = 'plane'").fetchone()
    trips = conn.execute("SELECT main_mode, distance_m FROM trips").fetchall()
    conn.close()
    assert plane is not None and plane[0] == pytest.approx(FLIGHT_M, rel=0.01)
    assert [m for m, _ in trips] == ["plane"], trips
    _assert_statistics_reconcile(path)


def test_a_flight_with_no_fix_in_the_air_takes_its_hours_as_plane(tmp_path: Path) -> None:
    # The same flight: 1,200 km and 2 h 30 min with no fix. Statistics showed its
    # kilometres as plane and no hour of plane: time moving per mode must have it.
    path = _flight_with_no_fix_in_the_air(tmp_path)
    hours = dict(query(path, "SELECT mode, duration_s / 3600 FROM footprint_period_modes "
                       "WHERE period_type = 'all'"))
    assert hours.get("plane", 0) == pytest.approx(9000 / 3600, abs=0.05)
    _assert_statistics_reconcile(path)


def _ride_underground(tmp_path: Path, gap_s: float, gap_m: float, speed: float) -> tuple:
    """Walk 10 min east, lose the fix for ``gap_s``, reappear ``gap_m`` further on and
    move on at ``speed`` for 10 min, between two long stays: (trips, per-mode km)."""
    walk_end = 600 * 1.3
    track = cat(stay(T0, 3600, 10),
                line(T0 + 3600, 600, 5, speed, east0=0.0, seed=1),
                line(T0 + 4200 + gap_s, 600, 5, speed, east0=walk_end + gap_m, seed=2),
                stay(T0 + 4800 + gap_s, 3600, 10, east=walk_end + gap_m + 600 * speed,
                     seed=3))
    path = track_db(tmp_path / "tracks.db", track)
    run_chain(path)
    trips = query(path, "SELECT main_mode, distance_m FROM trips")
    modes = dict(query(path, "SELECT mode, distance_m / 1000 FROM footprint_period_modes "
                       "WHERE period_type = 'all'"))
    return trips, modes


def test_a_subway_ride_with_no_fix_underground_is_a_train_trip(tmp_path: Path) -> None:
    # Walking to the station, 6 minutes underground, 4 km on, walking out: the kilometres
    # under the city were a ride, not the walk out of the station.
    trips, modes = _ride_underground(tmp_path, 360.0, 4000.0, 1.3)
    assert [t[0] for t in trips] == ["train"]
    assert modes.get("train", 0) > 3.5
    assert modes.get("walk", 0) < 3.0  # 1.6 km walked and GPS noise; the ride is not in it


def test_a_cyclist_who_loses_the_fix_for_a_while_stays_a_cyclist(tmp_path: Path) -> None:
    trips, modes = _ride_underground(tmp_path, 180.0, 1200.0, 5.5)
    assert [t[0] for t in trips] == ["bike"]
    assert "train" not in modes


def test_without_tzfpy_home_is_read_in_this_computers_zone_not_a_crash(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker image built without tzfpy: 'auto' falls back to this computer's zone
    # (Tokyo here), as stay_stats' docs promise, instead of failing the chain.
    monkeypatch.setitem(sys.modules, "tzfpy", None)  # `import tzfpy` raises ImportError
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    tokyo = (35.6812, 139.7671)
    monday = T0 + 4 * DAY
    stays = [(k + 1, monday + k * DAY - 11 * HOUR, monday + k * DAY - 2 * HOUR, *tokyo)
             for k in range(10)]
    try:
        labels = _labels(stays, "auto")
    finally:
        monkeypatch.undo()
        time.tzset()
    assert labels["home"] == pytest.approx(tokyo, abs=1e-4)


def test_stray_fixes_at_home_are_no_distance_travelled(tmp_path: Path) -> None:
    # Four hours at home logged every minute with two fixes 700 m off (a cell-tower
    # position), each of which transport_mode reads as a two-minute "car" ride out and
    # back, then a real 3 km walk. Only the walk is distance travelled, in the totals and
    # in its trip (footprint_stats 1.1 counted 5.95 km here; a three-year gen2 history
    # counted 3,400 of its 16,144 km from such fixes).
    ts0, lat0, lon0 = stay(T0, 4 * 3600.0, 60.0, noise=10.0, seed=1)
    for k in (60, 120):
        la, lo = offset(np.array([700.0]), np.array([40.0]))
        lat0[k], lon0[k] = la[0], lo[0]
    walk = line(T0 + 4 * 3600.0 + 8.0, 2000.0, 5.0, 1.5, noise=1.0, seed=2)
    there = stay(T0 + 4 * 3600.0 + 2010.0, 3600.0, 30.0, east=3000.0, seed=3)
    path = track_db(tmp_path / "tracks.db", cat((ts0, lat0, lon0), walk, there))
    run_chain(path)
    total = query(path, "SELECT value FROM footprint_summary WHERE key = 'distance_m'")[0][0]
    trips = query(path, "SELECT distance_m FROM trips")
    assert len(trips) == 1, trips
    assert 2900.0 <= trips[0][0] <= 3300.0, trips
    # The walk and nothing else (its ends may count a few metres of jitter).
    assert abs(total - trips[0][0]) <= 100.0, (total, trips)
