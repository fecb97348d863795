"""Days where you were (issue 21, item 4): footprint_stats counts each point on its own
local day, days start at the hour set, a flight is counted once.

footprint_stats runs as a real worker process with TZ=America/New_York: the days must be
the traveller's, not this computer's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from devtools import travel_history as travel
from tests.skills.chain import DEFAULT_CHAIN, connect, new_db, run_chain, run_skill

NEW_YORK_MACHINE = {"TZ": "America/New_York"}


def upstream(path: Path) -> None:
    """The chain up to grid_system, in-process (their results do not depend on days)."""
    for name in DEFAULT_CHAIN[:DEFAULT_CHAIN.index("footprint_stats")]:
        run_skill(path, name)


def footprint_worker(path: Path, params: dict[str, Any] | None = None,
                     task_type: str = "FULL_RECOMPUTE", skill: str = "footprint_stats"
                     ) -> dict[str, Any]:
    """footprint_stats in its own process, on a computer set to New York time."""
    env = {**os.environ, **NEW_YORK_MACHINE}
    proc = subprocess.run(
        [sys.executable, "-m", "trackdesk.skills", skill, "--task-id", "1",
         "--db-path", str(path), "--task-type", task_type, "--params",
         json.dumps(params or {})], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if '"result"' in line]
    return results[-1] if results else {}


def days(path: Path) -> dict[str, tuple[int, float, float]]:
    conn = connect(path)
    try:
        return {d: (n, dist, start) for d, n, dist, start in conn.execute(
            "SELECT day, n_points, distance_m, start_ts FROM footprint_days ORDER BY day")}
    finally:
        conn.close()


def plane_km(path: Path) -> dict[str, float]:
    conn = connect(path)
    try:
        return {d: m / 1000 for d, m in conn.execute(
            "SELECT day, distance_m FROM footprint_day_modes WHERE mode = 'plane'")}
    finally:
        conn.close()


def summary_days(path: Path) -> int:
    conn = connect(path)
    try:
        return int(conn.execute("SELECT value FROM footprint_summary WHERE key = "
                                "'days_with_data'").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture(scope="module")
def tokyo_sf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = new_db(tmp_path_factory.mktemp("tokyo") / "tracks.db")
    parts, _ = travel.tokyo_then_san_francisco()
    conn = connect(path)
    travel.insert(conn, *parts)
    conn.close()
    upstream(path)
    return path


def test_a_tokyo_evening_counts_on_the_tokyo_date_on_a_new_york_computer(
        tmp_path: Path) -> None:
    """One day in Tokyo, 08:00 to 23:30 local (23:30 JST is 14:30 UTC, 10:30 in New York;
    08:00 JST is the evening before in New York and in UTC): one day, 2 July."""
    z = "Asia/Tokyo"
    path = new_db(tmp_path / "tracks.db")
    conn = connect(path)
    n = travel.insert(conn, travel.stay(travel.TOKYO, travel.at(z, 2026, 7, 2, 8),
                                        travel.at(z, 2026, 7, 2, 23, 31), step=60.0))
    conn.close()
    upstream(path)
    footprint_worker(path)
    got = days(path)
    assert list(got) == ["2026-07-02"]
    assert got["2026-07-02"][0] == n
    assert got["2026-07-02"][2] == travel.at(z, 2026, 7, 2)  # the day starts at Tokyo's 00:00
    assert summary_days(path) == 1


def test_a_day_starting_at_four_puts_two_in_the_morning_on_the_day_before(
        tmp_path: Path) -> None:
    """A night out in Tokyo: 20:00 on 2 July to 02:30 on 3 July, local."""
    z = "Asia/Tokyo"
    path = new_db(tmp_path / "tracks.db")
    conn = connect(path)
    travel.insert(conn, travel.stay(travel.TOKYO, travel.at(z, 2026, 7, 2, 20),
                                    travel.at(z, 2026, 7, 3, 2, 30), step=60.0))
    conn.close()
    upstream(path)
    footprint_worker(path)
    assert list(days(path)) == ["2026-07-02", "2026-07-03"]
    footprint_worker(path, {"day_start_hour": 4})
    got = days(path)
    assert list(got) == ["2026-07-02"]
    assert got["2026-07-02"][2] == travel.at(z, 2026, 7, 2, 4)


def test_tokyo_then_a_flight_to_san_francisco_counts_the_days_you_lived(
        tokyo_sf: Path) -> None:
    """Tokyo 1-3 July, the 17:00 flight on the 3rd lands in San Francisco on the morning
    of the 3rd (over the date line): three days, the 3rd once, holding Tokyo, the flight
    (in the air past Tokyo's midnight too) and San Francisco."""
    footprint_worker(tokyo_sf)
    got = days(tokyo_sf)
    assert list(got) == ["2026-07-01", "2026-07-02", "2026-07-03"]
    assert summary_days(tokyo_sf) == 3
    conn = connect(tokyo_sf)
    n_points = conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    conn.close()
    assert sum(v[0] for v in got.values()) == n_points  # no point lost or counted twice
    # the flight is one piece of 3 July, ~8,280 km
    km = plane_km(tokyo_sf)
    assert list(km) == ["2026-07-03"] and 7500 < km["2026-07-03"] < 8700
    assert got["2026-07-03"][2] == travel.at("Asia/Tokyo", 2026, 7, 3)


@pytest.mark.parametrize("route", ["los_angeles-sydney", "san_francisco-new_york"])
def test_a_night_flight_counts_its_travel_day_once(tmp_path: Path, route: str) -> None:
    """Leaving at 23:00 local, landing at 07:00 local: the flight belongs to the day it
    took off, whole; the landing morning is the next day you lived. Los Angeles → Sydney
    skips 2 July over the date line: two days, not three."""
    if route == "los_angeles-sydney":
        a, za, b, zb, land_day = (travel.LOS_ANGELES, "America/Los_Angeles", travel.SYDNEY,
                                  "Australia/Sydney", 3)
    else:
        a, za, b, zb, land_day = (travel.SAN_FRANCISCO, "America/Los_Angeles",
                                  travel.NEW_YORK, "America/New_York", 2)
    path = new_db(tmp_path / "tracks.db")
    parts, t_off, landed = travel.night_flight(a, za, b, zb, land_day)
    conn = connect(path)
    travel.insert(conn, *parts)
    conn.close()
    upstream(path)
    footprint_worker(path)
    got = days(path)
    assert list(got) == ["2026-07-01", f"2026-07-{land_day:02d}"]
    km = plane_km(path)
    assert list(km) == ["2026-07-01"]  # the whole flight, not split at a midnight
    assert km["2026-07-01"] > 0.9 * travel.great_circle_m(a, b) / 1000
    assert summary_days(path) == 2
    # the landing day starts by the first fix on the ground (no midnight of its own there)
    assert t_off < got[f"2026-07-{land_day:02d}"][2] <= landed + 600


def test_incremental_runs_give_the_days_of_a_full_recompute(tmp_path: Path) -> None:
    """Imported in three batches (before, during and after the flight), with the chain
    run INCREMENTALLY after each: the same rows as one FULL_RECOMPUTE."""
    parts, landed = travel.tokyo_then_san_francisco()
    rows = np.concatenate(parts)
    rows = rows[np.argsort(rows[:, 0], kind="stable")]
    cuts = [0, int(np.searchsorted(rows[:, 0], landed - 4 * 3600)),
            int(np.searchsorted(rows[:, 0], landed + 3600)), len(rows)]
    inc = new_db(tmp_path / "inc.db")
    auto = {"footprint_stats": {"timezone": "auto"}}
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        conn = connect(inc)
        travel.insert(conn, rows[a:b])
        conn.close()
        run_chain(inc, "INCREMENTAL", auto)
    full = new_db(tmp_path / "full.db")
    conn = connect(full)
    travel.insert(conn, rows)
    conn.close()
    run_chain(full, "FULL_RECOMPUTE", auto)
    q = ["SELECT * FROM footprint_days ORDER BY day",
         "SELECT * FROM footprint_day_modes ORDER BY day, mode",
         "SELECT * FROM footprint_periods ORDER BY period_type, period"]
    a_conn, f_conn = connect(inc), connect(full)
    try:
        for sql in q:
            assert a_conn.execute(sql).fetchall() == f_conn.execute(sql).fetchall(), sql
        assert [r[0] for r in f_conn.execute("SELECT day FROM footprint_days")] == \
            ["2026-07-01", "2026-07-02", "2026-07-03"]
    finally:
        a_conn.close()
        f_conn.close()


def test_home_is_where_the_tokyo_nights_are_on_a_new_york_computer(tmp_path: Path) -> None:
    """Nights (22:00-07:00) at a Tokyo flat, working days (09:00-18:00) at an office
    4 km away. In New York time the office hours are the night: stay_stats must read
    each stay's hours in Tokyo's zone."""
    z = "Asia/Tokyo"
    flat, office = travel.TOKYO, (35.6895, 139.6917)
    parts = []
    for d in (1, 2, 3):  # Wednesday to Friday
        parts.append(travel.stay(flat, travel.at(z, 2026, 7, d - 1 if d > 1 else 1,
                                                 22 if d > 1 else 0),
                                 travel.at(z, 2026, 7, d, 7, 30), seed=d))
        parts.append(travel.stay(office, travel.at(z, 2026, 7, d, 9),
                                 travel.at(z, 2026, 7, d, 18), seed=d + 10))
    path = new_db(tmp_path / "tracks.db")
    conn = connect(path)
    travel.insert(conn, *parts)
    conn.close()
    upstream(path)
    footprint_worker(path, skill="stay_stats")
    conn = connect(path)
    try:
        labels = dict(conn.execute("SELECT label, lat FROM places WHERE label IS NOT NULL"))
    finally:
        conn.close()
    assert abs(labels["home"] - flat[0]) < 0.001
    assert abs(labels["work"] - office[0]) < 0.001


def test_lived_days_rules_on_their_own() -> None:
    """The day function alone: zones, a flight, the date line, an empty day."""
    from trackdesk.geodata.localdays import LivedDays

    tokyo, la = "Asia/Tokyo", "America/Los_Angeles"
    t_land = travel.at(la, 2026, 7, 3, 10)
    t_off = travel.at(tokyo, 2026, 7, 3, 17)
    lived = LivedDays([(-1e12, tokyo), (t_land + 60, la)], [(t_off, t_land)], hour=0)
    in_air_past_tokyo_midnight = travel.at(tokyo, 2026, 7, 4, 1)
    assert t_off < in_air_past_tokyo_midnight < t_land
    assert str(lived.date(in_air_past_tokyo_midnight)) == "2026-07-03"
    assert str(lived.date(travel.at(tokyo, 2026, 7, 3, 23, 30))) == "2026-07-03"
    assert str(lived.date(t_land + 3600)) == "2026-07-03"
    a, b = lived.bounds(lived.date(t_land))
    assert a == travel.at(tokyo, 2026, 7, 3) and b == travel.at(la, 2026, 7, 4)
    assert b - a == 40 * 3600  # 3 July lived twice: one day of 40 hours
    four = LivedDays([(-1e12, tokyo)], [], hour=4)
    assert str(four.date(travel.at(tokyo, 2026, 7, 3, 2))) == "2026-07-02"
    assert str(four.date(travel.at(tokyo, 2026, 7, 3, 4))) == "2026-07-03"
    with pytest.raises(ValueError):
        LivedDays([], [], hour=24)
