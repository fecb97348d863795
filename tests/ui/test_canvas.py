"""The chain canvas with a real engine on a tmp tracks.db: chains drawn with the mouse,
refused links, undo and redo, templates, the inspector, runs and live node states."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox

from tests.ui.conftest import boxes, registry, run, until
from trackdesk.engine.chains import Chain, LoadResult, RecoveryFile
from trackdesk.engine.engine import Engine, EngineSettings
from trackdesk.engine.launchers.base import LauncherUnavailable
from trackdesk.engine.states import Status
from trackdesk.ui.canvas import MIME_SKILL, CanvasWindow
from trackdesk.ui.canvas.items import NODE_W


@pytest.fixture
def engine(loop: Any, db_path: Path) -> Any:
    e = Engine(db_path, registry=registry(), settings=EngineSettings(
        poll_interval_s=0.1, flush_interval_s=0.1, cancel_grace_s=1.0, concurrency=2))
    run(loop, e.start())
    yield e
    run(loop, e.stop("stop"))


@pytest.fixture
def make_canvas(engine: Engine, loop: Any, tmp_path: Path) -> Any:
    made: list[CanvasWindow] = []

    def make(empty: bool = True) -> CanvasWindow:
        c = CanvasWindow(engine=engine, recovery=RecoveryFile(tmp_path / "recovery.json"))
        c.resize(1200, 700)
        c.show()
        made.append(c)
        run(loop, until(lambda: c.doc.template is not None or c.pending_recovery is not None,
                        what="the default chain"))
        if empty:
            c.new_chain()
        return c

    yield make
    for c in made:
        c.detach()
        c.close()
        c.deleteLater()


# ------------------------------------------------------------------ helpers ---------
def drop_skill(c: CanvasWindow, skill: str, at: QPoint) -> str:
    """Drop a palette skill on the canvas, as a drag from the palette ends."""
    vp = c.view.viewport()
    data = QMimeData()
    data.setData(MIME_SKILL, skill.encode())
    before = set(c.scene.nodes)
    enter = QDragEnterEvent(at, Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(at), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, drop)
    assert drop.dropAction() == Qt.DropAction.CopyAction  # the palette keeps its skill
    [new] = set(c.scene.nodes) - before
    return new


def drag(qtbot: Any, c: CanvasWindow, start: QPointF, end: QPointF,
         check_midway: Any = None) -> None:
    """Press, move in steps and release the left button on the view's viewport."""
    vp = c.view.viewport()
    a, b = c.view.mapFromScene(start), c.view.mapFromScene(end)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for t in (0.2, 0.5, 0.8, 1.0):
        qtbot.mouseMove(vp, QPoint(int(a.x() + (b.x() - a.x()) * t),
                                   int(a.y() + (b.y() - a.y()) * t)))
    if check_midway is not None:
        check_midway()
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def link(qtbot: Any, c: CanvasWindow, a: str, b: str, check_midway: Any = None) -> None:
    drag(qtbot, c, c.scene.nodes[a].out_port.scenePos(), c.scene.nodes[b].in_port.scenePos(),
         check_midway)


def build_abc(qtbot: Any, c: CanvasWindow) -> list[str]:
    c.view.reset_zoom()
    ids = [drop_skill(c, "count", QPoint(150 + 260 * i, 200)) for i in range(3)]
    link(qtbot, c, ids[0], ids[1])
    link(qtbot, c, ids[1], ids[2])
    return ids


def answer_text(c: CanvasWindow, text: str) -> None:
    [dialog] = [d for d in boxes(c, QInputDialog)]
    dialog.setTextValue(text)
    dialog.accept()


# ------------------------------------------------------------------ building --------
def test_a_chain_drawn_with_the_mouse_refuses_a_cycle_and_undoes(make_canvas, qtbot, loop):
    c = make_canvas()
    a, b, cc = build_abc(qtbot, c)
    assert (a, b, cc) == ("count", "count_2", "count_3")
    assert c.doc.chain.links == [(a, b), (b, cc)]
    assert set(c.scene.links) == {(a, b), (b, cc)}

    # While the link is dragged over a's input, the canvas says why it cannot end there.
    def refused_while_hovering() -> None:
        assert "Cannot link: dependency cycle" in c.statusBar().currentMessage()

    link(qtbot, c, cc, a, refused_while_hovering)
    assert c.doc.chain.links == [(a, b), (b, cc)]
    assert "dependency cycle: count -> count_2 -> count_3 -> count" in c.scene.last_refusal
    assert "Link refused" in c.statusBar().currentMessage()
    link(qtbot, c, a, b)
    assert "already feeds" in c.scene.last_refusal

    # Move a node by dragging its body; every edit is one undo step.
    item = c.scene.nodes[cc]
    x0, y0 = item.x(), item.y()
    drag(qtbot, c, item.scenePos() + QPointF(NODE_W / 4, 20),
         item.scenePos() + QPointF(NODE_W / 4, 160))
    assert c.doc.chain.node(cc).y == pytest.approx(y0 + 140, abs=2)
    c.act_undo.trigger()
    assert (item.x(), item.y()) == (x0, y0) == (c.doc.chain.node(cc).x, c.doc.chain.node(cc).y)
    c.act_undo.trigger()  # the link b -> c
    assert c.doc.chain.links == [(a, b)] and set(c.scene.links) == {(a, b)}
    c.act_redo.trigger()
    assert set(c.scene.links) == {(a, b), (b, cc)}

    # Delete the middle node: its links go with it; undo brings all three back.
    c.scene.select_nodes([b])
    c.act_delete.trigger()
    assert [n.id for n in c.doc.chain.nodes] == [a, cc] and not c.scene.links
    c.act_undo.trigger()
    assert [n.id for n in c.doc.chain.nodes] == [a, b, cc]
    assert set(c.scene.links) == {(a, b), (b, cc)}
    before = c.doc.chain.to_document()
    c.scene.select_nodes([a, b])  # two linked nodes at once: one step, undone whole
    c.act_delete.trigger()
    assert [n.id for n in c.doc.chain.nodes] == [cc] and not c.scene.links
    c.act_undo.trigger()
    assert c.doc.chain.to_document() == before
    assert set(c.scene.links) == {(a, b), (b, cc)}

    # Wheel zooms around the pointer; Ctrl+drag on the background pans.
    c.view.reset_zoom()
    vp = c.view.viewport()
    wheel = QWheelEvent(QPointF(200, 200), QPointF(vp.mapToGlobal(QPoint(200, 200))),
                        QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, wheel)
    assert c.view.zoom() == pytest.approx(1.15 ** 2)
    h0 = c.view.horizontalScrollBar().value()
    empty = QPoint(vp.width() - 20, vp.height() - 20)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, empty)
    qtbot.mouseMove(vp, empty - QPoint(120, 0))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                       empty - QPoint(120, 0))
    assert c.view.horizontalScrollBar().value() == h0 + 120
    c.view.reset_zoom()

    # Rubber-band multi-select, then auto-layout puts them in depth layers.
    c.scene.clearSelection()
    top_left = c.scene.itemsBoundingRect().topLeft() - QPointF(30, 30)
    bottom_right = c.scene.itemsBoundingRect().bottomRight() + QPointF(30, 30)
    drag(qtbot, c, top_left, bottom_right)
    assert sorted(c.scene.selected_node_ids()) == sorted([a, b, cc])
    c.act_layout.trigger()
    ys = [c.doc.chain.node(i).y for i in (a, b, cc)]
    assert ys[0] < ys[1] < ys[2] and len({c.doc.chain.node(i).x for i in (a, b, cc)}) == 1
    c.act_undo.trigger()


def test_save_and_reload_a_drawn_chain_as_a_template(make_canvas, qtbot, loop):
    c = make_canvas()
    a, b, cc = build_abc(qtbot, c)
    assert c.doc.modified and "*" in c.windowTitle()
    c.act_save.trigger()  # never saved: asks for a name
    answer_text(c, "three counts")
    run(loop, until(lambda: c.doc.template == "three counts" and not c.doc.modified))
    saved = c.doc.chain.to_document()
    c.new_chain()
    assert not c.doc.chain.nodes
    c.open_template("three counts")
    run(loop, until(lambda: len(c.scene.nodes) == 3, what="the template on the canvas"))
    assert c.doc.chain.to_document() == saved
    assert set(c.scene.links) == {(a, b), (b, cc)}
    assert not c.doc.modified

    # Rename and duplicate go through the same templates; the menu lists them.
    c.rename_template()
    answer_text(c, "counts")
    run(loop, until(lambda: c.doc.template == "counts"))
    c.duplicate_template()
    answer_text(c, "counts 2")
    run(loop, until(lambda: c.doc.template == "counts 2"))
    c._fill_templates_menu()
    titles = [a.text() for a in c.templates_menu.actions()]
    assert "default (9 skills) — read-only" in titles
    assert {"counts (3 skills)", "counts 2 (3 skills)"} <= set(titles)
    assert "three counts (3 skills)" not in titles


def test_the_default_chain_is_read_only_and_saving_makes_a_copy(make_canvas, loop):
    c = make_canvas(empty=False)
    assert c.doc.template == "default" and c.doc.read_only
    assert len(c.scene.nodes) == 9 and len(c.scene.links) == 9
    assert not c.act_rename.isEnabled() and not c.act_delete_tpl.isEnabled()
    c.doc.set_node("stay_detection", params={"dist_threshold_m": 80.0})
    c.act_save.trigger()
    [dialog] = boxes(c, QInputDialog)
    assert dialog.textValue() == "default copy"
    dialog.accept()
    run(loop, until(lambda: c.doc.template == "default copy" and not c.doc.read_only))
    assert c.act_rename.isEnabled()


def test_palette_search_and_the_inspector_mark_invalid_values(make_canvas, loop):
    c = make_canvas()
    c.palette.search.setText("stay")
    shown = c.palette.visible_skills()
    assert "stay_detection" in shown and "count" not in shown
    c.palette.search.setText("")
    node = c.add_skill_at_centre("stay_detection")
    assert c.inspector.node_id == node  # the new node is selected and inspected
    assert set(c.inspector.rows) == {"dist_threshold_m", "time_threshold_s", "gap_threshold_s",
                                     "merge_back_to_back", "departure_speed_mps",
                                     "excursion_points", "excursion_s", "transit_wait_s"}
    assert "Points within this distance" in c.inspector.rows["dist_threshold_m"].editor.toolTip()
    c.inspector.set_value("dist_threshold_m", "2")
    assert c.inspector.invalid_params() == ["dist_threshold_m"]
    assert "below its minimum 5.0 m" in c.inspector.rows["dist_threshold_m"].error.text()
    assert c.scene.nodes[node].problems
    problems = run(loop, c.preflight())
    assert any("below its minimum" in p for p in problems)
    c.inspector.set_value("dist_threshold_m", "250")
    assert c.inspector.invalid_params() == [] and not c.scene.nodes[node].problems
    assert c.inspector.rows["dist_threshold_m"].error.text() == \
        "5 – 5000 m · default 60"  # the range is shown again
    assert c.doc.chain.node(node).params == {"dist_threshold_m": 250.0}
    c.act_undo.trigger()
    assert c.doc.chain.node(node).params == {"dist_threshold_m": 2.0}
    c.inspector.rows["dist_threshold_m"].reset.click()
    assert c.doc.chain.node(node).params == {}

    # A threshold profile: saved from this node, applied to another.
    c.inspector.set_value("time_threshold_s", "900")
    run(loop, c.engine.profiles.save("stay_detection", "patient", {"time_threshold_s": 900.0}))
    other = c.add_skill_at_centre("stay_detection")
    run(loop, until(lambda: [p.name for p in c.inspector.profiles] == ["patient"]))
    c.inspector.apply_profile("patient")
    assert c.doc.chain.node(other).params == {"time_threshold_s": 900.0}
    assert c.doc.chain.node(other).profile == "patient"


def test_the_palette_groups_user_skills_and_lists_broken_ones():
    from trackdesk.skills.spec import SkillSpec
    from trackdesk.skills.user import SkillProblem
    from trackdesk.ui.canvas.palette import SkillPalette

    reg = registry()
    reg.add(SkillSpec("night_owl", "0.1", "Night owl", "Hours out after midnight",
                      kind="user"))
    reg.problems = [SkillProblem("/skills/broken_one", "/skills/broken_one/skill.py", 3,
                                 "SyntaxError: invalid syntax")]
    palette = SkillPalette(reg)
    try:
        groups = [palette.tree.topLevelItem(i).text(0)
                  for i in range(palette.tree.topLevelItemCount())]
        assert groups == ["Built-in skills", "Your skills", "Test skills",
                          "Skills that did not load"]
        assert "import" not in palette.visible_skills()
        palette.search.setText("midnight")
        assert palette.visible_skills() == ["night_owl"]
        palette.search.setText("syntaxerror")
        assert palette.visible_skills() == []
        broken = palette.tree.topLevelItem(3)
        assert not broken.isHidden() and "skill.py:3" in broken.child(0).toolTip(0)
        data = palette.tree.mimeData([palette.tree.topLevelItem(1).child(0)])
        assert bytes(data.data(MIME_SKILL).data()) == b"night_owl"
    finally:
        palette.deleteLater()


# ------------------------------------------------------------------ running ---------
def test_running_the_chain_nodes_follow_their_tasks(make_canvas, qtbot, loop, engine):
    c = make_canvas()
    a, b, cc = build_abc(qtbot, c)
    for i, node in enumerate((a, b, cc)):
        c.doc.set_node(node, params={"n": 60, "batch": 5, "sleep_s": 0.03, "key": f"k{i}"})
    records = run(loop, c.run_chain())
    assert [r.skill_name for r in records] == ["count"] * 3
    assert c.node_tasks == {a: records[0].id, b: records[1].id, cc: records[2].id}
    assert records[1].depends_on_task_ids == [records[0].id]
    items = c.scene.nodes
    run(loop, until(lambda: items[a].status == Status.RUNNING, what="a running"))
    assert items[cc].status == Status.PENDING
    run(loop, until(lambda: 0 < items[a].task.progress_percent < 100, what="a's progress"))
    assert items[a].status_text().startswith("running ")
    run(loop, until(lambda: items[b].status == Status.RUNNING, timeout=30))
    assert items[a].status == Status.COMPLETED and "completed" in items[a].status_text()
    run(loop, until(lambda: items[cc].status == Status.COMPLETED, timeout=30))
    run(loop, until(lambda: "3 completed" in c.state_label.text(), what="the run's figures"))

    # Right-click a node: rerun from here reruns it and everything after it.
    menu = c.build_node_menu(b)
    rerun = next(x for x in menu.actions() if x.text() == "Rerun from &here")
    open_task = next(x for x in menu.actions() if x.text().startswith("&Open task"))
    assert rerun.isEnabled() and open_task.isEnabled()
    opened: list[int] = []
    c.openTaskRequested.connect(opened.append)
    open_task.trigger()
    assert opened == [records[1].id]
    rerun.trigger()
    run(loop, until(lambda: items[b].status in (Status.PENDING, Status.RUNNING),
                    what="b queued again"))
    assert items[a].status == Status.COMPLETED
    run(loop, until(lambda: items[cc].status == Status.COMPLETED and
                    items[b].status == Status.COMPLETED, timeout=30))
    menu.close()


def test_a_reopened_canvas_finds_the_latest_run_of_its_chain(make_canvas, loop, engine):
    records = run(loop, engine.run_chain(task_type="INCREMENTAL"))  # the default chain
    c = make_canvas(empty=False)
    run(loop, until(lambda: len(c.node_tasks) == 9, what="the default run on the nodes"))
    assert c.node_tasks["outlier_detection"] == records[0].id
    assert set(c.node_tasks.values()) == {r.id for r in records}


def test_preflight_refuses_when_docker_does_not_answer(make_canvas, loop, engine):
    class NoDocker:
        name = "docker"

        async def ensure_available(self) -> None:
            raise LauncherUnavailable("Docker is not running (cannot reach the engine)")

    engine.launchers["docker"] = NoDocker()  # type: ignore[assignment]
    c = make_canvas()
    node = c.add_skill_at_centre("count")
    assert run(loop, c.preflight()) == []
    c.doc.set_node(node, launcher="docker")
    assert run(loop, c.preflight()) == ["Docker: Docker is not running (cannot reach the "
                                        "engine)"]
    assert run(loop, c.run_chain()) == []
    [box] = boxes(c)
    assert "cannot run yet" in box.windowTitle() or "Fix these first" in box.text()
    assert not [t for t in engine.tasks.values()]
    box.close()
    c.set_engine(None)  # the main window closed its tracks.db
    assert run(loop, c.preflight()) == ["no tracks.db is open"]
    assert not c.act_run.isEnabled() and not c.act_save.isEnabled()


# ------------------------------------------------------------------ files, recovery -
def test_an_unsaved_chain_survives_a_crash_and_is_offered_again(make_canvas, qtbot, loop,
                                                                 tmp_path):
    c = make_canvas()
    build_abc(qtbot, c)
    recovery = tmp_path / "recovery.json"
    assert json.loads(recovery.read_text())["document"]["links"] == [
        ["count", "count_2"], ["count_2", "count_3"]]
    doc = c.doc.chain.to_document()
    c.detach()  # "crash": the window goes without saving
    c2 = make_canvas(empty=False)
    assert c2.pending_recovery is not None
    run(loop, until(lambda: boxes(c2), what="the recovery offer"))
    [box] = boxes(c2)
    assert "unsaved changes" in box.text() and "3 skills" in box.text()
    box.button(QMessageBox.StandardButton.Yes).click()
    assert c2.doc.chain.to_document() == doc and c2.doc.modified
    assert recovery.exists()
    c2.act_save.trigger()
    answer_text(c2, "rescued")
    run(loop, until(lambda: c2.doc.template == "rescued"))
    assert not recovery.exists()  # saved: nothing left to recover


def test_export_and_import_json_with_an_unknown_skill_says_so(make_canvas, loop, tmp_path):
    c = make_canvas()
    c.add_skill_at_centre("count")
    path = run(loop, c.export_to(tmp_path / "out.json"))
    doc = json.loads(path.read_text())
    doc["nodes"].append({"id": "later", "skill": "skill_from_the_future"})
    doc["version"] = 7
    path.write_text(json.dumps(doc))
    result: LoadResult = run(loop, c.import_from(path))
    assert result.unknown_skills == ["skill_from_the_future"]
    assert [n.id for n in c.doc.chain.nodes] == ["count"] and c.doc.modified
    [box] = boxes(c)
    assert "could not be loaded whole" in box.text()
    assert "newer trackdesk" in box.text() and "skill_from_the_future" in box.text()
    box.close()
    assert isinstance(Chain.from_document(c.doc.chain.to_document()), Chain)


# ------------------------------------------------------------------ main window -----
def test_the_main_window_opens_the_canvas_and_reveals_a_nodes_task(make_window, loop,
                                                                   monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # its recovery file
    w = make_window(hold=registry().names())  # queued tasks stay queued
    assert w.act_canvas.isEnabled()
    w.act_canvas.trigger()
    c = w.chain_canvas
    assert c.isVisible() and c.engine is w.engine
    run(loop, until(lambda: c.doc.template == "default", what="the default chain"))
    records = run(loop, c.run_chain())
    run(loop, until(lambda: w.model.row_of(records[-1].id) is not None, what="the rows"))
    c.open_task("stay_detection")
    assert w.selected_ids() == [c.node_tasks["stay_detection"]]
    w.act_canvas.trigger()
    assert w.chain_canvas is c  # one canvas per window, reused

    # Another tracks.db: the canvas follows the window's new engine and its templates.
    assert run(loop, w.open_db(tmp_path / "other.db"))
    c.follow_engine()
    assert c.engine is w.engine
    run(loop, until(lambda: c.doc.template == "default" and len(c.scene.nodes) == 9))
    assert c.node_tasks == {}  # nothing ran in that one


def test_at_start_the_main_window_offers_a_chain_left_unsaved(make_window, loop,
                                                               monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    from trackdesk.ui.canvas.recovery import default_recovery_path

    left = Chain("before the crash")
    left.add_node("count", params={"n": 7})
    RecoveryFile(default_recovery_path()).write(left, None)
    w = make_window()
    run(loop, until(lambda: getattr(w, "chain_canvas", None) is not None and
                    boxes(w.chain_canvas), timeout=10, what="the offer"))
    c = w.chain_canvas
    [box] = boxes(c)
    assert "'before the crash' (1 skill)" in box.text()
    box.button(QMessageBox.StandardButton.Yes).click()
    assert c.doc.chain.node("count").params == {"n": 7} and c.doc.modified
    assert default_recovery_path().exists()  # still unsaved: still recoverable
