"""grid_system: every kept point in a fine equal-area cell, aggregated at coarser levels.

The grid is described in :mod:`trackdesk.skills.grid`. A point's level-0 cell is computed
by the ``point_analysis`` view (no per-point rows); this skill keeps, per cell and level,
the number of points, first and last seen and the days seen, in two tables:

* ``grid_cell_days(cell_id, day, level, n_points, first_ts, last_ts)``: per UTC day;
* ``grid_cells(cell_id, level, row, col, lat, lon, n_points, n_days, first_ts, last_ts)``.

INCREMENTAL: days from the earliest changed day on are recomputed from their points, then
the totals of exactly the cells those days touched (before or after) are re-aggregated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trackdesk.skills.grid import Grid
from trackdesk.skills.store import Plan, SkillRun, kept_points, run_skill
from trackdesk.worker import WorkerContext

NAME = "grid_system"
VERSION = "1.0.0"
DAY = 86400.0


def cell_days(grid: Grid, ts: np.ndarray, lat: np.ndarray, lon: np.ndarray, levels: int
              ) -> list[np.ndarray]:
    """Columns cell_id, day, level, n_points, first_ts, last_ts for every level.

    Kept as arrays (rows are made while inserting): a history spread over a country can
    have a million cell-days, too many to hold as Python tuples.
    """
    if len(ts) == 0:
        return [np.zeros(0, dtype=np.int64)] * 4 + [np.zeros(0)] * 2
    row0, col0 = grid.level0(lat, lon)
    day = np.floor(ts / DAY).astype(np.int64)
    # Runs of consecutive points in the same cell and day first: far fewer than points.
    c0 = Grid.cell_id(0, row0, col0)
    brk = np.ones(len(ts), dtype=bool)
    brk[1:] = (c0[1:] != c0[:-1]) | (day[1:] != day[:-1])
    s = np.flatnonzero(brk)
    e = np.append(s[1:], len(ts))
    r_row, r_col, r_day = row0[s], col0[s], day[s]
    r_n = e - s
    r_first, r_last = ts[s], ts[e - 1]
    out: list[list[np.ndarray]] = []
    for level in range(levels):
        cell = Grid.cell_id(level, r_row >> level, r_col >> level)
        order = np.lexsort((cell, r_day))
        c, d = cell[order], r_day[order]
        g = np.ones(len(c), dtype=bool)
        g[1:] = (c[1:] != c[:-1]) | (d[1:] != d[:-1])
        gs = np.flatnonzero(g)
        n = np.add.reduceat(r_n[order], gs)
        first = np.minimum.reduceat(r_first[order], gs)
        last = np.maximum.reduceat(r_last[order], gs)
        out.append([c[gs], d[gs], np.full(len(gs), level, dtype=np.int64), n, first, last])
    return [np.concatenate([o[k] for o in out]) for k in range(6)]


def _body(run: SkillRun, plan: Plan) -> dict[str, Any]:
    ctx, conn = run.ctx, run.conn
    levels = int(ctx.params["levels"])
    grid = Grid(ctx.params["cell_size_m"], levels - 1)
    day0 = None if plan.full else int(np.floor(plan.t0 / DAY))
    from_ts = None if day0 is None else day0 * DAY
    pts = kept_points(conn, plan.watermark, from_ts, on_chunk=run.reading)
    run.loaded(len(pts))
    cols = cell_days(grid, pts.ts, pts.lat, pts.lon, levels)
    run.computing(1.0)
    run.begin()
    if day0 is None:
        conn.execute("DELETE FROM grid_params")
        conn.execute("DELETE FROM grid_bands")
        conn.execute("INSERT INTO grid_params (id, cell_size_m, dlat_deg, top_level) "
                     "VALUES (1, ?, ?, ?)", (grid.cell_size_m, grid.dlat, grid.top_level))
        conn.executemany("INSERT INTO grid_bands (band, n_cols) VALUES (?, ?)",
                         enumerate(grid.n_cols.tolist()))
        conn.execute("DELETE FROM grid_cell_days")
        conn.execute("DELETE FROM grid_cells")
        affected_sql, args = "", ()
    else:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS grid_affected (cell_id INTEGER PRIMARY KEY)")
        conn.execute("DELETE FROM grid_affected")
        conn.execute("INSERT OR IGNORE INTO grid_affected SELECT cell_id FROM grid_cell_days "
                     "WHERE day >= ?", (day0,))
        conn.executemany("INSERT OR IGNORE INTO grid_affected VALUES (?)",
                         ((c,) for c in np.unique(cols[0]).tolist()))
        conn.execute("DELETE FROM grid_cell_days WHERE day >= ?", (day0,))
        conn.execute("DELETE FROM grid_cells WHERE cell_id IN (SELECT cell_id FROM grid_affected)")
        affected_sql, args = "WHERE cell_id IN (SELECT cell_id FROM grid_affected)", ()
    for a in range(0, len(cols[0]), 100_000):
        conn.executemany("INSERT INTO grid_cell_days (cell_id, day, level, n_points, first_ts, "
                         "last_ts) VALUES (?, ?, ?, ?, ?, ?)",
                         zip(*(c[a:a + 100_000].tolist() for c in cols), strict=True))
        if run.prog is not None:
            run.prog.step("write", a + 100_000, len(cols[0]))
    agg = conn.execute(
        f"SELECT cell_id, SUM(n_points), COUNT(*), MIN(first_ts), MAX(last_ts) "
        f"FROM grid_cell_days {affected_sql} GROUP BY cell_id", args).fetchall()
    if agg:
        cell = np.array([a[0] for a in agg], dtype=np.int64)
        level, row, col = Grid.split(cell)
        lat, lon = grid.centres(cell)
        conn.executemany(
            "INSERT INTO grid_cells (cell_id, level, row, col, lat, lon, n_points, n_days, "
            "first_ts, last_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((c, lv, r, co, la, lo, a[1], a[2], a[3], a[4]) for c, lv, r, co, la, lo, a in zip(
                cell.tolist(), level.tolist(), row.tolist(), col.tolist(), lat.tolist(),
                lon.tolist(), agg, strict=True)))
    run.finish(plan, from_ts if from_ts is not None else (float(pts.ts[0]) if len(pts) else 0.0))
    n0 = conn.execute("SELECT COUNT(*) FROM grid_cells WHERE level = 0").fetchone()[0]
    return run.summary(plan, points=len(pts), cell_days=len(cols[0]), cells_level0=n0,
                       explored_km2=round(n0 * grid.cell_area_km2(), 3))


def run(ctx: WorkerContext) -> dict[str, Any]:
    return run_skill(ctx, NAME, VERSION, _body)
