"""The window as a whole, with a real engine on a tmp tracks.db."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from tests.ui.conftest import boxes, insert, record, registry, run, until
from trackdesk.engine.engine import Engine
from trackdesk.engine.events import LogLine
from trackdesk.engine.states import Status
from trackdesk.engine.store import TaskStore
from trackdesk.ui import settings as app_settings
from trackdesk.ui.app import compose
from trackdesk.ui.detail import LOG_MAX_LINES
from trackdesk.ui.main_window import MainWindow
from trackdesk.ui.notify import ChainWatcher, summary
from trackdesk.ui.settings import AppSettings
from trackdesk.ui.task_model import COLUMN_INDEX


def cell(w: MainWindow, task_id: int, column: str) -> str:
    row = w.model.row_of(task_id)
    return "" if row is None else w.model.data(w.model.index(row, COLUMN_INDEX[column]))


def test_engine_progress_reaches_the_row_and_the_status_bar(make_window, loop):
    w = make_window()
    rec = run(loop, w.engine.create_task("count", params={"n": 400, "batch": 10,
                                                          "sleep_s": 0.05}))
    run(loop, until(lambda: w.model.row_of(rec.id) is not None, what="the new row"))
    assert cell(w, rec.id, "status") in ("pending", "running")
    run(loop, until(lambda: "/ 400" in cell(w, rec.id, "points")
                    and cell(w, rec.id, "status") == "running", what="progress in the row"))
    assert cell(w, rec.id, "eta") in ("estimating…",) or cell(w, rec.id, "eta").endswith("s")
    run(loop, until(lambda: "1 running" in w.queue_label.text(), what="queue figures"))
    run(loop, until(lambda: cell(w, rec.id, "status") == "completed", timeout=30))
    assert cell(w, rec.id, "points") == "400 / 400"
    assert "0 running" in w.queue_label.text() or w._counts_timer.isActive()


def test_a_task_created_by_another_process_appears(make_window, loop, db_path):
    w = make_window(hold=["count"])
    store = TaskStore(db_path)
    [rec] = store.insert_tasks([Engine.new_record(registry(), "count", created_by="cli")])
    store.close()
    run(loop, until(lambda: w.model.row_of(rec.id) is not None, what="the CLI's task"))
    assert cell(w, rec.id, "skill") == "count"
    # The counts follow the row, also while a dialog of the window is open (a real drive
    # once showed "0 tasks" beside a CLI import listed in the table).
    dialog = w.choose_import_folder()
    try:
        store = TaskStore(db_path)
        [second] = store.insert_tasks([Engine.new_record(registry(), "count",
                                                         created_by="cli")])
        store.close()
        run(loop, until(lambda: w.model.row_of(second.id) is not None, what="the 2nd task"))
        run(loop, until(lambda: w.shown_label.text() == "2 tasks"
                        and "2 pending" in w.queue_label.text(), timeout=5,
                        what=f"the counts ({w.shown_label.text()!r}, "
                             f"{w.queue_label.text()!r})"))
    finally:
        dialog.reject()


def test_detail_pane_shows_the_selected_task_and_follows_its_log(make_window, loop, db_path):
    [failed] = insert(db_path, record(status=Status.FAILED, params={"n": 5},
                                      error_message="bad point at 3"))
    w = make_window(hold=["count"])
    run(loop, until(lambda: w.model.row_of(failed.id) is not None))
    w.select_tasks([failed.id])
    assert w.detail.task_id == failed.id
    assert "Task 1 · count" in w.detail.title.text()
    assert "bad point at 3" in w.detail.error.toPlainText()
    assert w.detail.error_box.isVisibleTo(w.detail)
    assert "n: 5" in w.detail.params.toPlainText().splitlines()
    # Live lines arrive (coalesced) and the view stays bounded on a flood.
    for i in range(LOG_MAX_LINES + 500):
        w.engine.events.emit(LogLine(failed.id, time.time() + 1, "stderr", "info", f"line {i}"))
    run(loop, until(lambda: f"line {LOG_MAX_LINES + 499}" in w.detail.log.toPlainText(),
                    what="the live log"))
    assert w.detail.log.blockCount() <= LOG_MAX_LINES
    # Selecting several tasks shows no single task.
    [other] = insert(db_path, record(status=Status.COMPLETED))
    run(loop, until(lambda: w.model.row_of(other.id) is not None))
    w.select_tasks([failed.id, other.id])
    assert w.detail.task_id is None
    assert "2 tasks selected" in w.detail.title.text()


def drop_event(paths: list[Path]) -> tuple[QDragEnterEvent, QDropEvent, QMimeData]:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(100, 100), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    drop = QDropEvent(QPointF(100, 100), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    return enter, drop, mime


GPX = """<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">
<trk><trkseg><trkpt lat="48.1" lon="11.5"><time>2024-05-01T10:00:00Z</time></trkpt>
<trkpt lat="48.2" lon="11.6"><time>2024-05-01T10:01:00Z</time></trkpt></trkseg></trk></gpx>"""


def test_dropped_files_become_one_import_task_and_unsupported_ones_one_message(
        make_window, loop, tmp_path):
    w = make_window(hold=["import"])
    folder = tmp_path / "tracks"
    folder.mkdir()
    (folder / "walk.gpx").write_text(GPX)
    ride = tmp_path / "ride.gpx"
    ride.write_text(GPX)
    notes = tmp_path / "notes.docx"
    notes.write_bytes(b"PK\x03\x04 not a track")
    enter, drop, _mime = drop_event([ride, folder, notes])
    QApplication.sendEvent(w, enter)
    assert enter.isAccepted()
    assert w.overlay.isVisible() and "3 items" in w.overlay.detail
    QApplication.sendEvent(w, drop)
    assert not w.overlay.isVisible()
    run(loop, until(lambda: any(t.skill_name == "import" for t in w.engine.tasks.values()),
                    what="the import task"))
    [task] = [t for t in w.engine.tasks.values() if t.skill_name == "import"]
    assert task.priority_name == "high"
    paths = json.loads(task.params["paths"])
    assert str(ride.resolve()) in paths and str(folder.resolve()) in paths
    assert str(notes.resolve()) not in paths
    run(loop, until(lambda: boxes(w), what="the unsupported-files message"))
    [box] = boxes(w)
    assert "notes.docx" in box.text()
    run(loop, until(lambda: w.model.row_of(task.id) is not None))


def test_a_drop_of_only_unsupported_files_creates_no_task(make_window, loop, tmp_path):
    w = make_window(hold=["import"])
    junk = tmp_path / "a.xyz"
    junk.write_text("nothing")
    enter, drop, _ = drop_event([junk, tmp_path / "missing.gpx"])
    QApplication.sendEvent(w, enter)  # Qt delivers a drop only where the drag entered
    QApplication.sendEvent(w, drop)
    run(loop, until(lambda: boxes(w), what="the message"))
    [box] = boxes(w)
    assert "a.xyz" in box.text() and "missing.gpx" in box.text()
    assert not any(t.skill_name == "import" for t in w.engine.tasks.values())


def test_a_second_engine_on_the_same_db_is_a_clear_message(make_window, loop, db_path):
    other = Engine(db_path, registry=registry())
    run(loop, other.start(schedule=False))
    try:
        w = make_window(open_db=False)
        assert run(loop, w.open_db(db_path)) is False
        [box] = boxes(w)
        assert "already driving" in box.text() and box.icon() == QMessageBox.Icon.Warning
        assert w.engine is None
        assert not w.act_chain.isEnabled() and w.act_open.isEnabled()
    finally:
        run(loop, other.stop(running="leave"))


def test_an_exception_in_a_slot_or_an_engine_call_is_reported_not_swallowed(
        make_window, loop, qtbot):
    w = make_window()

    async def broken() -> None:
        raise RuntimeError("bug in a coroutine")

    def broken_slot() -> None:
        raise RuntimeError("bug in a slot")

    from trackdesk.ui.aio import spawn

    with qtbot.capture_exceptions() as caught:
        spawn(broken(), "testing", w.user_error)
        QTimer.singleShot(0, broken_slot)
        run(loop, until(lambda: len(caught) >= 2, what="both errors at sys.excepthook"))
    messages = sorted(str(exc) for _t, exc, _tb in caught)
    assert messages == ["bug in a coroutine", "bug in a slot"]


def test_error_reporter_logs_and_shows_one_box_for_a_burst(qapp, caplog):
    from trackdesk.ui.app import ErrorReporter

    reporter = ErrorReporter()
    try:
        for i in range(3):
            try:
                raise ValueError(f"boom {i}")
            except ValueError:
                reporter.excepthook(*sys.exc_info())
        assert reporter.box is not None and reporter.box.isVisible()
        assert "3 unexpected errors" in reporter.box.text()
        assert "boom 2" in reporter.box.text()
        assert caplog.text.count("uncaught error") == 3
    finally:
        if reporter.box is not None:
            reporter.box.close()


def test_column_layout_is_remembered(make_window, loop, store_path):
    w = make_window()
    header = w.view.horizontalHeader()
    w.set_column_visible(COLUMN_INDEX["launcher"], False)
    header.resizeSection(COLUMN_INDEX["skill"], 222)
    header.moveSection(header.visualIndex(COLUMN_INDEX["status"]), 1)
    w.view.sortByColumn(COLUMN_INDEX["progress"], Qt.SortOrder.AscendingOrder)
    assert w.model.hold_progress  # sorted by a live column: progress goes out at 1 Hz
    run(loop, w.shutdown())
    again = compose(QSettings(str(store_path), QSettings.Format.IniFormat), AppSettings(),
                    lambda p: Engine(p, registry=registry())).window
    try:
        h = again.view.horizontalHeader()
        assert h.isSectionHidden(COLUMN_INDEX["launcher"])
        assert h.sectionSize(COLUMN_INDEX["skill"]) == 222
        assert h.visualIndex(COLUMN_INDEX["status"]) == 1
        assert h.sortIndicatorSection() == COLUMN_INDEX["progress"]
        assert again.proxy.sortColumn() == COLUMN_INDEX["progress"]
        assert again.model.hold_progress
    finally:
        again._may_close = True
        again.close()
        again.deleteLater()


def test_header_menu_hides_a_column_and_keeps_the_last_one(make_window):
    w = make_window()
    from PySide6.QtWidgets import QMenu

    menu = QMenu()
    w._fill_columns_menu(menu)
    acts = menu.actions()
    acts[COLUMN_INDEX["failed"]].setChecked(False)
    assert w.view.horizontalHeader().isSectionHidden(COLUMN_INDEX["failed"])
    header = w.view.horizontalHeader()
    for i in range(len(acts)):
        if i != COLUMN_INDEX["id"]:
            header.setSectionHidden(i, True)
    w._fill_columns_menu(menu)
    assert not menu.actions()[COLUMN_INDEX["id"]].isEnabled()
    menu.deleteLater()


def test_settings_dialog_applies_to_the_engine_and_is_stored(make_window, loop, store_path):
    w = make_window()
    dialog = w.open_settings()
    dialog.concurrency.setValue(5)
    dialog.batch.setValue(20_000)
    dialog.quit_leave.setChecked(True)
    dialog.accept()
    assert w.engine.settings.concurrency == 5
    assert w.engine.settings.batch_size == 20_000
    stored = app_settings.load(QSettings(str(store_path), QSettings.Format.IniFormat))
    assert (stored.concurrency, stored.batch_size, stored.on_quit) == (5, 20_000, "leave")


@pytest.mark.parametrize("on_quit, expected", [("stop", Status.INTERRUPTED),
                                               ("leave", Status.RUNNING)])
def test_quitting_stops_or_leaves_running_tasks_as_the_settings_say(
        make_desktop, loop, db_path, on_quit, expected):
    from trackdesk.ui.app import main

    desktop = make_desktop(settings=AppSettings(on_quit=on_quit), open_db=False)
    w = desktop.window

    async def scenario() -> None:
        async def drive() -> None:
            await until(lambda: w.engine is not None)
            rec = await w.engine.create_task("count", params={"n": 100_000, "batch": 1,
                                                              "sleep_s": 0.05})
            await until(lambda: w.engine.tasks[rec.id].status == Status.RUNNING)
            w.close()  # closing the window is quitting

        driver = asyncio.ensure_future(drive())
        assert await main(db_path, lambda: desktop) == 0
        await driver

    run(loop, scenario(), timeout=40)
    store = TaskStore(db_path)
    [task] = store.load_all()
    store.close()
    assert task.status == expected
    if on_quit == "leave":
        # The next start follows (or interrupts) the worker: the lock is free again.
        again = Engine(db_path, registry=registry())
        run(loop, again.start(schedule=False))
        run(loop, again.stop(running="stop"))


def test_run_default_chain_incremental_and_full(make_window, loop):
    w = make_window(hold=registry().names())
    w.act_chain.trigger()
    run(loop, until(lambda: len({t.chain_run_id for t in w.engine.tasks.values()}) == 1))
    first = list(w.engine.tasks.values())
    assert len(first) >= 5 and all(t.task_type == "INCREMENTAL" for t in first)
    w.act_chain_full.trigger()
    [box] = boxes(w)
    box.button(QMessageBox.StandardButton.Yes).click()
    run(loop, until(lambda: len({t.chain_run_id for t in w.engine.tasks.values()}) == 2))
    full = [t for t in w.engine.tasks.values() if t.task_type == "FULL_RECOMPUTE"]
    assert len(full) == len(first)


def test_chain_notifications_are_batched(make_window, loop, db_path):
    recs = insert(db_path, record(chain_run_id="r1"), record(chain_run_id="r1"),
                  record(chain_run_id="r2"))
    w = make_window(hold=["count"])
    w._notify_timer.setInterval(200)
    for rec in recs:
        run(loop, w.engine.cancel(rec.id))
    run(loop, until(lambda: hasattr(w, "last_notification"), what="the notification"))
    assert w.last_notification[0] == "2 chains finished"


def test_chain_watcher_reports_a_chain_once_when_its_last_task_ends():
    from trackdesk.engine.events import TaskChanged
    from trackdesk.engine.records import TaskRecord

    tasks = {i: TaskRecord(id=i, skill_name="s", chain_run_id="r", status=Status.RUNNING)
             for i in (1, 2)}
    watcher = ChainWatcher(tasks)
    tasks[1].status = Status.COMPLETED
    assert not watcher.on_event(TaskChanged(1, {"status": Status.COMPLETED}))
    tasks[2].status = Status.FAILED
    assert watcher.on_event(TaskChanged(2, {"status": Status.FAILED}))
    assert not watcher.on_event(TaskChanged(2, {"status": Status.FAILED}))
    [outcome] = watcher.take()
    assert (outcome.tasks, outcome.failed, outcome.ok) == (2, 1, False)
    assert summary([outcome])[0] == "Chain failed"


def test_search_and_status_filter_narrow_the_table(make_window, loop, db_path):
    insert(db_path, record(status=Status.FAILED, error_message="disk full"),
           record(status=Status.COMPLETED), record(status=Status.COMPLETED))
    w = make_window(hold=["count"])
    run(loop, until(lambda: w.model.rowCount() == 3))
    w.status_filter.setCurrentIndex(2)  # needs attention
    assert w.proxy.rowCount() == 1
    w.status_filter.setCurrentIndex(0)
    w.search.setText("disk")
    assert w.proxy.rowCount() == 1
    w._update_counts()
    assert w.shown_label.text() == "1 of 3 tasks"


def test_the_settings_switch_serves_the_rest_api_from_the_app(make_desktop, loop):
    server = pytest.importorskip("trackdesk.api.server")
    API_PREFIX = server.API_PREFIX  # noqa: N806
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    desktop = make_desktop()
    w = desktop.window
    w.apply_settings(AppSettings(serve_api=True, api_port=port))
    run(loop, until(lambda: desktop.api.server is not None, what="the API to listen"))

    async def fetch() -> int:
        def get() -> int:
            with urllib.request.urlopen(f"{desktop.api.url}{API_PREFIX}/tasks",
                                        timeout=5) as r:
                return r.status
        return await asyncio.get_running_loop().run_in_executor(None, get)

    assert run(loop, fetch()) == 200
    w.apply_settings(AppSettings(serve_api=False, api_port=port))
    run(loop, until(lambda: desktop.api.server is None, what="the API to stop"))

