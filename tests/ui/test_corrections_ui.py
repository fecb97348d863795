"""Corrections in the window (issue 20, item 3): right-click in the timeline and on the
map, stored in tracks.db off the GUI thread, applied by a real INCREMENTAL chain run of
the window's engine (real worker processes), undone with Edit → Undo.

One small history (3 days) analysed by the real skills is shared by the module; each
test works on its own copy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QInputDialog, QMenu, QMessageBox

from devtools import views_demo as demo
from tests.ui.conftest import q, run, until
from trackdesk.engine.states import Status
from trackdesk.ui.views import data
from trackdesk.ui.views.corrections_ui import (
    CorrectionsController,
    CorrectionsList,
    PlacePicker,
)
from trackdesk.ui.views.panel import ViewsPanel
from trackdesk.ui.views.timeline import LEFT, ROW_H

WAIT = 30_000


def car_trip(db: Path) -> tuple[int, float, float]:
    """A trip travelled by car only (one mode from start to end)."""
    for tid, a, b, modes in q(db, "SELECT id, start_ts, end_ts, mode_distances_json FROM "
                              "trips WHERE main_mode = 'car' ORDER BY start_ts"):
        if set(json.loads(modes)) == {"car"}:
            return tid, a, b
    raise AssertionError("the demo history has no car-only trip")


def mode_at(db: Path, ts: float) -> str | None:
    rows = q(db, "SELECT main_mode FROM trips WHERE start_ts <= ? AND end_ts >= ?", ts, ts)
    return rows[0][0] if rows else None


def strip_pos(view: Any, ts: float) -> QPoint:
    """Where moment ``ts`` is drawn in the timeline's strip."""
    strip, tl = view.strip, view.strip.timeline
    for i, d in enumerate(strip.days()):
        t0 = data.day_start(d, tl.zone, tl.hour)
        t1 = data.day_start(d + timedelta(days=1), tl.zone, tl.hour)
        if t0 <= ts < t1:
            x = LEFT + (ts - t0) / (t1 - t0) * (strip.width() - LEFT - 12)
            y = 30 + i * strip.row_pitch() + ROW_H / 2
            return QPoint(round(x), round(y))
    raise AssertionError(f"{ts} is not in the period shown")


def right_click(widget: Any, pos: QPoint) -> QMenu:
    """What a right-click does: the widget's custom context menu at ``pos``."""
    widget.customContextMenuRequested.emit(pos)
    menus = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMenu)
             and w.isVisible()]
    assert len(menus) == 1, f"expected one menu, got {len(menus)}"
    return menus[0]


def choose(menu: QMenu, *path: str) -> None:
    """Trigger the entry ``path`` (submenu titles, then the item) and close the menu."""
    here = menu
    for title in path[:-1]:
        sub = next(a.menu() for a in here.actions() if a.text() == title)
        here = sub
    act = next((a for a in here.actions() if a.text() == path[-1]), None)
    assert act is not None, f"no {path[-1]!r} in {[a.text() for a in here.actions()]}"
    assert act.isEnabled()
    act.trigger()
    menu.close()


def show_month_of(loop: Any, w: Any, ts: float) -> Any:
    view = w.views.timeline
    w.views.setCurrentWidget(view)
    run(loop, until(lambda: view.strip.timeline is not None, what="timeline loaded"))
    month = datetime.fromtimestamp(ts).strftime("%Y-%m")
    view.month.setCurrentText(month)
    run(loop, until(lambda: view.strip.timeline is not None and
                    view.strip.timeline.first.strftime("%Y-%m") == month))
    view.strip.resize(1200, view.strip.height())
    return view


def chain_done(loop: Any, w: Any, n_runs: int) -> list[int]:
    ctl = w.views.corrections
    run(loop, until(lambda: len(ctl.reruns) >= n_runs, what="rerun queued"))
    ids = ctl.reruns[n_runs - 1]
    active = (Status.PENDING, Status.RUNNING, Status.PAUSED)
    run(loop, until(lambda: all(w.engine.tasks[i].status not in active for i in ids),
                    timeout=150, what="rerun finished"), timeout=160)
    bad = [(i, w.engine.tasks[i].status) for i in ids
           if w.engine.tasks[i].status != Status.COMPLETED]
    assert not bad, f"rerun tasks did not complete: {bad}"
    return ids


def test_this_was_a_train_is_stored_applied_by_the_engine_and_undone(
        make_window: Any, loop: Any, db_path: Path, demo_db: Path) -> None:
    shutil.copy(demo_db, db_path)
    tid, a, b = car_trip(db_path)
    mid = (a + b) / 2
    assert mode_at(db_path, mid) == "car"
    w = make_window()
    view = show_month_of(loop, w, mid)
    menu = right_click(view.strip, strip_pos(view, mid))
    assert [a_.text() for a_ in menu.actions() if a_.text()][1:] == [
        "This was a…", "Split trip here", "Merge with next trip",
        "Mark this stretch's points as wrong"]
    # Its first line names the stretch in the timeline's zone (where you were).
    begins = datetime.fromtimestamp(a, ZoneInfo(view.strip.timeline.zone or "UTC"))
    assert menu.actions()[0].text().startswith(f"Trip {tid}: ")
    assert f"{begins:%H:%M}–" in menu.actions()[0].text()
    choose(menu, "This was a…", "train")
    # Stored: one row saying so, by this user, now.
    run(loop, until(lambda: q(db_path, "SELECT COUNT(*) FROM corrections")[0][0] == 1,
                    what="correction stored"))
    kind, value, start, end, undone = q(db_path, "SELECT kind, value, start_ts, end_ts, "
                                        "undone_at FROM corrections")[0]
    assert (kind, value, undone) == ("mode", "train", None)
    assert start == pytest.approx(a, abs=1) and end == pytest.approx(b, abs=1)
    # The skills that apply it ran through the window's engine: the trip is a train now.
    ids = chain_done(loop, w, 1)
    skills = [w.engine.tasks[i].skill_name for i in sorted(ids)]
    assert skills[0] == "transport_mode" and "outlier_detection" not in skills
    assert all(w.engine.tasks[i].task_type == "INCREMENTAL" for i in ids)
    assert mode_at(db_path, mid) == "train"
    # ... and the timeline shows it, marked as yours.
    run(loop, until(lambda: any(t[2] == "train" and t[0] <= mid <= t[1]
                                for t in view.strip.timeline.trips), what="timeline fresh"))
    pos = strip_pos(view, mid)
    view.strip.mouseMoveEvent(QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(pos),
                                          QPointF(view.strip.mapToGlobal(pos)),
                                          Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                                          Qt.KeyboardModifier.NoModifier))
    assert "(train)" in view.strip.toolTip()
    assert view.strip.toolTip().endswith("— corrected by you: was a train")
    # Edit → Undo correction: the row stays, marked undone; the next run restores car.
    undo = w.views.corrections.act_undo
    assert undo.isEnabled() and "This was a train" in undo.text()
    edit = next(m.menu() for m in w.menuBar().actions() if m.text() == "&Edit")
    assert undo in edit.actions() and undo.shortcut().toString() == "Ctrl+Z"
    undo.trigger()
    run(loop, until(lambda: q(db_path, "SELECT undone_at FROM corrections")[0][0] is not None,
                    what="undone"))
    chain_done(loop, w, 2)
    assert mode_at(db_path, mid) == "car"
    assert q(db_path, "SELECT COUNT(*) FROM corrections")[0][0] == 1
    # The list of your corrections says who, when, what, and that it is undone.
    run(loop, until(lambda: w.views.corrections.rows and
                    w.views.corrections.rows[0]["undone_at"] is not None))
    lst = w.views.corrections.dock.widget()
    item = lst.tree.topLevelItem(0)
    assert item.text(2).startswith("This was a train") and item.text(3).startswith("undone")
    assert f"{begins:%H:%M}–" in item.text(2)  # in the timeline's zone, as the strip
    assert w.views.corrections.act_redo.isEnabled()
    w.views.shutdown()


def test_a_trip_of_several_stretches_can_be_corrected_whole(
        make_window: Any, loop: Any, db_path: Path, demo_db: Path) -> None:
    # A flight with the train to and from the airport: right-click on the flight offers
    # the stretch and the whole trip; the whole trip is stored from its start to its end.
    shutil.copy(demo_db, db_path)
    tid, a, b = next((tid, a, b) for tid, a, b, modes in q(
        db_path, "SELECT id, start_ts, end_ts, mode_distances_json FROM trips "
        "ORDER BY start_ts") if len(json.loads(modes)) > 1)
    seg0, seg1 = q(db_path, "SELECT start_ts, end_ts FROM mode_segments WHERE start_ts < ? "
                   "AND end_ts > ? ORDER BY end_ts - start_ts DESC LIMIT 1", b, a)[0]
    mid = (max(seg0, a) + min(seg1, b)) / 2
    w = make_window()
    view = show_month_of(loop, w, mid)
    menu = right_click(view.strip, strip_pos(view, mid))
    texts = [a_.text() for a_ in menu.actions() if a_.text()]
    assert texts[1:3] == ["This was a…", "The whole trip was a…"], texts
    choose(menu, "The whole trip was a…", "train")
    run(loop, until(lambda: q(db_path, "SELECT COUNT(*) FROM corrections")[0][0] == 1,
                    what="correction stored"))
    kind, value, start, end = q(db_path, "SELECT kind, value, start_ts, end_ts "
                                "FROM corrections")[0]
    assert (kind, value) == ("mode", "train")
    assert start == pytest.approx(a, abs=1) and end == pytest.approx(b, abs=1)
    w.views.shutdown()


def test_renaming_a_place_on_the_map_shows_the_new_name(
        make_window: Any, loop: Any, db_path: Path, demo_db: Path) -> None:
    shutil.copy(demo_db, db_path)
    w = make_window()
    view = w.views.map
    w.views.setCurrentWidget(view)
    run(loop, until(lambda: view.basics is not None and len(view.canvas.markers.place_id),
                    what="map loaded"))
    c = view.canvas
    pid = q(db_path, "SELECT id FROM places ORDER BY total_dwell_s DESC")[0][0]
    i = int((c.markers.place_id == pid).nonzero()[0][0])
    x, y = c.markers.place_xy[i]
    c.fit((x - 1e-5, y - 1e-5, x + 1e-5, y + 1e-5))
    sx, sy = c.to_screen(x, y)
    menu = right_click(c, QPoint(round(float(sx)), round(float(sy))))
    assert [a.text() for a in menu.actions()][1:] == ["Rename place…", "Merge place with…"]
    choose(menu, "Rename place…")
    dialog = w.views.corrections.last_dialog
    assert isinstance(dialog, QInputDialog) and dialog.isVisible()
    dialog.setTextValue("Omas Küche")
    dialog.accept()
    run(loop, until(lambda: q(db_path, "SELECT kind, value, target_ids FROM corrections")
                    == [("rename_place", "Omas Küche", json.dumps([pid]))],
                    what="rename stored"))
    ids = chain_done(loop, w, 1)
    assert {w.engine.tasks[i].skill_name for i in ids} >= {"stay_stats"}
    assert q(db_path, "SELECT name FROM places WHERE id = ?", pid) == [("Omas Küche",)]
    run(loop, until(lambda: "Omas Küche" in view.canvas.markers.place_name,
                    what="map shows the new name"))
    k = int((view.canvas.markers.place_id == pid).nonzero()[0][0])
    assert view.canvas.markers.place_name[k] == "Omas Küche"
    w.views.shutdown()


def test_merge_place_with_lists_the_other_places_nearest_first(
        qtbot: Any, demo_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "tracks.db"
    shutil.copy(demo_db, db)
    panel = ViewsPanel()
    qtbot.addWidget(panel)
    ctl = CorrectionsController(panel)
    panel.set_db(db)
    places = q(db, "SELECT id FROM places ORDER BY total_dwell_s DESC")
    pid, other = places[0][0], places[1][0]
    ctl.ask_merge_place(pid)
    qtbot.waitUntil(lambda: isinstance(ctl.last_dialog, PlacePicker), timeout=WAIT)
    picker = ctl.last_dialog
    assert picker.list.count() == len(places) - 1
    picker.choose(other)
    qtbot.waitUntil(lambda: q(db, "SELECT kind, target_ids FROM corrections") ==
                    [("merge_places", json.dumps([pid, other]))], timeout=WAIT)
    panel.shutdown()


@pytest.fixture
def read_only_db(demo_db: Path, tmp_path: Path) -> Any:
    """A tracks.db whose file cannot be written, even by root (chattr +i): as on a
    locked-down disk, SQLite opens it read-only and refuses every write."""
    db = tmp_path / "ro" / "tracks.db"
    db.parent.mkdir()
    shutil.copy(demo_db, db)
    made = subprocess.run(["chattr", "+i", str(db)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a file immutable here: {made.stderr.strip()}")
    try:
        yield db
    finally:
        subprocess.run(["chattr", "-i", str(db)], capture_output=True)


def test_a_failed_write_shows_one_message_and_changes_nothing(qtbot: Any,
                                                              read_only_db: Path) -> None:
    db = read_only_db
    before = db.read_bytes()
    tid, a, b = car_trip(db)
    mid = (a + b) / 2
    panel = ViewsPanel()
    qtbot.addWidget(panel)
    panel.resize(1400, 800)
    ctl = CorrectionsController(panel)
    panel.set_db(db)
    view = panel.timeline
    panel.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.strip.timeline is not None, timeout=WAIT)
    month = datetime.fromtimestamp(mid).strftime("%Y-%m")
    view.month.setCurrentText(month)
    qtbot.waitUntil(lambda: view.strip.timeline.first.strftime("%Y-%m") == month,
                    timeout=WAIT)
    view.strip.resize(1200, view.strip.height())
    menu = right_click(view.strip, strip_pos(view, mid))
    choose(menu, "This was a…", "train")
    qtbot.waitUntil(lambda: len(ctl.errors) == 1, timeout=WAIT)
    qtbot.wait(200)  # nothing more arrives
    assert len(ctl.errors) == 1
    shown = [w for w in QApplication.topLevelWidgets()
             if isinstance(w, QMessageBox) and w.isVisible()]
    assert len(shown) == 1
    assert "read-only" in shown[0].text() and "not stored" in shown[0].text()
    assert "Traceback" not in shown[0].text()
    shown[0].close()
    assert db.read_bytes() == before
    assert q(db, "SELECT COUNT(*) FROM corrections") == [(0,)]
    assert not ctl.rows and not ctl.act_undo.isEnabled()
    panel.shutdown()


def test_points_selected_on_the_map_are_marked_wrong_and_the_list_undoes_it(
        qtbot: Any, demo_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "tracks.db"
    shutil.copy(demo_db, db)
    tid, a, b = car_trip(db)
    chosen = q(db, "SELECT id, lat, lon FROM points WHERE ts BETWEEN ? AND ? ORDER BY ts "
               "LIMIT 5 OFFSET 20", a, b)
    panel = ViewsPanel()
    qtbot.addWidget(panel)
    panel.resize(1400, 800)
    panel.show()
    ctl = CorrectionsController(panel)
    lst = CorrectionsList(ctl)
    qtbot.addWidget(lst)
    panel.set_db(db)
    view = panel.map
    panel.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.basics is not None, timeout=WAIT)
    c = view.canvas
    xs, ys = data.mercator([r[1] for r in chosen], [r[2] for r in chosen])
    pad = 2e-8
    c.fit((min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad))
    sx0, sy0 = c.to_screen(min(xs), min(ys))
    sx1, sy1 = c.to_screen(max(xs), max(ys))
    p0 = QPoint(round(float(min(sx0, sx1))) - 4, round(float(min(sy0, sy1))) - 4)
    p1 = QPoint(round(float(max(sx0, sx1))) + 4, round(float(max(sy0, sy1))) + 4)
    # Shift+drag a box: the points in it are selected and ringed. (Sent to the canvas,
    # not through QTest: QTest's mouse events leave Shift "held" in the application's
    # modifier state, and later tests' selections in other widgets then misbehave.)
    shift, left = Qt.KeyboardModifier.ShiftModifier, Qt.MouseButton.LeftButton
    none = Qt.MouseButton.NoButton
    for kind, at, button, buttons in ((QMouseEvent.Type.MouseButtonPress, p0, left, left),
                                      (QMouseEvent.Type.MouseMove, p1, none, left),
                                      (QMouseEvent.Type.MouseButtonRelease, p1, left, none)):
        QApplication.sendEvent(c, QMouseEvent(kind, QPointF(at), QPointF(c.mapToGlobal(at)),
                                              button, buttons, shift))
    qtbot.waitUntil(lambda: len(ctl.selected_points) >= 5, timeout=WAIT)
    picked = set(ctl.selected_points)
    assert {r[0] for r in chosen} <= picked
    qtbot.waitUntil(lambda: len(c.highlight) == len(picked), timeout=WAIT)
    menu = right_click(c, QPoint(5, 5))
    n = len(picked)
    choose(menu, f"Mark {n:,} selected points as wrong")
    qtbot.waitUntil(lambda: q(db, "SELECT kind, target_ids FROM corrections") ==
                    [("bad_points", json.dumps(sorted(picked)))], timeout=WAIT)
    assert not ctl.selected_points and len(c.highlight) == 0
    # outlier_detection (run here as its worker, the engine's way) flags exactly them.
    demo.run_skill("outlier_detection", db, "INCREMENTAL")
    flagged = {r[0] for r in q(db, "SELECT point_id FROM outlier_flags WHERE reasons & 64")}
    assert flagged == picked
    # "Your corrections" lists it; its Undo button takes it back (the row stays).
    qtbot.waitUntil(lambda: lst.tree.topLevelItemCount() == 1, timeout=WAIT)
    item = lst.tree.topLevelItem(0)
    assert item.text(2) == f"{n} points marked as wrong" and item.text(3) == "in force"
    item.setSelected(True)
    assert lst.undo_button.isEnabled() and not lst.redo_button.isEnabled()
    lst.undo_button.click()
    qtbot.waitUntil(lambda: lst.tree.topLevelItemCount() == 1 and
                    lst.tree.topLevelItem(0).text(3).startswith("undone"), timeout=WAIT)
    demo.run_skill("outlier_detection", db, "INCREMENTAL")
    assert not q(db, "SELECT point_id FROM outlier_flags WHERE reasons & 64")
    # Redo puts it in force again.
    assert ctl.act_redo.isEnabled()
    ctl.act_redo.trigger()
    qtbot.waitUntil(lambda: q(db, "SELECT undone_at FROM corrections") == [(None,)],
                    timeout=WAIT)
    panel.shutdown()


def test_merging_places_reruns_every_skill_that_shows_them() -> None:
    """footprint_stats' home guess follows merged places: a merge from the window must rerun
    it too, not only stay_stats, or Statistics keeps the old home until the next run."""
    from trackdesk.skills.registry import load_registry
    from trackdesk.ui.views.corrections_ui import affected_skills

    names = affected_skills(load_registry(), {"merge_places"})
    assert {"stay_stats", "footprint_stats", "rendering_metadata"} <= set(names)
    assert "stay_detection" not in names


def test_the_corrections_menus_load_no_numpy_at_window_start():
    """The Edit menu and the dock are built at start, before any view: their module keeps
    ``data`` (and so numpy) for first use, as the panel does."""
    import sys

    code = ("import sys, trackdesk.ui.views.panel, trackdesk.ui.views.corrections_ui; "
            "print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
