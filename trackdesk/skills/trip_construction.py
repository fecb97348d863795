"""trip_construction: trips between consecutive stays, with distance, duration and mode.

A trip runs from when the person left one stay to the first point of the next
(``start_ts = origin.end_ts``, ``end_ts = destination.start_ts``) through the kept points
in between; a sleeping phone's stay ends after its last point (stay_detection's
departures), and that silence is no gap of the trip. Its distance is what it travelled
by travel.py's rule (moving steps, no step across a logging gap over ``max_gap_s`` nor faster than ``max_speed_mps``: the rule of
the footprint totals), its main mode the non-stationary mode that covered the most
distance (from transport_mode's segments). Movement before the first
stay and after the last one are trips with no origin or no destination; the one after the
last stay is still open and is rebuilt when newer points arrive. Trips shorter than
``min_distance_m`` (path length) are dropped. The user's merge_trips and split_trip
corrections are applied on every run (``apply_corrections``). A trip's id is its destination stay's id (or, with no
destination, the id of its first point): deterministic, so runs are comparable.

INCREMENTAL: the last stay that ends before the earliest change, and that no merge_trips
correction reaches across, keeps every trip before it; trips from its end on are deleted
and rebuilt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from trackdesk.skills.geo import MODES, Local
from trackdesk.skills.labels import active_corrections
from trackdesk.skills.store import NEG_INF, Plan, SkillRun, kept_points, run_skill
from trackdesk.skills.travel import travel_steps
from trackdesk.worker import WorkerContext

NAME = "trip_construction"
VERSION = "1.4.0"  # 1.4: a trip starts when its stay was left (after a quiet phone's
# silence there, which is no gap of the trip);
# 1.3: a stray fix inside a stay is no travel (point_modes);
# 1.1: no trip across a long logging gap or an impossible step;
# 1.2: the user's merge_trips / split_trip; distance by travel.py (what the totals count)
# The order of each row build_trips() makes.
TRIP_COLUMNS = ("id", "start_ts", "end_ts", "origin_stay_id", "destination_stay_id",
                "distance_m", "main_mode", "duration_s", "n_points", "mode_distances_json")


def point_modes(conn: Any, ts: np.ndarray, from_ts: float | None) -> np.ndarray:
    """Mode index of each (kept) point from the segments covering it; -1 where none.

    A point after the first of a stay (stay_detection's) is the person at that place,
    stationary whatever its segment says: a stray fix 700 m off the sofa at night, read
    as a two-minute "car" ride out and back, is no travel. On a three-year history such
    fixes were a quarter of the distance travelled (travel.py counts moving steps)."""
    if from_ts is None:
        rows = conn.execute("SELECT start_ts, end_ts, mode FROM mode_segments "
                            "ORDER BY start_ts").fetchall()
    else:
        rows = conn.execute("SELECT start_ts, end_ts, mode FROM mode_segments WHERE end_ts >= ? "
                            "ORDER BY start_ts", (from_ts,)).fetchall()
    out = np.full(len(ts), -1, dtype=np.int64)
    if not rows or len(ts) == 0:
        return out
    starts = np.array([r[0] for r in rows])
    ends = np.array([r[1] for r in rows])
    codes = np.array([MODES.index(r[2]) for r in rows], dtype=np.int64)
    k = np.searchsorted(starts, ts, side="right") - 1
    ok = (k >= 0) & (ends[np.maximum(k, 0)] >= ts)
    out[ok] = codes[k[ok]]
    stays = conn.execute("SELECT start_ts, end_ts FROM stay_detections WHERE end_ts >= ? "
                         "ORDER BY start_ts", (NEG_INF if from_ts is None else from_ts,)
                         ).fetchall()
    if stays:
        s0 = np.array([r[0] for r in stays])
        s1 = np.array([r[1] for r in stays])
        # The stay that began strictly before the point; the step into its first fix is
        # the arrival, travel.
        j = np.searchsorted(s0, ts, side="left") - 1
        out[(j >= 0) & (s1[np.maximum(j, 0)] >= ts)] = MODES.index("stationary")
    return out


Leg = tuple[int | None, int, int, int | None]  # origin, first index, last index, destination


def apply_corrections(legs: list[Leg], ts: np.ndarray, corrections: Sequence[Any]
                      ) -> list[Leg]:
    """The user's merge_trips and split_trip, in the order they were made.

    merge_trips [start, end]: the legs overlapping it (or inside it) become one, from the
    first one's origin to the last one's destination; the stays between them stay stays
    (a stop along the way), they only stop ending trips. split_trip at t: the leg around
    t ends at the first point at or after t and a new one, with no origin, starts there
    (both keep at least one step, so every piece has a first point of its own)."""
    for c in corrections:
        if c.kind == "merge_trips" and c.start_ts is not None and c.end_ts is not None:
            s, e = float(c.start_ts), float(c.end_ts)
            hit = [k for k, (_, ia, ib, _) in enumerate(legs)
                   if (ts[ia] < e and ts[ib] > s) or (s <= ts[ia] and ts[ib] <= e)]
            if len(hit) >= 2:
                a, b = hit[0], hit[-1]
                legs = legs[:a] + [(legs[a][0], legs[a][1], legs[b][2], legs[b][3])] \
                    + legs[b + 1:]
        elif c.kind == "split_trip" and c.start_ts is not None:
            cut = int(np.searchsorted(ts, float(c.start_ts), side="left"))
            for k, (origin, ia, ib, dest) in enumerate(legs):
                if ia + 1 < cut < ib:
                    legs = legs[:k] + [(origin, ia, cut, None), (None, cut, ib, dest)] \
                        + legs[k + 1:]
                    break
    return legs


def restart_anchor(conn: Any, t0: float, merges: Sequence[Any]) -> tuple | None:
    """The last stay ending before ``t0`` that no merge_trips correction reaches across:
    the trips before it are kept as they are, so none of them may join one after it."""
    t = t0
    while True:
        anchor = conn.execute("SELECT id, start_ts, end_ts FROM stay_detections WHERE end_ts < ? "
                              "ORDER BY start_ts DESC LIMIT 1", (t,)).fetchone()
        if anchor is None:
            return None
        across = [float(c.start_ts) for c in merges
                  if c.start_ts <= anchor[2] and c.end_ts >= anchor[1]]
        if not across:
            return anchor
        t = min(across)


def build_trips(ids: np.ndarray, ts: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                modes: np.ndarray, stays: list[tuple], leading: bool,
                params: dict[str, Any], corrections: Sequence[Any] = ()) -> list[tuple]:
    """Trip rows. ``stays`` = (id, start_ts, end_ts) sorted; ``leading``: data before the
    first stay belongs to this computation (a trip with no origin may start there);
    ``corrections``: the user's merge_trips and split_trip in force, oldest first."""
    n = len(ts)
    if n == 0:
        return []
    # Legs: (origin stay or None, from index, to index inclusive, destination stay or None).
    legs: list[tuple[int | None, int, int, int | None]] = []
    bounds = []
    # When each stay was left (its end_ts, never before its last point ``ia``): a sleeping
    # phone's stay reaches through its silence (stay_detection.departures).
    left_at = {sid: float(s_end) for sid, _s, s_end in stays}
    for sid, s_start, s_end in stays:
        a = int(np.searchsorted(ts, s_start, side="left"))
        b = int(np.searchsorted(ts, s_end, side="right")) - 1
        bounds.append((sid, a, b))
    prev: tuple[int, int, int] | None = None
    for cur in bounds:
        if prev is None:
            if leading and cur[1] > 0:
                legs.append((None, 0, cur[1], cur[0]))
        else:
            legs.append((prev[0], prev[2], cur[1], cur[0]))
        prev = cur
    if prev is None:
        if leading and n > 1:
            legs.append((None, 0, n - 1, None))
    elif prev[2] < n - 1:
        legs.append((prev[0], prev[2], n - 1, None))
    if not legs:
        return []
    dts = np.diff(ts)
    # Honest trips: a logging gap longer than max_gap_s ends the trip (nobody travels
    # for days between two fixes), and a step faster than max_speed_mps moved nobody.
    big = np.flatnonzero(dts > params["max_gap_s"]) + 1  # index of the point after a gap
    if len(big):
        split: list[tuple[int | None, int, int, int | None]] = []
        for origin, ia, ib, dest in legs:
            cuts = big[(big > ia) & (big <= ib)].tolist()
            # The silence the origin stay reaches into was spent there, not on the way:
            # only what is left of it after the departure is a gap of the trip.
            if cuts and cuts[0] == ia + 1 and origin is not None \
                    and ts[ia + 1] - left_at[origin] <= params["max_gap_s"]:
                cuts = cuts[1:]
            if not cuts:
                split.append((origin, ia, ib, dest))
                continue
            bounds_ = [ia] + cuts
            ends = [c - 1 for c in cuts] + [ib]
            for k, (a0, b0) in enumerate(zip(bounds_, ends, strict=True)):
                split.append((origin if k == 0 else None, a0, b0,
                              dest if k == len(cuts) else None))
        legs = split
    legs = apply_corrections(legs, ts, corrections)
    # Whether a leg is a trip at all: its path length, as before (a walk transport_mode
    # took for standing is still a trip). What it covered: travel.py's rule, the one the
    # footprint totals use, so no trip is longer than the distance travelled.
    path = np.zeros(n)
    raw = Local(lat, lon).steps() if n > 1 else None  # one pass for both measures
    if raw is not None:
        path[1:] = raw
        with np.errstate(divide="ignore", invalid="ignore"):
            fast = path[1:] > params["max_speed_mps"] * np.maximum(dts, 1e-9)
        path[1:][fast] = 0.0
    steps, step_modes = travel_steps(ts, lat, lon, modes, params["max_gap_s"],
                                     params["max_speed_mps"], raw)
    a = np.array([leg[1] for leg in legs], dtype=np.int64)
    b = np.array([leg[2] for leg in legs], dtype=np.int64)
    # Step j (into point j) belongs to the leg when a < j <= b.
    m = np.maximum(b - a, 0)
    owner = np.repeat(np.arange(len(legs)), m)
    j = np.repeat(a + 1 - np.concatenate([[0], np.cumsum(m)[:-1]]), m) + np.arange(int(m.sum()))
    length = np.bincount(owner, weights=path[j], minlength=len(legs))
    d = steps[j]
    total = np.bincount(owner, weights=d, minlength=len(legs))
    mj = step_modes[j]
    per_mode = np.bincount(owner * len(MODES) + mj, weights=d,
                           minlength=len(legs) * len(MODES)).reshape(len(legs), len(MODES))
    rows = []
    for k, (origin, ia, ib, dest) in enumerate(legs):
        if length[k] < params["min_distance_m"]:
            continue
        moving = per_mode[k, 1:]
        main = MODES[1 + int(np.argmax(moving))] if moving.max() > 0 else MODES[0]
        trip_id = dest if dest is not None else int(ids[ia + 1] if origin is not None else ids[ia])
        md = {MODES[c]: round(float(per_mode[k, c]), 3) for c in range(len(MODES))
              if per_mode[k, c] > 0}
        start = left_at[origin] if origin is not None else float(ts[ia])
        rows.append((trip_id, start, float(ts[ib]), origin, dest, float(total[k]), main,
                     float(ts[ib]) - start, max(ib - ia - 1, 0),
                     json.dumps(md, sort_keys=True)))
    return rows


def _body(run: SkillRun, plan: Plan) -> dict[str, Any]:
    ctx, conn = run.ctx, run.conn
    corrections = active_corrections(conn, ("merge_trips", "split_trip"))
    anchor = None
    if not plan.full:
        anchor = restart_anchor(conn, plan.t0, [c for c in corrections if c.kind == "merge_trips"
                                                and c.start_ts is not None
                                                and c.end_ts is not None])
    if anchor is None:
        from_ts = None
        stays = conn.execute("SELECT id, start_ts, end_ts FROM stay_detections "
                             "ORDER BY start_ts").fetchall()
    else:
        # From the anchor's last point: its end may lie after it, in the silence before
        # the first point away (stay_detection.departures), and its trip starts there.
        last = conn.execute("SELECT p.ts FROM stay_detections s JOIN points p "
                            "ON p.id = s.last_point_id WHERE s.id = ?", (anchor[0],)).fetchone()
        from_ts = float(last[0]) if last else float(anchor[1])
        stays = conn.execute("SELECT id, start_ts, end_ts FROM stay_detections "
                             "WHERE start_ts >= ? ORDER BY start_ts", (anchor[1],)).fetchall()
    pts = kept_points(conn, plan.watermark, from_ts, on_chunk=run.reading)
    run.loaded(len(pts))
    modes = point_modes(conn, pts.ts, from_ts)
    rows = build_trips(pts.id, pts.ts, pts.lat, pts.lon, modes, stays, anchor is None,
                       ctx.params, corrections)
    run.computing(1.0)
    run.begin()
    run.replace_from("trips", TRIP_COLUMNS, rows, from_ts)
    run.finish(plan, from_ts if from_ts is not None else (float(pts.ts[0]) if len(pts) else 0.0))
    return run.summary(plan, points=len(pts), trips=len(rows))


def run(ctx: WorkerContext) -> dict[str, Any]:
    return run_skill(ctx, NAME, VERSION, _body)
