"""Checks of the gen4 generator itself (not of the analysis). Fast: a handful of simulations."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import numpy as np
import pytest

from tests.gen4 import generator as G

SEEDS = (1, 2, 3, 5)
DAYS = 45
# physical caps per mode, m/s (walk 9 km/h, bike 27 km/h, car 183 km/h, bus 63 km/h,
# train 253 km/h, plane 918 km/h): the true per-second track must stay below them
CAP = {G.STATIONARY: 0.01, G.WALK: 2.5, G.BIKE: 7.5, G.CAR: 51.0, G.BUS: 17.5, G.TRAIN: 70.5,
       G.PLANE: 255.0}


@pytest.fixture(scope="module")
def sims():
    return {s: G.simulate(s, DAYS) for s in SEEDS}


def _pieces_end_pos(p):
    if isinstance(p, G.Stay):
        return p.place.lat, p.place.lon
    return p.lat[-1], p.lon[-1]


def test_deterministic_and_seed_dependent():
    a, b, c = G.generate(7, 6), G.generate(7, 6), G.generate(8, 6)
    for f in ("ts", "lat", "lon", "accuracy", "mode", "waiting", "jump", "stay_idx"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert a.true_stays == b.true_stays and a.legs == b.legs and a.blackouts == b.blackouts
    assert a.params == b.params
    assert len(a.ts) != len(c.ts) or not np.array_equal(a.lat, c.lat)


def test_arrays_sorted_and_shaped(sims):
    for gt, _ in sims.values():
        n = len(gt.ts)
        assert n > 1000
        for f in ("lat", "lon", "accuracy", "mode", "waiting", "jump", "stay_idx"):
            assert len(getattr(gt, f)) == n, f
        assert np.all(np.diff(gt.ts) > 0), "timestamps strictly increasing"
        assert np.all(gt.ts == np.round(gt.ts)), "whole seconds (the CSV writes int(t))"
        assert np.all(np.isfinite(gt.lat)) and np.all(np.isfinite(gt.lon))
        assert np.all(gt.accuracy > 0) and np.all(gt.accuracy < 5000)
        assert set(np.unique(gt.mode)) <= set(range(7))


def test_time_span_matches_days(sims):
    for gt, _ in sims.values():
        p = gt.params
        assert p["end_utc"] - p["start_utc"] == DAYS * 86400
        assert gt.ts[0] >= p["start_utc"] and gt.ts[-1] < p["end_utc"]
        assert gt.ts[-1] - gt.ts[0] > (DAYS - 3) * 86400
        assert gt.true_stays[0]["start"] == p["start_utc"]
        assert gt.true_stays[-1]["end"] <= p["end_utc"]
        # local midnight in the city's zone
        off = G.utc_offset(p["zone"], p["start_utc"])
        assert (p["start_utc"] + off) % 86400 == 0


def test_truth_track_is_continuous_and_physical(sims):
    for _gt, life in sims.values():
        prev = None
        for p in life.pieces:
            t0 = p.start if isinstance(p, G.Stay) else p.t0
            if prev is not None:
                pt1 = prev.end if isinstance(prev, G.Stay) else prev.t1
                assert t0 == pt1, "pieces are contiguous in time"
                la, lo = _pieces_end_pos(prev)
                sla, slo = (p.place.lat, p.place.lon) if isinstance(p, G.Stay) else (p.lat[0], p.lon[0])
                assert G.hav(la, lo, sla, slo) < 8.0, "no teleport between pieces"
            if isinstance(p, G.Leg) and p.n > 1:
                v = G.hav(p.lat[:-1], p.lon[:-1], p.lat[1:], p.lon[1:])
                assert v.max() <= CAP[p.mode], (p.kind, float(v.max()))
                if p.kind == "wait":
                    assert p.wait.all() and v.max() == 0
            prev = p


def test_mode_speeds_plausible(sims):
    speeds: dict[int, list[float]] = {}
    for _, life in sims.values():
        for p in life.pieces:
            if isinstance(p, G.Leg) and p.kind != "wait" and p.n > 60:
                speeds.setdefault(p.mode, []).append(p.dist / p.n)
    med = {m: float(np.median(v)) for m, v in speeds.items()}
    assert 0.9 < med[G.WALK] < 1.6
    assert 5 < med[G.CAR] < 25
    assert 3.5 < med[G.TRAIN] < 30
    if G.BIKE in med:
        assert 3.0 < med[G.BIKE] < 7.0
    if G.BUS in med:
        assert 3.0 < med[G.BUS] < 12
    if G.PLANE in med:
        assert 80 < med[G.PLANE] < 240
    assert {G.WALK, G.BIKE, G.CAR, G.BUS, G.TRAIN, G.PLANE} <= set(med), med


def test_stays_and_fix_assignment(sims):
    for gt, _ in sims.values():
        st = gt.true_stays
        for a, b in zip(st, st[1:], strict=False):
            assert a["end"] <= b["start"]
        for s in st:
            assert s["end"] > s["start"]
        i = np.flatnonzero(gt.stay_idx >= 0)
        k = gt.stay_idx[i]
        starts = np.array([s["start"] for s in st])
        ends = np.array([s["end"] for s in st])
        assert np.all(gt.ts[i] >= starts[k]) and np.all(gt.ts[i] < ends[k])
        assert np.all((gt.mode == G.STATIONARY) == (gt.stay_idx >= 0))
        assert not np.any(gt.waiting & (gt.stay_idx >= 0))
        # every fix outside a stay lies inside a leg of its mode
        leg_s = np.array([g["start"] for g in gt.legs])
        mv = np.flatnonzero(gt.stay_idx < 0)
        j = np.searchsorted(leg_s, gt.ts[mv], side="right") - 1
        assert np.all(j >= 0)
        lm = np.array([gt.legs[x]["mode"] for x in j])
        le = np.array([gt.legs[x]["end"] for x in j])
        assert np.all(gt.ts[mv] < le)
        assert np.all(lm == gt.mode[mv])


def test_legs_ordered(sims):
    for gt, _ in sims.values():
        for a, b in zip(gt.legs, gt.legs[1:], strict=False):
            assert a["end"] <= b["start"]
        for g in gt.legs:
            assert g["end"] > g["start"] and g["distance_m"] >= 0 and 0 < g["mode"] < 7
            assert g["mode"] == G.KIND_MODE.get(g["kind"], g["mode"])


def test_blackouts_have_no_fixes(sims):
    for gt, _ in sims.values():
        for (_a, b), (c, _d) in zip(gt.blackouts, gt.blackouts[1:], strict=False):
            assert b < c
        for a, b in gt.blackouts:
            assert b > a
            assert not np.any((gt.ts >= a) & (gt.ts <= b))


def test_phone_behaviour(sims):
    for gt, _ in sims.values():
        jf = gt.jump.mean()
        assert 0.001 < jf < 0.05
        mv = (gt.mode != G.STATIONARY) & ~gt.jump & ~gt.waiting
        dt = np.diff(gt.ts)
        both = mv[1:] & mv[:-1]
        med = np.median(dt[both])
        assert 3 <= med <= 75, med  # a fix every 5-60 s while moving
        assert 3 <= np.median(gt.accuracy[mv]) <= 40
        # few fixes during stays: far fewer per hour than while moving
        hours = sum(s["end"] - s["start"] for s in gt.true_stays) / 3600
        assert (gt.stay_idx >= 0).sum() / hours < 5
        assert (~(gt.stay_idx >= 0)).sum() > (gt.stay_idx >= 0).sum()


def test_observed_stays_and_trips(sims):
    for gt, _ in sims.values():
        obs = gt.observed_stays()
        trips = gt.observed_trips()
        assert 2 * DAYS < len(obs) <= len(gt.true_stays)
        assert 1.0 * DAYS < len(trips) < 12 * DAYS
        modes = {t["mode"] for t in trips}
        assert "walk" in modes and modes & {"train", "car", "bike", "bus"}
        for t in trips:
            assert t["end"] > t["start"] and t["distance_m"] > 0
        home = sum(1 for s in obs if s["place"] == "home")
        assert home > DAYS / 3


def test_dst_rules():
    def ts(*a):
        return datetime(*a, tzinfo=UTC).timestamp()
    assert G.utc_offset("Europe/Berlin", ts(2024, 3, 31, 0, 59)) == 3600
    assert G.utc_offset("Europe/Berlin", ts(2024, 3, 31, 1, 0)) == 7200
    assert G.utc_offset("Europe/Berlin", ts(2024, 10, 27, 0, 59)) == 7200
    assert G.utc_offset("Europe/Berlin", ts(2024, 10, 27, 1, 0)) == 3600
    assert G.utc_offset("Europe/Lisbon", ts(2024, 7, 1)) == 3600
    assert G.utc_offset("Europe/Athens", ts(2024, 1, 1)) == 7200
    assert G.utc_offset("Europe/Istanbul", ts(2024, 7, 1)) == 3 * 3600
    assert G._easter(2024).isoformat() == "2024-03-31" and G._easter(2025).isoformat() == "2025-04-20"


def test_csv_writer_accepts_output(tmp_path, sims):
    gt, _ = sims[SEEDS[0]]
    path = G.write_csv(gt, tmp_path / "g4.csv")
    with path.open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["time", "latitude", "longitude", "accuracy"]
    assert len(rows) == len(gt.ts) + 1
    assert int(rows[1][0]) == int(gt.ts[0])
