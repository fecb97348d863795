"""Tests of gen2, the independent generator (tests/gen2/README.md), and one score floor.

The generator is itself tested: a judge that lies (a bus that never stops, a subway that
logs underground, a stay whose points are elsewhere) would make every score meaningless.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict

import numpy as np
import pytest

from tests.gen2.generator import (
    MODE_NAMES,
    generate,
    haversine,
    import_into,
    point_ids,
)
from tests.gen2.scoring import match, run_chain, score_synthetic


@pytest.fixture(scope="module")
def gt60():
    return generate(201, days=60)


def test_ground_truth_is_consistent(gt60) -> None:
    gt = gt60
    assert np.all(np.diff(gt.ts) >= 1), "one fix per second at most, in time order"
    stays = gt.true_stays
    for a, b in zip(stays, stays[1:], strict=False):
        assert a["end"] < b["start"], "true stays never overlap"
    # Every movement lies between two stays, never inside one.
    starts = np.array([s["start"] for s in stays])
    for leg in gt.legs:
        i = np.searchsorted(starts, leg["start"]) - 1
        assert stays[i]["end"] <= leg["start"] and leg["end"] <= stays[i + 1]["start"]
    # A fix is stationary exactly when it belongs to a stay, and lies in its time span.
    in_stay = gt.stay_idx >= 0
    assert np.array_equal(in_stay, gt.mode == 0)
    for i in np.flatnonzero(in_stay)[::50]:
        s = stays[gt.stay_idx[i]]
        assert s["start"] <= gt.ts[i] <= s["end"]
    # Kept fixes of a stay are near its place (noise aside: a median within 40 m).
    d = haversine(gt.lat[in_stay & ~gt.jump],
                  gt.lon[in_stay & ~gt.jump],
                  np.array([stays[k]["lat"] for k in gt.stay_idx[in_stay & ~gt.jump]]),
                  np.array([stays[k]["lon"] for k in gt.stay_idx[in_stay & ~gt.jump]]))
    assert np.median(d) < 40
    # Observed stays and trips alternate in time, and two months hold every mode.
    obs = gt.observed_stays()
    trips = gt.observed_trips()
    assert len(obs) > 100 and len(trips) > 100
    for t in trips:
        assert t["start"] < t["end"]
        assert any(s["end"] == t["start"] for s in obs)
        assert any(s["start"] == t["end"] for s in obs)
    assert {t["mode"] for t in trips} >= {"walk", "bike", "car", "bus", "train", "plane"}
    assert set(MODE_NAMES[m] for m in np.unique(gt.mode)) == set(MODE_NAMES)


def test_speeds_and_stops_per_mode_are_plausible(gt60) -> None:
    by = defaultdict(list)
    for leg in gt60.legs:
        if leg["distance_m"] > 300:
            by[leg["kind"]].append(leg)
    # (lowest mean, highest mean, highest top speed) in m/s, stops included in the mean.
    bounds = {"walk": (0.7, 1.7, 1.7), "bike": (2.5, 6.5, 6.5), "car_city": (4, 14.5, 14.6),
              "car_motorway": (15, 37.5, 37.6), "bus": (3.5, 11, 13.1),
              "subway": (7, 20, 22.1), "intercity": (17, 42, 44.6),
              "plane": (120, 245, 245.1)}
    for kind, (lo, hi, top) in bounds.items():
        legs = by[kind]
        assert legs, f"no {kind} leg in two months"
        mean = np.array([g["distance_m"] / (g["end"] - g["start"]) for g in legs])
        assert lo <= mean.min() and mean.max() <= hi, (kind, mean.min(), mean.max())
        assert max(g["max_speed"] for g in legs) <= top
    # Buses stop every 300-800 m for 20-60 s (plus lights); long-distance trains stop for
    # 2-8 minutes every few tens of km.
    bus = by["bus"]
    n_stops = sum(1 for g in bus for s in g["stops_s"] if s >= 20)
    assert 300 <= sum(g["distance_m"] for g in bus) / n_stops <= 900
    ic = [s for g in by["intercity"] for s in g["stops_s"]]
    assert ic and min(ic) >= 120 and max(ic) <= 481
    assert max(s for g in by["car_city"] for s in g["stops_s"]) <= 71


def test_sampling_is_phone_like(gt60) -> None:
    gt = gt60
    dt = np.diff(gt.ts)
    moving = (gt.mode[1:] != 0) & (gt.mode[:-1] != 0) & ~gt.waiting[1:]
    still = (gt.mode[1:] == 0) & (gt.mode[:-1] == 0) & (gt.stay_idx[1:] == gt.stay_idx[:-1])
    assert np.median(dt[moving]) <= 5  # dense when moving...
    assert (dt[moving] >= 60).sum() >= 100  # ...but some trips logged every minute or more
    assert 60 <= np.median(dt[still][dt[still] < 3600]) <= 600  # rarely at a place
    assert (dt > 3600).sum() >= 10 and (dt > 86400).sum() >= 1  # hours and days missing
    # Underground: subway legs leave (almost) no fix between the platforms.
    sub = [g for g in gt.legs if g["kind"] == "subway"]
    inside = sum(((gt.ts > g["start"] + 60) & (gt.ts < g["end"] - 60)).sum() for g in sub)
    ride_s = sum(g["end"] - g["start"] for g in sub)
    assert sub and inside / ride_s < 0.01
    # Jumps: a few per thousand fixes, 100-500 m off, half of them with a fine accuracy.
    assert 0.002 < gt.jump.mean() < 0.006
    assert (gt.accuracy[gt.jump] < 50).mean() > 0.3
    assert 3 <= gt.accuracy.min() and np.median(gt.accuracy) < 30


def test_same_seed_same_person_other_seed_another() -> None:
    a, b, c = generate(3, days=6), generate(3, days=6), generate(4, days=6)
    assert np.array_equal(a.ts, b.ts) and np.array_equal(a.lat, b.lat)
    assert a.true_stays == b.true_stays
    assert len(a.ts) != len(c.ts) or not np.array_equal(a.lat, c.lat)


def test_years_option_logs_stretches_with_long_gaps() -> None:
    gt = generate(5, years=2)
    span_days = (gt.ts[-1] - gt.ts[0]) / 86400
    assert span_days > 300
    assert (np.diff(gt.ts) > 30 * 86400).sum() >= 2  # months without data
    assert len(gt.observed_trips()) > 20


def test_a_split_stay_does_not_match_but_a_close_one_does() -> None:
    # The scorer's own rule: overlap >= 50 % of the longer interval, one-to-one.
    assert match([(0, 100)], [(0, 48), (52, 100)], 0.5) == []
    assert match([(0, 100)], [(5, 98)], 0.5) == [(0, 0)]
    assert match([(0, 100), (200, 300)], [(0, 300)], 0.5) == []


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    gt = generate(207, days=14)
    d = tmp_path_factory.mktemp("gen2")
    db = d / "tracks.db"
    import_into(gt, db, d)
    return gt, db


def test_import_round_trip_keeps_every_point(small_db) -> None:
    gt, db = small_db
    ids = point_ids(gt, db)
    assert (ids > 0).all(), f"{(ids <= 0).sum()} generated fixes not found after import"
    con = sqlite3.connect(db)
    try:
        n, = con.execute("SELECT COUNT(*) FROM points").fetchone()
        acc = dict(con.execute("SELECT id, accuracy FROM points").fetchall())
    finally:
        con.close()
    assert n == len(gt.ts)
    assert np.allclose([acc[i] for i in ids], gt.accuracy)


# The floors an xfail used to mark, reached by stay_detection and transport_mode 1.3:
# on seed 207 (14 days) stays F1 0.63 -> 0.95, trips F1 0.61 -> 0.95, modes 0.48 -> 0.69
# (bench/gen2_scores.py --seeds 207 --days 14).
def test_chain_scores_above_floors(small_db) -> None:
    gt, db = small_db
    run_chain(db)
    s = score_synthetic(gt, db)
    assert s["stays"]["f1"] >= 0.80, s["stays"]
    assert s["trips"]["f1"] >= 0.70, s["trips"]
    assert s["modes"]["accuracy"] >= 0.50, s["modes"]
