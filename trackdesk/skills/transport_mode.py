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
looks at the last four stored segment starts before that margin ahead of the earliest
change, ``b0`` (the latest) back to ``b3``: ``b2`` is a boundary no new point can move (the runs on both
sides, their neighbours' modes and the short-segment decisions around it are all made
of settled labels), so segments from ``b2`` on are rebuilt, computed from the start before
it (``b3``) so the first rebuilt segment knows the mode of the one before it. The
property test in tests/skills/test_incremental.py holds this to a full recompute.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trackdesk.skills.geo import MODE_INDEX, MODES, Local, segment_percentile, segment_sums
from trackdesk.skills.sdk import WorkerContext
from trackdesk.skills.store import (
    Plan,
    Points,
    SkillRun,
    kept_points,
    load_synthetic,
    merge_points,
    run_skill,
)

NAME = "transport_mode"
VERSION = "1.1.0"  # 1.1: lone fixes get their neighbours' speed, short segments absorbed
# The order of each row build_segments() makes.
SEGMENT_COLUMNS = ("id", "start_ts", "end_ts", "mode", "n_points", "distance_m", "duration_s",
                   "mean_speed_mps", "p85_speed_mps", "first_point_id", "last_point_id")
MOTOR = 3  # provisional class, resolved to car or train per segment


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
                   begin: int, write_from: int, params: dict[str, Any]) -> list[tuple]:
    """Segment rows for the points from index ``write_from`` on, computed from ``begin``
    (<= ``write_from``) on; boundaries are forced at both."""
    n = len(pts)
    if write_from >= n:
        return []
    ts = pts.ts
    lab = label[begin:]
    cut = np.zeros(n - begin, dtype=bool)
    cut[0] = True
    cut[1:] = (lab[1:] != lab[:-1]) | track_start[begin + 1:]
    starts = np.flatnonzero(cut) + begin
    stops = np.append(starts[1:], n)
    mode = promoted_modes(v, label, starts, stops, params)
    # Boundaries no join may remove: logging gaps, and where this computation starts and
    # writes (an INCREMENTAL run's b3 and b2, boundaries of the full result as well).
    fixed = track_start[starts] | (starts == begin) | (starts == write_from)
    starts, mode, fixed = _join(starts, mode, fixed)
    # A short segment between two of one mode takes theirs (neither side across a gap).
    nxt = np.append(ts[starts[1:]], ts[n - 1])
    covered = nxt - ts[starts]
    absorb = np.zeros(len(starts), dtype=bool)
    if len(starts) > 2:
        inner = slice(1, -1)
        absorb[inner] = ((covered[inner] < params["min_segment_s"])
                         & (mode[:-2] == mode[2:]) & ~track_start[starts[1:-1]]
                         & ~track_start[starts[2:]])
    mode[1:][absorb[1:]] = mode[:-1][absorb[1:]]
    starts, mode, _ = _join(starts, mode, fixed)
    stops = np.append(starts[1:], n)
    keep = starts >= write_from
    starts, stops, mode = starts[keep], stops[keep], mode[keep]
    steps = np.zeros(n)
    if n > 1:
        steps[1:] = Local(pts.lat, pts.lon).steps()
    # Distance of a segment: the steps between its own points (step i joins i-1 and i).
    dist = segment_sums(steps, starts + 1, stops)
    p85 = segment_percentile(v, starts, stops, 0.85)
    dur = ts[stops - 1] - ts[starts]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(dur > 0, dist / dur, 0.0)
    names = np.array(MODES, dtype=object)[mode]
    rows = list(zip(pts.id[starts].tolist(), ts[starts].tolist(),
                    ts[stops - 1].tolist(), names.tolist(), (stops - starts).tolist(),
                    dist.tolist(), dur.tolist(), mean.tolist(), p85.tolist(),
                    pts.id[starts].tolist(), pts.id[stops - 1].tolist(), strict=True))
    return rows


def promoted_modes(v: np.ndarray, label: np.ndarray, starts: np.ndarray, stops: np.ndarray,
                   params: dict[str, Any]) -> np.ndarray:
    """The mode of each run ``[starts[k], stops[k])`` of equal labels, from its speeds."""
    p85 = segment_percentile(v, starts, stops, 0.85)
    mode = label[starts].copy()
    # A walk or bike run whose fast points reach motor speeds is a slow stretch of a car
    # ride (traffic, lights): smoothed bike speeds do not get there.
    slow = (mode == MODE_INDEX["walk"]) | (mode == MODE_INDEX["bike"])
    mode[slow & (p85 >= params["bike_max_mps"])] = MOTOR
    mode[(mode == MODE_INDEX["walk"]) & (p85 >= params["walk_max_mps"])] = MODE_INDEX["bike"]
    motor = mode == MOTOR
    mode[motor] = np.where(p85[motor] >= params["train_min_mps"], MODE_INDEX["train"],
                           MODE_INDEX["car"])
    return mode


def _join(starts: np.ndarray, mode: np.ndarray, fixed: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbouring pieces of one mode as one, except across a ``fixed`` start."""
    keep = np.ones(len(starts), dtype=bool)
    keep[1:] = (mode[1:] != mode[:-1]) | fixed[1:]
    return starts[keep], mode[keep], fixed[keep]


def _body(run: SkillRun, plan: Plan) -> dict[str, Any]:
    ctx, conn = run.ctx, run.conn
    params = ctx.params
    restart = compute_from = None
    if not plan.full:
        # b0 (the last start before the margin), b1, b2, b3: see the module docstring.
        rows = conn.execute("SELECT start_ts FROM mode_segments WHERE start_ts < ? "
                            "ORDER BY start_ts DESC LIMIT 4",
                            (plan.t0 - context_s(params),)).fetchall()
        if len(rows) == 4:
            restart, compute_from = float(rows[2][0]), float(rows[3][0])
    load_from = None if compute_from is None else compute_from - context_s(params)
    pts = merge_points(kept_points(conn, plan.watermark, load_from),
                       load_synthetic(conn, load_from))
    ctx.progress(0, len(pts), 0, force=True)
    ctx.check_stop()
    v, label, track_start = classify(pts.ts, pts.lat, pts.lon, params)
    begin = write_from = 0
    if restart is not None:
        begin = int(np.searchsorted(pts.ts, compute_from, side="left"))
        write_from = int(np.searchsorted(pts.ts, restart, side="left"))
    rows = build_segments(pts, v, label, track_start, begin, write_from, params)
    ctx.check_stop()
    run.begin()
    run.replace_from("mode_segments", SEGMENT_COLUMNS, rows, restart)
    ctx.progress(len(pts), len(pts), 0)
    run.finish(plan, restart if restart is not None else (float(pts.ts[0]) if len(pts) else 0.0))
    by_mode: dict[str, int] = {}
    for r in rows:
        by_mode[r[3]] = by_mode.get(r[3], 0) + 1
    return run.summary(plan, points=len(pts) - write_from, segments=len(rows), segments_by_mode=by_mode)


def run(ctx: WorkerContext) -> dict[str, Any]:
    return run_skill(ctx, NAME, VERSION, _body)
