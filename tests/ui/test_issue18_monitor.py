"""Issue 18: the monitor tells the truth, live (status bar, table, detail pane, log,
settings, window size, interrupted tasks, confirmations, shortcuts, help).

Every test drives the real window over a real engine on a tmp tracks.db."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from tests.ui.conftest import answer, boxes, insert, record, run, until
from trackdesk.engine.records import utcnow
from trackdesk.engine.states import Status
from trackdesk.ui.dialogs import alive
from trackdesk.ui.main_window import MainWindow
from trackdesk.ui.settings import AppSettings
from trackdesk.ui.task_model import COLUMN_INDEX


def cell(w: MainWindow, task_id: int, column: str) -> str:
    row = w.model.row_of(task_id)
    return "" if row is None else w.model.data(w.model.index(row, COLUMN_INDEX[column]))


def _seconds(text: str) -> float:
    """'42 s' / '1 min 05 s' -> seconds."""
    m = re.fullmatch(r"(?:(\d+) min )?(\d+) s", text.strip())
    assert m, text
    return int(m.group(1) or 0) * 60 + int(m.group(2))


# ---------------------------------------------------------------- status bar ---------
def test_points_per_second_stays_live_between_bursty_reports(make_window, loop):
    """A worker that reports every ~2 s: the status bar's rate must not drop to 0 between
    two reports (it did: the rate was measured over the last second only)."""
    w = make_window()
    rec = run(loop, w.engine.create_task("count", params={"n": 40, "batch": 10,
                                                          "sleep_s": 2.1}))
    seen: list[str] = []

    async def watch() -> None:
        while w.engine.tasks[rec.id].status != Status.COMPLETED:
            text = w.queue_label.text()
            if "running" in text and "1 running" in text:
                seen.append(text)
            await asyncio.sleep(0.05)

    run(loop, watch(), timeout=60)
    rates = [re.search(r"([\d,.]+k?) points/s", t) for t in seen]
    shown = [m.group(1) for m in rates if m]
    first = next((i for i, v in enumerate(shown) if v != "0"), None)
    assert first is not None, f"never a rate above 0: {seen[-5:]}"
    assert "0" not in shown[first:], f"rate fell back to 0 while running: {shown}"


def test_running_count_drops_when_the_task_completes(make_window, loop):
    w = make_window()
    rec = run(loop, w.engine.create_task("count", params={"n": 50, "batch": 10,
                                                          "sleep_s": 0.05}))
    run(loop, until(lambda: w.engine.tasks[rec.id].status == Status.COMPLETED, timeout=30))
    run(loop, until(lambda: "0 running" in w.queue_label.text(), timeout=5,
                    what=f"'0 running' (shows {w.queue_label.text()!r})"))
    assert "points/s" not in w.queue_label.text()


# ---------------------------------------------------------------- table, detail ------
def test_eta_holds_after_resume_and_duration_excludes_the_pause(make_window, loop):
    w = make_window()
    rec = run(loop, w.engine.create_task("count", params={"n": 3000, "batch": 10,
                                                          "sleep_s": 0.03}))
    run(loop, until(lambda: cell(w, rec.id, "eta") not in ("", "estimating…"), timeout=30,
                    what="a first ETA"))
    run(loop, w.engine.pause(rec.id))
    run(loop, until(lambda: cell(w, rec.id, "status") == "paused"))
    run(loop, asyncio.sleep(2.5))
    paused_cell = _seconds(cell(w, rec.id, "duration"))
    run(loop, asyncio.sleep(0.5))  # a paused task's duration does not grow
    assert _seconds(cell(w, rec.id, "duration")) == paused_cell
    run(loop, w.engine.resume(rec.id))
    run(loop, until(lambda: cell(w, rec.id, "status") == "running"))
    etas: list[str] = []

    async def watch(n: int) -> None:
        for _ in range(n):
            if w.engine.tasks[rec.id].status != Status.RUNNING:
                break
            etas.append(cell(w, rec.id, "eta"))
            await asyncio.sleep(0.1)

    run(loop, watch(25))
    assert etas and "estimating…" not in etas, etas
    # Duration: the 2.5 s pause is not counted (the record's wall span is).
    wall = w.engine.tasks[rec.id].duration_s
    shown = _seconds(cell(w, rec.id, "duration"))
    assert shown <= wall - 2, (shown, wall)
    assert _seconds(w.detail.fields["duration"].text()) <= wall - 2 if \
        w.detail.task_id == rec.id else True
    run(loop, w.engine.cancel(rec.id))


def test_points_cell_and_detail_reconcile_with_the_record(make_window, loop, db_path):
    """processed / failed / stored: one set of figures in the table and the pane."""
    [done] = insert(db_path, record(
        "import", status=Status.COMPLETED, total_points=1000, processed_points=1000,
        failed_points=250, start_time=utcnow() - timedelta(seconds=5), end_time=utcnow(),
        result_summary={"new": 700, "duplicates": 50, "files_imported": 2}))
    w = make_window(hold=["count"])
    run(loop, until(lambda: w.model.row_of(done.id) is not None))
    w.select_tasks([done.id])
    assert cell(w, done.id, "points") == "1,000 / 1,000"
    assert cell(w, done.id, "failed") == "250"
    points = w.detail.fields["points"].text()
    assert "1,000 / 1,000" in points
    assert w.detail.fields["failed"].text() == "250"
    assert w.detail.fields["stored"].text() == "700"


def test_a_running_task_always_shows_points(make_window, loop):
    w = make_window()
    rec = run(loop, w.engine.create_task("count", params={"n": 200, "batch": 10,
                                                          "sleep_s": 0.05}))
    texts: list[tuple[str, str]] = []

    async def watch() -> None:
        while w.engine.tasks[rec.id].status != Status.COMPLETED:
            r = w.engine.tasks[rec.id]
            if r.status == Status.RUNNING and w.model.row_of(rec.id) is not None:
                texts.append((r.status.value, cell(w, rec.id, "points")))
            await asyncio.sleep(0.02)

    run(loop, watch(), timeout=30)
    assert texts and all(t for _s, t in texts), texts


# ---------------------------------------------------------------- log, parameters ----
def test_failed_task_log_opens_at_the_top_left_wraps_and_takes_ctrl_home_end(
        make_window, loop):
    w = make_window()
    w.resize(1000, 700)
    long_path = "/data/" + "very-long-folder-name/" * 20 + "track.gpx"
    rec = run(loop, w.engine.create_task("count", params={"n": 10, "batch": 10,
                                                          "fail_at": 5}))
    run(loop, until(lambda: w.engine.tasks[rec.id].status == Status.FAILED, timeout=30))
    for i in range(300):
        w.engine.note(rec.id, "engine", f"line {i} reading {long_path}")

    async def stored() -> None:  # the engine writes logs in batches on its own thread
        while len(await w.engine.read_log(rec.id, limit=5000)) < 300:
            await w.engine.flush()
            await asyncio.sleep(0.05)

    run(loop, stored())
    # Opened afresh, as a user clicking the failed row later does: the stored log is read.
    w.detail.set_task(None)
    w.select_tasks([rec.id])
    w.detail.set_task(rec.id)
    w.trigger("open_log")
    log = w.detail.log
    run(loop, until(lambda: "line 299" in log.toPlainText(), what="the stored log"))
    QApplication.processEvents()
    assert log.lineWrapMode() != log.LineWrapMode.NoWrap
    assert log.horizontalScrollBar().value() == 0
    # A finished task's log opens at its start: the first lines, not a blank far end.
    assert log.verticalScrollBar().value() == 0
    log.setFocus()
    QTest.keyClick(log, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    QApplication.processEvents()
    sb = log.verticalScrollBar()
    # The cursor, not the scroll bar's maximum: wrapped lines are laid out lazily, so the
    # maximum can still grow after the key was handled.
    assert log.textCursor().atEnd() and sb.value() > 0
    assert log.cursorRect().bottom() <= log.viewport().height()
    QTest.keyClick(log, Qt.Key.Key_Home, Qt.KeyboardModifier.ControlModifier)
    QApplication.processEvents()
    assert log.textCursor().atStart() and sb.value() == 0


def test_running_task_log_lines_appear_live(make_window, loop):
    w = make_window()
    rec = run(loop, w.engine.create_task("count", params={"n": 100, "batch": 10,
                                                          "sleep_s": 0.3}))
    run(loop, until(lambda: w.model.row_of(rec.id) is not None))
    w.select_tasks([rec.id])
    run(loop, until(lambda: "starting at 0 of 100" in w.detail.log.toPlainText(),
                    what="the worker's first line"))
    assert w.engine.tasks[rec.id].status == Status.RUNNING
    run(loop, w.engine.cancel(rec.id))


def test_parameters_read_as_key_value_lines(make_window, loop, db_path):
    paths = ["/home/me/Tracks 2024/day one.gpx", "/home/me/Tracks 2024/zürich.fit"]
    import json

    [rec] = insert(db_path, record("import", status=Status.FAILED,
                                   params={"paths": json.dumps(paths), "batch": 5000},
                                   error_message="2 files failed"))
    w = make_window()
    run(loop, until(lambda: w.model.row_of(rec.id) is not None))
    w.select_tasks([rec.id])
    text = w.detail.params.toPlainText()
    assert "\\\"" not in text and "\\u" not in text and "[" not in text, text
    assert "paths:" in text and "batch: 5,000" in text or "batch: 5000" in text, text
    for p in paths:
        assert p in text


# ---------------------------------------------------------------- settings -----------
def test_settings_show_the_open_db_and_batch_size_alone_never_switches(
        make_window, loop, tmp_path):
    other = tmp_path / "OTHER.db"
    w = make_window(settings=AppSettings(db_path=str(other)))
    opened = w.engine.db_path
    dialog = w.open_settings()
    assert Path(dialog.db.text()).resolve() == opened
    dialog.batch.setValue(dialog.batch.value() + 10_000)
    dialog.accept()
    QApplication.processEvents()
    assert not [b for b in boxes(w) if "Switch" in b.text()], [b.text() for b in boxes(w)]
    run(loop, asyncio.sleep(0.2))
    assert w.engine is not None and w.engine.db_path == opened
    assert w.settings.batch_size == AppSettings().batch_size + 10_000


def test_settings_switch_only_after_the_user_says_yes(make_window, loop, tmp_path):
    w = make_window()
    opened = w.engine.db_path
    dialog = w.open_settings()
    dialog.db.setText(str(tmp_path / "second.db"))
    dialog.accept()
    QApplication.processEvents()
    [box] = [b for b in boxes(w) if "Switch" in b.text()]
    answer(box, QMessageBox.StandardButton.No)
    run(loop, asyncio.sleep(0.2))
    assert w.engine.db_path == opened


# ---------------------------------------------------------------- the window ---------
def test_docks_never_grow_the_window(make_window, loop):
    w = make_window()
    w.resize(1000, 700)
    QApplication.processEvents()
    before = w.size()
    w.monitor.show_health()
    run(loop, asyncio.sleep(0.3))
    QApplication.processEvents()
    assert w.size() == before
    w.monitor.show_metrics()
    run(loop, asyncio.sleep(0.3))
    QApplication.processEvents()
    assert w.size() == before == QSize(1000, 700)


def test_canvas_opens_within_the_screen(make_window, loop, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # its recovery file
    w = make_window()
    w.act_canvas.trigger()
    canvas = w.chain_canvas
    run(loop, until(lambda: canvas.doc.template == "default", what="the default chain"))
    QApplication.processEvents()
    screen = (w.screen() or QGuiApplication.primaryScreen()).availableGeometry()
    frame = canvas.frameGeometry()
    assert screen.contains(frame), (frame, screen)


def test_interrupted_tasks_are_announced_with_resume_and_discard(make_window, loop,
                                                                  db_path):
    [a, b] = insert(db_path, record(status=Status.RUNNING, params={"n": 20},
                                    start_time=utcnow(), worker_ref="local:999999999"),
                    record(status=Status.RUNNING, params={"n": 20, "key": "b"},
                           start_time=utcnow(), worker_ref="local:999999998"))
    w = make_window()
    run(loop, until(lambda: w.model.row_of(b.id) is not None))
    bar = w.interrupted_bar
    assert bar.isVisibleTo(w), "no announcement of the interrupted tasks"
    assert "2 tasks" in bar.text() and "interrupted" in bar.text()
    run(loop, until(lambda: "2 interrupted" in w.queue_label.text(),
                    what=f"the count in {w.queue_label.text()!r}"))
    bar.resume_button.click()
    run(loop, until(lambda: all(w.engine.tasks[i].status == Status.COMPLETED
                                for i in (a.id, b.id)), timeout=30, what="resumed tasks"))
    run(loop, until(lambda: not bar.isVisibleTo(w), what="the bar to go"))


def test_interrupted_tasks_can_be_discarded(make_window, loop, db_path):
    [a] = insert(db_path, record(status=Status.RUNNING, start_time=utcnow(),
                                 worker_ref="local:999999997"))
    w = make_window()
    run(loop, until(lambda: w.interrupted_bar.isVisibleTo(w)))
    w.interrupted_bar.discard_button.click()
    run(loop, until(lambda: w.engine.tasks[a.id].status == Status.CANCELLED))
    run(loop, until(lambda: not w.interrupted_bar.isVisibleTo(w), what="the bar to go"))


def test_cancel_confirmation_closes_when_the_task_finished_meanwhile(make_window, loop):
    w = make_window()
    rec = run(loop, w.engine.create_task("count", params={"n": 60, "batch": 10,
                                                          "sleep_s": 0.2}))
    run(loop, until(lambda: cell(w, rec.id, "status") == "running"))
    w.select_tasks([rec.id])
    w.trigger("cancel")
    [box] = [b for b in boxes(w) if "Cancel" in b.text()]
    run(loop, until(lambda: w.engine.tasks[rec.id].status == Status.COMPLETED, timeout=30))
    run(loop, until(lambda: not alive(box) or not box.isVisible(),
                    what="the stale confirmation to go"))
    assert "completed" in w.statusBar().currentMessage()


def test_ctrl_alt_r_works_once_the_chain_below_settles(make_window, loop, db_path):
    """The shortcut did nothing while the menu item worked: the action's enabled state
    was computed when the row was selected (a task below still active) and not again
    when the tasks below changed; the right-click menu recomputed it, the key did not."""
    [first, second] = insert(
        db_path, record(status=Status.COMPLETED, chain_run_id="r1", params={"n": 5,
                                                                            "key": "one"}),
        record(status=Status.PAUSED, chain_run_id="r1", params={"n": 5, "key": "two"},
               status_reason="held by the user"),
        deps=[[], [0]])
    w = make_window(hold=["count"])
    run(loop, until(lambda: w.model.row_of(second.id) is not None))
    w.select_tasks([first.id])
    assert not w.task_actions["rerun_from_here"].isEnabled()  # a task below is paused
    run(loop, w.engine.resume(second.id))  # released: it waits in the queue
    run(loop, until(lambda: cell(w, second.id, "status") == "pending"))
    run(loop, asyncio.sleep(0.5))
    w.activateWindow()
    w.view.setFocus()
    QTest.keyClick(w.view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier |
                   Qt.KeyboardModifier.AltModifier)
    run(loop, until(lambda: w.engine.tasks[first.id].status != Status.COMPLETED, timeout=10,
                    what="the rerun the shortcut asks for"))


# ---------------------------------------------------------------- help ---------------
def test_help_lists_the_real_shortcuts_and_links_the_docs(make_window, loop):
    w = make_window()
    titles = [a.text().replace("&", "") for a in w.help_menu.actions()]
    assert any("Keyboard shortcuts" in t for t in titles), titles
    dialog = w.show_shortcuts()
    text = dialog.table_text()
    # Generated from the window's actions: every action with a shortcut is listed.
    for act in w.findChildren(type(w.act_about)):
        seq = act.shortcut().toString(act.shortcut().SequenceFormat.NativeText)
        if seq:
            assert seq in text, (act.text(), seq)
    assert "Ctrl+Alt+R" in text or "Ctrl+Alt+R".replace("Ctrl", "Ctrl") in text
    dialog.close()
    docs = w.docs_url()
    assert docs.isLocalFile() and Path(docs.toLocalFile()).exists(), docs
    assert Path(docs.toLocalFile()).name in ("UI.md", "index.html", "README.md") or \
        Path(docs.toLocalFile()).is_dir()


# ---------------------------------------------------------------- statistics ---------
def test_month_labels_are_never_elided_in_a_narrow_chart(qtbot):
    """At 1000×700 the statistics' month labels read "20…": too many categories for the
    width. Every label shown must be whole; the axis labels fewer months instead."""
    import numpy as np

    from trackdesk.ui.views.statistics import BarChart

    chart = BarChart("Distance", "km")
    qtbot.addWidget(chart)
    labels = [f"{2023 + m // 12}-{m % 12 + 1:02d}" for m in range(24)]
    chart.set_bars(labels, {"walk": np.arange(24, dtype=float) + 1})
    chart.resize(440, 260)
    chart.show()
    qtbot.waitExposed(chart)
    QApplication.processEvents()
    # PySide sees the axis' text items as plain QGraphicsItems: their width tells a
    # whole "2023-05" from an elided "20…".
    from PySide6.QtGui import QFontMetrics

    axis = chart.chart().axes(Qt.Orientation.Horizontal)[0]
    full = QFontMetrics(axis.labelsFont()).horizontalAdvance("2023-05")
    named = [c for c in (axis.categoriesLabels() if hasattr(axis, "categoriesLabels")
                         else axis.categories()) if c.strip()]
    texts = [i for i in chart.scene().items() if i.type() == 8]
    whole = [i for i in texts if i.boundingRect().width() >= full]
    assert len(named) >= 2
    assert len(whole) >= len(named), (len(whole), named,
                                       sorted(i.boundingRect().width() for i in texts))


def test_interrupted_tasks_are_announced_once(make_window, loop, db_path):
    insert(db_path, record(status=Status.RUNNING, start_time=utcnow(),
                           worker_ref="local:999999996"))
    w = make_window(hold=["count"])
    run(loop, until(lambda: w.interrupted_bar.isVisibleTo(w)))
    run(loop, w.close_db())
    assert run(loop, w.open_db(db_path))
    assert not w.interrupted_bar.isVisibleTo(w)  # announced before: counted, not barred
    run(loop, until(lambda: "1 interrupted" in w.queue_label.text()))


def test_lines_announced_just_before_selecting_are_not_lost(make_window, loop, db_path):
    """The engine stores log lines in batches: a line announced a moment before its task
    is selected is neither in the stored history nor a live line after the selection."""
    import time

    from trackdesk.engine.events import LogLine

    [rec] = insert(db_path, record(status=Status.FAILED, error_message="boom"))
    w = make_window(hold=["count"])
    run(loop, until(lambda: w.model.row_of(rec.id) is not None))
    # As the engine announces a line whose batch is still on its way to the db.
    w.engine.events.emit(LogLine(rec.id, time.time(), "worker", "info", "in flight"))
    w.select_tasks([rec.id])
    run(loop, until(lambda: "in flight" in w.detail.log.toPlainText(), timeout=5,
                    what="the line announced before the selection"))
