"""Your labels (issue 19): what the imported files said — Google's activities and place
visits, GeoLife's transport modes — shown in the timeline, on the map and in the import
task's detail pane. The files are imported by the real import worker into a real
tracks.db."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QWidget

from tests.tracks.conftest import new_db, run_import
from tests.ui.conftest import run, until
from trackdesk.engine.states import Status
from trackdesk.ui.views import data
from trackdesk.ui.views.loader import Loader
from trackdesk.ui.views.map_view import MapView
from trackdesk.ui.views.timeline import LABEL_COLOURS, LABEL_H, ROW_H, TimelineView

WAIT = 30_000
T0 = 1_600_000_000  # 2020-09-13T12:26:40Z


def semantic_history() -> dict[str, Any]:
    """A Google Semantic Location History month: home, a subway ride, work."""
    return {"timelineObjects": [
        {"placeVisit": {
            "location": {"latitudeE7": 460000000, "longitudeE7": 145000000,
                         "placeId": "ChIJhome", "address": "Street 1, Ljubljana",
                         "name": "Home sweet home", "semanticType": "TYPE_HOME"},
            "duration": {"startTimestamp": str(T0), "endTimestamp": str(T0 + 3600)}}},
        {"activitySegment": {
            "startLocation": {"latitudeE7": 460000000, "longitudeE7": 145000000},
            "endLocation": {"latitudeE7": 462000000, "longitudeE7": 147000000},
            "duration": {"startTimestamp": str(T0 + 3600),
                         "endTimestamp": str(T0 + 5400)},
            "activityType": "IN_SUBWAY"}},
        {"placeVisit": {
            "location": {"latitudeE7": 462000000, "longitudeE7": 147000000,
                         "placeId": "ChIJwork", "name": "Office park 3",
                         "semanticType": "TYPE_WORK"},
            "duration": {"startTimestamp": str(T0 + 5400),
                         "endTimestamp": str(T0 + 9000)}}},
    ]}


@pytest.fixture
def google_file(tmp_path: Path) -> Path:
    f = tmp_path / "2020_SEPTEMBER.json"
    f.write_text(json.dumps(semantic_history()))
    return f


@pytest.fixture
def labelled_db(tmp_path: Path, google_file: Path) -> Path:
    db = new_db(tmp_path / "tracks.db")
    out = run_import(db, [google_file])
    assert out.ok, out.error
    return db


def open_timeline(qtbot: Any, loader: Loader, db: Path) -> TimelineView:
    loader.set_path(db)
    view = TimelineView(loader)
    qtbot.addWidget(view)
    view.resize(1100, 600)
    view.show()
    view.refresh()
    qtbot.waitUntil(lambda: view.strip.timeline is not None, timeout=WAIT)
    tl = view.strip.timeline
    qtbot.waitUntil(lambda: view.strip.labels_period == (tl.first, tl.last), timeout=WAIT)
    return view


def hover(widget: QWidget, at: QPoint) -> None:
    """The mouse moving over ``widget`` to ``at``, as the window system reports it."""
    pos = QPointF(at)
    ev = QMouseEvent(QEvent.Type.MouseMove, pos, widget.mapToGlobal(pos),
                     Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                     Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def lane_point(view: TimelineView, ts: float) -> QPoint:
    """Where the labels lane of ``ts``'s day is drawn, at ``ts``."""
    strip = view.strip
    d = datetime.fromtimestamp(ts).date()
    i = strip.days().index(d)
    frac = (ts - data.day_start(d)) / 86400
    y = 30 + i * strip.row_pitch() + ROW_H - 2 + LABEL_H / 2
    return QPoint(round(strip._x(frac)), round(y))


def test_the_timeline_draws_your_labels_under_each_day(qtbot: Any, loader: Loader,
                                                       labelled_db: Path) -> None:
    view = open_timeline(qtbot, loader, labelled_db)
    strip = view.strip
    assert view.month.currentText() == "2020-09"
    # The lane is there: each day is taller by it, and the legend names it.
    assert strip.row_pitch() == ROW_H + LABEL_H
    assert view.labels_legend.isVisibleTo(view)
    shown = strip.shown_labels()
    assert (T0 + 3600, T0 + 5400, "activity", "train", "IN_SUBWAY", "google") in shown
    assert {(k, v) for _a, _b, k, v, *_ in shown} == {
        ("activity", "train"), ("place", "Home sweet home"), ("semantic", "HOME"),
        ("place", "Office park 3"), ("semantic", "WORK")}

    strip.resize(1000, strip.minimumHeight())
    img = strip.grab().toImage()
    # The subway ride is painted in the train colour in its day's lane...
    at = lane_point(view, T0 + 4500)
    assert img.pixelColor(at).name() == LABEL_COLOURS["train"]
    # ...and nowhere in the lane outside its stretch (a place visit is no colour).
    assert img.pixelColor(lane_point(view, T0 + 1800)).name() != LABEL_COLOURS["train"]

    # Hovering the stretch says the label, the file's own label and the source, and
    # the time range in the view's format.
    hover(strip, at)
    qtbot.waitUntil(lambda: "IN_SUBWAY" in strip.toolTip(), timeout=WAIT)
    a = datetime.fromtimestamp(T0 + 3600).strftime("%a %d %b %H:%M")
    b = datetime.fromtimestamp(T0 + 5400).strftime("%H:%M")
    assert strip.toolTip() == f"train — IN_SUBWAY, from Google, {a}–{b}"
    assert strip.toolTip() in view.info.text()
    # Over home: the place with its name, and its type.
    hover(strip, lane_point(view, T0 + 1200))
    qtbot.waitUntil(lambda: "Home sweet home" in strip.toolTip(), timeout=WAIT)
    assert "place type HOME — TYPE_HOME, from Google" in strip.toolTip()
    # The day rows themselves still say what they said before.
    row = lane_point(view, T0 + 4500) - QPoint(0, LABEL_H)
    hover(strip, row)
    qtbot.waitUntil(lambda: "IN_SUBWAY" not in strip.toolTip(), timeout=WAIT)


def test_a_database_without_labels_shows_no_lane_and_no_error(
        qtbot: Any, loader: Loader, labelled_db: Path) -> None:
    # A tracks.db made before the annotations table (migration 5) and never migrated.
    conn = sqlite3.connect(labelled_db)
    conn.execute("DROP TABLE annotations")
    conn.commit()
    conn.close()
    errors: list[str] = []
    loader.failed.connect(errors.append)
    view = open_timeline(qtbot, loader, labelled_db)
    assert view.strip.labels == [] and errors == []
    assert view.strip.row_pitch() == ROW_H
    assert not view.labels_legend.isVisibleTo(view)
    assert "days with data" in view.info.text()
    view.strip.grab()  # paints without the lane


def test_the_map_names_your_places_when_hovered(qtbot: Any, loader: Loader,
                                                labelled_db: Path) -> None:
    loader.set_path(labelled_db)
    view = MapView(loader)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    view.refresh()
    qtbot.waitUntil(lambda: len(view.canvas.user_places) == 2, timeout=WAIT)
    c = view.canvas
    home = next(u for u in c.user_places if u.name == "Home sweet home")
    assert (home.semantic, home.source, home.visits) == ("HOME", "google", 1)
    c.cx, c.cy, c.zoom = home.x, home.y, 12.0
    c.update()
    sx, sy = c.to_screen(home.x, home.y)
    hover(c, QPoint(round(float(sx)) + 3, round(float(sy)) + 2))
    qtbot.waitUntil(lambda: "Home sweet home" in c.toolTip(), timeout=WAIT)
    assert "home" in c.toolTip() and "from Google" in c.toolTip()
    # Far from any: no name.
    hover(c, QPoint(round(float(sx)) + 200, round(float(sy)) + 150))
    qtbot.waitUntil(lambda: c.toolTip() == "", timeout=WAIT)
    c.grab()


def test_the_import_task_says_how_many_labels_it_kept(make_window: Any, loop: Any,
                                                      google_file: Path) -> None:
    w = make_window()
    rec = run(loop, w.engine.create_task("import",
                                         params={"paths": json.dumps([str(google_file)])}))
    run(loop, until(lambda: w.engine.tasks[rec.id].status == Status.COMPLETED,
                    timeout=60, what="import completed"), timeout=70)
    run(loop, until(lambda: w.model.row_of(rec.id) is not None))
    w.select_tasks([rec.id])
    text = w.detail.labels_kept.text()
    # home + HOME, the subway ride, work + WORK
    assert "5 of your labels kept" in text and w.detail.labels_kept.isVisibleTo(w.detail)
