"""outlier_detection: flag (never delete) points that cannot be where they say they are.

Rules, all vectorised over points sorted by (ts, id):

* ``invalid``: non-finite or out-of-range ts / lat / lon (also counted in failed_points);
* ``accuracy``: reported accuracy worse than ``max_accuracy_m``;
* ``duplicate``: same timestamp as the previous valid point (the later id is flagged);
* on the remaining *candidates*, each compared with its previous and next candidate:
  ``speed`` (implied speed in and out both above ``max_speed_mps``), ``acceleration``
  (reaching the point and coming back needs more than ``max_accel_mps2`` relative to the
  straight path that skips it) and ``spike`` (a there-and-back excursion: both legs longer
  than ``spike_min_m``, together ``spike_ratio`` times longer than the direct path, and
  both at least ``spike_min_speed_mps``).

A candidate's flags depend only on itself and its two neighbour candidates, so an
INCREMENTAL run restarts two candidates before the earliest new point and is exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trackdesk.skills.geo import Local
from trackdesk.skills.labels import active_corrections
from trackdesk.skills.store import (
    FLAG_ACCEL,
    FLAG_ACCURACY,
    FLAG_DUPLICATE,
    FLAG_INVALID,
    FLAG_SPEED,
    FLAG_SPIKE,
    FLAG_USER,
    PRE_FLAGS,
    Plan,
    Points,
    SkillRun,
    load_points,
    run_skill,
)
from trackdesk.worker import WorkerContext

NAME = "outlier_detection"
VERSION = "1.0.0"
MAX_TS = 4_102_444_800.0  # 2100-01-01: later timestamps are corrupt, not future data


def compute_flags(pts: Points, params: dict[str, Any],
                  user_bad: np.ndarray | None = None) -> np.ndarray:
    """Reason bits per point (0 = kept). ``pts`` sorted by (ts, id); ``user_bad``: the
    points the user marked wrong (they take no part in the motion tests either)."""
    n = len(pts)
    flags = np.zeros(n, dtype=np.int64)
    if n == 0:
        return flags
    if user_bad is not None:
        flags[user_bad] |= FLAG_USER
    ts, lat, lon = pts.ts, pts.lat, pts.lon
    with np.errstate(invalid="ignore"):
        valid = (np.isfinite(ts) & np.isfinite(lat) & np.isfinite(lon) & (ts >= 0)
                 & (ts < MAX_TS) & (np.abs(lat) <= 90.0) & (np.abs(lon) <= 180.0))
    flags[~valid] |= FLAG_INVALID
    flags[valid & (pts.acc > params["max_accuracy_m"])] |= FLAG_ACCURACY
    vidx = np.flatnonzero(valid)
    if len(vidx) > 1:
        dup = np.zeros(len(vidx), dtype=bool)
        dup[1:] = ts[vidx[1:]] == ts[vidx[:-1]]
        flags[vidx[dup]] |= FLAG_DUPLICATE
    cand = np.flatnonzero(flags == 0)
    if len(cand) >= 3:
        c_ts = ts[cand]
        sph = Local(lat[cand], lon[cand])
        steps = sph.steps()
        d_in, d_out = steps[:-1], steps[1:]
        m = len(cand)
        d_skip = sph.dist(slice(0, m - 2), slice(2, m))
        dt_in = c_ts[1:-1] - c_ts[:-2]
        dt_out = c_ts[2:] - c_ts[1:-1]
        v_in = d_in / dt_in
        v_out = d_out / dt_out
        v_skip = d_skip / (dt_in + dt_out)
        vmax = params["max_speed_mps"]
        speed = (v_in > vmax) & (v_out > vmax)
        # Acceleration needed to detour through the point and back onto the direct path.
        accel = ((v_in - v_skip) / dt_in > params["max_accel_mps2"]) & (
            (v_out - v_skip) / dt_out > params["max_accel_mps2"])
        spike = ((np.minimum(d_in, d_out) > params["spike_min_m"])
                 & (d_in + d_out > params["spike_ratio"] * d_skip)
                 & (np.minimum(v_in, v_out) > params["spike_min_speed_mps"]))
        mid = cand[1:-1]
        flags[mid[speed]] |= FLAG_SPEED
        flags[mid[accel]] |= FLAG_ACCEL
        flags[mid[spike]] |= FLAG_SPIKE
    return flags


def user_marked(conn: Any, pts: Points) -> np.ndarray | None:
    """Mask of the points the user's bad_points corrections name (by id or time range)."""
    marks = active_corrections(conn, ("bad_points",))
    if not marks or len(pts) == 0:
        return None
    out = np.zeros(len(pts), dtype=bool)
    for c in marks:
        if c.target_ids:
            out |= np.isin(pts.id, np.array(c.target_ids, dtype=np.int64))
        elif c.start_ts is not None and c.end_ts is not None:
            out |= (pts.ts >= c.start_ts) & (pts.ts <= c.end_ts)
    return out


def _restart(run: SkillRun, plan: Plan) -> tuple[float, int] | None:
    """The candidate whose flags stay valid and that serves as left context, or None."""
    rows = run.conn.execute(
        "SELECT p.ts, p.id FROM points p LEFT JOIN outlier_flags o ON o.point_id = p.id "
        "WHERE p.ts < ? AND +p.id <= ? AND (o.reasons IS NULL OR (o.reasons & ?) = 0) "
        "ORDER BY p.ts DESC, p.id DESC LIMIT 2", (plan.t0, plan.watermark, PRE_FLAGS)).fetchall()
    if len(rows) < 2:
        return None
    # rows[0] (the last candidate before t0) may change: its next neighbour can be new.
    # rows[1] keeps its flags and is the left context of everything recomputed.
    return float(rows[1][0]), int(rows[1][1])


def _body(run: SkillRun, plan: Plan) -> dict[str, Any]:
    ctx, conn = run.ctx, run.conn
    anchor = None if plan.full else _restart(run, plan)
    from_ts = None if anchor is None else anchor[0]
    pts = load_points(conn, plan.watermark, from_ts, on_chunk=run.reading)
    run.loaded(len(pts))
    flags = compute_flags(pts, ctx.params, user_marked(conn, pts))
    write = np.ones(len(pts), dtype=bool)
    if anchor is not None:
        write &= pts.id != anchor[1]
        # Points tied with the anchor's ts but ordered before it are invalid ones (the anchor
        # is no duplicate); their flags come out the same, so rewriting them is harmless.
    hit = write & (flags != 0)
    rows = list(zip(pts.id[hit].tolist(), pts.ts[hit].tolist(), flags[hit].tolist(),
                    strict=True))
    run.computing(1.0)
    run.begin()
    if anchor is None:
        conn.execute("DELETE FROM outlier_flags")
    else:
        conn.execute("DELETE FROM outlier_flags WHERE ts >= ? AND point_id != ?", anchor)
    run.write_rows("INSERT INTO outlier_flags (point_id, ts, reasons) VALUES (?, ?, ?)", rows)
    invalid = int(np.count_nonzero(flags[write] & FLAG_INVALID))
    ctx.failed = invalid  # sent with the final progress
    run.finish(plan, from_ts if from_ts is not None else float(pts.ts.min()) if len(pts) else 0.0)
    counts = {name: int(np.count_nonzero(flags[write] & bit)) for name, bit in (
        ("invalid", FLAG_INVALID), ("accuracy", FLAG_ACCURACY), ("duplicate", FLAG_DUPLICATE),
        ("speed", FLAG_SPEED), ("acceleration", FLAG_ACCEL), ("spike", FLAG_SPIKE),
        ("marked_by_user", FLAG_USER))}
    return run.summary(plan, points=len(pts), flagged=len(rows), failed_points=invalid,
                       reasons=counts)


def run(ctx: WorkerContext) -> dict[str, Any]:
    return run_skill(ctx, NAME, VERSION, _body)
