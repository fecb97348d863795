"""Fast checks of gen3, the generator itself (tests/gen3/README.md). No skill is run here
and nothing is asserted about the skills' scores: a judge must first be shown not to lie
(a train that logs underground, a stay without fixes, a car at 200 km/h)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.gen3.generator import (
    BIKE,
    BUS,
    CAR,
    PLANE,
    STATIONARY,
    STAY_MIN_S,
    TRAIN,
    WALK,
    generate,
    simulate,
    world_of,
)

DAYS = 45
SEEDS = (3, 61)  # one per world


@pytest.fixture(scope="module", params=SEEDS)
def gt(request):
    return generate(request.param, days=DAYS)


@pytest.fixture(scope="module", params=SEEDS)
def life(request):
    return simulate(request.param, days=DAYS)


def test_worlds_by_seed() -> None:
    assert world_of(1) == world_of(49) == "asia"
    assert world_of(50) == world_of(99) == "suburb"


def test_deterministic_per_seed() -> None:
    a, b, c = generate(12, days=6), generate(12, days=6), generate(13, days=6)
    for f in ("ts", "lat", "lon", "accuracy", "mode", "waiting", "jump", "stay_idx"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    assert a.true_stays == b.true_stays and a.legs == b.legs
    assert len(a.ts) != len(c.ts) or not np.array_equal(a.lat, c.lat)


def test_fields_and_times(gt) -> None:
    n = len(gt.ts)
    assert n > 1000
    for f in ("lat", "lon", "accuracy", "mode", "waiting", "jump", "stay_idx"):
        assert len(getattr(gt, f)) == n, f
    assert np.all(np.diff(gt.ts) > 0), "times strictly increasing"
    assert np.array_equal(gt.ts, np.round(gt.ts)), "whole seconds (the CSV has no fraction)"
    assert np.all(np.isfinite(gt.lat)) and np.all(np.isfinite(gt.lon))
    assert np.all(gt.accuracy >= 3) and np.all(gt.accuracy < 3000)
    assert set(np.unique(gt.mode)) <= set(range(7))
    assert gt.params["days"] == DAYS and gt.params["seed"] in SEEDS
    assert gt.stay_idx.max() < len(gt.true_stays)
    starts = [g["start"] for g in gt.legs]
    assert starts == sorted(starts)
    for g in gt.legs:
        assert g["end"] > g["start"] and g["distance_m"] >= 0 and g["mode"] != STATIONARY


def test_truth_path_is_continuous_and_speeds_plausible(life) -> None:
    _rng, sim, _life, *_ = life
    A = sim.arrays()
    vmax = {WALK: 2.2, BIKE: 10.0, CAR: 41.0, BUS: 27.0, TRAIN: 40.0, PLANE: 280.0}
    for m, top in vmax.items():
        sel = A["M"] == m
        if sel.any():
            assert A["V"][sel].max() <= top, m
    # consecutive seconds of one movement are at most one second's travel apart
    ends = [*A["seg_a"][1:].tolist(), sim.t]
    prev_end = None
    for a, k, ref, b in zip(A["seg_a"], A["seg_kind"], A["seg_ref"], ends, strict=True):
        if k == 0:
            start = end = np.array(sim.dw[ref][:2])
        else:
            x, y = A["X"][ref:ref + b - a], A["Y"][ref:ref + b - a]
            step = np.hypot(np.diff(x), np.diff(y))
            top = max(vmax.values()) if (A["M"][ref:ref + b - a] == PLANE).any() else 42.0
            assert step.size == 0 or step.max() <= top + 1
            start, end = np.array([x[0], y[0]]), np.array([x[-1], y[-1]])
        if prev_end is not None:
            assert np.hypot(*(start - prev_end)) < 45, "no teleport between pieces"
        prev_end = end
    # average speed of each kind of leg
    rng_kmh = {WALK: (2.0, 6.5), BIKE: (6, 32), CAR: (10, 125), BUS: (8, 80),
               TRAIN: (25, 125), PLANE: (10, 900)}
    for g in sim.legs:
        if g["distance_m"] > 500 and g["kind"] not in ("taxi-out", "taxi-in"):
            v = g["distance_m"] / (g["end"] - g["start"]) * 3.6
            lo, hi = rng_kmh[g["mode"]]
            assert lo <= v <= hi, (g, v)


def test_stays_have_fixes(gt) -> None:
    prev_end = -np.inf
    n_long = n_seen = 0
    for i, st in enumerate(gt.true_stays):
        assert st["end"] - st["start"] >= STAY_MIN_S
        assert st["start"] >= prev_end, "stays do not overlap"
        prev_end = st["end"]
        sel = gt.stay_idx == i
        assert np.all((gt.ts[sel] >= st["start"]) & (gt.ts[sel] < st["end"]))
        assert np.all(gt.mode[sel] == STATIONARY) and not gt.waiting[sel].any()
        dark = any(a < st["end"] and b > st["start"] for a, b in gt.blackouts)
        if st["end"] - st["start"] >= 1800 and not dark:
            n_long += 1
            n_seen += sel.sum() >= 2
        if st["end"] - st["start"] >= 3 * 3600 and not dark:
            assert sel.sum() >= 2, st
    assert n_seen >= 0.9 * n_long, "a visit of half an hour is rarely missed"
    obs = gt.observed_stays()
    assert len(obs) >= 0.8 * len(gt.true_stays)


def test_waiting_only_inside_trips(gt) -> None:
    w = np.flatnonzero(gt.waiting)
    assert len(w) > 0
    assert np.all(gt.stay_idx[w] == -1)
    assert np.all(gt.mode[w] == STATIONARY)
    leg_start = np.array([g["start"] for g in gt.legs])
    stay_start = np.array([s["start"] for s in gt.true_stays])
    stay_end = np.array([s["end"] for s in gt.true_stays])
    for i in w:
        t = gt.ts[i]
        nxt = stay_start[stay_start > t]
        nxt = nxt[0] if len(nxt) else np.inf
        assert np.any((leg_start > t) & (leg_start < nxt)), "someone waiting goes on moving"
        assert np.any(stay_end <= t), "after leaving some place"


def test_phone_model(gt) -> None:
    moving = (gt.mode != STATIONARY) & ~gt.waiting
    dt = np.diff(gt.ts)
    both = moving[1:] & moving[:-1]
    assert 1 <= np.median(dt[both]) <= 30
    still = (gt.stay_idx[1:] >= 0) & (gt.stay_idx[1:] == gt.stay_idx[:-1])
    assert np.percentile(dt[still], 90) >= 600, "a still phone logs rarely"
    assert (dt > 2 * 3600).sum() >= 3, "sometimes nothing for hours"
    assert len(gt.blackouts) >= 1 or gt.params["days"] < 20
    # wrong fixes: cell towers (accuracy says so) and a few GPS glitches
    assert gt.jump.any()
    assert (gt.accuracy[gt.jump] >= 300).any()
    # a sports tracker logging every second on a bike ride
    bike = np.flatnonzero(gt.mode == BIKE)
    assert len(bike) > 600 and np.mean(np.diff(gt.ts[bike]) == 1) > 0.8
    # a trip to another time zone
    assert any(t["tz"] != gt.params["tz_home"] for t in gt.params.get("trips", []))


def _rate(gt, kind) -> float:
    """Fixes per minute inside the legs of one kind."""
    legs = [g for g in gt.legs if g["kind"] == kind]
    n = sum(int(((gt.ts > g["start"]) & (gt.ts < g["end"])).sum()) for g in legs)
    return n / max(1.0, sum(g["end"] - g["start"] for g in legs)) * 60


def _share(gt, mode) -> float:
    moving = (gt.mode != STATIONARY) & ~gt.waiting & ~gt.jump & (np.diff(gt.ts, prepend=0) > 1)
    return float(np.mean(gt.mode[moving] == mode))


def test_each_world_has_its_modes(gt) -> None:
    kinds = {g["kind"] for g in gt.legs}
    modes = set(np.unique(gt.mode[~gt.jump]))
    if gt.params["world"] == "asia":
        assert {WALK, TRAIN, CAR, PLANE} <= {g["mode"] for g in gt.legs}
        assert {WALK, TRAIN, CAR, BUS} <= modes
        assert {"subway", "commuter-rail", "loop-line", "transfer", "taxi"} <= kinds
        assert _share(gt, TRAIN) > 0.15 and _share(gt, WALK) > 0.3
        assert _share(gt, CAR) < 0.25
        # underground: subway rides log almost nothing (Wi-Fi at some stations)
        assert _rate(gt, "subway") < 0.25 * _rate(gt, "commuter-rail")
    else:
        assert {"drive", "commuter-rail", "shuttle", "flight"} <= kinds
        assert {CAR, WALK, BIKE, TRAIN} <= modes
        assert PLANE in {g["mode"] for g in gt.legs}  # its fixes: none in airplane mode
        assert _share(gt, CAR) > 0.5
        assert sum(g["distance_m"] for g in gt.legs if g["mode"] == CAR) > 1000e3  # road trip
    assert len(gt.observed_trips()) >= 0.8 * len(gt.observed_stays()) - 5
