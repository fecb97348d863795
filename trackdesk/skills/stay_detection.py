"""stay_detection: trackintel's sliding-window staypoints, vectorised, without lost stays.

The rule is the one of trackintel's ``generate_staypoints(method="sliding")`` (Li et al.
2008): from an anchor point, walk forward to the first point at least
``dist_threshold_m`` away; if that took at least ``time_threshold_s``, the points from
the anchor up to (not including) that point are a stay; the far point becomes the next
anchor. Two deliberate differences, both about not losing stays:

* a logging gap longer than ``gap_threshold_s`` *ends* the current candidate (kept as a
  stay when it lasted long enough) instead of discarding it, and the default threshold is
  12 h, not trackintel's 15 min: a phone that logs every 20 minutes while its owner sits
  at home for 5 hours produced a 5-hour stay, not nothing;
* the last stay is always kept (trackintel's ``include_last=True``), marked ``is_open``;
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

from bisect import bisect_right
from typing import Any

import numpy as np

from trackdesk.skills.geo import DEG, EARTH_RADIUS_M, Local, haversine, segment_sums
from trackdesk.skills.sdk import WorkerContext
from trackdesk.skills.store import Plan, SkillRun, kept_points, run_skill

NAME = "stay_detection"
VERSION = "1.0.0"
PROBES = 3
FAST = 8  # steps: points whose escape is this close are probed all at once


class _Dist:
    """``d(i, j) >= D`` tests, approximate first and exact near the threshold."""

    def __init__(self, lat: np.ndarray, lon: np.ndarray, d_thr: float) -> None:
        self.lat = lat
        self.lon = lon
        self.coslat = np.cos(lat * DEG)
        self.k = EARTH_RADIUS_M * DEG
        self.d = d_thr
        self.tol = max(0.1, 1e-3 * d_thr)

    def ge(self, i: np.ndarray | int, j: np.ndarray) -> np.ndarray:
        dlat = self.lat[j] - self.lat[i]
        dlon = self.lon[j] - self.lon[i]
        dlon = np.where(dlon > 180.0, dlon - 360.0, np.where(dlon < -180.0, dlon + 360.0, dlon))
        approx = self.k * np.sqrt(dlat * dlat + (self.coslat[i] * dlon) ** 2)
        out = approx >= self.d
        near = np.abs(approx - self.d) < self.tol
        if np.any(near):
            jj = np.asarray(j)[near] if np.ndim(j) else j
            ii = np.asarray(i)[near] if np.ndim(i) else i
            out[near] = haversine(self.lat[ii], self.lon[ii], self.lat[jj], self.lon[jj]) >= self.d
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
    dist = _Dist(lat, lon, d_thr)
    # Gap-free segments end at these indices (exclusive).
    seg_stop = np.append(np.flatnonzero((ts[1:] - ts[:-1]) > g_thr) + 1, n)
    # Lower bound of the escape point: the path from k must have reached D.
    steps = np.zeros(n)
    if n > 1:
        # The bound needs steps never shorter than the true (haversine) ones: the cheap
        # distance with 1 % to spare, and the exact one for the rare long steps.
        steps[1:] = Local(lat, lon).steps() * 1.01
        long = np.flatnonzero((steps[1:] > 1000.0) | (np.abs(lat[1:]) > 80.0)) + 1
        steps[long] = haversine(lat[long - 1], lon[long - 1], lat[long], lon[long]) * 1.01
    cum = np.cumsum(steps)
    reach = cum + d_thr * (1 - 1e-9) - 1e-3
    # Fast movers (the path over the next FAST steps reaches D) are resolved for all at
    # once by probing from the bound; everything else (stays, slow walks) is looked up
    # only if the walk stands on it.
    ahead = np.full(n, cum[-1])
    ahead[:max(0, n - FAST)] = cum[FAST:]
    cand = np.flatnonzero(ahead >= reach)
    low = np.maximum(np.searchsorted(cum, reach[cand], side="left"), cand + 1)
    c_end = seg_stop[np.searchsorted(seg_stop, cand, side="right")]
    esc = np.full(n, -1, dtype=np.int64)
    esc[cand[low >= c_end]] = n  # no escape inside the segment
    todo = np.flatnonzero(low < c_end)
    for m in range(PROBES):
        if len(todo) == 0:
            break
        j = low[todo] + m
        inside = j < c_end[todo]
        esc[cand[todo[~inside]]] = n
        todo, j = todo[inside], j[inside]
        hit = dist.ge(cand[todo], j)
        esc[cand[todo[hit]]] = j[hit]
        todo = todo[~hit]
    gallop_from = np.full(n, -1, dtype=np.int64)
    gallop_from[cand[todo]] = low[todo] + PROBES
    # The chain walk touches only anchors (a few percent of the points): item() access
    # beats converting whole arrays to lists.
    esc_i, from_i, ts_i, reach_i = esc.item, gallop_from.item, ts.item, reach.item
    stops = seg_stop.tolist()
    stays: list[tuple[int, int, bool, bool]] = []
    start = 0
    while start < n:
        end = stops[bisect_right(stops, start)]
        e = esc_i(start)
        if e == -1:
            pos = from_i(start)
            if pos < 0:
                pos = max(start + 1, int(np.searchsorted(cum, reach_i(start), side="left")))
            e = _gallop(dist, start, pos, end)
        if e >= end:  # no escape: the segment (or the data) ends inside the candidate
            if ts_i(end - 1) - ts_i(start) >= t_thr:
                stays.append((start, end, False, end == n))
            start = end
            continue
        if ts_i(e) - ts_i(start) >= t_thr:
            stays.append((start, e, True, False))
        start = e
    return stays


def merge_back_to_back(stays: list[tuple[int, int, bool, bool]], ts: np.ndarray,
                       lat: np.ndarray, lon: np.ndarray, params: dict[str, Any]
                       ) -> list[tuple[int, int, bool, bool]]:
    """Join stays that follow each other with no point in between and centres within D.

    The sliding window anchors a stay at the first point after the previous one, which
    can be a point still arriving; with rare fixes at the place, the window then ends
    early and one visit comes out as two back-to-back stays. Joining them needs nothing
    but the two stays, so restarts stay exact (see ``_body``).
    """
    if len(stays) < 2 or not params["merge_back_to_back"]:
        return stays
    a = np.array([s[0] for s in stays], dtype=np.int64)
    b = np.array([s[1] for s in stays], dtype=np.int64)
    clat, clon = centres(lat, lon, a, b)
    d = haversine(clat[:-1], clon[:-1], clat[1:], clon[1:])
    join = ((b[:-1] == a[1:]) & (d <= params["dist_threshold_m"])
            & ((ts[a[1:]] - ts[b[:-1] - 1]) <= params["gap_threshold_s"]))
    out = [stays[0]]
    for k in range(1, len(stays)):
        if join[k - 1]:
            out[-1] = (out[-1][0], stays[k][1], stays[k][2], stays[k][3])
        else:
            out.append(stays[k])
    return out


def _gallop(dist: _Dist, start: int, pos: int, end: int) -> int:
    """First j in [pos, end) with d(start, j) >= D, or ``end``.

    Growing blocks of plain slices (32, 256, 2048, ... points): a stay of thousands of
    points costs a handful of numpy calls, a slow walk one.
    """
    la, lo, c = float(dist.lat[start]), float(dist.lon[start]), float(dist.coslat[start])
    lo_thr = ((dist.d - dist.tol) / dist.k) ** 2
    hi_thr = ((dist.d + dist.tol) / dist.k) ** 2
    block = 32
    while pos < end:
        stop = min(end, pos + block)
        dlat = dist.lat[pos:stop] - la
        dlon = dist.lon[pos:stop] - lo
        if np.abs(dlon).max() > 180.0:
            dlon = (dlon + 180.0) % 360.0 - 180.0
        d2 = dlat * dlat + (c * dlon) ** 2
        for k in np.flatnonzero(d2 >= lo_thr).tolist():
            j = pos + k
            if d2[k] >= hi_thr or haversine(la, lo, dist.lat[j], dist.lon[j]) >= dist.d:
                return j
        pos = stop
        block *= 8
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


def stay_rows(ids: np.ndarray, ts: np.ndarray, lat: np.ndarray, lon: np.ndarray,
              stays: list[tuple[int, int, bool, bool]]) -> list[tuple]:
    if not stays:
        return []
    a = np.array([s[0] for s in stays], dtype=np.int64)
    b = np.array([s[1] for s in stays], dtype=np.int64)
    mlat, mlon = centres(lat, lon, a, b)
    m = b - a
    owner = np.repeat(np.arange(len(a)), m)
    idx = np.repeat(a - np.concatenate([[0], np.cumsum(m)[:-1]]), m) + np.arange(int(m.sum()))
    # Descriptive only: an equirectangular distance is plenty (and 5x cheaper).
    k = EARTH_RADIUS_M * DEG
    d = k * np.hypot(lat[idx] - mlat[owner], (lon[idx] - mlon[owner]) * np.cos(mlat[owner] * DEG))
    radius = np.maximum.reduceat(d, np.concatenate([[0], np.cumsum(m)[:-1]]))
    rows = []
    n = len(ts)
    for k, (s, e, moved, is_open) in enumerate(stays):
        left = float(ts[e]) if moved and e < n else None
        rows.append((int(ids[s]), float(ts[s]), float(ts[e - 1]), left, float(mlat[k]),
                     float(mlon[k]), e - s, int(ids[s]), int(ids[e - 1]), float(radius[k]),
                     1 if is_open else 0))
    return rows


def _body(run: SkillRun, plan: Plan) -> dict[str, Any]:
    ctx, conn = run.ctx, run.conn
    restart = None
    if not plan.full:
        # The second-to-last stay before the change: the last one may grow and then join
        # its predecessor; the one before it is complete and was not joined to its own.
        rows = conn.execute("SELECT start_ts FROM stay_detections WHERE start_ts < ? "
                            "ORDER BY start_ts DESC LIMIT 2", (plan.t0,)).fetchall()
        restart = float(rows[1][0]) if len(rows) == 2 else None
    pts = kept_points(conn, plan.watermark, restart)
    ctx.progress(0, len(pts), 0, force=True)
    ctx.check_stop()
    stays = merge_back_to_back(detect(pts.ts, pts.lat, pts.lon, ctx.params), pts.ts, pts.lat,
                               pts.lon, ctx.params)
    rows = stay_rows(pts.id, pts.ts, pts.lat, pts.lon, stays)
    ctx.check_stop()
    run.begin()
    if restart is None:
        conn.execute("DELETE FROM stay_detections")
    else:
        conn.execute("DELETE FROM stay_detections WHERE start_ts >= ?", (restart,))
    conn.executemany(
        "INSERT INTO stay_detections (id, start_ts, end_ts, left_ts, lat, lon, n_points, "
        "first_point_id, last_point_id, radius_m, is_open) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        rows)
    ctx.progress(len(pts), len(pts), 0)
    run.finish(plan, restart if restart is not None else (float(pts.ts[0]) if len(pts) else 0.0))
    return run.summary(plan, points=len(pts), stays=len(rows),
                       open_stay=bool(rows and rows[-1][-1]))


def run(ctx: WorkerContext) -> dict[str, Any]:
    return run_skill(ctx, NAME, VERSION, _body)
