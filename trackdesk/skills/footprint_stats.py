"""footprint_stats: explored area, cells, distance and time per mode, per day/month/year.

Days are the days you lived (trackdesk.geodata.localdays): with ``timezone`` = ``auto``
(the default) each point's local date in its own zone, found offline from its position
(the same zones stay_stats writes to ``tz_spans``, computed here because this skill runs
first), a flight on the day it took off, days never going back over the date line; an
IANA name or ``local`` puts every point in that one zone. Days start at
``day_start_hour``.

* ``footprint_days``: points, distinct level-0 cells (and their area), distance and
  moving time per local day; ``footprint_day_modes`` the same split by transport mode;
  ``footprint_day_cells`` the distinct cells of each day (month and year areas are
  distinct cells over their days, not sums of daily areas).
* ``footprint_periods`` / ``footprint_period_modes``: the same for ``month`` (YYYY-MM),
  ``year`` (YYYY) and ``all``.
* ``footprint_summary``: days with data, total explored km², total distance, longest
  trip, home and the farthest place from it (a level-0 cell centre, so within one cell).

Distance comes from travel.py's rule, the one trips are measured with (moving steps at
most ``max_gap_s`` apart and no faster than ``max_speed_mps``), so every trip's km are in
the totals; moving time from moving steps at most ``max_step_gap_s`` apart. Both go to the
mode and day of the later point, across midnight too.

INCREMENTAL: days from the one holding two days before the earliest change are
recomputed from their points (a day's end can depend on the next day's zone: flying east
over the date line makes the hours before landing part of the landing's date), reading
the points up to ``max_gap_s`` before for the first step; the months and years from
there on, and the summary, are re-aggregated from the day tables in SQL.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trackdesk.geodata.localdays import LOCAL, LivedDays, flights_from, valid_zone
from trackdesk.skills.geo import MODES, haversine
from trackdesk.skills.grid import Grid
from trackdesk.skills.labels import active_corrections
from trackdesk.skills.places import AUTO, build_places, day_strings
from trackdesk.skills.store import Plan, SkillRun, kept_points, run_skill
from trackdesk.skills.travel import travel_steps
from trackdesk.skills.trip_construction import point_modes
from trackdesk.worker import SkillError, WorkerContext

NAME = "footprint_stats"
VERSION = "1.2.0"  # 1.2: a stray fix inside a stay is no travel (point_modes);
# 1.1: days where you were (issue 21), day_start_hour; distance by
# travel.py (the trips' rule), steps across midnight (issue 20)
MARGIN_S = 2 * 86400.0  # an incremental run redoes the days from t0 - MARGIN_S


def lived_days(conn: Any, params: dict[str, Any]) -> tuple[LivedDays, str | None]:
    """The day function for this run, and why zones are missing (None when they are not)."""
    tz, hour = str(params["timezone"]), int(params["day_start_hour"])
    flights = flights_from(conn)
    if tz == AUTO:
        try:
            from trackdesk.geodata.timezones import tz_span_rows

            return LivedDays(tz_span_rows(conn), flights, hour, LOCAL), None
        except ImportError as exc:  # a worker image without tzfpy: the machine's days
            return LivedDays((), flights, hour, LOCAL), f"time zones need tzfpy: {exc}"
    if not valid_zone(tz):
        raise SkillError(f"unknown time zone {tz!r}: use 'auto', an IANA name such as "
                         "Europe/Berlin, or 'local'")
    return LivedDays((), flights, hour, tz), None


def day_tables(ts: np.ndarray, lat: np.ndarray, lon: np.ndarray, modes: np.ndarray,
               grid: Grid, params: dict[str, Any], lived: LivedDays
               ) -> tuple[list, list, list]:
    if len(ts) == 0:  # nothing new (or an empty tracks.db): no day changed
        return [], [], []
    days = lived.days(ts)
    row0, col0 = grid.level0(lat, lon)
    cell = Grid.cell_id(0, row0, col0)
    n = len(ts)
    dts = np.zeros(n)
    if n > 1:
        dts[1:] = ts[1:] - ts[:-1]
    # Distance: travel.py's rule, the one trip_construction measures trips with, so that
    # every trip's kilometres are in these totals (issue 20). Moving time: steps no longer
    # than max_step_gap_s, and the steps travel.py gives another mode. A step belongs to the day of its later point, midnight or not
    # (an INCREMENTAL run loads the points before its first day for that: see _body).
    travel, travel_modes = travel_steps(ts, lat, lon, modes, params["max_gap_s"],
                                        params["max_speed_mps"])
    mcode = np.where(modes < 0, 0, modes)
    # A step whose kilometres count for another mode than its later point's (a flight or
    # a ride underground with no fix: travel.py) counts its time for that mode too,
    # however long the gap: 2,570 km of plane in no hour of plane was on screen.
    ridden = (travel > 0) & (travel_modes != mcode)
    tmode = np.where(ridden, travel_modes, mcode)
    ok = (dts <= params["max_step_gap_s"]) | ridden
    ok[0] = False
    # Points are time-sorted and lived days never go back: runs, not a sort.
    dstart = np.flatnonzero(np.concatenate([[True], days[1:] != days[:-1]])) if n else \
        np.zeros(0, dtype=np.int64)
    udays = days[dstart]
    dstop = np.append(dstart[1:], n)
    area = grid.cell_area_km2()
    day_rows, mode_rows, cell_rows = [], [], []
    names = day_strings(udays)
    for k, (a, b) in enumerate(zip(dstart.tolist(), dstop.tolist(), strict=True)):
        cells = np.unique(cell[a:b])
        d = travel[a:b]  # zero for standing still (GPS jitter is no travel)
        t = dts[a:b] * ok[a:b]
        mc = tmode[a:b]
        moving = mc > 0
        dist = np.bincount(travel_modes[a:b], weights=d, minlength=len(MODES))
        dur = np.bincount(mc, weights=t, minlength=len(MODES))
        day_rows.append((names[k], lived.start(int(udays[k])), b - a,
                         len(cells), len(cells) * area, float(np.sum(dist)),
                         float(np.sum(t[moving]))))
        mode_rows.extend((names[k], MODES[c], float(dist[c]), float(dur[c]))
                         for c in range(len(MODES)) if dur[c] > 0 or dist[c] > 0)
        cell_rows.extend((names[k], c) for c in cells.tolist())
    return day_rows, mode_rows, cell_rows


def _periods(conn: Any, first_day: str | None, area: float) -> None:
    """Re-aggregate months and years from ``first_day``'s on, and 'all', from day tables."""
    for ptype, width in (("month", 7), ("year", 4)):
        since = None if first_day is None else first_day[:width]
        where = "" if since is None else f"WHERE substr(day, 1, {width}) >= ?"
        args = () if since is None else (since,)
        if since is None:
            conn.execute("DELETE FROM footprint_periods WHERE period_type = ?", (ptype,))
            conn.execute("DELETE FROM footprint_period_modes WHERE period_type = ?", (ptype,))
        else:
            conn.execute("DELETE FROM footprint_periods WHERE period_type = ? AND period >= ?",
                         (ptype, since))
            conn.execute("DELETE FROM footprint_period_modes WHERE period_type = ? "
                         "AND period >= ?", (ptype, since))
        conn.execute(
            f"INSERT INTO footprint_periods SELECT ?, p, nd, np, nc, nc * ?, dist, mov FROM ("
            f" SELECT substr(d.day, 1, {width}) AS p, COUNT(*) AS nd, SUM(d.n_points) AS np,"
            f"  SUM(d.distance_m) AS dist, SUM(d.moving_s) AS mov,"
            f"  (SELECT COUNT(DISTINCT c.cell_id) FROM footprint_day_cells c"
            f"   WHERE substr(c.day, 1, {width}) = substr(d.day, 1, {width})) AS nc"
            f" FROM footprint_days d {where.replace('day', 'd.day')} GROUP BY 1)",
            (ptype, area, *args))
        conn.execute(
            f"INSERT INTO footprint_period_modes SELECT ?, substr(day, 1, {width}), mode,"
            f" SUM(distance_m), SUM(duration_s) FROM footprint_day_modes {where} GROUP BY 2, 3",
            (ptype, *args))
    conn.execute("DELETE FROM footprint_periods WHERE period_type = 'all'")
    conn.execute("DELETE FROM footprint_period_modes WHERE period_type = 'all'")
    conn.execute(
        "INSERT INTO footprint_periods SELECT 'all', 'all', COUNT(*), COALESCE(SUM(n_points), 0),"
        " (SELECT COUNT(DISTINCT cell_id) FROM footprint_day_cells),"
        " (SELECT COUNT(DISTINCT cell_id) FROM footprint_day_cells) * ?,"
        " COALESCE(SUM(distance_m), 0), COALESCE(SUM(moving_s), 0) FROM footprint_days", (area,))
    conn.execute("INSERT INTO footprint_period_modes SELECT 'all', 'all', mode, SUM(distance_m),"
                 " SUM(duration_s) FROM footprint_day_modes GROUP BY mode")


def _summary(conn: Any, params: dict[str, Any], grid: Grid) -> dict[str, Any]:
    out: dict[str, Any] = {}
    row = conn.execute("SELECT days_with_data, n_cells, area_km2, distance_m, moving_s "
                       "FROM footprint_periods WHERE period_type = 'all'").fetchone()
    if row:
        out.update(days_with_data=row[0], cells=row[1], explored_km2=row[2],
                   distance_m=row[3], moving_s=row[4])
    trip = conn.execute("SELECT id, distance_m FROM trips ORDER BY distance_m DESC, id "
                        "LIMIT 1").fetchone()
    if trip:
        out.update(longest_trip_id=trip[0], longest_trip_m=trip[1])
    stays = conn.execute("SELECT id, start_ts, end_ts, lat, lon FROM stay_detections "
                         "ORDER BY start_ts").fetchall()
    merges = [c.target_ids for c in active_corrections(conn, ("merge_places",))]
    places, _ = build_places(stays, params["place_radius_m"], params["timezone"], merges)
    home = next((p for p in places if p[7] == "home"), None)
    if home:
        out.update(home_lat=home[1], home_lon=home[2])
        cells = conn.execute("SELECT lat, lon FROM grid_cells WHERE level = 0").fetchall()
        if cells:
            c = np.array(cells)
            d = haversine(home[1], home[2], c[:, 0], c[:, 1])
            k = int(np.argmax(d))
            out.update(farthest_from_home_m=float(d[k]), farthest_lat=float(c[k, 0]),
                       farthest_lon=float(c[k, 1]))
    return out


def _body(run: SkillRun, plan: Plan) -> dict[str, Any]:
    ctx, conn = run.ctx, run.conn
    params = ctx.params
    g = conn.execute("SELECT cell_size_m, top_level FROM grid_params WHERE id = 1").fetchone()
    if g is None:
        raise SkillError("footprint_stats needs grid_system's results: run grid_system first")
    grid = Grid(g[0], g[1])
    lived, zones_missing = lived_days(conn, params)
    from_ts = None
    first_day = None
    if not plan.full:
        # Days are intervals in time order: every point of day d0 on is after its start.
        d0 = lived.day(plan.t0 - MARGIN_S)
        from_ts = lived.start(d0)
        first_day = day_strings(np.array([d0]))[0]
    # The first day's first step comes from the point before it: load far enough back
    # for any step that can count, and keep only the days from the first one on.
    back = None if from_ts is None else from_ts - max(params["max_gap_s"],
                                                       params["max_step_gap_s"])
    pts = kept_points(conn, plan.watermark, back, on_chunk=run.reading)
    run.loaded(len(pts))
    modes = point_modes(conn, pts.ts, back)
    # The days' tables are most of the run on a long history: say so before them, or
    # the task's bar sits at the end of the read for a second (test_progress).
    run.computing(0.3)
    day_rows, mode_rows, cell_rows = day_tables(pts.ts, pts.lat, pts.lon, modes, grid, params,
                                                lived)
    if first_day is not None:
        day_rows = [r for r in day_rows if r[0] >= first_day]
        mode_rows = [r for r in mode_rows if r[0] >= first_day]
        cell_rows = [r for r in cell_rows if r[0] >= first_day]
    run.computing(1.0)
    run.begin()
    for table in ("footprint_days", "footprint_day_modes", "footprint_day_cells"):
        if first_day is None:
            conn.execute(f"DELETE FROM {table}")
        else:
            conn.execute(f"DELETE FROM {table} WHERE day >= ?", (first_day,))
    run.write_rows("INSERT INTO footprint_days VALUES (?, ?, ?, ?, ?, ?, ?)", day_rows)
    run.write_rows("INSERT INTO footprint_day_modes VALUES (?, ?, ?, ?)", mode_rows)
    run.write_rows("INSERT INTO footprint_day_cells VALUES (?, ?)", cell_rows)
    _periods(conn, first_day, grid.cell_area_km2())
    summary = _summary(conn, params, grid)
    conn.execute("DELETE FROM footprint_summary")
    conn.executemany("INSERT INTO footprint_summary (key, value, text) VALUES (?, ?, ?)",
                     [(k, float(v) if v is not None else None, None)
                      for k, v in sorted(summary.items())])
    run.finish(plan, from_ts if from_ts is not None else 0.0)
    extra = {"zones_unavailable": zones_missing} if zones_missing else {}
    return run.summary(plan, points=len(pts), days=len(day_rows), **summary, **extra)


def run(ctx: WorkerContext) -> dict[str, Any]:
    return run_skill(ctx, NAME, VERSION, _body)
