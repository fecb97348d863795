"""Stay detection on tracks where sliding windows usually go wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.skills.chain import connect, run_chain, run_skill
from tests.skills.helpers import T0, cat, insert, line, offset, query, stay, track_db


def _db(tmp_path: Path, track: tuple) -> Path:
    return track_db(tmp_path / "tracks.db", track)


def _add_fixes(path: Path, fixes: list[tuple[float, float, float, float]]) -> None:
    """Fixes (seconds after T0, metres east, metres north, reported accuracy) added to
    the tracks.db at ``path``, each with its own accuracy (Wi-Fi fixes)."""
    conn = connect(path)
    try:
        for dt, east, north, acc in fixes:
            lat, lon = offset(float(east), float(north))
            insert(conn, np.array([T0 + dt]), np.array([lat]), np.array([lon]),
                   accuracy=float(acc))
    finally:
        conn.close()


def _stays(path: Path) -> list[tuple]:
    return query(path, "SELECT start_ts, end_ts, n_points, is_open FROM stays "
                 "ORDER BY start_ts")


def test_a_five_hour_stay_logged_every_20_minutes_is_not_lost(tmp_path: Path) -> None:
    # Walk in, sit for 5 h with a fix every 20 min, walk out to somewhere else and stay.
    track = cat(line(T0, 300, 2, 1.4, east0=-420),
                stay(T0 + 300, 5 * 3600, 1200),
                line(T0 + 300 + 5 * 3600, 600, 2, 1.4),
                stay(T0 + 900 + 5 * 3600, 1800, 5, east=840))
    path = _db(tmp_path, track)
    run_chain(path)
    stays = _stays(path)
    long = [s for s in stays if s[1] - s[0] >= 4.5 * 3600]
    assert len(long) == 1, stays
    # trackintel's default gap threshold (15 min) discards exactly this stay.
    run_skill(path, "stay_detection", params={"gap_threshold_s": 900.0})
    assert not [s for s in _stays(path) if s[1] - s[0] >= 4.5 * 3600]


def test_a_night_with_the_phone_off_at_home_is_one_stay(tmp_path: Path) -> None:
    # Home from 18:00 to 20:00, the phone dead until 12:30 the next day (16.5 h without a
    # fix), then half an hour more at home and a walk to the shop. Same place before and
    # after the silence: one visit, not an evening and a separate late morning (with the
    # 12 h gap threshold of 1.7 the night was lost from home's dwell).
    home_evening = stay(T0, 2 * 3600, 60, seed=1)
    home_noon = stay(T0 + 18.5 * 3600, 1800, 60, seed=2)
    track = cat(home_evening, home_noon, line(T0 + 19 * 3600, 600, 2, 1.4),
                stay(T0 + 19 * 3600 + 600, 1800, 5, east=840))
    path = _db(tmp_path, track)
    run_chain(path)
    stays = _stays(path)
    assert len(stays) == 2, stays
    assert stays[0][0] <= T0 + 60 and stays[0][1] >= T0 + 19 * 3600 - 120, stays
    # More than a day without a fix is not known to be one visit.
    track = cat(home_evening, stay(T0 + 26 * 3600, 1800, 60, seed=2),
                line(T0 + 26.5 * 3600, 600, 2, 1.4),
                stay(T0 + 26.5 * 3600 + 600, 1800, 5, east=840))
    path = track_db(tmp_path / "day.db", track)
    run_chain(path)
    assert len(_stays(path)) == 3, _stays(path)


def test_the_last_stay_is_kept_and_marked_open(tmp_path: Path) -> None:
    track = cat(stay(T0, 1800, 5), line(T0 + 1800, 600, 2, 1.4),
                stay(T0 + 2400, 900, 5, east=840))
    path = _db(tmp_path, track)
    run_chain(path)
    stays = _stays(path)
    assert len(stays) == 2
    assert stays[-1][3] == 1 and stays[0][3] == 0
    assert stays[-1][1] >= T0 + 2400 + 880


def test_a_short_stop_is_not_a_stay(tmp_path: Path) -> None:
    track = cat(stay(T0, 1800, 5), line(T0 + 1800, 300, 2, 1.4),
                stay(T0 + 2100, 120, 5, east=420), line(T0 + 2220, 300, 2, 1.4, east0=420),
                stay(T0 + 2520, 1800, 5, east=840))
    path = _db(tmp_path, track)
    run_chain(path)
    assert len(_stays(path)) == 2


def test_trackintel_mode_reproduces_the_sliding_window_exactly() -> None:
    # merge off + trackintel thresholds: the same rule as generate_staypoints; the
    # side-by-side comparison with trackintel itself is in bench/skills.
    import numpy as np

    from trackdesk.skills.stay_detection import detect

    ts, lat, lon = cat(stay(T0, 900, 3), line(T0 + 900, 200, 2, 1.4),
                       stay(T0 + 1100, 600, 3, east=280))
    params = {"dist_threshold_m": 100.0, "time_threshold_s": 300.0, "gap_threshold_s": 900.0,
              "departure_speed_mps": 0.0}
    got = detect(ts, lat, lon, params)
    ref = _reference_sliding(ts, lat, lon, 100.0, 300.0, 900.0)
    assert [(a, b) for a, b, _, _ in got] == ref
    assert np.all(np.diff(ts) > 0)


def _reference_sliding(ts, lat, lon, dist, time_thr, gap) -> list[tuple[int, int]]:  # noqa: ANN001
    """trackintel 1.4.2's loop (``_generate_staypoints_sliding_user``), include_last=True."""
    from trackdesk.skills.geo import haversine

    out = []
    start = 0
    n = len(ts)
    for curr in range(1, n):
        gap_t = ts[curr] - ts[curr - 1]
        if gap_t > gap:
            start = curr
            continue
        if haversine(lat[start], lon[start], lat[curr], lon[curr]) >= dist:
            if ts[curr] - ts[start] >= time_thr:
                out.append((start, curr))
            start = curr
        if curr == n - 1 and ts[curr] - ts[start] >= time_thr:
            out.append((start, n))
    return out


def test_rare_fixes_on_the_move_are_no_stays_but_a_lone_fix_hours_away_is(
        tmp_path: Path) -> None:
    # A battery-saving phone: a fix every 10 min on a 2-hour walk (840 m apart), every
    # 20 min on a 2-hour drive (14 km apart). Each fix is 100 m or more from the next,
    # with 5 min or more between them: by time alone every fix would be a stay.
    walk = line(T0 + 1800, 7200, 600, 1.4, east0=0.0, noise=0.0)
    drive = line(T0 + 9600, 7200, 1200, 12.0, east0=1.4 * 7200 + 600, noise=0.0)
    end = 1.4 * 7200 + 600 + 12.0 * 7200
    # The cinema: one fix on arrival, the phone off for 2 h, then the walk home (2 km).
    lat, lon = offset(np.array([end + 3000.0]), np.array([0.0]))
    cinema = (np.array([T0 + 18000.0]), lat, lon)
    track = cat(stay(T0, 1800, 30), walk, drive, stay(T0 + 16800, 1200, 30, east=end),
                cinema, stay(T0 + 18000 + 7200, 1800, 30, east=end + 1000.0))
    path = _db(tmp_path, track)
    run_chain(path)
    starts = [s[0] for s in _stays(path)]
    assert starts == [T0, T0 + 16800, T0 + 18000, T0 + 25200], starts


def test_three_hours_at_the_office_seen_by_a_sleeping_phones_wifi_fixes_is_one_stay(
        tmp_path: Path) -> None:
    # A phone that sleeps while its owner sits logs a Wi-Fi fix every 15-40 minutes,
    # reported at 20-55 m and scattered as far. The two fixes of the last hour lie 65 m
    # south: the sliding window ends the stay at the first of them, and the two "stays"
    # have centres 67 m apart with nothing between them. Two fixes at 50-55 m put a
    # centre 37 m either way: one visit (stay_detection 1.9; gen4's sparse phones cut
    # visits in pieces 206 times in seven people).
    wifi = [(0, 0, 5, 20), (60, 3, 0, 30), (1800, -4, 8, 40), (3600, 2, -3, 35),
            (5400, 0, 10, 30), (7200, -3, 2, 40), (8400, 0, -66, 55), (10800, 2, -60, 50)]
    walk_in = line(T0 - 420, 420, 15, 1.4, east0=-600, seed=3)
    walk_out = line(T0 + 11_000, 600, 15, 1.4, east0=250, seed=4)  # the phone wakes late
    path = track_db(tmp_path / "tracks.db", cat(walk_in, walk_out,
                                                  stay(T0 + 11_700, 3600, 60, east=860)),
                    accuracy=8.0)
    _add_fixes(path, wifi)
    run_chain(path)
    at_office = [s for s in _stays(path) if s[0] < T0 + 10_800 and s[1] > T0]
    assert len(at_office) == 1, _stays(path)
    # From the first fix there; it may end one fix early (trim_moving_ends reads a last
    # fix that far out as the way away).
    assert at_office[0][0] <= T0 + 60 and at_office[0][1] >= T0 + 8400, at_office


def test_a_visit_whose_first_fixes_scatter_starts_at_the_first_of_them(tmp_path: Path
                                                                       ) -> None:
    # Walk into a supermarket; the phone logs four fixes in the first two minutes,
    # scattered 30-50 m by the building (Wi-Fi, 15-35 m reported), then sleeps for twenty
    # minutes and wakes 300 m away. The sliding window ends its first window at the fourth
    # fix, too soon for a stay, and starts again from where it ended: the visit began
    # with its last fixes (gen4: 106 "stays" under a minute). It starts at the first fix
    # at the place (stay_detection 1.9, extend_arrivals).
    walk_in = line(T0 - 330, 330, 15, 1.4, east0=-492, noise=1.0, seed=5)
    path = track_db(tmp_path / "tracks.db", cat(walk_in, line(T0 + 1300, 600, 15, 1.4,
                                                                east0=300, seed=6)),
                    accuracy=6.0)
    _add_fixes(path, [(0, 0, 0, 15), (17, -10, 25, 20), (43, 15, -10, 35),
                      (97, 20, 40, 30)])
    run_chain(path)
    there = [s for s in _stays(path) if T0 - 60 <= s[0] <= T0 + 600]
    assert len(there) == 1, _stays(path)
    assert there[0][0] <= T0 + 17 and there[0][1] >= T0 + 97, there


def test_a_day_at_work_seen_by_a_sleeping_iphone_lasts_until_it_left(tmp_path: Path
                                                                      ) -> None:
    # Walk in at 9:00; the phone logs for six minutes, then pauses its GPS while its
    # owner sits (iOS) and wakes only 300 m down the road at 17:00, on the walk to the
    # gym. The visit lasted the day: it ends when the walk began (the 300 m at the
    # departure speed, 1.5 m/s, before the first fix away), not at 9:06, and the trip to
    # the gym starts there (gen4's iPhones: stays F1 against the visits 0.33 -> 0.86).
    day = 8 * 3600
    track = cat(line(T0 - 420, 420, 2, 1.4, east0=-600, seed=1),
                stay(T0, 360, 30, seed=2),
                line(T0 + day, 600, 2, 1.4, east0=300, seed=3),
                stay(T0 + day + 600, 1800, 30, east=300 + 840, seed=4))
    path = _db(tmp_path, track)
    run_chain(path)
    work = [s for s in _stays(path) if T0 - 60 <= s[0] <= T0 + 60]
    assert len(work) == 1, _stays(path)
    left = T0 + day - 300 / 1.5
    assert abs(work[0][1] - left) < 60, (work[0][1] - T0, left - T0)
    trips = query(path, "SELECT start_ts FROM trips WHERE start_ts > ? ORDER BY start_ts",
                  T0)
    assert trips and trips[0][0] == work[0][1], trips


def test_a_sleeping_phones_last_fix_just_off_the_place_does_not_end_the_visit(
        tmp_path: Path) -> None:
    # A café for an hour: Wi-Fi fixes for six minutes, the last of them 85 m off (its
    # error), then silence until the walk home shows up 250 m away. That last fix is not
    # the person leaving: the visit lasts until the walk began (gen4: visits of an hour
    # came out as five minutes, one fix short).
    track = cat(line(T0 - 420, 420, 10, 1.4, east0=-600, seed=1),
                stay(T0, 360, 60, noise=8.0, seed=2))
    path = _db(tmp_path, track)
    walk_home = T0 + 3600
    _add_fixes(path, [(400.0, 85.0, 0.0, 40.0)]
               + [(3600.0 + 10 * i, 250.0 + 14.0 * i, 0.0, 5.0) for i in range(60)])
    run_chain(path)
    cafe = [s for s in _stays(path) if T0 - 60 <= s[0] <= T0 + 60]
    assert len(cafe) == 1, _stays(path)
    left = walk_home - 250 / 1.5
    assert abs(cafe[0][1] - left) < 60, (cafe[0][1] - T0, left - T0)
    # The same fix followed at once by the walk (a phone that logs on) is the person
    # setting off: the stay ends before it.
    path = track_db(tmp_path / "awake.db", track)
    _add_fixes(path, [(400.0 + 10 * i, 85.0 + 14.0 * i, 0.0, 5.0) for i in range(60)])
    run_chain(path)
    cafe = [s for s in _stays(path) if T0 - 60 <= s[0] <= T0 + 60]
    assert len(cafe) == 1 and cafe[0][1] < T0 + 400, _stays(path)


def test_a_stay_logged_on_and_on_ends_at_its_last_fix(tmp_path: Path) -> None:
    # A logger at 5 s: the last fix at the place is when the person set off.
    track = cat(stay(T0, 1800, 5, seed=1), line(T0 + 1800, 600, 5, 1.4, east0=30, seed=2),
                stay(T0 + 2400, 1800, 5, east=870, seed=3))
    path = _db(tmp_path, track)
    run_chain(path)
    first = _stays(path)[0]
    assert first[0] == T0 and T0 + 1700 <= first[1] <= T0 + 1795, first
    last_fix = query(path, "SELECT MAX(ts) FROM points WHERE ts <= ?", first[1])[0][0]
    assert first[1] == last_fix


def test_a_phone_dead_for_a_day_after_a_visit_makes_no_day_long_trip(tmp_path: Path
                                                                      ) -> None:
    # The battery dies an hour into a visit; the phone comes back 20 hours later 60 km
    # away. Going there at the departure speed would take 11 hours: the visit would
    # reach 9 hours into the silence, and a trip covering the other 11 hours with no fix
    # is the logging gap honest trips never cross (max_gap_s). The trip starts at the
    # first fix back.
    back = T0 + 3600 + 20 * 3600
    track = cat(stay(T0, 3600, 30, seed=1),
                line(back, 600, 5, 1.4, east0=60_000, seed=2),
                stay(back + 600, 1800, 30, east=60_000 + 840, seed=3))
    path = _db(tmp_path, track)
    run_chain(path)
    trips = query(path, "SELECT start_ts, end_ts FROM trips ORDER BY start_ts")
    assert trips and all(e - s < 3 * 3600 for s, e in trips), trips
    assert trips[0][0] == back, (trips[0][0] - T0, back - T0)
