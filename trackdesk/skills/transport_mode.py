"""transport_mode: label movement stationary / walk / bike / car / train / plane by segment.

Kept points plus synthetic points, in time order, are cut into *tracks* at logging gaps
longer than ``gap_s``. Then, per point and only within its track:

1. **Smoothed speed**: straight-line displacement across a centred ``window_s`` window,
   divided by its time span. Displacement, unlike summed step lengths, does not grow with
   GPS jitter: 10 m of noise at 1 Hz adds ~14 m/s to a step-sum speed, but only ~0.3 m/s
   to a 60 s displacement, so a bike stays a bike. A point with no other fix inside its
   window (a logger that records every 30-90 s) takes the span from its previous to its
   next fix instead: its own window would have no span and read as standing still.
2. **Speed class**: stationary < ``stationary_mps`` <= walk < ``walk_max_mps`` <= bike <
   ``bike_max_mps`` <= motorised < ``plane_min_mps`` <= plane.
3. **Smoothing**: each label becomes the majority label within ``min_segment_s`` around
   it (a red light does not end a car ride, a jitter spike does not start one).

Then per run of equal labels, and per segment:

4. **Promotion**: a walk or bike run whose 85th percentile speed reaches the next class is
   promoted (a car crawling in traffic is still a car). A motorised run is a train when
   its 85th percentile speed reaches ``train_min_mps`` (trains cruise faster than road
   traffic and hold it), else a car.
5. **Segments**: neighbouring runs of one mode join; a segment shorter than
   ``min_segment_s`` between two segments of one mode takes their mode (walk, a 40 s
   stop, walk is one walk; at sparse logging a single fix is otherwise a segment of its
   own), and they join again. Segments never cross a logging gap longer than ``gap_s``.

Every per-point label depends on points within ``context_s`` of it. An INCREMENTAL run
restarts at the last *hard* boundary among the stored segments that starts before that
margin ahead of the earliest change: a segment start after a logging gap longer than
``gap_s`` (a new track: nothing is decided across it), or right after a standstill of
HARD_STILL_S or more (longer than any stop a ride, a walk or a bike ride holds, so no
vehicle episode, cycling run, crawl or walk to a ride reaches across it). Segments from
there on are rebuilt, computed from the standstill's start so that the first rebuilt
segment sees it. Before 1.8 the restart was the third stored start before the margin,
which a run of walk and bike pieces could span: an INCREMENTAL run cut the run there and
decided it otherwise (gen4's sparse phone). With no hard boundary before the margin the
run is a full one. The property test in tests/skills/test_incremental.py holds this to a
full recompute.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from trackdesk.skills.geo import MODE_INDEX, MODES, Local, segment_percentile
from trackdesk.skills.labels import activity_labels
from trackdesk.skills.store import (
    Plan,
    Points,
    SkillRun,
    kept_points,
    load_synthetic,
    merge_points,
    run_skill,
    stored_input,
)
from trackdesk.worker import WorkerContext

NAME = "transport_mode"
VERSION = "1.11.0"  # 1.11: a fast ride walked to and from for 5+ minutes is a train
# 1.10: a metro line is a train up to 108 km/h, not 83
# 1.9: a suburban line is a train up to train_min_mps, not 108 km/h
# 1.8: a bus crawling in a jam along its street is the bus;
# 1.7: a ride logged sparsely on a winding road is no train;
# 1.6: coaches (long road rides held under 100 km/h) are buses; a
# "metro" with no walk at either end is a car;
# 1.5: motorway rides are not rail; a cyclist's pause is the ride;
# a short wait at a stop is no door; commuter lines that lose the fix; road cyclists;
# a long bike ride next to a drive
# 1.4: metro, slow city buses, walks to and from a ride, cycling
# episodes, pauses on a walk
# 1.3: vehicle episodes (a bus is not a bike); motorway cars are cars
# 1.2: bus; car/bus/train from ride features; station stops; labels
# The order of each row build_segments() makes.
SEGMENT_COLUMNS = ("id", "start_ts", "end_ts", "mode", "n_points", "distance_m", "duration_s",
                   "mean_speed_mps", "p85_speed_mps", "first_point_id", "last_point_id")
MOTOR = 3  # provisional class, resolved to car or train per segment
# A standstill this long ends every multi-segment decision: a vehicle episode holds stops
# up to transit_stop_s (420 s by default), a walk or ride pause WALK_PAUSE_S (300 s).
HARD_STILL_S = 900.0


def context_s(params: dict[str, Any]) -> float:
    """How far a point's label reaches: its majority window over speeds that reach
    ``window_s / 2``, or the neighbouring fix (at most ``gap_s`` away, else another track)."""
    return max(params["window_s"] / 2.0, params["gap_s"]) + params["min_segment_s"] / 2.0 + 1.0


def track_bounds(ts: np.ndarray, gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first and last point of each point's track (cut at gaps > gap_s)."""
    n = len(ts)
    brk = np.zeros(n, dtype=bool)
    if n:
        brk[0] = True
        brk[1:] = (ts[1:] - ts[:-1]) > gap_s
    starts = np.flatnonzero(brk)
    tid = np.cumsum(brk) - 1
    ends = np.append(starts[1:] - 1, n - 1)
    return starts[tid], ends[tid]


def smoothed_speed(ts: np.ndarray, sph: Local, first: np.ndarray, last: np.ndarray,
                   window_s: float) -> np.ndarray:
    idx = np.arange(len(ts))
    j = np.maximum(np.searchsorted(ts, ts - window_s / 2.0, side="left"), first)
    k = np.minimum(np.searchsorted(ts, ts + window_s / 2.0, side="right") - 1, last)
    # At least the neighbouring fixes of the same track: a lone fix is not a standstill.
    j = np.minimum(j, np.maximum(idx - 1, first))
    k = np.maximum(k, np.minimum(idx + 1, last))
    span = ts[k] - ts[j]
    d = sph.dist(j, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(span > 0, d / span, 0.0)
    return v


def classify(ts: np.ndarray, lat: np.ndarray, lon: np.ndarray,
             params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(smoothed speed, smoothed label, track-start flag) for points sorted by ts."""
    first, last = track_bounds(ts, params["gap_s"])
    v = smoothed_speed(ts, Local(lat, lon), first, last, params["window_s"])
    raw = np.digitize(v, [params["stationary_mps"], params["walk_max_mps"],
                          params["bike_max_mps"], params["plane_min_mps"]])
    # digitize gives 0..4 = stationary, walk, bike, motor, plane -> map plane to its index.
    raw = np.where(raw == 4, MODE_INDEX["plane"], raw)
    half = params["min_segment_s"] / 2.0
    j = np.maximum(np.searchsorted(ts, ts - half, side="left"), first)
    k = np.minimum(np.searchsorted(ts, ts + half, side="right") - 1, last)
    # Window counts per class from running counts; a class only replaces the best so far
    # when strictly more frequent, so ties go to the slower class, deterministically.
    label = np.zeros(len(ts), dtype=np.int64)
    best = np.full(len(ts), -1, dtype=np.int32)
    run = np.zeros(len(ts) + 1, dtype=np.int32)
    for c in np.flatnonzero(np.bincount(raw, minlength=len(MODES))).tolist():
        np.cumsum(raw == c, out=run[1:])
        count = run[k + 1] - run[j]
        better = count > best
        label[better] = c
        best = np.maximum(best, count)
    return v, label, first == np.arange(len(ts))


def build_segments(pts: Points, v: np.ndarray, label: np.ndarray, track_start: np.ndarray,
                   begin: int, write_from: int, params: dict[str, Any],
                   labelled: np.ndarray | None = None, model: PersonalModel | None = None,
                   fit: Callable[[np.ndarray, np.ndarray], PersonalModel] | None = None
                   ) -> list[tuple]:
    """Segment rows for the points from index ``write_from`` on, computed from ``begin``
    (<= ``write_from``) on; boundaries are forced at both.

    ``labelled``: per point, the mode index the user's labels give it (-1: none);
    labelled stretches take their label. ``model``: the personal model, applied to the
    moving segments no label covers when it did better than the rules on held-back
    labels; ``fit(features, modes)`` trains it from the labelled segments first.
    """
    n = len(pts)
    if write_from >= n:
        return []
    ts = pts.ts
    lab = label[begin:].copy()
    user = None
    if labelled is not None:
        user = labelled[begin:]
        lab = np.where(user >= 0, user, lab)
    cut = np.zeros(n - begin, dtype=bool)
    cut[0] = True
    cut[1:] = (lab[1:] != lab[:-1]) | track_start[begin + 1:]
    if user is not None:
        cut[1:] |= user[1:] != user[:-1]
    starts = np.flatnonzero(cut) + begin
    stops = np.append(starts[1:], n)
    mode = promoted_modes(v, lab[starts - begin], starts, stops, params)
    is_user = np.zeros(len(starts), dtype=bool)
    if user is not None:
        is_user = user[starts - begin] >= 0
        mode[is_user] = user[starts - begin][is_user]
    # Boundaries no join may remove: logging gaps, and where this computation starts and
    # writes (an INCREMENTAL run's restart and the standstill before it: hard boundaries of
    # the full result as well).
    fixed = track_start[starts] | (starts == begin) | (starts == write_from)
    starts, mode, fixed, is_user = _join(starts, mode, fixed, is_user)
    # A short segment between two of one mode takes theirs (neither side across a gap);
    # so does a stop of up to transit_stop_s between two motorised stretches: a train
    # at a station or a bus at its stop is still the ride, not a place the person went.
    nxt = np.append(ts[starts[1:]], ts[n - 1])
    covered = nxt - ts[starts]
    absorb = np.zeros(len(starts), dtype=bool)
    if len(starts) > 2:
        inner = slice(1, -1)
        still = mode[inner] == MODE_INDEX["stationary"]
        limit = np.where(still & (mode[:-2] == MOTOR), params["transit_stop_s"],
                         np.where(still & np.isin(mode[:-2], HUMAN), WALK_PAUSE_S,
                                  params["min_segment_s"]))
        absorb[inner] = ((covered[inner] < limit)
                         & (mode[:-2] == mode[2:]) & ~track_start[starts[1:-1]]
                         & ~track_start[starts[2:]] & ~is_user[inner])
    mode[1:][absorb[1:]] = mode[:-1][absorb[1:]]
    starts, mode, fixed, is_user = _join(starts, mode, fixed, is_user)
    first, last = track_bounds(ts, params["gap_s"])
    # A short window to see stops (a bus at its stop for 20 s), where GPS jitter would
    # make single steps look like movement; also the speed a vehicle sustains between them.
    v_stop = smoothed_speed(ts, Local(pts.lat, pts.lon), first, last, STOP_WINDOW_S)
    mode = vehicle_episodes(ts, v_stop, starts, mode, fixed | track_start[starts], is_user,
                            params)
    starts, mode, fixed, is_user = _join(starts, mode, fixed, is_user)
    mode = cycling_episodes(ts, v, starts, mode, fixed | track_start[starts], is_user)
    starts, mode, fixed, is_user = _join(starts, mode, fixed, is_user)
    stops = np.append(starts[1:], n)
    # Before dropping the pieces ahead of write_from: the first written piece's walk
    # before it is one of them.
    access, egress, inside = walks_around(ts, starts, stops, mode, track_start[starts])
    keep = starts >= write_from
    starts, stops, mode, is_user = starts[keep], stops[keep], mode[keep], is_user[keep]
    fixed, access, egress, inside = fixed[keep], access[keep], egress[keep], inside[keep]
    steps = np.zeros(n)
    if n > 1:
        steps[1:] = Local(pts.lat, pts.lon).steps()
    tstart = track_start[starts]
    real = pts.id > 0
    feats = segment_features(ts, pts.lat, pts.lon, v, v_stop, steps, starts, stops, tstart,
                             real)
    motor = (mode == MOTOR) & ~is_user
    mode[motor] = walk_evidence(motor_rule(feats[motor], params), feats[motor],
                                access[motor], egress[motor], inside[motor])
    if fit is not None:
        model = fit(feats[is_user], mode[is_user])
    if model is not None and model.used:
        moving = ~is_user & np.isin(mode, model.classes)
        if moving.any():
            mode[moving] = model.predict(feats[moving], mode[moving])
    # After the vehicle is decided on each side: a crawl joined to the ride before would
    # make one episode whose jam reads as car traffic (GeoLife 084: a 58-minute bus ride
    # went to car). Neither side's mode changes; the crawl takes theirs.
    crawl = crawls(ts, Local(pts.lat, pts.lon), starts, stops, mode, fixed | tstart) \
        & ~is_user
    mode[1:][crawl[1:]] = mode[:-1][crawl[1:]]
    # Resolved modes (and the model) may give neighbours one mode: one segment again.
    n_before = len(starts)
    starts, mode, fixed, is_user, _ = _join_idx(starts, mode, fixed, is_user)
    stops = np.append(starts[1:], n)
    if len(starts) != n_before:
        feats = segment_features(ts, pts.lat, pts.lon, v, v_stop, steps, starts, stops,
                                 track_start[starts], real)
    # Distance of a segment: the steps between its own points (step i joins i-1 and i).
    dist = feats[:, F_DIST]
    p85 = feats[:, F_P85]
    dur = ts[stops - 1] - ts[starts]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(dur > 0, dist / dur, 0.0)
    names = np.array(MODES, dtype=object)[mode]
    rows = list(zip(pts.id[starts].tolist(), ts[starts].tolist(),
                    ts[stops - 1].tolist(), names.tolist(), (stops - starts).tolist(),
                    dist.tolist(), dur.tolist(), mean.tolist(), p85.tolist(),
                    pts.id[starts].tolist(), pts.id[stops - 1].tolist(), strict=True))
    return rows


# Columns of segment_features(): what a ride looks like beyond its speed (Zheng et al.
# 2008/2010: stop rate, velocity change rate; Biljecki et al. 2013 and Stenneth et al.
# 2011: stops, speed percentiles, fix loss).
FEATURES = ("distance_m", "duration_s", "p50_mps", "p85_mps", "p95_mps", "stops_per_km",
            "short_stops", "long_stops", "mean_stop_s", "gap_share", "n_gaps",
            "accel_mps2", "straightness", "speed_cv", "stop_spacing_cv")
(F_DIST, F_DUR, F_P50, F_P85, F_P95, F_STOP_RATE, F_SHORT, F_LONG, F_STOP_S, F_GAP_SHARE,
 F_GAPS, F_ACCEL, F_STRAIGHT, F_CV, F_SPACING_CV) = range(len(FEATURES))
STOP_MPS = 1.5  # a vehicle below this over STOP_WINDOW_S stands
LONG_HAUL_S = 6 * 3600.0  # a vehicle ride this long without a stay is a train
COACH_MIN_M = 60_000.0  # a road ride this long, never above COACH_MAX_MPS: a coach
COACH_MAX_MPS = 28.5  # 100 km/h, the governed top speed of buses and coaches, plus GPS noise
STOP_WINDOW_S = 20.0
GAP_S = 60.0  # a step longer than this (and 4x the usual step) lost the fix


def segment_features(ts: np.ndarray, lat: np.ndarray, lon: np.ndarray, v: np.ndarray,
                     v_stop: np.ndarray, steps: np.ndarray, starts: np.ndarray,
                     stops: np.ndarray, track_start: np.ndarray, real: np.ndarray
                     ) -> np.ndarray:
    """One row of FEATURES per segment ``[starts[k], stops[k])``.

    Depends on the segment's own points and, for the usual logging step a lost fix is
    measured against, on the segment before it in the same track (the walk to the
    station logs at the phone's normal rate; the subway then loses it): an INCREMENTAL
    run, which computes from a settled segment start on, gets the same numbers.
    """
    m = len(starts)
    out = np.zeros((m, len(FEATURES)))
    if m == 0:
        return out
    lo, hi = int(starts[0]), int(stops[-1])
    seg = np.repeat(np.arange(m), stops - starts)
    t = ts[lo:hi]
    dt = np.zeros(hi - lo)
    dt[1:] = t[1:] - t[:-1]
    first = np.zeros(hi - lo, dtype=bool)
    first[starts - lo] = True
    dt[first] = 0.0  # a step into a segment belongs to the one before
    d = np.where(first, 0.0, steps[lo:hi])
    dist = np.bincount(seg, weights=d, minlength=m)
    dur = ts[stops - 1] - ts[starts]
    out[:, F_DIST] = dist
    out[:, F_DUR] = dur
    out[:, F_P50] = segment_percentile(v, starts, stops, 0.5)
    out[:, F_P85] = segment_percentile(v, starts, stops, 0.85)
    out[:, F_P95] = segment_percentile(v, starts, stops, 0.95)
    # Stops: runs of step speeds under STOP_MPS, timed; a step over a lost fix is none.
    # Lost fixes: steps between real fixes (trajectory_completion fills gaps with
    # synthetic points) far longer than the usual step here or in the segment before.
    r = np.flatnonzero(real[lo:hi])
    rseg = seg[r]
    dtr = np.zeros(len(r))
    if len(r) > 1:
        dtr[1:] = np.where(rseg[1:] == rseg[:-1], t[r[1:]] - t[r[:-1]], 0.0)
    rs = np.searchsorted(r, starts - lo)
    re_ = np.searchsorted(r, stops - lo)
    med_real = segment_percentile(dtr, rs + 1, np.maximum(re_, rs + 1), 0.5)
    usual = med_real.copy()
    if m > 1:
        prev_ok = ~track_start[1:] & (re_[:-1] - rs[:-1] > 1)
        usual[1:] = np.where(prev_ok, np.minimum(med_real[1:], med_real[:-1]), med_real[1:])
    lost = (dtr > GAP_S) & (dtr > 4.0 * usual[rseg])
    gap = (dt > GAP_S) & (dt > 4.0 * usual[seg])
    slow = (v_stop[lo:hi] < STOP_MPS) & ~first & ~gap & real[lo:hi]
    s_start = slow & ~np.concatenate([[False], slow[:-1]])
    run_id = np.cumsum(s_start) - 1
    n_runs = int(s_start.sum())
    if n_runs:
        r_dur = np.bincount(run_id[slow], weights=dt[slow], minlength=n_runs)
        r_seg = seg[s_start]
        short = (r_dur >= 8.0) & (r_dur < 40.0)
        long_ = r_dur >= 40.0
        out[:, F_SHORT] = np.bincount(r_seg[short], minlength=m)
        out[:, F_LONG] = np.bincount(r_seg[long_], minlength=m)
        real_stop = r_dur >= 8.0
        n_stop = np.bincount(r_seg[real_stop], minlength=m)
        t_stop = np.bincount(r_seg[real_stop], weights=r_dur[real_stop], minlength=m)
        # How regular the stops are along the way (a bus's stops are where its stops
        # are; traffic lights come at random): CV of the distances between them.
        cum = np.cumsum(d)
        at = cum[s_start][real_stop]
        sg = r_seg[real_stop]
        if len(at) > 1:
            same = sg[1:] == sg[:-1]
            gaps_m = (at[1:] - at[:-1])[same]
            gs = sg[1:][same]
            c = np.bincount(gs, minlength=m)
            s1 = np.bincount(gs, weights=gaps_m, minlength=m)
            s2 = np.bincount(gs, weights=gaps_m ** 2, minlength=m)
            with np.errstate(divide="ignore", invalid="ignore"):
                mu = np.where(c > 0, s1 / np.maximum(c, 1), 0.0)
                sd = np.sqrt(np.maximum(s2 / np.maximum(c, 1) - mu * mu, 0.0))
                out[:, F_SPACING_CV] = np.where((c >= 2) & (mu > 0), sd / mu, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, F_STOP_S] = np.where(n_stop > 0, t_stop / n_stop, 0.0)
        out[:, F_STOP_RATE] = n_stop / np.maximum(dist / 1000.0, 0.1)
    out[:, F_GAPS] = np.bincount(rseg[lost], minlength=m)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[:, F_GAP_SHARE] = np.where(
            dur > 0, np.bincount(rseg[lost], weights=dtr[lost], minlength=m) / dur, 0.0)
        # Acceleration from the smoothed speed (jitter would dominate raw steps).
        dv = np.zeros(hi - lo)
        dv[1:] = np.abs(v[lo + 1:hi] - v[lo:hi - 1])
        ok = (dt > 0) & ~gap
        acc_sum = np.bincount(seg[ok], weights=dv[ok], minlength=m)
        acc_t = np.bincount(seg[ok], weights=dt[ok], minlength=m)
        out[:, F_ACCEL] = np.where(acc_t > 0, acc_sum / acc_t, 0.0)
        disp = Local(lat, lon).dist(starts, stops - 1)
        out[:, F_STRAIGHT] = np.where(dist > 0, np.minimum(disp / dist, 1.0), 1.0)
        vm = v[lo:hi]
        mov = vm > 3.0
        c = np.bincount(seg[mov], minlength=m)
        s1 = np.bincount(seg[mov], weights=vm[mov], minlength=m)
        s2 = np.bincount(seg[mov], weights=vm[mov] ** 2, minlength=m)
        mu = np.where(c > 0, s1 / c, 0.0)
        var = np.where(c > 0, np.maximum(s2 / np.maximum(c, 1) - mu * mu, 0.0), 0.0)
        out[:, F_CV] = np.where(mu > 0, np.sqrt(var) / mu, 0.0)
    return out


def walks_around(ts: np.ndarray, starts: np.ndarray, stops: np.ndarray, mode: np.ndarray,
                 track_start: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per piece ``[starts[k], stops[k])``: seconds on foot just before it (the walk piece
    before, in its track, or the one beyond a short wait), just after it, and whether it
    has a piece on both sides in its track that is not a short wait (where the ride began
    and ended is known, not cut by a logging gap or the end of the log).

    A short wait is a standing piece under WALK_PAUSE_S: at the stop before the bus comes,
    on the pavement after getting off. GeoLife's real buses often have one at an end; read
    as "no walk", they made 1,600 bus fixes "car from door to door" (1.5), where gen2's
    parked cars stand for hours at theirs."""
    m = len(starts)
    span = ts[stops - 1] - ts[starts]
    walk = mode == MODE_INDEX["walk"]
    access = np.zeros(m)
    egress = np.zeros(m)
    inside = np.zeros(m, dtype=bool)
    if m > 1:
        joined = ~track_start[1:]  # piece k+1 continues piece k's track
        access[1:] = np.where(walk[:-1] & joined, span[:-1], 0.0)
        egress[:-1] = np.where(walk[1:] & joined, span[1:], 0.0)
        # A short standing piece next to the ride (a wait at a stop, the phone settling)
        # says nothing of a door: look through it to the walk beyond, if any.
        wait = (mode == MODE_INDEX["stationary"]) & (span < WALK_PAUSE_S)
        if m > 2:
            j2 = joined[:-1] & joined[1:]  # pieces k, k+1, k+2 in one track
            access[2:] = np.where(wait[1:-1] & walk[:-2] & j2, span[:-2], access[2:])
            egress[:-2] = np.where(wait[1:-1] & walk[2:] & j2, span[2:], egress[:-2])
        inside[1:-1] = joined[:-1] & joined[1:] & ~wait[:-2] & ~wait[2:]
    return access, egress, inside


# Walking to and from a ride (issue 20): after a car one parks at the door, after a bus
# one walks from the stop. Ten real GeoLife people: walk after a bus median 310 s (a
# quarter under 134 s), after a car or taxi 8 s (three quarters under 174 s); gen2: 363 s
# and 6 s. Before boarding: bus 105 s, car 55 s (real); 268 s and 24 s (gen2).
EGRESS_BUS_S = 150.0  # walked on this long after a slow ride: a bus
EGRESS_CAR_S = 90.0  # at most this after the ride...
ACCESS_CAR_S = 120.0  # ...and at most this before it, both ends known: a car
# Walked at least this long both to a fast ride and from it, both ends known: no car (it
# is parked at the door), a train. Real walks after a car or taxi: three quarters under
# 174 s; to a metro and from it 100-480 s.
WALKED_TRANSIT_S = 300.0


def walk_evidence(modes: np.ndarray, f: np.ndarray, access: np.ndarray, egress: np.ndarray,
                  inside: np.ndarray) -> np.ndarray:
    """motor_rule's car/bus for road rides, revised by the walks around the ride.

    A car ride in town that looks like a bus in speed (p85 < 13 m/s, p95 < 19, stopping
    at least every 3 km) and is followed by a walk of EGRESS_BUS_S or more was a bus; a
    "bus" whose person walked under EGRESS_CAR_S after it and under ACCESS_CAR_S before
    it, with both ends inside the track, was a car (or a taxi) from door to door; so was
    a "train" on a city or suburban line (p95 < 23 m/s) with the same short walks. A
    "car" faster than a town bus walked to and from for WALKED_TRANSIT_S or more at both
    ends was a train.
    """
    out = modes.copy()
    if len(out) == 0:
        return out
    car, bus, train = MODE_INDEX["car"], MODE_INDEX["bus"], MODE_INDEX["train"]
    p95 = f[:, F_P95]
    town = (p95 < 19.0) & (f[:, F_P85] < 13.0) & (f[:, F_STOP_RATE] >= 0.3)
    out[(modes == car) & town & (egress >= EGRESS_BUS_S)] = bus
    door = (egress < EGRESS_CAR_S) & (access < ACCESS_CAR_S) & inside  # parked at both ends
    # Only a town bus: a coach leaves from a bus station, and the walks to and from it
    # are often out of the log (GeoLife 085's 98 km coach: 59 s before, none after).
    out[(modes == bus) & (p95 < 19.0) & door] = car
    # The same for a city or suburban line (p95 < 23 m/s): a station is walked to and from
    # (real metro rides: 100-480 s on foot at either end), a car is parked at the door.
    # Signals every mile on a suburban arterial stop a car 40-80 s every 2-4 km, as a metro
    # stops at its stations (gen3's suburb: 15-36 km drives read as train).
    out[(modes == train) & (p95 < 23.0) & door] = car
    # And the other way: five minutes and more on foot to a ride faster than a town bus
    # (not `town`, p85 >= 13 m/s) and five more from it, where the ride itself gives no
    # rail clue (a phone that logs a fix every few minutes, a line that bends) is the
    # walk to a station and from one (gen3: 2,958 train fixes of seed 3 read as car).
    walked = inside & (access >= WALKED_TRANSIT_S) & (egress >= WALKED_TRANSIT_S)
    out[(modes == car) & ~town & walked & (f[:, F_P85] >= 13.0)] = train
    return out


def motor_rule(f: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """car, bus or train (or bike, for a road cyclist) for motorised segments from their
    FEATURES rows.

    Evidence for a train beyond its speed: cruising above road traffic, losing the fix
    (underground, tunnels), long regular station stops rather than traffic lights, no
    stop-and-go. A bus: slow, with stops every 150-1000 m lasting 8-90 s. docs/SKILLS.md
    gives the reasoning and the sources.
    """
    out = np.full(len(f), MODE_INDEX["car"], dtype=np.int64)
    if len(f) == 0:
        return out
    p85, p95 = f[:, F_P85], f[:, F_P95]
    short, long_ = f[:, F_SHORT], f[:, F_LONG]
    n_stops = short + long_
    spacing = f[:, F_DIST] / np.maximum(n_stops, 1)
    # Speed alone says rail only beyond what road traffic holds (~150 km/h): a car on a
    # motorway cruises at 90-135 km/h like a regional or intercity train. What a road
    # never shows is the rest: losing the fix for minutes (tunnels, underground), few
    # stops kilometres apart after fast running (stations), track-straight lines.
    #
    # Each clue below must be more than a motorway gives. Real coaches and cars (GeoLife
    # 085, 126) cruise at 90-100 km/h, p85 <= 26 m/s, for 50-220 km, on roads as straight
    # as a line (0.93), with one rest stop, one tunnel and a toll or two; every clue of
    # 1.4 fired on them and a 3-hour drive read as train. So (1.5): a station pattern
    # needs stations (stops 1.5-50 km apart on a straight line), straight running counts
    # from 28 m/s (100 km/h, the coach limit), a held cruise from 27 m/s, a lost fix from
    # 3 % of the ride, and long stops count when one comes every 50 km. Rail keeps its other
    # clues (gen2: every train of five seeds reads as before).
    # A quarter of the ride without a fix is a tunnel or the underground, or a phone that
    # logs a car every few minutes after a walk logged every few seconds (gen3: 28,500
    # car fixes of 12 seeds read as train); a rail line runs straight (>= 0.9 of its path
    # as the crow flies), a road through town winds: straight, it weighs double (1.7).
    straight = f[:, F_STRAIGHT] >= 0.9
    station = ((n_stops >= 2) & (spacing >= 1500.0) & (spacing <= 50_000.0) & (p95 >= 20.0)
               & straight)
    # Trains run at line speed: a cruise held within a few percent for the whole ride
    # (Zheng et al. 2008: velocity change rate), where road traffic keeps changing speed;
    # a car on cruise control holds its speed too, below 27 m/s.
    steady = (f[:, F_P50] >= 27.0) & (f[:, F_P50] >= 0.95 * p95)
    lost_fix = (f[:, F_GAPS] >= 1) & (f[:, F_GAP_SHARE] >= 0.03) & (f[:, F_GAP_SHARE] < 0.25)
    rail = (2 * (p95 >= params["train_min_mps"]).astype(int)
            + ((p85 >= 28.0) & straight & (f[:, F_DIST] >= 3000.0))
            + (1 + straight) * (f[:, F_GAP_SHARE] >= 0.25) + lost_fix
            + (long_ >= np.maximum(1.0, f[:, F_DIST] / 50_000.0)) + station + steady)
    # Traffic: frequent stops, several short ones (lights, a jam), outnumbering the long
    # ones. One or two short stops over a long ride say nothing (a train slowing through
    # a station, a signal).
    road = ((f[:, F_STOP_RATE] >= 1.0).astype(int) + (short >= 3)
            + ((short >= 3) & (short > long_)))
    # A ride of many hours with no stop long enough to leave it (a stay): no bus or car
    # goes on that long without its passengers getting off, a long-distance or sleeper
    # train does (a two-day journey read as car, issue 20; the longest real bus, car or
    # coach ride among the ten GeoLife people lasted 3.5 h).
    long_haul = f[:, F_DUR] >= LONG_HAUL_S
    train = ((rail - road >= 2) | long_haul
             | ((p85 >= params["train_min_mps"]) & (road == 0)))
    bus = (~train & (p95 < 19.0) & (n_stops >= 3)
           & (spacing >= 150.0) & (spacing <= 900.0) & (f[:, F_STOP_S] >= 8.0)
           & (f[:, F_STOP_S] <= 90.0) & (f[:, F_SPACING_CV] < 0.6))

    # A metro or suburban line: cruising at its line speed between stations (p50 >= 12,
    # p85 >= 15 and p95 < 30 m/s, speed CV < 0.4), a station dwell of 40 s or more and
    # stations 1.2-6 km apart. Road traffic at those speeds is an urban motorway: no long
    # stop, or stops farther apart (GeoLife: Beijing subway rides p50 13-17, p85 17-21,
    # CV 0.20-0.38, 0.2-0.66 stops/km; cars above 12 m/s: no long stop or < 0.15/km).
    # 1.10: up to 108 km/h, not 83: newer and airport lines run at 90-100 km/h (gen2 and
    # gen3 metro fixes read as car; no real ride moved).
    rate, cv = f[:, F_STOP_RATE], f[:, F_CV]
    metro = ((f[:, F_P50] >= 12.0) & (p85 >= 15.0) & (p95 < 30.0) & (cv < 0.4)
             & (long_ >= 1) & (rate >= 0.15) & (rate <= 0.8))
    train |= metro
    # A commuter or suburban line: station stops 1.25-6.7 km apart (0.15-0.8 per km, three
    # or more) at a regular spacing (CV < 0.7) with a dwell of 15-90 s, line speed between
    # them (p85 >= 17 m/s, p95 below train_min_mps), and the fix lost for 5 % of the ride
    # or more (cuttings, tunnels, a carriage's roof). Road traffic stops at lights as
    # often but rarely that regularly, and keeps its fix. gen3's commuter and loop lines
    # read as car without it (a dwell under 40 s is no "long stop"); docs/SKILLS.md.
    # 1.9: up to train_min_mps, not 30 m/s: an S-Bahn runs at 120-140 km/h between its
    # stations (gen4 Vienna: 1,445 train fixes as car; no real or gen2/gen3 ride moved
    # to train).
    regional = ((p85 >= 17.0) & (p95 < params["train_min_mps"]) & (rate >= 0.15)
                & (rate <= 0.8) & (n_stops >= 3) & (f[:, F_SPACING_CV] < 0.7) & (f[:, F_STOP_S] >= 15.0)
                & (f[:, F_STOP_S] <= 90.0) & (f[:, F_GAP_SHARE] >= 0.05))
    train |= regional
    # A city bus need not stop at regular spacing (a jam, skipped stops): slow (p50 < 5,
    # p85 < 10 m/s) and stopping every 2 km or more often, at a speed that changes less
    # than a car's (CV < 0.4). Real buses (GeoLife, 10 people) median p50 4.8, p85 7.9
    # m/s, 1.3 stops/km; real cars p50 8.4, p85 16. docs/SKILLS.md gives the trade-off.
    bus |= (~train & (rate >= 0.5) & (p85 < 10.0) & (f[:, F_P50] < 5.0) & (cv < 0.4)
            & (p95 < 19.0))
    # A coach: a long road ride at motorway pace that never goes faster than a bus may.
    # Buses and coaches are governed to 100 km/h (EU Directive 92/6/EEC, 2002/85/EC;
    # China's road traffic regulations, art. 78: 100 km/h for buses, 120 for cars), so
    # over 60 km or more a coach runs at p85 >= 20 m/s with its top speed (p95) held under
    # 28.5 m/s, where a car keeps to the speed of the traffic, usually faster. Its speed
    # varies (CV >= 0.3: through town to the motorway and off it again); a car on cruise
    # control does not (GeoLife 126: 222 km at p50 25.1, p95 25.7 m/s, CV 0.14). GeoLife
    # 085's two coaches (123 and 98 km, p95 27.4 and 27.1, CV 0.39 and 0.34, 11,557
    # labelled fixes) read as car before. docs/SKILLS.md, transport_mode 1.6.
    coach = (~train & (f[:, F_DIST] >= COACH_MIN_M) & (p85 >= 20.0) & (p95 < COACH_MAX_MPS)
             & (cv >= 0.3))
    out[train] = MODE_INDEX["train"]
    out[bus | coach] = MODE_INDEX["bus"]
    # A road cyclist: 21-30 km/h for ten minutes or more, never faster than a fast
    # cyclist (p95 < 9 m/s), holding the pace (speed CV < 0.3) and stopping less than a
    # bus (< 0.5 stops/km). Its 20 s speed reaches bike_max_mps, so the episode read as a
    # vehicle and a sports tracker's 40 km ride came out as car (gen3's suburb: 10,847 of
    # 10,923 bike fixes). A car in town stops and goes (CV >= 0.3), a bus stops.
    road_bike = ((p95 < 9.0) & (f[:, F_CV] < 0.3) & (f[:, F_STOP_RATE] < 0.5)
                 & (f[:, F_DUR] >= 600.0) & ~train)
    out[road_bike] = MODE_INDEX["bike"]
    return out


def rule_modes(f: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """What the rules say of whole segments from their features alone (for comparing
    the rules with the personal model on the user's labelled stretches)."""
    p85 = f[:, F_P85]
    out = np.where(p85 < params["walk_max_mps"], MODE_INDEX["walk"],
                   np.where(p85 < params["bike_max_mps"], MODE_INDEX["bike"], MOTOR))
    motor = out == MOTOR
    out[motor] = motor_rule(f[motor], params)
    out[p85 >= params["plane_min_mps"]] = MODE_INDEX["plane"]
    return out


MODEL_MODES = ("walk", "bike", "car", "bus", "train")
HUMAN = (MODE_INDEX["walk"], MODE_INDEX["bike"])
VEHICLES = (MODE_INDEX["car"], MODE_INDEX["bus"], MODE_INDEX["train"])


class PersonalModel:
    """A small per-person classifier over segment FEATURES: Gaussian naive Bayes on
    log-scaled features with a shared (pooled) variance per feature, numpy only.

    Trained on the segments the user's labels cover; ``used`` only when, on labelled
    segments held back from training (k-fold), it is right more often than the rules.
    Its parameters are plain lists, so an INCREMENTAL run reuses them exactly.
    """

    def __init__(self, classes: list[int], mean: list[list[float]], var: list[float],
                 used: bool, report: dict[str, Any]) -> None:
        self.classes = np.array(classes, dtype=np.int64)
        self.mean = np.array(mean, dtype=np.float64).reshape(len(classes), -1) if classes \
            else np.zeros((0, 0))
        self.var = np.array(var, dtype=np.float64)
        self.used = used
        self.report = report

    @staticmethod
    def transform(f: np.ndarray) -> np.ndarray:
        # Few labels go a long way only on few features: the speeds, how often the
        # ride stops and how much of it lost the fix.
        cols = [F_P50, F_P85, F_P95, F_STOP_RATE, F_GAP_SHARE]
        return np.log1p(np.maximum(f[:, cols], 0.0))

    @classmethod
    def fit(cls, f: np.ndarray, y: np.ndarray) -> tuple[list[int], np.ndarray, np.ndarray]:
        x = cls.transform(f)
        classes = sorted(set(y.tolist()))
        mean = np.array([x[y == c].mean(axis=0) for c in classes])
        resid = x - mean[np.searchsorted(classes, y)]
        # Pooled variance with a floor: a few labels must not make a feature absolute.
        var = np.maximum(resid.var(axis=0) if len(x) > len(classes) else np.ones(x.shape[1]),
                         0.05)
        return classes, mean, var

    @staticmethod
    def _predict(x: np.ndarray, classes: list[int] | np.ndarray, mean: np.ndarray,
                 var: np.ndarray) -> np.ndarray:
        ll = -(((x[:, None, :] - mean[None, :, :]) ** 2) / var).sum(axis=2)
        return np.asarray(classes, dtype=np.int64)[np.argmax(ll, axis=1)]

    def predict(self, f: np.ndarray, rules: np.ndarray | None = None) -> np.ndarray:
        return self._combine(self._predict(self.transform(f), self.classes, self.mean,
                                           self.var), rules)

    @staticmethod
    def _combine(model: np.ndarray, rules: np.ndarray | None) -> np.ndarray:
        """The model moves a segment only between walk and bike: a few labels calibrate
        where one person's walking ends and cycling begins (pace is personal), they do not
        redraw motorised from human-powered, nor car, bus and train, which the rules read
        from the vehicle's physics (stops, line speed, lost fix): with a handful of
        labelled rides a five-feature model moved whole car rides to train."""
        if rules is None:
            return model
        human = np.isin(rules, HUMAN) & np.isin(model, HUMAN)
        return np.where(human, model, rules)

    @classmethod
    def train(cls, f: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> PersonalModel:
        """Fit on every labelled segment; judge by k-fold on held-back ones."""
        keep = np.isin(y, [MODE_INDEX[m] for m in MODEL_MODES])
        f, y = f[keep], y[keep]
        report: dict[str, Any] = {"labelled_segments": int(len(y))}
        if len(y) < 4 or len(set(y.tolist())) < 2:
            report["why_not_used"] = "needs at least 4 labelled moving segments of 2 modes"
            return cls([], [], [], False, report)
        k = min(10, len(y))  # leave-one-out up to 10 labelled segments
        fold = np.arange(len(y)) % k
        pred = np.zeros(len(y), dtype=np.int64)
        x = cls.transform(f)
        for j in range(k):
            tr = fold != j
            if len(set(y[tr].tolist())) < 1 or not tr.any():
                continue
            classes, mean, var = cls.fit(f[tr], y[tr])
            pred[~tr] = cls._predict(x[~tr], classes, mean, var)
        rules = rule_modes(f, params)
        pred = cls._combine(pred, rules)
        acc_model = float(np.mean(pred == y))
        acc_rules = float(np.mean(rules == y))
        classes, mean, var = cls.fit(f, y)
        # Not worse than the rules on what it never saw: the person's own calibration.
        used = acc_model >= acc_rules
        report.update({"held_back_accuracy_personal": round(acc_model, 3),
                       "held_back_accuracy_rules": round(acc_rules, 3),
                       "modes": [MODES[c] for c in classes], "used": used})
        return cls(classes, mean.tolist(), var.tolist(), used, report)

    def to_json(self) -> str:
        return json.dumps({"classes": self.classes.tolist(), "mean": self.mean.tolist(),
                           "var": self.var.tolist(), "used": self.used,
                           "report": self.report}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PersonalModel:
        d = json.loads(text)
        return cls(d["classes"], d["mean"], d["var"], d["used"], d["report"])


def labelled_modes(ts: np.ndarray, labels: list[tuple[float, float, str]]) -> np.ndarray:
    """Per point, the mode index its label gives it (-1: none); later labels win (a
    correction is read after the imported labels)."""
    out = np.full(len(ts), -1, dtype=np.int64)
    for s, e, m in labels:
        a = int(np.searchsorted(ts, s, side="left"))
        b = int(np.searchsorted(ts, e, side="right"))
        if b > a:
            out[a:b] = MODE_INDEX[m]
    return out


def promoted_modes(v: np.ndarray, label: np.ndarray, starts: np.ndarray, stops: np.ndarray,
                   params: dict[str, Any]) -> np.ndarray:
    """The mode of each run ``[starts[k], stops[k])`` whose smoothed label is ``label[k]``:
    walk, bike, plane, stationary or MOTOR (resolved per segment by motor_rule)."""
    p85 = segment_percentile(v, starts, stops, 0.85)
    mode = label.copy()
    # A walk or bike run whose fast points reach motor speeds is a slow stretch of a car
    # ride (traffic, lights): smoothed bike speeds do not get there.
    slow = (mode == MODE_INDEX["walk"]) | (mode == MODE_INDEX["bike"])
    mode[slow & (p85 >= params["bike_max_mps"])] = MOTOR
    mode[(mode == MODE_INDEX["walk"]) & (p85 >= params["walk_max_mps"])] = MODE_INDEX["bike"]
    return mode


# A stationary piece between two walks (or two rides on a bike) shorter than a stay
# (stay_detection's default time_threshold_s) is a pause on the way: a crossing, a level
# crossing, a look at a shop window. GeoLife's people label such walks and rides as one.
WALK_PAUSE_S = 300.0
WALK_LEG_S = 300.0  # a walk this long before or after a ride is the walk to or from the bike
CYCLING_MEDIAN_MPS = 1.8  # above brisk walking (1.2-1.5 m/s median): a ride; see cycling_episodes
EPISODE_WALK_S = 120.0  # a walk-speed piece this short inside a ride is the vehicle crawling
# A longer walk-speed piece between two vehicle pieces is the vehicle crawling in a jam
# when it keeps to the vehicle's line: up to CRAWL_S long, at least CRAWL_STRAIGHT of its
# path as the crow flies, and heading on within CRAWL_COS (about 35 degrees) of where the
# vehicle was going in its last HEADING_S. Someone who gets off walks away from the road,
# crosses it or turns back; a bus in a jam keeps going down the street.
CRAWL_S = 1200.0
CRAWL_STRAIGHT = 0.7
CRAWL_COS = 0.8
HEADING_S = 120.0
CRAWL_STEP_S = 30.0
CRAWL_STOP_Q, CRAWL_STOP_MPS = 0.1, 0.5  # stop-and-go: a tenth of it nearly standing
HEADING_MIN_M = 30.0  # a shorter displacement gives no direction worth comparing
BIKE_RIDE_S = 1800.0  # a bike piece this long at bike speed is no vehicle's crawl
SUSTAINED_Q = 0.9  # "sustained" speed of a ride: this quantile of the 20 s speed


def vehicle_episodes(ts: np.ndarray, v20: np.ndarray, starts: np.ndarray, mode: np.ndarray,
                     fixed: np.ndarray, is_user: np.ndarray, params: dict[str, Any]
                     ) -> np.ndarray:
    """One vehicle from boarding to alighting: the modes of the pieces ``starts`` after
    per-run classification, with each *vehicle episode* made one MOTOR piece.

    A bus or a car in town spends much of its time slow: braking for a stop, standing at
    it, pulling away, crawling in traffic. Its 60 s speeds fall in the bike and walk
    bands, so per-run classes cut one ride into car, bike, walk and stationary pieces (and
    a bus never reaches motor speed at all). Zheng et al. (2008, 2010) segment a trip at
    *walk* segments instead, since every change of vehicle passes through walking, and
    classify each segment between walks as a whole. Here an episode is a run of pieces
    that are bike, MOTOR, stationary up to ``transit_stop_s`` or walk-speed up to
    EPISODE_WALK_S (not at its ends), within one track and no label of the user's. It is a
    vehicle when it holds a MOTOR piece or its sustained speed (SUSTAINED_Q of the 20 s
    speed) reaches ``bike_max_mps``: a cyclist rarely holds that for a tenth of a ride,
    a bus or car between stops does. Pieces of one vehicle episode become MOTOR (car, bus
    or train is decided on the whole ride afterwards); a bike ride stays as it was.
    """
    m = len(starts)
    if m < 2:
        return mode
    bike, walk, still = MODE_INDEX["bike"], MODE_INDEX["walk"], MODE_INDEX["stationary"]
    nxt = np.append(ts[starts[1:]], ts[-1])
    dur = nxt - ts[starts]
    stops = np.append(starts[1:], len(ts))
    # Half an hour and more at a cyclist's sustained speed is a ride on a bike, not a
    # vehicle crawling: no bus or car keeps under bike_max_mps that long. Without this a
    # bike loop from a trailhead joined the drive there into one "car" (gen3 seed 83:
    # 6,747 bike fixes as car).
    ride = np.zeros(len(starts), dtype=bool)
    for k in np.flatnonzero((mode == bike) & (dur >= BIKE_RIDE_S)):
        ride[k] = float(np.quantile(v20[starts[k]:stops[k]], SUSTAINED_Q)) \
            < params["bike_max_mps"]
    core = (mode == MOTOR) | ((mode == bike) & ~ride)
    inner = (((mode == still) & (dur <= params["transit_stop_s"]))
             | ((mode == walk) & (dur <= EPISODE_WALK_S)))
    out = mode.copy()
    for k, j in _piece_runs(core | inner, fixed, is_user):
        # From its first core piece to its last: inner pieces at the ends are not the ride.
        cores = np.flatnonzero(core[k:j + 1]) + k
        if len(cores) == 0:
            continue
        span = slice(int(cores[0]), int(cores[-1]) + 1)
        a, b = int(starts[span.start]), int(stops[span.stop - 1])
        if bool((mode[span] == MOTOR).any()) or \
                float(np.quantile(v20[a:b], SUSTAINED_Q)) >= params["bike_max_mps"]:
            out[span] = MOTOR
    return out


def crawls(ts: np.ndarray, pos: Local, starts: np.ndarray, stops: np.ndarray,
           mode: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """Per segment: a walk of EPISODE_WALK_S to CRAWL_S directly between two segments of
    one vehicle (car, bus or train, the same on both sides) in one track that goes on
    along the vehicle's line: the vehicle crawling, which takes the vehicle's mode.

    Beijing buses crawl at 1-2 m/s for 2-20 minutes between two bus pieces (GeoLife 068,
    084, 125, 126: 1,286 bus fixes read as walks). Speed alone cannot tell that from
    getting off and walking; where the piece goes can. Of GeoLife's labelled walks
    directly between two vehicle pieces, all but one wander (path 0.1-0.6 straight) or
    turn away from the vehicle's heading; the crawls run straight on (0.7-1.0) in its
    direction, and stop and go as a queue does.
    """
    out = np.zeros(len(starts), dtype=bool)
    if len(starts) < 3:
        return out
    dur = ts[stops - 1] - ts[starts]
    vehicle = np.isin(mode, VEHICLES)
    cand = np.zeros(len(starts), dtype=bool)
    cand[1:-1] = ((mode[1:-1] == MODE_INDEX["walk"]) & (dur[1:-1] > EPISODE_WALK_S)
                  & (dur[1:-1] <= CRAWL_S) & vehicle[:-2] & (mode[:-2] == mode[2:])
                  & ~fixed[1:-1] & ~fixed[2:])
    for k in np.flatnonzero(cand):
        a, b = int(starts[k]), int(stops[k]) - 1
        if b <= a:
            continue
        net = float(pos.dist(np.array([a]), np.array([b]))[0])
        # The path through a fix every CRAWL_STEP_S: at walking pace, 1 s fixes' jitter
        # would add more length than the movement (a straight 450 m read as 1.2 km).
        grid = np.arange(ts[a], ts[b], CRAWL_STEP_S)
        idx = np.unique(np.append(np.searchsorted(ts, grid), b))
        path = float(pos.dist(idx[:-1], idx[1:]).sum())
        if net < HEADING_MIN_M or net < CRAWL_STRAIGHT * path:
            continue
        # Where the vehicle was heading over its last HEADING_S before the piece.
        h0 = max(int(starts[k - 1]), int(np.searchsorted(ts, ts[a] - HEADING_S)))
        if float(pos.dist(np.array([h0]), np.array([a]))[0]) < HEADING_MIN_M:
            continue
        vx, vy = _vector(pos, h0, a)
        wx, wy = _vector(pos, a, b)
        cos = (vx * wx + vy * wy) / (np.hypot(vx, vy) * np.hypot(wx, wy))
        if cos < CRAWL_COS:
            continue
        # A queue stops and goes; a walker keeps pace (gen2: a steady walk from the plane
        # to the car, on the plane's heading, went to car without this).
        speed = pos.dist(idx[:-1], idx[1:]) / np.maximum(np.diff(ts[idx]), 1.0)
        out[k] = float(np.quantile(speed, CRAWL_STOP_Q)) < CRAWL_STOP_MPS
    return out


def _vector(pos: Local, i: int, j: int) -> tuple[float, float]:
    """East and north components (degrees of latitude) from point i to point j."""
    dlon = (float(pos.lon[j] - pos.lon[i]) + 180.0) % 360.0 - 180.0
    return dlon * float(pos.coslat[i]), float(pos.lat[j] - pos.lat[i])


def cycling_episodes(ts: np.ndarray, v: np.ndarray, starts: np.ndarray, mode: np.ndarray,
                     fixed: np.ndarray, is_user: np.ndarray) -> np.ndarray:
    """A ride on a bike, whole: the modes of the pieces ``starts`` with each run of
    neighbouring walk and bike pieces that holds a bike piece made bike when the run's
    median 60 s speed reaches CYCLING_MEDIAN_MPS.

    A slow cyclist (GeoLife: median 2.2-3.3 m/s) slows to walking pace at every crossing
    and in a crowd, so per-point classes cut the ride into bike and walk pieces. Walking
    has a median of 1.2-1.5 m/s; a run whose median is above brisk walking and that
    cycles somewhere is one ride. Changing between walking and cycling means parking the
    bike, a stop between the pieces, which ends the run; a walk-only run is never changed.
    """
    m = len(starts)
    if m < 2:
        return mode
    bike, walk = MODE_INDEX["bike"], MODE_INDEX["walk"]
    human = (mode == bike) | (mode == walk)
    out = mode.copy()
    stops = np.append(starts[1:], len(v))
    for k, j in _piece_runs(human, fixed, is_user):
        is_bike = np.flatnonzero(mode[k:j + 1] == bike) + k
        if j == k or len(is_bike) == 0 or \
                float(np.median(v[starts[k]:stops[j]])) < CYCLING_MEDIAN_MPS:
            continue
        # From the first to the last bike piece; a walk before or after it stays a walk
        # when it is long and at walking pace (the walk to the bike rack).
        a, b = int(is_bike[0]), int(is_bike[-1])
        out[a:b + 1] = bike
        for e in (*range(k, a), *range(b + 1, j + 1)):
            if ts[stops[e] - 1] - ts[starts[e]] < WALK_LEG_S or \
                    float(np.median(v[starts[e]:stops[e]])) >= CYCLING_MEDIAN_MPS:
                out[e] = bike
    return out


def _piece_runs(member: np.ndarray, fixed: np.ndarray, is_user: np.ndarray
                ) -> list[tuple[int, int]]:
    """(first, last) of each maximal run of neighbouring ``member`` pieces that neither
    crosses a ``fixed`` start nor holds a piece the user labelled: what one episode may
    span (vehicle_episodes, cycling_episodes)."""
    ok = member & ~is_user
    first = ok.copy()
    first[1:] &= ~ok[:-1] | fixed[1:]
    last = ok.copy()
    last[:-1] &= ~ok[1:] | fixed[1:]
    return list(zip(np.flatnonzero(first).tolist(), np.flatnonzero(last).tolist(),
                    strict=True))


def _join(starts: np.ndarray, mode: np.ndarray, fixed: np.ndarray, is_user: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Neighbouring pieces of one mode as one, except across a ``fixed`` start."""
    out = _join_idx(starts, mode, fixed, is_user)
    return out[0], out[1], out[2], out[3]


def _join_idx(starts: np.ndarray, mode: np.ndarray, fixed: np.ndarray, is_user: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    keep = np.ones(len(starts), dtype=bool)
    keep[1:] = (mode[1:] != mode[:-1]) | fixed[1:]
    # A joined piece is the user's when any part of it was.
    grp = np.cumsum(keep) - 1
    user = np.zeros(int(keep.sum()), dtype=bool)
    np.logical_or.at(user, grp, is_user)
    return starts[keep], mode[keep], fixed[keep], user, np.flatnonzero(keep)


MODEL_KEY = NAME + "#model"  # the personal model's row in skill_inputs


def _stored_model(conn: Any) -> PersonalModel | None:
    text = stored_input(conn, MODEL_KEY)
    return None if text is None else PersonalModel.from_json(text)


def _body(run: SkillRun, plan: Plan) -> dict[str, Any]:
    ctx, conn = run.ctx, run.conn
    params = ctx.params
    labels = activity_labels(conn)
    restart = compute_from = None
    forced = False
    if not plan.full:
        # The last *hard* boundary before the margin: no decision reaches across it (see
        # the module docstring). Rides, cycling runs and crawls span several segments, so
        # an ordinary segment start is not one: a run cut there in an INCREMENTAL run
        # decided otherwise than the whole run did (gen4: a walk after a ride on a bike).
        row = conn.execute(
            "SELECT start_ts, prev_start, prev_end, prev_mode FROM (SELECT start_ts, "
            "LAG(start_ts) OVER w AS prev_start, LAG(end_ts) OVER w AS prev_end, "
            "LAG(mode) OVER w AS prev_mode, LAG(duration_s) OVER w AS prev_dur "
            "FROM mode_segments WINDOW w AS (ORDER BY start_ts)) "
            "WHERE start_ts < ? AND prev_start IS NOT NULL AND (start_ts - prev_end > ? "
            "OR (prev_mode = 'stationary' AND prev_dur >= ?)) "
            "ORDER BY start_ts DESC LIMIT 1",
            (plan.t0 - context_s(params), float(params["gap_s"]),
             max(HARD_STILL_S, 2.0 * float(params["transit_stop_s"])))).fetchone()
        if row is not None:
            restart = float(row[0])
            # After a logging gap the track starts afresh; after a long standstill the
            # standstill is the context the first rebuilt segment sees (walks_around).
            compute_from = restart if row[0] - row[2] > float(params["gap_s"]) \
                else float(row[1])
        if labels and restart is not None:
            # The personal model is fitted on every labelled stretch and may relabel any
            # segment: exact only as a whole. Without it in use, labels entirely before
            # the recomputed part leave that part as it would be.
            model = _stored_model(conn)
            last_label = max(e for _, e, _ in labels)
            if (model is None or model.used
                    or compute_from - context_s(params) <= last_label):
                restart = compute_from = None
                forced = True
    full = restart is None
    load_from = None if compute_from is None else compute_from - context_s(params)
    pts = merge_points(kept_points(conn, plan.watermark, load_from, on_chunk=run.reading),
                       load_synthetic(conn, load_from))
    run.loaded(len(pts))
    v, label, track_start = classify(pts.ts, pts.lat, pts.lon, params)
    run.computing(0.5)
    begin = write_from = 0
    if restart is not None:
        begin = int(np.searchsorted(pts.ts, compute_from, side="left"))
        write_from = int(np.searchsorted(pts.ts, restart, side="left"))
    labelled = labelled_modes(pts.ts, labels) if labels else None
    trained: list[PersonalModel] = []

    def fit(f: np.ndarray, y: np.ndarray) -> PersonalModel:
        trained.append(PersonalModel.train(f, y, params))
        return trained[-1]

    rows = build_segments(pts, v, label, track_start, begin, write_from, params, labelled,
                          fit=fit if labels and full else None)
    run.computing(1.0)
    run.begin()
    run.replace_from("mode_segments", SEGMENT_COLUMNS, rows, restart)
    if full and run._stored_inputs() is not None:
        if trained:
            conn.execute("INSERT OR REPLACE INTO skill_inputs (skill, fingerprint) "
                         "VALUES (?, ?)", (MODEL_KEY, trained[0].to_json()))
        else:
            conn.execute("DELETE FROM skill_inputs WHERE skill = ?", (MODEL_KEY,))
    if forced:
        plan = Plan(True, None, plan.watermark, plan.change_id,
                    plan.reason + "; in full: the user's labels reach the changed part")
    run.finish(plan, restart if restart is not None else (float(pts.ts[0]) if len(pts) else 0.0))
    by_mode: dict[str, int] = {}
    for r in rows:
        by_mode[r[3]] = by_mode.get(r[3], 0) + 1
    extra: dict[str, Any] = {}
    if labels:
        extra["labels"] = len(labels)
        extra["personal_model"] = (trained[0].report if trained
                                   else (_stored_model(conn) or PersonalModel(
                                       [], [], [], False, {})).report)
    return run.summary(plan, points=len(pts) - write_from, segments=len(rows),
                       segments_by_mode=by_mode, **extra)


def run(ctx: WorkerContext) -> dict[str, Any]:
    return run_skill(ctx, NAME, VERSION, _body)
