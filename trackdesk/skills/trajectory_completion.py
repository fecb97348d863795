"""trajectory_completion: fill short logging gaps with synthetic, clearly marked points.

Between two consecutive kept points (not flagged by outlier_detection) whose gap is longer
than ``min_gap_s`` and at most ``max_gap_s``, spans at least ``min_gap_m`` (movement, not
a phone logging rarely at a place) and at most ``max_gap_m`` at a speed a person can
travel, points are interpolated every ``step_s`` seconds (great-circle
distance is linear enough within a few kilometres). They live only in
``synthetic_points``: imported points are never touched, and a full recompute deletes and
rebuilds them. A synthetic point's id is ``prev_point_id * 100000 + k`` (k = 1, 2, ...), so
a run gives the same ids whatever the order of imports; ``point_analysis`` shows it with
``point_id = -id`` and ``is_synthetic = 1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trackdesk.skills.geo import Local
from trackdesk.skills.store import Plan, SkillRun, kept_points, run_skill
from trackdesk.worker import WorkerContext

NAME = "trajectory_completion"
VERSION = "1.0.0"
ID_STRIDE = 100_000
MAX_FILL_SPEED_MPS = 350.0  # faster than an airliner: a gap this fast is no trajectory


def compute_synthetic(ids: np.ndarray, ts: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                      params: dict[str, Any]) -> list[tuple[int, float, float, float, int, int]]:
    """Synthetic rows (id, ts, lat, lon, prev_point_id, next_point_id) for kept points."""
    if len(ts) < 2:
        return []
    dt = ts[1:] - ts[:-1]
    dist = Local(lat, lon).steps()
    step = float(params["step_s"])
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = dist / dt
    # A gap while standing still needs no filling (and sparse logging at a place would
    # otherwise multiply the points): only gaps that moved at least min_gap_m.
    gaps = np.flatnonzero((dt > params["min_gap_s"]) & (dt <= params["max_gap_s"])
                          & (dist >= params["min_gap_m"]) & (dist <= params["max_gap_m"])
                          & (speed <= MAX_FILL_SPEED_MPS))
    if len(gaps) == 0:
        return []
    # k runs 1..m-1 where m = ceil(dt / step): points strictly inside the gap.
    m = np.ceil(dt[gaps] / step).astype(np.int64)
    m = np.minimum(m, ID_STRIDE)
    counts = np.maximum(m - 1, 0)
    gi = np.repeat(gaps, counts)
    k = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    t = ts[gi] + k * step
    inside = t < ts[gi + 1]
    gi, k, t = gi[inside], k[inside], t[inside]
    f = (t - ts[gi]) / dt[gi]
    s_lat = lat[gi] + (lat[gi + 1] - lat[gi]) * f
    dlon = lon[gi + 1] - lon[gi]
    # Cross the antimeridian the short way round.
    dlon = np.where(dlon > 180.0, dlon - 360.0, np.where(dlon < -180.0, dlon + 360.0, dlon))
    s_lon = lon[gi] + dlon * f
    s_lon = np.where(s_lon > 180.0, s_lon - 360.0, np.where(s_lon < -180.0, s_lon + 360.0, s_lon))
    sid = ids[gi] * ID_STRIDE + k
    return list(zip(sid.tolist(), t.tolist(), s_lat.tolist(), s_lon.tolist(),
                    ids[gi].tolist(), ids[gi + 1].tolist(), strict=True))


def _body(run: SkillRun, plan: Plan) -> dict[str, Any]:
    ctx, conn = run.ctx, run.conn
    anchor = None
    if not plan.full:
        # The last kept point before t0: gaps after it may change, those before may not.
        anchor = conn.execute(
            "SELECT p.ts FROM points p LEFT JOIN outlier_flags o ON o.point_id = p.id "
            "WHERE p.ts < ? AND +p.id <= ? AND o.point_id IS NULL "
            "ORDER BY p.ts DESC, p.id DESC LIMIT 1", (plan.t0, plan.watermark)).fetchone()
    from_ts = None if anchor is None else float(anchor[0])
    pts = kept_points(conn, plan.watermark, from_ts, on_chunk=run.reading)
    run.loaded(len(pts))
    rows = compute_synthetic(pts.id, pts.ts, pts.lat, pts.lon, ctx.params)
    run.computing(1.0)
    run.begin()
    if from_ts is None:
        conn.execute("DELETE FROM synthetic_points")
    else:
        conn.execute("DELETE FROM synthetic_points WHERE ts > ?", (from_ts,))
    run.write_rows("INSERT INTO synthetic_points (id, ts, lat, lon, prev_point_id, "
                     "next_point_id) VALUES (?, ?, ?, ?, ?, ?)", rows)
    run.finish(plan, from_ts if from_ts is not None else (float(pts.ts[0]) if len(pts) else 0.0))
    return run.summary(plan, points=len(pts), synthetic_points=len(rows))


def run(ctx: WorkerContext) -> dict[str, Any]:
    return run_skill(ctx, NAME, VERSION, _body)
