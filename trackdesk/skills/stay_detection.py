"""stay_detection: trackintel's sliding-window staypoints, vectorised, without lost stays.

The rule is the one of trackintel's ``generate_staypoints(method="sliding")`` (Li et al.
2008): from an anchor point, walk forward to the first point at least
``dist_threshold_m`` away; if that took at least ``time_threshold_s``, the points from
the anchor up to (not including) that point are a stay; the far point becomes the next
anchor. Deliberate differences, about not losing stays and not making them up:

* a logging gap longer than ``gap_threshold_s`` *ends* the current candidate (kept as a
  stay when it lasted long enough) instead of discarding it, and the default threshold is
  24 h, not trackintel's 15 min: a phone that logs every 20 minutes while its owner sits
  at home for 5 hours produced a 5-hour stay, not nothing, and a phone dead overnight
  at home leaves one visit, not an evening and a separate late morning;
* the last stay is always kept (trackintel's ``include_last=True``), marked ``is_open``;
* a stay ends when the person left (:func:`departures`): its last fix when the phone
  logged on, else, after a sleeping phone's silence, the first fix away less the way
  there; trackintel ends it at its last point;
* a logging gap of more than a minute before the first point away counts as time at
  the stay only for what is left of it after going that far at ``departure_speed_mps``
  (trackintel counts all of it): a phone that logs every 10 minutes on a walk would
  otherwise turn every fix into a stay, while one fix at a cinema and the next two
  hours later 2 km away is one;
* stays that follow each other with no point in between and centres within the distance
  threshold are joined (``merge_back_to_back``): with rare fixes, a window anchored on
  the last point of the arrival otherwise splits one visit in two.

Speed: the walk is a chain of "first point at least D away" look-ups. Because a straight
line is never longer than the path, that point cannot come before the path length from
the anchor reaches D (one ``searchsorted`` over the cumulative path length). Fast movers,
whose bound is a few steps away, are resolved all at once by vectorised probes from it;
the anchors left (stays, slow walks) gallop forward over plain numpy slices.
Distances are screened with an equirectangular approximation and computed exactly
(haversine, as trackintel) only within 10 cm of the threshold. The chain itself is a
pointer walk over plain Python ints.

INCREMENTAL: the anchor of a stay is a point the full walk also stands on, and the walk
from it depends only on later points. The run restarts at the second-to-last stay that
starts before the earliest change (the last one may grow and join its predecessor) and
is exact; an open last stay is recomputed with its new points.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from trackdesk.skills.geo import (
    DEG,
    EARTH_RADIUS_M,
    big_empty,
    haversine,
    haversine_one,
    segment_sums,
)
from trackdesk.skills.labels import active_corrections
from trackdesk.skills.store import Plan, SkillRun, kept_points, run_skill, stored_input
from trackdesk.skills.travel import UNDERGROUND_MIN_M, UNDERGROUND_MPS
from trackdesk.worker import WorkerContext

NAME = "stay_detection"
VERSION = "2.1.0"  # 2.1: a quiet phone's last fix just off the place is still the visit
# 2.0: a stay ends when the person left, after a quiet phone's silence
# 1.9: two stays at one place as far apart as their fixes' error are one
# 1.8: a gap of up to 24 h at one place is one stay (a night, phone off)
# 1.7: no stay inside a car ride either (a standstill in a jam)
# 1.6.1: only the fixes away stay out of a joined stay's centre
# 1.6: 60 m radius; fixes flipping near a place do not cut it; a
# quiet phone at a stop and a bike-share dock are waits, not places
# 1.5: a stay ends at its last fix, not where a quiet phone woke;
# a wait between two rides of public transport is a transfer
# 1.4: a lone stray fix is no stay; a stay ends when the person sets off
# 1.3: stray fixes and brief excursions do not cut a stay; waits for
# a bus or train are part of the trip
# 1.2: no stays inside a train or bus ride; the user's corrections
PROBES = 3
# Steps: points whose escape is this close are probed all at once. At 1.6's 60 m radius
# 8 steps took in cyclists too, whose every point was probed for the one anchor in a
# dozen the walk stands on (bench/skills: detect 0.16 s at 8, 0.04 s at 4; 100 m: 0.04
# and 0.03 s; 1 Hz driving 10 % slower at 4).
FAST = 4
BLOCK = 256  # points sharing one cosine in the path bound
CHUNK = 1 << 16  # points per pass over the data with small, cache-resident scratch
# A departure gap up to this long counts whole, as in trackintel: at continuous logging
# the step out of a stay is seconds, and the same stays come out as trackintel's.
FULL_GAP_S = 60.0
# Fixes away from a stay between two of its fixes are an excursion it tolerates (see
# merge_back_to_back) only within this time: 3 stray fixes of a phone logging every
# 5-10 minutes at a place span up to half an hour.
EXCURSION_SPARSE_S = 1800.0
# Two stays at one place with fixes between them that all stay near one of the two (a
# desk fix flipping between two positions 100 m apart, a sliding window re-anchored on a
# wobble) are one visit; only the fixes *away* count against ``excursion_points``. At
# most this many fixes between are looked at (a 30-minute gap at 1 Hz is more than
# that: a real excursion).
MERGE_LOOK = 200
# A burst of fixes that is a stay only by the silence after it joins the next stay when
# its last fix lies this close to it: about four minutes' walk, less than a stay lasts.
BURST_REACH_M = 300.0


class _Dist:
    """``d(i, j) >= D`` tests, approximate first and exact near the threshold."""

    def __init__(self, lat: np.ndarray, lon: np.ndarray, d_thr: float) -> None:
        self.lat = lat
        self.lon = lon
        self.k = EARTH_RADIUS_M * DEG
        self.d = d_thr
        self.tol = max(0.1, 1e-3 * d_thr)
        # No two longitudes more than 180 degrees apart: no difference ever needs the
        # short way round, and the plain scalar loop of _gallop is exact.
        self.no_wrap = bool(len(lon) == 0 or float(lon.max()) - float(lon.min()) <= 180.0)

    def ge(self, i: np.ndarray, coslat_i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """``d(i[k], j[k]) >= D`` for each k; ``coslat_i`` is cos(lat[i])."""
        dlat = self.lat[j] - self.lat[i]
        dlon = self.lon[j] - self.lon[i]
        if not self.no_wrap:
            dlon = np.where(dlon > 180.0, dlon - 360.0,
                            np.where(dlon < -180.0, dlon + 360.0, dlon))
        approx = self.k * np.sqrt(dlat * dlat + (coslat_i * dlon) ** 2)
        out = approx >= self.d
        near = np.abs(approx - self.d) < self.tol
        if np.any(near):
            ii, jj = i[near], j[near]
            out[near] = haversine(self.lat[ii], self.lon[ii], self.lat[jj], self.lon[jj]) >= self.d
        return out


class _Duration:
    """Did the stay from anchor ``k`` last ``t_thr`` when ``e`` is the first point away?

    trackintel's rule is ``ts[e] - ts[k] >= t_thr``: the gap before ``e`` counts whole.
    With a departure speed ``v > 0`` a gap counts whole up to ``FULL_GAP_S`` (continuous
    logging: the same stays as trackintel), and beyond that only for what is left of it
    after going from ``e - 1`` to ``e`` at ``v``. The plain rule is a necessary
    condition, checked first, so the extra work is for the few candidates that pass it.
    """

    def __init__(self, ts: np.ndarray, lat: np.ndarray, lon: np.ndarray, t_thr: float,
                 speed: float) -> None:
        self.ts, self.lat, self.lon = ts, lat, lon
        self.t_thr = t_thr
        self.speed = speed

    def many(self, k: np.ndarray, e: np.ndarray) -> np.ndarray:
        ts = self.ts
        ok = ts[e] - ts[k] >= self.t_thr
        if self.speed > 0.0 and ok.any():
            ok[ok] = self._with_departure(k[ok], e[ok])
        return ok

    def one(self, k: int, e: int) -> bool:
        """:meth:`many` for one anchor the walk stands on, on plain floats."""
        ts = self.ts.item
        if ts(e) - ts(k) < self.t_thr:
            return False
        if self.speed <= 0.0:
            return True
        lat, lon, p = self.lat.item, self.lon.item, e - 1
        travel = haversine_one(lat(p), lon(p), lat(e), lon(e)) / self.speed
        gap = ts(e) - ts(p)
        return (ts(p) - ts(k)) + max(min(gap, FULL_GAP_S), gap - travel) >= self.t_thr

    def _with_departure(self, k: np.ndarray, e: np.ndarray) -> np.ndarray:
        ts, p = self.ts, e - 1
        gap = ts[e] - ts[p]
        left = np.maximum(np.minimum(gap, FULL_GAP_S),
                          still_there(ts, self.lat, self.lon, e, self.speed))
        return (ts[p] - ts[k]) + left >= self.t_thr


def still_there(ts: np.ndarray, lat: np.ndarray, lon: np.ndarray, e: np.ndarray,
                speed: float) -> np.ndarray:
    """How long after the fix before each first point away ``e`` the person was still at
    the place: the silence less the time to go from that fix to ``e`` at ``speed`` (all
    of it when ``speed`` is 0, as trackintel); negative when the silence was the way."""
    gap = ts[e] - ts[e - 1]
    if speed <= 0.0:
        return gap
    return gap - haversine(lat[e - 1], lon[e - 1], lat[e], lon[e]) / speed


def _path_bound(lat: np.ndarray, lon: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Cumulative path length into ``out``, each step never shorter than its haversine.

    ``out`` holds n + pad values, the last one repeated over the padding. Equirectangular
    with the largest cosine of the step's block of 256 points instead of each point's
    own (a cosine per point is the dearest thing here: ~15 ms per million points), with
    1 % to spare; exact haversine for the rare long steps and near the poles. Computed
    in chunks with one small scratch array: each fresh 8 MB array costs more in page
    faults than the arithmetic on it.
    """
    n = len(lat)
    out[0] = 0.0
    if n > 1:
        m = n - 1
        nb = -(-m // BLOCK)
        lo = np.empty(nb)
        hi = np.empty(nb)
        full = m // BLOCK
        if full:
            block = lat[:full * BLOCK].reshape(full, BLOCK)
            block.min(axis=1, out=lo[:full])
            block.max(axis=1, out=hi[:full])
        if nb > full:
            lo[full] = lat[full * BLOCK:m].min()
            hi[full] = lat[full * BLOCK:m].max()
        # Smallest |lat| in the block, 0 where it crosses the equator: the largest cosine.
        nearest = np.where((lo <= 0.0) & (hi >= 0.0), 0.0, np.minimum(np.abs(lo), np.abs(hi)))
        cmax = np.cos(nearest * DEG)
        tmp = np.empty(min(m, CHUNK))
        for a in range(0, m, CHUNK):  # CHUNK is a multiple of BLOCK
            b = min(m, a + CHUNK)
            st = out[1 + a:1 + b]
            np.subtract(lat[a + 1:b + 1], lat[a:b], out=st)
            dx = np.subtract(lon[a + 1:b + 1], lon[a:b], out=tmp[:b - a])
            if float(dx.max()) > 180.0 or float(dx.min()) < -180.0:
                dx = (dx + 180.0) % 360.0 - 180.0  # the short way round the antimeridian
            k = b - a
            kf = k // BLOCK
            cb = cmax[a // BLOCK:]
            if kf:
                dx[:kf * BLOCK].reshape(kf, BLOCK).__imul__(cb[:kf, None])
            if k > kf * BLOCK:
                dx[kf * BLOCK:] *= cb[kf]
            st *= st
            dx *= dx
            st += dx
            np.sqrt(st, out=st)
            st *= EARTH_RADIUS_M * DEG * 1.01
        steps = out[1:n]
        long = np.flatnonzero(steps > 1000.0)
        if max(float(hi.max()), lat.item(m)) > 80.0 or min(float(lo.min()), lat.item(m)) < -80.0:
            long = np.union1d(long, np.flatnonzero(np.abs(lat[1:]) > 80.0))
        if len(long):
            steps[long] = haversine(lat[long], lon[long], lat[long + 1], lon[long + 1]) * 1.01
        np.cumsum(out[:n], out=out[:n])
    out[n:] = out[n - 1]
    return out


def detect(ts: np.ndarray, lat: np.ndarray, lon: np.ndarray, params: dict[str, Any]
           ) -> list[tuple[int, int, bool, bool]]:
    """Stays as (first index, stop index, left by moving away, is_open) over sorted points."""
    n = len(ts)
    if n == 0:
        return []
    d_thr = float(params["dist_threshold_m"])
    t_thr = float(params["time_threshold_s"])
    g_thr = float(params["gap_threshold_s"])
    long_enough = _Duration(ts, lat, lon, t_thr, float(params["departure_speed_mps"]))
    dist = _Dist(lat, lon, d_thr)
    # The cumulative path, and before it scratch for the gaps: fresh memory costs page
    # faults, so detect holds only this and the anchors' table at full length.
    cum = big_empty(n + FAST)
    # Gap-free segments end at these indices (exclusive).
    gap = np.subtract(ts[1:], ts[:-1], out=cum[:n - 1])
    seg_stop = np.append(np.flatnonzero(gap > g_thr) + 1, n)
    # Lower bound of the escape point: the first j whose path from k reaches D.
    _path_bound(lat, lon, cum)
    margin = d_thr * (1 - 1e-9) - 1e-3
    # Fast movers (the path over the next FAST steps reaches D) are resolved for all at
    # once by probing from the bound; everything else (stays, slow walks) is looked up
    # only if the walk stands on it.
    tmp = np.empty(min(n, CHUNK))
    far = np.empty(min(n, CHUNK), dtype=bool)
    parts = []
    for a in range(0, n, CHUNK):
        b = min(n, a + CHUNK)
        reach = np.add(cum[a:b], margin, out=tmp[:b - a])
        np.greater_equal(cum[a + FAST:b + FAST], reach, out=far[:b - a])
        parts.append(np.flatnonzero(far[:b - a]) + a)
    cand = np.concatenate(parts)
    del tmp, far, parts
    r_c = cum[cand] + margin
    # The bound is within FAST steps: count the steps short of it (cum never decreases).
    low = cand + 1
    for m in range(1, FAST):
        low += cum[cand + m] < r_c
    del r_c
    c_end = seg_stop[np.searchsorted(seg_stop, cand, side="right")]
    # What the walk finds at an anchor: 0 <= v < n its escape, left too soon for a stay;
    # v > n the escape v - n - 1, reached after a stay's time (the walk checks those);
    # n none in its segment; -1 nothing yet; <= -2 "gallop from -2 - v" (the probes
    # were not enough). Most hops of a fast mover are then one look-up each.
    nxt = big_empty(n, np.int32 if n < 2**30 - 2 else np.int64)
    nxt.fill(-1)
    nxt[cand[low >= c_end]] = n  # no escape inside the segment
    todo = np.flatnonzero(low < c_end)
    cos_c = np.cos(lat[cand] * DEG)
    for m in range(PROBES):
        if len(todo) == 0:
            break
        j = low[todo] + m
        inside = j < c_end[todo]
        nxt[cand[todo[~inside]]] = n
        todo, j = todo[inside], j[inside]
        hit = dist.ge(cand[todo], cos_c[todo], j)
        k, e = cand[todo[hit]], j[hit]
        nxt[k] = np.where(long_enough.many(k, e), e + (n + 1), e)
        todo = todo[~hit]
    nxt[cand[todo]] = -2 - (low[todo] + PROBES)
    # The chain walk touches only anchors (a few percent of the points): item() access
    # beats converting whole arrays to lists.
    nxt_i, ts_i, cum_i = nxt.item, ts.item, cum.item
    stops = seg_stop.tolist()
    seg = 0
    end = stops[0]
    stays: list[tuple[int, int, bool, bool]] = []
    start = 0
    while start < n:
        e = nxt_i(start)
        if 0 <= e < end:  # a plain hop (e < n, so within start's segment)
            start = e
            continue
        if e > n:
            e -= n + 1
        elif e < 0:
            if e == -1:
                # Not a fast mover: the bound lies beyond start + FAST, usually just so.
                r = cum_i(start) + margin
                pos = start + FAST + 1
                while pos < n and pos < start + 4 * FAST and cum_i(pos) < r:
                    pos += 1
                if pos < n and cum_i(pos) < r:
                    pos = int(np.searchsorted(cum[:n], r, side="left"))
            else:
                pos = -2 - e
            e = _gallop(dist, start, pos, end)
        if e >= end:  # no escape: the segment (or the data) ends inside the candidate
            if ts_i(end - 1) - ts_i(start) >= t_thr:
                stays.append((start, end, False, end == n))
            start = end
        else:
            if long_enough.one(start, e):
                stays.append((start, e, True, False))
            start = e
        while end <= start < n:
            seg += 1
            end = stops[seg]
    return stays


def drop_stray_stays(stays: list[tuple[int, int, bool, bool]], ts: np.ndarray,
                     lat: np.ndarray, lon: np.ndarray, params: dict[str, Any]
                     ) -> list[tuple[int, int, bool, bool]]:
    """Leave out a "stay" of at most ``excursion_points`` fixes that lies between two stays
    at one place (centres within the distance threshold), all three within
    EXCURSION_SPARSE_S: its fixes are then the excursion ``merge_back_to_back`` judges.

    A phone at a desk logs every few minutes; one fix that jumps 200 m (multipath, a Wi-Fi
    fix) is anchored by the sliding window, and the next fix, back at the desk minutes
    later, makes it last long enough to be a stay of its own: one stay cut in three
    (gen2 seed 201: 10 of 20 false stays, each splitting a true trip in two).
    """
    k_max = int(params.get("excursion_points", 0))
    if len(stays) < 3 or k_max <= 0:
        return stays
    a = np.array([s[0] for s in stays], dtype=np.int64)
    b = np.array([s[1] for s in stays], dtype=np.int64)
    clat, clon = centres(lat, lon, a, b)
    d = haversine(clat[:-2], clon[:-2], clat[2:], clon[2:])
    span = ts[a[2:]] - ts[b[:-2] - 1]
    stray = np.zeros(len(stays), dtype=bool)
    stray[1:-1] = ((b[1:-1] - a[1:-1] <= k_max) & (d <= float(params["dist_threshold_m"]))
                   & (span <= EXCURSION_SPARSE_S))
    # Not two in a row: each decision keeps a real stay on both sides.
    stray[1:] &= ~stray[:-1]
    return [st for st, s_ in zip(stays, stray, strict=True) if not s_]


def merge_back_to_back(stays: list[tuple[int, int, bool, bool]], ts: np.ndarray,
                       lat: np.ndarray, lon: np.ndarray, params: dict[str, Any],
                       acc: np.ndarray | None = None
                       ) -> tuple[list[tuple[int, int, bool, bool]], dict[int, list[tuple[int, int]]]]:
    """Join consecutive stays at one place that only a brief excursion separates.

    Two consecutive stays whose centres lie within the distance threshold are one visit
    when what lies between them is

    * nothing (the sliding window anchors a stay at the first point after the previous
      one, which can be a point still arriving; with rare fixes one visit otherwise comes
      out as two back-to-back stays: ``merge_back_to_back``);
    * fixes of which at most ``excursion_points`` are *away* (farther than the threshold
      from both centres, beyond their reported accuracy), at most MERGE_LOOK of them
      within ``EXCURSION_SPARSE_S``: a jump or a Wi-Fi/cell fix between two fixes a phone
      logs minutes apart at a place (Montoliu et al. 2013 and Hariharan & Toyama 2004
      cluster stays with the same tolerance for a stray fix; the sliding window alone
      ends the stay at it), or fixes near the place the window re-anchored on;
    * or an excursion of at most ``excursion_s`` (a step outside and back).

    A "stay" whose own fixes span less than ``time_threshold_s``, directly followed by a
    stay within BURST_REACH_M of its last fix, is the arrival at that stay and joins it.

    Returns the stays and, per merged stay (keyed by its first index), the index ranges
    of the fixes away, which stay out of its centre and radius. Each decision needs only
    the two stays and the points between them, so restarts stay exact (see ``_body``).
    """
    if len(stays) < 2 or not params["merge_back_to_back"]:
        return stays, {}
    stays = drop_stray_stays(stays, ts, lat, lon, params)
    a = np.array([s[0] for s in stays], dtype=np.int64)
    b = np.array([s[1] for s in stays], dtype=np.int64)
    clat, clon = centres(lat, lon, a, b)
    d_thr = float(params["dist_threshold_m"])
    d = haversine(clat[:-1], clon[:-1], clat[1:], clon[1:])
    gap_t = ts[a[1:]] - ts[b[:-1] - 1]
    between = a[1:] - b[:-1]
    gap_ok = (gap_t <= params["gap_threshold_s"]) & (between >= 0)
    join = (d <= d_thr + centre_error(acc, a, b, d_thr)) & gap_ok
    # A walker's last burst of fixes before the phone falls quiet (GPS lost at a
    # building's door, a phone that sleeps when it thinks its owner is still) is a "stay"
    # too short to be one on its own fixes (the quiet time made it long enough): when its
    # last fix lies within a few minutes' walk of the next stay, right before it, the
    # person walked on to that place and stayed there; it is the arrival.
    span = ts[b - 1] - ts[a]
    last_d = haversine(lat[b[:-1] - 1], lon[b[:-1] - 1], clat[1:], clon[1:])
    join |= ((between == 0) & (span[:-1] < float(params["time_threshold_s"]))
             & (last_d <= max(2 * d_thr, BURST_REACH_M)) & gap_ok)
    k_max = int(params.get("excursion_points", 0))
    short_s = float(params.get("excursion_s", 0.0))
    # Per join with fixes between: the ranges of them that are not where the person was
    # (all of a short excursion; only the fixes away otherwise).
    gone: dict[int, list[tuple[int, int]]] = {}
    for k in np.flatnonzero(join & (between > 0)).tolist():
        if gap_t[k] <= short_s:
            gone[k] = [(int(b[k]), int(a[k + 1]))]
            continue
        if between[k] > MERGE_LOOK:
            join[k] = False
            continue
        i = np.arange(b[k], a[k + 1])
        # Away from both stays, beyond what the fix itself claims as its error.
        slack = d_thr + (np.maximum(acc[i], 0.0) if acc is not None else 0.0)
        away = ((haversine(lat[i], lon[i], clat[k], clon[k]) > slack)
                & (haversine(lat[i], lon[i], clat[k + 1], clon[k + 1]) > slack))
        # Stray fixes are tolerated within EXCURSION_SPARSE_S; over a longer time, only
        # fixes all at the place join: a phone that sleeps while its owner is still logs a
        # Wi-Fi fix every 10-60 minutes, scattered 20-70 m around the place, and the
        # sliding window cut a morning at home in two at one of them (gen4: 206 pieces).
        # A silence with no fix at all already joins (between == 0), at any length.
        n_away = int(away.sum())
        join[k] = n_away <= k_max if gap_t[k] <= EXCURSION_SPARSE_S else n_away == 0
        edges = np.flatnonzero(np.diff(away, prepend=False, append=False)) + int(b[k])
        gone[k] = [(int(x), int(y)) for x, y in zip(edges[::2], edges[1::2], strict=True)]
    out = [stays[0]]
    excluded: dict[int, list[tuple[int, int]]] = {}
    for k in range(1, len(stays)):
        if join[k - 1]:
            first = out[-1][0]
            if gone.get(k - 1):
                excluded.setdefault(first, []).extend(gone[k - 1])
            out[-1] = (first, stays[k][1], stays[k][2], stays[k][3])
        else:
            out.append(stays[k])
    return out, excluded


def centre_error(acc: np.ndarray | None, a: np.ndarray, b: np.ndarray, d_thr: float
                 ) -> np.ndarray:
    """Per pair of consecutive stays: how far apart their centres may lie by the fixes'
    error alone, the standard error of the difference of two means (median reported
    accuracy / sqrt(fixes) of each), at most half the distance threshold; 0 where the
    accuracy is unknown.

    A phone that sleeps while its owner is still logs a Wi-Fi fix every 10-60 minutes,
    reported at 30-65 m and scattered as far around the place: a stay of two such fixes
    has a centre that is 40 m uncertain, and the morning at the office came out as two
    stays 63 m apart with nothing between them (gen4).
    """
    if acc is None or len(a) < 2:
        return np.zeros(max(len(a) - 1, 0))
    se = np.array([float(np.median(np.maximum(acc[x:y], 0.0))) / np.sqrt(y - x)
                   for x, y in zip(a.tolist(), b.tolist(), strict=True)])
    return np.minimum(np.hypot(se[:-1], se[1:]), d_thr / 2)


def extend_arrivals(stays: list[tuple[int, int, bool, bool]], ts: np.ndarray,
                    lat: np.ndarray, lon: np.ndarray, params: dict[str, Any],
                    excluded: dict[int, list[tuple[int, int]]]
                    ) -> tuple[list[tuple[int, int, bool, bool]], dict[int, list[tuple[int, int]]]]:
    """A stay from its first fix at the place: the fixes right before it (after the stay
    before) within the distance threshold of its centre join it.

    The sliding window moves its anchor to the fix that ended a window too short for a
    stay. At a place where a sleeping phone's Wi-Fi fixes scatter 20-70 m, the first
    fixes there are such a window: the supermarket visit came out as its last fix alone,
    a "stay" of 0 s whose silence made it long enough (gen4: 106 stays under a minute,
    none matching a visit). A fix farther out, a logging gap longer than
    ``gap_threshold_s`` or the stay before ends the look back; trim_moving_ends then drops
    what was still the way there.
    """
    if not stays:
        return stays, excluded
    d_thr = float(params["dist_threshold_m"])
    g_thr = float(params["gap_threshold_s"])
    a = np.array([st[0] for st in stays], dtype=np.int64)
    b = np.array([st[1] for st in stays], dtype=np.int64)
    clat, clon = centres(lat, lon, a, b)
    out: list[tuple[int, int, bool, bool]] = []
    new_excluded: dict[int, list[tuple[int, int]]] = {}
    for k, (s, e, moved, is_open) in enumerate(stays):
        lo = int(b[k - 1]) if k else 0
        i = s
        while i > lo and haversine_one(float(lat[i - 1]), float(lon[i - 1]), float(clat[k]),
                                       float(clon[k])) <= d_thr \
                and ts[i] - ts[i - 1] <= g_thr:
            i -= 1
        if s in excluded:
            new_excluded[i] = excluded[s]
        out.append((i, e, moved, is_open))
    return out, new_excluded


def _gallop(dist: _Dist, start: int, pos: int, end: int) -> int:
    """First j in [pos, end) with d(start, j) >= D, or ``end``.

    The escape is usually within a few points of the bound: those are tried one by one
    on plain floats (a numpy call costs more than a point). Then growing blocks of plain
    slices (256, 1024, ... points): a stay of thousands of points costs a handful of
    numpy calls. Where longitudes may wrap, the blocks are the original 32, 256, ...,
    each wrapped as a whole, so the differences stay bit for bit what they were.
    """
    lat, lon = dist.lat, dist.lon
    la, lo = lat.item(start), lon.item(start)
    c = math.cos(la * DEG)
    lo_thr = ((dist.d - dist.tol) / dist.k) ** 2
    hi_thr = ((dist.d + dist.tol) / dist.k) ** 2
    block = 32
    grow = 8
    if dist.no_wrap:
        lat_i, lon_i = lat.item, lon.item
        stop = min(end, pos + block)
        for j in range(pos, stop):
            dlat = lat_i(j) - la
            dx = c * (lon_i(j) - lo)
            d2 = dlat * dlat + dx * dx
            if d2 >= lo_thr and (d2 >= hi_thr or haversine(la, lo, lat_i(j), lon_i(j)) >= dist.d):
                return j
        pos = stop
        block = 256
        grow = 4  # overshoots the escape of a long stay less than 8 (a third of the work)
    while pos < end:
        stop = min(end, pos + block)
        dlat = lat[pos:stop] - la
        dlon = lon[pos:stop] - lo
        if not dist.no_wrap and np.abs(dlon).max() > 180.0:
            dlon = (dlon + 180.0) % 360.0 - 180.0
        dlat *= dlat
        dlon *= c
        dlon *= dlon
        dlat += dlon
        far = dlat >= lo_thr
        k = int(far.argmax())
        while far[k]:
            j = pos + k
            if dlat[k] >= hi_thr or haversine(la, lo, lat.item(j), lon.item(j)) >= dist.d:
                return j
            nxt = far[k + 1:]
            if len(nxt) == 0:
                break
            k += 1 + int(nxt.argmax())
        pos = stop
        block *= grow
    return end


def centres(lat: np.ndarray, lon: np.ndarray, a: np.ndarray, b: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Mean position of the points [a, b) of each stay.

    trackintel 1.4 places a staypoint at the centroid of its points (on the sphere; for a
    stay's extent the plain mean is the same to the millimetre). Each slice is summed on
    its own, so the result does not depend on what else was loaded.
    """
    m = (b - a).astype(np.float64)
    return segment_sums(lat, a, b) / m, segment_sums(lon, a, b) / m


def departures(ts: np.ndarray, lat: np.ndarray, lon: np.ndarray,
               stays: list[tuple[int, int, bool, bool]], speed: float) -> np.ndarray:
    """When the person left each stay: its ``end_ts``.

    A phone that logs on and on shows it: the last fix there (the next one is seconds
    later). A phone that falls silent while its owner is still (iOS pauses the GPS, an
    Android logger keeps a Wi-Fi fix an hour) wakes only once they are on the way: the
    visit lasted through the silence, less the way to the first fix away
    (:func:`still_there`, the allowance the duration rule makes too). A stay left by a
    logging gap longer than the gap threshold, or still open, ends at its last fix:
    nothing tells when the person left.
    """
    n = len(ts)
    e = np.array([st[1] for st in stays], dtype=np.int64)
    moved = np.array([st[2] for st in stays], dtype=bool) & (e < n)
    ends = ts[e - 1].astype(float)
    k = np.flatnonzero(moved)
    k = k[ts[e[k]] - ts[e[k] - 1] > FULL_GAP_S]  # continuous logging: the last fix
    ends[k] += np.maximum(still_there(ts, lat, lon, e[k], speed), 0.0)
    return ends


def stay_rows(ids: np.ndarray, ts: np.ndarray, lat: np.ndarray, lon: np.ndarray,
              stays: list[tuple[int, int, bool, bool]],
              excluded: dict[int, list[tuple[int, int]]] | None = None,
              speed: float = 0.0) -> list[tuple]:
    """Result rows of the stays: times, centre, size, first and last point, radius.

    ``excluded``: per stay (by first index) the ranges of fixes of an excursion it
    tolerated (merge_back_to_back); they are not where the person was, so they count
    neither in its centre nor in its radius (they do in its point count: the stay's
    time span holds them). ``speed``: the departure speed of :func:`departures`.
    """
    if not stays:
        return []
    a = np.array([s[0] for s in stays], dtype=np.int64)
    b = np.array([s[1] for s in stays], dtype=np.int64)
    mlat, mlon = centres(lat, lon, a, b)
    m = b - a
    # Descriptive only: an equirectangular distance is plenty (and 5x cheaper). The
    # largest distance is that of the largest squared one (np.hypot costs 25 ns a point):
    # hypot is taken only for the points within rounding of the largest square.
    k = EARTH_RADIUS_M * DEG
    cosm = np.cos(mlat * DEG)
    radius = np.zeros(len(a))
    # Long stays (most of the points) one slice at a time: no per-point index arrays.
    big = m > 64
    for s in np.flatnonzero(big).tolist():
        dy = lat[a[s]:b[s]] - mlat[s]
        dx = lon[a[s]:b[s]] - mlon[s]
        dx *= cosm[s]
        q = dy * dy
        q += dx * dx
        top = q.max()
        if top > 0.0:
            near = q >= top * (1.0 - 1e-9)
            radius[s] = k * np.hypot(dy[near], dx[near]).max()
    small = np.flatnonzero(~big)
    if len(small):
        ms = m[small]
        first = np.concatenate([[0], np.cumsum(ms)[:-1]])
        owner = np.repeat(np.arange(len(small)), ms)
        idx = np.repeat(a[small] - first, ms) + np.arange(int(ms.sum()))
        dy = lat[idx] - mlat[small][owner]
        dx = (lon[idx] - mlon[small][owner]) * cosm[small][owner]
        q = dy * dy + dx * dx
        near = q >= (np.maximum.reduceat(q, first) * (1.0 - 1e-9))[owner]
        d = np.zeros(len(q))
        d[near] = k * np.hypot(dy[near], dx[near])
        radius[small] = np.maximum.reduceat(d, first)
    for k, st in enumerate(stays):
        gaps = (excluded or {}).get(st[0])
        if not gaps:
            continue
        keep = np.ones(st[1] - st[0], dtype=bool)
        for g0, g1 in gaps:
            keep[max(g0 - st[0], 0):max(min(g1, st[1]) - st[0], 0)] = False
        if not keep.any():
            continue
        sl_lat, sl_lon = lat[st[0]:st[1]][keep], lon[st[0]:st[1]][keep]
        mlat[k], mlon[k] = sl_lat.mean(), sl_lon.mean()
        radius[k] = float(haversine(sl_lat, sl_lon, mlat[k], mlon[k]).max())
    rows = []
    n = len(ts)
    ends = departures(ts, lat, lon, stays, speed)
    for k, (s, e, moved, is_open) in enumerate(stays):
        left = float(ts[e]) if moved and e < n else None
        rows.append((int(ids[s]), float(ts[s]), float(ends[k]), left, float(mlat[k]),
                     float(mlon[k]), e - s, int(ids[s]), int(ids[e - 1]), float(radius[k]),
                     1 if is_open else 0))
    return rows


RIDE_MODES = ("train", "bus", "car")


def drop_transit_stops(conn: Any, stays: list[tuple[int, int, bool, bool]], ts: np.ndarray
                       ) -> list[tuple[int, int, bool, bool]]:
    """Without the stays transport_mode put inside a train, bus or car ride (a stop at a
    station between two stretches on the same line, a standstill in a jam or at a level
    crossing): a stay is where the person went, not where the vehicle waited.
    transport_mode keeps a standstill in the ride only up to ``transit_stop_s``; a car
    that stands longer ends its ride and leaves a stay. Decided from the stay's own time
    range only."""
    if not stays:
        return stays
    t0 = float(ts[stays[0][0]])
    segs = conn.execute(
        "SELECT start_ts, end_ts FROM mode_segments WHERE end_ts >= ? AND mode IN "
        f"({', '.join('?' * len(RIDE_MODES))}) ORDER BY start_ts", (t0, *RIDE_MODES)).fetchall()
    if not segs:
        return stays
    s0 = np.array([r[0] for r in segs])
    s1 = np.array([r[1] for r in segs])
    out = []
    for st in stays:
        a, b = float(ts[st[0]]), float(ts[st[1] - 1])
        # Inside a ride: one ride segment runs from before the stay to after it.
        j = int(np.searchsorted(s0, a, side="left")) - 1
        inside = j >= 0 and s0[j] < a and s1[j] > b
        if not inside:
            out.append(st)
    return out


# How far before a stay's first and after its last fix the arriving and departing
# movement is looked for (a bus pulls away, a walker's last steps are slow).
WAIT_EDGE_S = 180.0


WAIT_MODES = ("train", "bus", "car")
# On foot, or off a train or a bus: a wait between two rides of public transport is a
# transfer. Off a car, a stop before riding on is a visit (a fuel stop, a pick-up).
ARRIVALS = ("walk", "train", "bus")
# Leaving a place with no fix and reappearing at least this far away, faster than a
# cyclist, is a ride the phone did not see (a subway underground): travel.py's rule.
VANISH_M = UNDERGROUND_MIN_M
VANISH_MPS = UNDERGROUND_MPS
# After a landing: taxiing to the gate, waiting to leave the aircraft, a queue at passport
# control, the belt. A short stay this soon after the last fix of a flight is the airport,
# part of the journey, not a place the person went to (gen3: 12 false stays in 12 seeds,
# each cutting the trip home from the airport in two).
DEBOARD_S = 1200.0


def drop_transit_waits(conn: Any, stays: list[tuple[int, int, bool, bool]], ts: np.ndarray,
                       lat: np.ndarray, lon: np.ndarray, wait_s: float
                       ) -> list[tuple[int, int, bool, bool]]:
    """Without the waits for a ride: a stay of at most ``wait_s``, reached on foot and
    left directly by a vehicle (a bus, a train, a taxi or a lift), or left with no fix
    to reappear kilometres away faster than a cyclist (a subway underground), is the
    person at a stop or on a platform, part of the trip: the walk to the stop, the wait
    and the ride are one journey (Zheng et al. 2008 segment trips at walks for the same
    reason). A visit that lasts longer, or that the person leaves on foot or by bike,
    stays a stay. A stay of at most ``wait_s`` starting within DEBOARD_S of a flight's
    last fix is no place either: the gate, passport control, the belt. Decided from the
    stay's own points, the first point after it and the mode segments just around it."""
    if not stays or wait_s <= 0:
        return stays
    short = [k for k, st in enumerate(stays)
             if st[2] and float(ts[st[1] - 1]) - float(ts[st[0]]) <= wait_s]
    if not short:
        return stays
    t0 = float(ts[stays[short[0]][0]]) - max(WAIT_EDGE_S, DEBOARD_S)
    segs = conn.execute(
        "SELECT start_ts, end_ts, mode FROM mode_segments WHERE end_ts >= ? "
        "AND mode != 'stationary' ORDER BY start_ts", (t0,)).fetchall()
    if not segs:
        return stays
    s0 = np.array([r[0] for r in segs])
    s1 = np.array([r[1] for r in segs])
    modes = [r[2] for r in segs]
    landed = np.array([r[1] for r in segs if r[2] == "plane"])
    drop = set()
    for k in short:
        a, b = float(ts[stays[k][0]]), float(ts[stays[k][1] - 1])
        p = int(np.searchsorted(landed, a, side="right")) - 1
        if p >= 0 and landed[p] >= a - DEBOARD_S:
            drop.add(k)
            continue
        # The last moving segment starting before the stay, the first one still going
        # at its last fix or starting after it (segments are in order and tile time).
        i = int(np.searchsorted(s0, a, side="left")) - 1
        j = int(np.searchsorted(s1, b, side="left"))
        if 0 <= j < len(segs) and s0[j] < a:
            # One walk segment holds the whole stay (the wait is slow walking to the
            # transport classifier): the departure is the segment after it.
            j += 1
        if i < 0 or j >= len(segs):
            continue
        e = stays[k][1]
        # The ride may start after the stay's last fix: a phone quiet at the stop logs
        # again on the moving bus, or the wait goes on still beyond the stay (nothing moves
        # in between: j is the first moving segment). From the first fix at the stop to
        # the ride, the whole wait is within wait_s.
        edge = max(b + WAIT_EDGE_S, a + wait_s)
        came = s1[i] >= a - WAIT_EDGE_S
        walked = came and modes[i] == "walk"
        arrived = came and modes[i] in ARRIVALS
        # Off a walk onto a bike is a bike-share dock (or a slow bus read as a bike).
        rode = s0[j] <= edge and (modes[j] in WAIT_MODES or (walked and modes[j] == "bike"))
        if not rode and e < len(ts):
            gap = float(ts[e] - ts[e - 1])
            far = float(haversine_one(float(lat[e - 1]), float(lon[e - 1]), float(lat[e]),
                                      float(lon[e])))
            rode = gap > 0 and far >= VANISH_M and far / gap >= VANISH_MPS
        if arrived and rode:
            drop.add(k)
    return [st for k, st in enumerate(stays) if k not in drop]


CORE_M = 30.0  # at least this far from a stay's centre a fix may be on the way
# A phone that logs rarely while still wakes when it moves (an Android fused-location
# logger; gen3's phone): the fixes after a stay's last long silence, followed at once by
# the walk away, are the person setting off, not the place, even inside its radius. The
# stay's last point is the last fix before them; it lasted until the person set off
# (departures(): its `end_ts`), and its trip starts there.
WAKE_GAP_S = 120.0
WAKE_STEP_S = 60.0
WAKE_MPS = 1.0
TRIM_MAX_S = 180.0  # the most of a stay's start or end that is trimmed as the way


def _wake_trim(ts: np.ndarray, lat: np.ndarray, lon: np.ndarray, first: int, b: int,
               ) -> int:
    """The new end of a stay ``[.., b)`` without the fixes logged as its person set off
    after a long silence (WAKE_GAP_S): from the first of them to the fix after them, at
    most TRIM_MAX_S, moving at WAKE_MPS or more, the last of them at most WAKE_STEP_S
    before that fix. ``first``: the earliest end kept.

    The price: a still fix logged seconds before the person walked off looks the same,
    and that stay ends one logging interval early. Both independent generators' phones
    wake after the person moves; their trips F1 rose on every seed (docs/SKILLS.md)."""
    if b >= len(ts) or b - first < 1:
        return b
    gaps = np.flatnonzero(np.diff(ts[first - 1:b]) > WAKE_GAP_S)
    if not len(gaps):
        return b
    j = first + int(gaps[-1])  # the first fix after the last long silence
    span = float(ts[b] - ts[j])
    if 0 < span <= TRIM_MAX_S and float(ts[b] - ts[b - 1]) <= WAKE_STEP_S \
            and haversine_one(lat[j], lon[j], lat[b], lon[b]) >= WAKE_MPS * span:
        return j
    return b


def trim_moving_ends(stays: list[tuple[int, int, bool, bool]], ts: np.ndarray,
                     lat: np.ndarray, lon: np.ndarray,
                     excluded: dict[int, list[tuple[int, int]]]
                     ) -> tuple[list[tuple[int, int, bool, bool]], dict[int, list[tuple[int, int]]]]:
    """A stay from when the person got there to when they set off.

    The sliding window keeps every fix within ``dist_threshold_m`` of its anchor, so a
    stay also holds the first 100 m of the walk away and the last of the walk there
    (with a meandering start, minutes): a 7-minute walk between two buildings came out
    as a 2-minute trip. Fixes at the start and at the end farther from the stay's centre
    than its core (CORE_M, or twice the median distance of its fixes where the place is
    noisier) are the way there or away, when they span up to TRIM_MAX_S at either end
    (their own span: a silence before the last of them is the person still there, not
    the way); so are the fixes after a long silence logged walking away (_wake_trim). The
    stay keeps at least half its fixes. Decided from the stay's own points and the one
    after it: INCREMENTAL stays exact.
    """
    out: list[tuple[int, int, bool, bool]] = []
    new_excluded: dict[int, list[tuple[int, int]]] = {}
    if not stays:
        return out, new_excluded
    a0 = np.array([st[0] for st in stays], dtype=np.int64)
    b0 = np.array([st[1] for st in stays], dtype=np.int64)
    clat, clon = centres(lat, lon, a0, b0)
    for k, (s, e, moved, is_open) in enumerate(stays):
        a, b = s, e
        if e - s >= 4:
            cla, clo = float(clat[k]), float(clon[k])
            # The typical distance from the centre on up to 101 fixes spread over the stay
            # (a stay of hours holds thousands; the ends are all that is trimmed).
            probe = s + np.linspace(0, e - s - 1, min(e - s, 101)).astype(np.int64)
            spread = float(np.median(haversine(lat[probe], lon[probe], cla, clo)))
            core = max(CORE_M, 2.0 * spread)
            keep_min = (e - s + 1) // 2
            if not is_open:
                lo = max(int(np.searchsorted(ts, ts[e - 1] - TRIM_MAX_S, side="left")) - 1,
                         s + keep_min)
                d = haversine(lat[lo:e], lon[lo:e], cla, clo)
                while b - a > keep_min and b - 1 >= lo and d[b - 1 - lo] > core \
                        and ts[e - 1] - ts[b - 1] <= TRIM_MAX_S:
                    b -= 1
                # Then where the phone woke: the fixes after the stay's last long silence,
                # when from the first of them to the next fix (trimmed above, or the
                # first after the stay) the person was already walking away.
                b = _wake_trim(ts, lat, lon, a + keep_min, b)
            if s not in excluded:
                hi = min(int(np.searchsorted(ts, ts[s] + TRIM_MAX_S, side="right")) + 1, b)
                d = haversine(lat[s:hi], lon[s:hi], cla, clo)
                while b - a > keep_min and a < hi and d[a - s] > core \
                        and ts[a] - ts[s] <= TRIM_MAX_S:
                    a += 1
        if s in excluded:
            new_excluded[a] = excluded[s]
        out.append((a, b, moved, is_open))
    return out, new_excluded


# A sleeping phone's last fix at a place may land just outside the window's radius (an
# indoor Wi-Fi fix 30-70 m off), and then the phone says nothing until its owner is on
# the way. That fix is the first "away", so the stay ended a fix early and its departure
# (departures()) was read from it: a 60-minute visit came out as 5 minutes.
LINGER_GAP_S = 300.0
LINGER_RADII = 2.0


def keep_lingering(stays: list[tuple[int, int, bool, bool]], ts: np.ndarray,
                   lat: np.ndarray, lon: np.ndarray, params: dict[str, Any],
                   excluded: dict[int, list[tuple[int, int]]]
                   ) -> tuple[list[tuple[int, int, bool, bool]], dict[int, list[tuple[int, int]]]]:
    """A stay holds the fix after it when that fix lies within LINGER_RADII distance
    thresholds of its centre and the phone then fell silent for LINGER_GAP_S or more: the
    person was still there, and left after the silence (departures()), even when
    trim_moving_ends took that fix for the way away (the way away is logged on; this fix
    is followed by nothing). Not when the next stay starts at that fix. The fix counts in
    neither centre nor radius (it is as far off as its error). Decided from the stay and
    the two fixes after it: INCREMENTAL stays exact."""
    n = len(ts)
    if not stays:
        return stays, excluded
    a = np.array([st[0] for st in stays], dtype=np.int64)
    e = np.array([st[1] for st in stays], dtype=np.int64)
    nxt = np.append(a[1:], n)  # the next stay's first index (none: past the end)
    # An open stay has not moved; `moved` alone says a fix after it ended it.
    cand = np.array([st[2] for st in stays], dtype=bool) & (e + 1 < n) & (nxt > e)
    k = np.flatnonzero(cand)
    k = k[ts[e[k] + 1] - ts[e[k]] >= LINGER_GAP_S]
    if len(k) == 0:
        return stays, excluded
    clat, clon = centres(lat, lon, a[k], e[k])
    near = haversine(lat[e[k]], lon[e[k]], clat, clon) \
        <= LINGER_RADII * float(params["dist_threshold_m"])
    out = list(stays)
    excluded = dict(excluded)
    for j in k[near].tolist():
        s, stop, moved, is_open = stays[j]
        out[j] = (s, stop + 1, moved, is_open)
        excluded[s] = [*excluded.get(s, []), (stop, stop + 1)]
    return out, excluded


def apply_corrections(stays: list[tuple[int, int, bool, bool]], ts: np.ndarray,
                      corrections: list[Any]) -> list[tuple[int, int, bool, bool]]:
    """The user's merge_stays and split_stay corrections, in the order they were made."""
    for c in corrections:
        if c.kind == "merge_stays" and c.start_ts is not None and c.end_ts is not None:
            hit = [k for k, st in enumerate(stays)
                   if ts[st[0]] <= c.end_ts and ts[st[1] - 1] >= c.start_ts]
            if len(hit) >= 2:
                a, b = hit[0], hit[-1]
                merged = (stays[a][0], stays[b][1], stays[b][2], stays[b][3])
                stays = stays[:a] + [merged] + stays[b + 1:]
        elif c.kind == "split_stay" and c.start_ts is not None:
            for k, (s, e, moved, is_open) in enumerate(stays):
                cut = int(np.searchsorted(ts, c.start_ts, side="left"))
                if s < cut < e:
                    stays = stays[:k] + [(s, cut, True, False), (cut, e, moved, is_open)] \
                        + stays[k + 1:]
                    break
    return stays


ANCHORS_KEY = NAME + "#anchors"  # skill_inputs row: where the walk anchored each stay


def _stored_anchors(conn: Any) -> dict[float, list[float]]:
    """Stored stay start -> [anchor ts, anchor point id, arrival ts]: the point the
    sliding walk anchored it on and the fix extend_arrivals reached back to, for the stays
    whose start is another point (extended back or trimmed)."""
    text = stored_input(conn, ANCHORS_KEY)
    try:
        return {float(k): v for k, v in json.loads(text)} if text else {}
    except (ValueError, TypeError):  # a damaged row: restart from the stored starts
        return {}


def _body(run: SkillRun, plan: Plan) -> dict[str, Any]:
    ctx, conn = run.ctx, run.conn
    restart = None
    anchors = _stored_anchors(conn)
    anchor_id = None
    load_from = None
    if not plan.full:
        # The second-to-last stay before the change: the last one may grow and then join
        # its predecessor; the one before it is complete and was not joined to its own.
        rows = conn.execute("SELECT start_ts FROM stay_detections WHERE start_ts < ? "
                            "ORDER BY start_ts DESC LIMIT 2", (plan.t0,)).fetchall()
        restart = float(rows[1][0]) if len(rows) == 2 else None
        if restart is not None:
            # The walk restarts where it anchored that stay: its stored start may lie
            # before (extend_arrivals) or after (trim_moving_ends) that point.
            a_ts, a_id, e_ts = anchors.get(restart, [restart, None, restart])
            anchor_id = a_id
            load_from = min(restart, float(a_ts), float(e_ts))
    pts = kept_points(conn, plan.watermark, load_from, on_chunk=run.reading)
    run.loaded(len(pts))
    first = 0
    if anchor_id is not None:
        hit = np.flatnonzero(pts.id == int(anchor_id))
        first = int(hit[0]) if len(hit) else 0
    raw = [(a + first, b + first, m, o) for a, b, m, o in
           detect(pts.ts[first:], pts.lat[first:], pts.lon[first:], ctx.params)]
    stays, excluded = merge_back_to_back(raw, pts.ts, pts.lat, pts.lon, ctx.params, pts.acc)
    extended, excluded = extend_arrivals(stays, pts.ts, pts.lat, pts.lon, ctx.params,
                                         excluded)
    # Per start: (the anchor, the start extend_arrivals gave it).
    origin = {e[0]: (s_[0], e[0]) for e, s_ in zip(extended, stays, strict=True)}
    stays = extended
    run.computing(0.6)
    stays = drop_transit_stops(conn, stays, pts.ts)
    stays = drop_transit_waits(conn, stays, pts.ts, pts.lat, pts.lon,
                               float(ctx.params["transit_wait_s"]))
    before_trim = stays
    stays, excluded = trim_moving_ends(stays, pts.ts, pts.lat, pts.lon, excluded)
    for old, new in zip(before_trim, stays, strict=True):
        if new[0] != old[0]:
            origin[new[0]] = origin.get(old[0], (old[0], old[0]))
    stays, excluded = keep_lingering(stays, pts.ts, pts.lat, pts.lon, ctx.params, excluded)
    stays = apply_corrections(stays, pts.ts, active_corrections(conn, ("merge_stays",
                                                                       "split_stay")))
    rows = stay_rows(pts.id, pts.ts, pts.lat, pts.lon, stays, excluded,
                     float(ctx.params["departure_speed_mps"]))
    run.computing(1.0)
    run.begin()
    if restart is None:
        conn.execute("DELETE FROM stay_detections")
    else:
        conn.execute("DELETE FROM stay_detections WHERE start_ts >= ?", (restart,))
    run.write_rows(
        "INSERT INTO stay_detections (id, start_ts, end_ts, left_ts, lat, lon, n_points, "
        "first_point_id, last_point_id, radius_m, is_open) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        rows)
    # Where the walk anchored each stay that starts elsewhere, kept for the next
    # INCREMENTAL restart (the ones from the restart on are recomputed).
    keep = {k: v for k, v in anchors.items() if restart is not None and k < restart}
    for st in stays:
        a0, e0 = origin.get(st[0], (st[0], st[0]))
        # Also when the start is the anchor again: extend_arrivals reached back before it
        # and trim_moving_ends took that back, and a restart must see those fixes too
        # (they move the centre the trim measures from; gen4 seed 6 started a fix late).
        if a0 != st[0] or e0 != st[0]:
            keep[float(pts.ts[st[0]])] = [float(pts.ts[a0]), int(pts.id[a0]),
                                          float(pts.ts[e0])]
    if run._stored_inputs() is not None:
        conn.execute("INSERT OR REPLACE INTO skill_inputs (skill, fingerprint) VALUES (?, ?)",
                     (ANCHORS_KEY, json.dumps(sorted(keep.items()))))
    run.finish(plan, restart if restart is not None else (float(pts.ts[0]) if len(pts) else 0.0))
    return run.summary(plan, points=len(pts), stays=len(rows),
                       open_stay=bool(rows and rows[-1][-1]))


def run(ctx: WorkerContext) -> dict[str, Any]:
    return run_skill(ctx, NAME, VERSION, _body)
