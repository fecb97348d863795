"""The map, timeline, statistics and coverage views show what tracks.db holds, and
follow the tasks that feed them.

One small history (3 days) analysed once by the real skills (worker processes) is
shared by the module; tests that change data work on a copy.
"""

from __future__ import annotations

import csv
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from devtools import views_demo as demo
from tests.ui.conftest import DEMO_DAYS, q, run, until
from trackdesk.engine.events import EventBus, TaskChanged
from trackdesk.engine.states import Status
from trackdesk.ui.views import data
from trackdesk.ui.views.coverage import CoverageView
from trackdesk.ui.views.loader import Loader
from trackdesk.ui.views.map_view import MapView
from trackdesk.ui.views.panel import ViewsPanel
from trackdesk.ui.views.statistics import StatisticsView
from trackdesk.ui.views.tiles import TileKey, TileSource
from trackdesk.ui.views.timeline import TimelineView

DAYS = DEMO_DAYS
WAIT = 30_000


@pytest.fixture
def db_copy(demo_db: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy.db"
    shutil.copy(demo_db, dst)
    return dst


def wait_tiles(qtbot: Any, view: MapView) -> None:
    c = view.canvas
    qtbot.waitUntil(lambda: c.source is not None and c.missing == 0 and not c._inflight,
                    timeout=WAIT)


# ------------------------------------------------------------------ map ---------------
def test_the_map_shows_the_points_days_and_bounds_of_the_database(map_view: MapView,
                                                                   demo_db: Path) -> None:
    n, days = q(demo_db, "SELECT SUM(n_points), COUNT(*) FROM render_days")[0]
    b = map_view.basics
    assert b.n_points == n and len(b.days) == days == DAYS
    bounds = q(demo_db, "SELECT min_lat, max_lat, min_lon, max_lon FROM render_bounds")[0]
    assert b.bounds == pytest.approx(bounds)
    places = q(demo_db, "SELECT COUNT(*) FROM places")[0][0]
    stays = q(demo_db, "SELECT COUNT(*) FROM stay_detections")[0][0]
    assert len(map_view.canvas.markers.place_id) == places > 0
    assert len(map_view.canvas.markers.stay_id) == stays > 0
    # The days on the map are the days you lived, as Statistics and Coverage count them
    # (footprint_stats), not render_days' UTC days: 230 beside 229 on a real history.
    lived = q(demo_db, "SELECT days_with_data FROM footprint_periods "
                       "WHERE period_type = 'all'")[0][0]
    assert f"{n:,} points on {lived} days" in map_view.status.text()
    # "Show all" frames every day's bounds.
    map_view.canvas.fit()
    x0, y0, x1, y1 = map_view.canvas.visible_box()
    boxes = b.day_boxes
    assert x0 <= boxes[:, 0].min() and boxes[:, 2].max() <= x1
    assert y0 <= boxes[:, 1].min() and boxes[:, 3].max() <= y1


def test_tiles_draw_tracks_by_mode_and_cells_where_the_person_was(map_view: MapView,
                                                                  demo_db: Path,
                                                                  qtbot: Any) -> None:
    wait_tiles(qtbot, map_view)
    assert map_view.canvas._tiles, "no tile drawn"
    conn = data.connect_ro(demo_db)
    try:
        src = TileSource(data.map_basics(conn))
        home = q(demo_db, "SELECT lat, lon FROM places WHERE label = 'home'")[0]
        x, y = data.mercator(*home)
        z = 13
        key = TileKey(z, int(x * (1 << z)), int(y * (1 << z)), True, True)
        img = src.render(conn, key)
        px = np.frombuffer(bytes(img.constBits()), np.uint8).reshape(256, 256, 4)
        assert (px[..., 3] > 0).mean() > 0.01  # cells and tracks around home
        empty = src.render(conn, TileKey(z, 0, 0, True, True))
        assert not np.frombuffer(bytes(empty.constBits()), np.uint8).any()
        # Nearly every drawn vertex knows its mode.
        tracks = src.tracks(conn, z, src.basics.days)
        modes = np.concatenate([t.mode for t in tracks])
        known = modes[modes >= 0]
        assert len(known) > 0.95 * len(modes)
        assert len(set(np.unique(known).tolist()) - {0}) >= 2  # several moving modes
    finally:
        conn.close()


def test_clicking_a_place_shows_its_details(map_view: MapView, demo_db: Path,
                                            qtbot: Any) -> None:
    c = map_view.canvas
    pid, label = q(demo_db, "SELECT id, label FROM places ORDER BY total_dwell_s DESC")[0]
    i = int(np.flatnonzero(c.markers.place_id == pid)[0])
    c.fit((c.markers.place_xy[i, 0] - 1e-5, c.markers.place_xy[i, 1] - 1e-5,
           c.markers.place_xy[i, 0] + 1e-5, c.markers.place_xy[i, 1] + 1e-5))
    sx, sy = c.to_screen(*c.markers.place_xy[i])
    c.pick_at(QPointF(float(sx), float(sy)))
    qtbot.waitUntil(lambda: map_view.selected_details.get("id") == pid, timeout=WAIT)
    assert map_view.selected == ("place", pid)
    assert f"Place {pid}" in map_view.info.toPlainText()
    if label:
        assert label in map_view.info.toPlainText()


def test_clicking_a_track_selects_its_trip(map_view: MapView, demo_db: Path,
                                           qtbot: Any) -> None:
    c = map_view.canvas
    c.layers["places"] = c.layers["stays"] = False
    trip_id, start, end = q(demo_db, "SELECT id, start_ts, end_ts FROM trips WHERE "
                                     "main_mode IN ('car', 'bike') ORDER BY distance_m DESC")[0]
    conn = data.connect_ro(demo_db)
    try:
        src = TileSource(data.map_basics(conn))
        path = src.trip_path(conn, 14, start, end)
    finally:
        conn.close()
    pts = path[np.isfinite(path[:, 0])]
    mid = pts[len(pts) // 2]
    c.cx, c.cy, c.zoom = float(mid[0]), float(mid[1]), 14.0
    sx, sy = c.to_screen(*mid)
    c.pick_at(QPointF(float(sx), float(sy)))
    qtbot.waitUntil(lambda: map_view.selected == ("trip", trip_id), timeout=WAIT)
    qtbot.waitUntil(lambda: "Trip" in map_view.info.toPlainText(), timeout=WAIT)
    assert len(c.selection_path) > 2  # the trip is outlined on the map


def test_show_points_highlights_them_and_zooms_onto_them(map_view: MapView, demo_db: Path,
                                                         qtbot: Any) -> None:
    ids = [r[0] for r in q(demo_db, "SELECT id FROM points ORDER BY id LIMIT 5 OFFSET 1000")]
    map_view.show_points(ids)
    qtbot.waitUntil(lambda: len(map_view.canvas.highlight) == 5, timeout=WAIT)
    x0, y0, x1, y1 = map_view.canvas.visible_box()
    h = map_view.canvas.highlight
    assert (h[:, 0] >= x0).all() and (h[:, 0] <= x1).all()
    assert (h[:, 1] >= y0).all() and (h[:, 1] <= y1).all()
    assert map_view.canvas.zoom > 12


def test_failed_points_of_a_task_are_shown_when_they_have_a_position(
        qtbot: Any, loader: Loader, db_copy: Path) -> None:
    # A fix from before 1970 is invalid (failed) but has a position to show.
    conn = sqlite3.connect(db_copy)
    conn.execute("INSERT INTO points (ts, lat, lon) VALUES (-5e9, 48.2, 11.6)")
    conn.commit()
    conn.close()
    demo.run_skill("outlier_detection", db_copy)
    assert q(db_copy, "SELECT COUNT(*) FROM outlier_flags WHERE reasons & 1")[0][0] == 1
    loader.set_path(db_copy)
    view = MapView(loader)
    qtbot.addWidget(view)
    view.show_failed_points("outlier_detection")
    qtbot.waitUntil(lambda: len(view.canvas.highlight) == 1, timeout=WAIT)
    x, y = data.mercator(48.2, 11.6)
    assert view.canvas.highlight[0] == pytest.approx([x, y])


def test_outliers_and_synthetic_points_can_be_toggled(map_view: MapView, demo_db: Path,
                                                      qtbot: Any) -> None:
    m = map_view.canvas.markers
    assert len(m.outlier_xy) == q(demo_db, "SELECT COUNT(*) FROM outlier_flags")[0][0]
    assert len(m.synthetic_xy) == q(demo_db, "SELECT COUNT(*) FROM synthetic_points")[0][0]
    assert not map_view.canvas.layers["outliers"]
    map_view.boxes["outliers"].setChecked(True)
    map_view.boxes["synthetic"].setChecked(True)
    assert map_view.canvas.layers["outliers"] and map_view.canvas.layers["synthetic"]
    map_view.canvas.grab()  # paints with them on


# ------------------------------------------------------------------ timeline ----------
def test_the_timeline_shows_each_day_its_stays_trips_and_gaps(qtbot: Any, loader: Loader,
                                                               demo_db: Path) -> None:
    loader.set_path(demo_db)
    view = TimelineView(loader)
    qtbot.addWidget(view)
    view.refresh()
    qtbot.waitUntil(lambda: view.strip.timeline is not None, timeout=WAIT)
    assert view.months == ["2026-01"]
    tl = view.strip.timeline
    assert (tl.first.day, tl.last.day) == (1, 31)
    # days where the person was (issue 21): Europe/Berlin days, whatever this computer's
    assert len(tl.data_days) == len(data.days_with_data(sqlite3.connect(demo_db),
                                                        zone=tl.zone))
    stays = q(demo_db, "SELECT COUNT(*) FROM stays")[0][0]
    trips = q(demo_db, "SELECT COUNT(*) FROM trips")[0][0]
    assert len(tl.stays) == stays and len(tl.trips) == trips
    assert {s[2] for s in tl.segments} <= set(data.MODES[1:])
    # Days after the data are one long gap: nothing covers them.
    last = tl.data_days[-1] + timedelta(days=2)
    assert not any(a < data.day_start(last + timedelta(days=1)) and b > data.day_start(last)
                   for a, b in tl.covered)
    assert f"{len(tl.data_days)} of 31 days with data" in view.info.text()
    view.strip.resize(900, view.strip.minimumHeight())
    view.strip.grab()


def test_the_timeline_draws_no_ride_for_a_stray_fix_inside_a_stay(db_copy: Path) -> None:
    # A fix 700 m off at home at 3 am reads as a two-minute "car" segment; the trips and the
    # totals count it as stationary, so the timeline must not draw a car blip in the night.
    conn = sqlite3.connect(db_copy)
    a, b = conn.execute("SELECT start_ts, end_ts FROM stays ORDER BY end_ts - start_ts DESC "
                        "LIMIT 1").fetchone()
    mid = (a + b) / 2
    pid = conn.execute("SELECT id FROM points WHERE ts >= ? ORDER BY ts LIMIT 1",
                       (mid,)).fetchone()[0]
    cols = ("start_ts, end_ts, mode, n_points, distance_m, duration_s, mean_speed_mps, "
            "p85_speed_mps, first_point_id, last_point_id")
    conn.execute(f"INSERT INTO mode_segments ({cols}) VALUES (?, ?, 'car', 2, 1400, 120, "
                 "11.7, 11.7, ?, ?)", (mid, mid + 120, pid, pid))
    # The same blip half outside the stay is a real departure and stays drawn.
    conn.execute(f"INSERT INTO mode_segments ({cols}) VALUES (?, ?, 'bike', 2, 400, 120, "
                 "3.3, 3.3, ?, ?)", (b - 60, b + 60, pid, pid))
    conn.commit()
    first = data.lived(conn).date(mid)
    tl = data.timeline(conn, first, first + timedelta(days=1))
    assert not any(s[0] == mid and s[2] == "car" for s in tl.segments)
    assert any(s[0] == b - 60 and s[2] == "bike" for s in tl.segments)
    assert tl.segments, "the day's real rides are still drawn"


# ------------------------------------------------------------------ statistics --------
def test_statistics_show_the_footprint_and_export_csv(qtbot: Any, loader: Loader,
                                                      demo_db: Path, tmp_path: Path) -> None:
    loader.set_path(demo_db)
    view = StatisticsView(loader)
    qtbot.addWidget(view)
    view.refresh()
    qtbot.waitUntil(lambda: view.stats is not None, timeout=WAIT)
    km2 = q(demo_db, "SELECT value FROM footprint_summary WHERE key = 'explored_km2'")[0][0]
    days = q(demo_db, "SELECT value FROM footprint_summary WHERE key = 'days_with_data'")[0][0]
    assert view.cards["explored"].text() == f"{km2:,.1f} km²"
    assert view.cards["days"].text() == f"{days:,.0f}"
    months = q(demo_db, "SELECT period, distance_m FROM footprint_periods WHERE "
                        "period_type = 'month' ORDER BY period")
    assert view.table.rowCount() == len(months)
    assert view.table.item(0, 0).text() == months[0][0]
    total_modes = q(demo_db, "SELECT SUM(distance_m) FROM footprint_period_modes WHERE "
                             "period_type = 'month' AND mode != 'stationary'")[0][0]
    assert view.distance_chart.totals.sum() == pytest.approx(total_modes / 1000)
    n_places = min(10, q(demo_db, "SELECT COUNT(*) FROM places")[0][0])
    assert view.places.rowCount() == n_places
    out = tmp_path / "stats.csv"
    assert view.export_csv(out) == len(months)
    rows = list(csv.reader(out.open()))
    assert rows[0][:3] == ["period", "days_with_data", "points"]
    assert float(rows[1][rows[0].index("distance_km")]) == pytest.approx(months[0][1] / 1000)
    view.period.setCurrentIndex(1)
    assert view.table.rowCount() == 1 and view.table.item(0, 0).text() == "2026"


# ------------------------------------------------------------------ coverage ----------
def test_coverage_marks_analysed_and_waiting_days(qtbot: Any, loader: Loader,
                                                  db_copy: Path) -> None:
    loader.set_path(db_copy)
    view = CoverageView(loader)
    qtbot.addWidget(view)
    view.refresh()
    qtbot.waitUntil(lambda: view.coverage is not None, timeout=WAIT)
    cov = view.coverage
    assert len(cov.data_days) >= DAYS and not cov.pending
    assert cov.analysed == set(cov.data_days) == cov.latest
    # New points on a later day: that day waits for the next chain run.
    demo.add_points(db_copy, 1, seed=99, day_offset=10)
    view.refresh()
    qtbot.waitUntil(lambda: view.coverage is not cov, timeout=WAIT)
    new = view.coverage
    assert new.pending and min(new.pending) > max(cov.data_days)
    assert view.calendar.state(min(new.pending)) == "pending"
    assert view.calendar.state(cov.data_days[0]) == "latest"
    assert "waiting for the next run" in view.summary.text()
    view.calendar.grab()


# ------------------------------------------------------------------ refreshing --------
class FakeEngine:
    """Just what the panel uses of an Engine: its db path, tasks and event bus."""

    def __init__(self, db: Path) -> None:
        self.db_path = db
        self.events = EventBus()
        self.tasks: dict[int, Any] = {}

    def complete(self, task_id: int, skill: str) -> None:
        self.tasks[task_id] = type("T", (), {"skill_name": skill, "id": task_id})()
        self.events.emit(TaskChanged(task_id, {"status": "completed"}))


def test_views_refresh_when_the_tasks_that_feed_them_complete(qtbot: Any, db_copy: Path
                                                              ) -> None:
    panel = ViewsPanel()
    qtbot.addWidget(panel)
    engine = FakeEngine(db_copy)
    panel.set_engine(engine)
    panel.setCurrentWidget(panel.map)
    qtbot.waitUntil(lambda: panel.map.basics is not None, timeout=WAIT)
    before = panel.map.basics.n_points
    counts = dict(panel.refresh_count)
    # A day more, analysed by the real skills (INCREMENTAL), then the engine says so.
    demo.add_points(db_copy, 1, seed=5, day_offset=DAYS)
    for skill in ("outlier_detection", "trajectory_completion", "transport_mode",
                  "stay_detection", "trip_construction", "grid_system", "footprint_stats",
                  "stay_stats", "rendering_metadata"):
        demo.run_skill(skill, db_copy, "INCREMENTAL")
    engine.complete(1, "footprint_stats")  # feeds statistics only: the map stays
    engine.complete(2, "rendering_metadata")
    qtbot.waitUntil(lambda: panel.map.basics.n_points > before, timeout=WAIT)
    assert panel.refresh_count["map"] == counts["map"] + 1
    assert len(panel.map.basics.days) == DAYS + 1
    # Views not on screen wait until they are shown.
    assert {"statistics", "coverage"} <= panel.stale
    assert panel.refresh_count["statistics"] == counts["statistics"]
    panel.setCurrentWidget(panel.statistics)
    # Days where the person was (issue 21): the demo lives in Munich, so its DAYS + 1
    # generated days, which run to UTC midnight (01:00 in Munich), are Munich's dates of
    # the kept points, one more than the generated days.
    from datetime import datetime
    from zoneinfo import ZoneInfo

    munich = ZoneInfo("Europe/Berlin")
    lived = {datetime.fromtimestamp(ts, munich).date() for (ts,) in q(
        db_copy, "SELECT ts FROM points WHERE id NOT IN (SELECT point_id FROM outlier_flags)")}
    assert len(lived) == DAYS + 2
    qtbot.waitUntil(lambda: panel.statistics.stats is not None and
                    panel.statistics.cards["days"].text() == str(len(lived)), timeout=WAIT)
    # Other events change nothing.
    engine.events.emit(TaskChanged(3, {"progress_percent": 50.0}))
    assert panel.stale == {"coverage", "timeline"}
    panel.shutdown()


def test_the_window_has_the_views_as_tabs_fed_by_its_engine(make_window: Any, loop: Any,
                                                            db_path: Path,
                                                            demo_db: Path) -> None:
    shutil.copy(demo_db, db_path)
    w = make_window()
    tabs = [w.views.tabText(i) for i in range(w.views.count())]
    assert tabs == ["Tasks", "Map", "Timeline", "Statistics", "Coverage"]
    w.views.setCurrentWidget(w.views.map)
    run(loop, until(lambda: w.views.map.basics is not None, what="map loaded"))
    n = w.views.map.basics.n_points
    # A real chain run through the window's engine: the map follows its completion.
    demo.add_points(db_path, 1, seed=8, day_offset=DAYS)
    recs = run(loop, w.engine.run_chain(task_type="INCREMENTAL"))
    ids = {r.id for r in recs}
    run(loop, until(lambda: all(w.engine.tasks[i].status == Status.COMPLETED for i in ids),
                    timeout=120, what="chain completed"), timeout=130)
    run(loop, until(lambda: w.views.map.basics.n_points > n, what="map refreshed"))
    w.views.shutdown()


def test_a_view_closed_while_its_render_runs_gets_no_late_call_and_no_crash(
        qtbot: Any, db_copy: Path) -> None:
    # The map asks a render process for a tile, and the window closes (Qt deletes the
    # view and its loader with it) before the tile comes back. The result arrives on the
    # pool's own thread; emitting on the loader's Qt object while the GUI thread deleted
    # it crashed the app (a segfault in CI, in loader._emit during a window's teardown).
    # Results now travel on one relay object that is never deleted, and a closed
    # loader's results are dropped: nothing is called, nothing crashes. The same for
    # reads in flight when their loader goes, many times over, at random moments.
    import random
    import time

    import shiboken6
    from PySide6.QtCore import QObject

    owner = QObject()
    ld = Loader(parent=owner)
    ld.set_path(db_copy)
    got: list[Any] = []
    assert ld.render(time.sleep, (1.0,), got.append) is not None
    shiboken6.delete(owner)  # the window closing
    assert not shiboken6.isValid(ld)
    qtbot.wait(2500)  # the render process starts (spawn), sleeps, and answers
    assert got == []
    rng = random.Random(7)
    for _ in range(40):
        owner = QObject()
        ld = Loader(parent=owner)
        ld.set_path(db_copy)
        for _ in range(10):
            ld.submit(lambda _conn: time.sleep(rng.random() * 0.004), got.append)
        qtbot.wait(rng.randint(0, 8))
        shiboken6.delete(owner)
    qtbot.wait(200)
    # Results of loaders still alive when they finished may have arrived; none after.
    n = len(got)
    qtbot.wait(300)
    assert len(got) == n
