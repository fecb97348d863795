"""rendering_metadata: what a map needs to draw a lifetime of points fast at every zoom.

* ``render_days(day, n_points, min_lat, max_lat, min_lon, max_lon)`` per UTC day, and the
  view ``render_bounds`` over them: the bounds of everything kept.
* ``render_tracks(zoom, day, n_points, coords)``: for each zoom ``min_zoom..max_zoom``
  and UTC day, the moving part of the track (points outside stays; stays are drawn from
  ``places``), simplified to one point per screen pixel: consecutive points that fall
  in the same Web-Mercator pixel of that zoom (256 px tiles) are merged into the first.
  Unlike Douglas-Peucker this is one vectorised pass per zoom and depends on nothing but
  a point and its predecessor, so days can be redone independently. ``coords`` is
  little-endian float32 pairs ``(lon, lat)``; a ``(NaN, NaN)`` pair separates track
  pieces (at stays and logging gaps longer than ``break_gap_s``).
* ``render_zooms(zoom, grid_level, tolerance_m, n_points)``: per zoom, which level of
  ``grid_cells`` to draw as a heat map (the coarsest level whose cells are still under
  ``cell_px`` pixels) and how many track points that zoom draws in total.

INCREMENTAL: UTC days from the one holding the earliest change on are redone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trackdesk.skills.store import Plan, SkillRun, kept_points, run_skill
from trackdesk.worker import WorkerContext

NAME = "rendering_metadata"
VERSION = "1.0.0"
DAY = 86400.0
EQUATOR_M = 40_075_016.686


def mercator_px(lat: np.ndarray, lon: np.ndarray, zoom: int) -> tuple[np.ndarray, np.ndarray]:
    scale = 256.0 * (1 << zoom)
    x = (lon + 180.0) / 360.0 * scale
    s = np.sin(np.clip(lat, -85.05112878, 85.05112878) * np.pi / 180.0)
    y = (0.5 - np.log((1 + s) / (1 - s)) / (4 * np.pi)) * scale
    return x, y


def in_stays(ts: np.ndarray, stays: np.ndarray) -> np.ndarray:
    """True where ts falls inside a stay [start, end]. ``stays`` sorted by start."""
    if len(stays) == 0:
        return np.zeros(len(ts), dtype=bool)
    k = np.searchsorted(stays[:, 0], ts, side="right") - 1
    return (k >= 0) & (ts <= stays[np.maximum(k, 0), 1])


def day_rows(ts: np.ndarray, lat: np.ndarray, lon: np.ndarray, stays: np.ndarray,
             params: dict[str, Any]) -> tuple[list, list]:
    n = len(ts)
    if n == 0:
        return [], []
    day = np.floor(ts / DAY).astype(np.int64)
    dstart = np.flatnonzero(np.concatenate([[True], day[1:] != day[:-1]]))
    udays = day[dstart]
    dstop = np.append(dstart[1:], n)
    days = list(zip(udays.tolist(), (dstop - dstart).tolist(),
                    np.minimum.reduceat(lat, dstart).tolist(),
                    np.maximum.reduceat(lat, dstart).tolist(),
                    np.minimum.reduceat(lon, dstart).tolist(),
                    np.maximum.reduceat(lon, dstart).tolist(), strict=True))
    moving = ~in_stays(ts, stays)
    # A piece breaks where the previous point is in a stay, the day changes, or a gap.
    brk = np.ones(n, dtype=bool)
    brk[1:] = (~moving[:-1]) | (day[1:] != day[:-1]) | ((ts[1:] - ts[:-1]) > params["break_gap_s"])
    tracks = []
    idx = np.flatnonzero(moving)
    for zoom in range(int(params["min_zoom"]), int(params["max_zoom"]) + 1):
        if len(idx) == 0:
            break
        x, y = mercator_px(lat[idx], lon[idx], zoom)
        px = np.floor(x).astype(np.int64)
        py = np.floor(y).astype(np.int64)
        b = brk[idx]
        keep = b.copy()
        keep[1:] |= (px[1:] != px[:-1]) | (py[1:] != py[:-1])
        kept = idx[keep]
        kb = b[keep]
        kd = day[kept]
        ds = np.flatnonzero(np.concatenate([[True], kd[1:] != kd[:-1]]))
        de = np.append(ds[1:], len(kept))
        for a, e in zip(ds.tolist(), de.tolist(), strict=True):
            sel = kept[a:e]
            starts = kb[a:e].copy()
            starts[0] = False
            # Interleave a NaN separator before each new piece.
            n_sep = int(starts.sum())
            out = np.empty((len(sel) + n_sep, 2), dtype="<f4")
            pos = np.arange(len(sel)) + np.cumsum(starts)
            out[:] = np.nan
            out[pos, 0] = lon[sel]
            out[pos, 1] = lat[sel]
            tracks.append((zoom, int(kd[a]), len(sel), out.tobytes()))
    return days, tracks


def zoom_rows(conn: Any, params: dict[str, Any]) -> list[tuple]:
    g = conn.execute("SELECT cell_size_m, top_level FROM grid_params WHERE id = 1").fetchone()
    counts = dict(conn.execute("SELECT zoom, SUM(n_points) FROM render_tracks GROUP BY zoom"))
    rows = []
    for zoom in range(int(params["min_zoom"]), int(params["max_zoom"]) + 1):
        px_m = EQUATOR_M / (256.0 * (1 << zoom))
        level = 0
        if g is not None:
            while level < g[1] and g[0] * (1 << (level + 1)) <= params["cell_px"] * px_m:
                level += 1
        rows.append((zoom, level, px_m, int(counts.get(zoom, 0))))
    return rows


def _body(run: SkillRun, plan: Plan) -> dict[str, Any]:
    ctx, conn = run.ctx, run.conn
    day0 = None if plan.full else int(np.floor(plan.t0 / DAY))
    from_ts = None if day0 is None else day0 * DAY
    pts = kept_points(conn, plan.watermark, from_ts, on_chunk=run.reading)
    run.loaded(len(pts))
    if from_ts is None:
        srows = conn.execute("SELECT start_ts, end_ts FROM stay_detections ORDER BY start_ts")
    else:
        srows = conn.execute("SELECT start_ts, end_ts FROM stay_detections WHERE end_ts >= ? "
                             "ORDER BY start_ts", (from_ts,))
    stays = np.array(srows.fetchall(), dtype=np.float64).reshape(-1, 2)
    days, tracks = day_rows(pts.ts, pts.lat, pts.lon, stays, ctx.params)
    run.computing(1.0)
    run.begin()
    if day0 is None:
        conn.execute("DELETE FROM render_days")
        conn.execute("DELETE FROM render_tracks")
    else:
        conn.execute("DELETE FROM render_days WHERE day >= ?", (day0,))
        conn.execute("DELETE FROM render_tracks WHERE day >= ?", (day0,))
    run.write_rows("INSERT INTO render_days VALUES (?, ?, ?, ?, ?, ?)", days)
    run.write_rows("INSERT INTO render_tracks VALUES (?, ?, ?, ?)", tracks)
    conn.execute("DELETE FROM render_zooms")
    conn.executemany("INSERT INTO render_zooms VALUES (?, ?, ?, ?)", zoom_rows(conn, ctx.params))
    run.finish(plan, from_ts if from_ts is not None else 0.0)
    bounds = conn.execute("SELECT min_lat, max_lat, min_lon, max_lon FROM render_bounds").fetchone()
    return run.summary(plan, points=len(pts), days=len(days), track_rows=len(tracks),
                       bounds=list(bounds) if bounds else None)


def run(ctx: WorkerContext) -> dict[str, Any]:
    return run_skill(ctx, NAME, VERSION, _body)
