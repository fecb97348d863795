"""The window process never holds or opens the database files outside SQLite (issue 17 §1).

POSIX advisory locks belong to the process: closing any descriptor of tracks.db, -wal or
-shm drops all of SQLite's locks in it. These tests pin the rules that follow: every file
dialog is made by trackdesk/ui/filedialogs.py and never reads a file; a drop or hand-off
of the database or its folder never opens them here; a switched-away database leaves no
descriptor behind; and dialog titles show whole.
"""

from __future__ import annotations

import ast
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDir, QEvent, QFileInfo, QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import (
    QAbstractFileIconProvider,
    QDragEnterEvent,
    QDropEvent,
    QFontMetrics,
    QMouseEvent,
)
from PySide6.QtWidgets import QApplication, QFileDialog, QToolTip

from tests.ui import test_canvas as _canvas
from tests.ui.conftest import boxes, run, until
from trackdesk.ui import filedialogs
from trackdesk.ui.canvas.scene import REFUSAL_TIP_MS
from trackdesk.ui.filedialogs import NameOnlyIconProvider, file_dialog

# The canvas window's fixtures, for the "Link refused" tooltip test.
engine = _canvas.engine
make_canvas = _canvas.make_canvas
UI = Path(filedialogs.__file__).resolve().parent
CSV = "time,lat,lon\n2024-01-01T10:00:00Z,48.1,11.5\n2024-01-01T10:01:00Z,48.1001,11.5001\n"

# Every name a Qt file dialog can be made with, directly or through a static helper.
DIALOG_MAKERS = {"QFileDialog", "getOpenFileName", "getOpenFileNames", "getSaveFileName",
                 "getExistingDirectory", "getOpenFileUrl", "getOpenFileUrls",
                 "getSaveFileUrl", "getExistingDirectoryUrl", "QFileSystemModel",
                 "QFileIconProvider", "QFileSystemWatcher"}


def _db_fds(db: Path) -> list[str]:
    """This process's open descriptors of ``db`` and the files beside it."""
    names = {str(db), f"{db}-wal", f"{db}-shm", f"{db}-journal"}
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.removesuffix(" (deleted)") in names:
            found.append(target)
    return found


def test_only_filedialogs_makes_a_file_dialog_or_a_file_system_model() -> None:
    offenders = []
    for path in sorted(UI.rglob("*.py")):
        if path.name == "filedialogs.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
                if name in DIALOG_MAKERS:
                    offenders.append(f"{path.relative_to(UI.parent.parent)}:{node.lineno} "
                                     f"{name}(...)")
    assert not offenders, ("file dialogs and file-system models must come from "
                           f"trackdesk/ui/filedialogs.py: {offenders}")


def test_the_icon_provider_names_types_without_reading_the_files(qapp, tmp_path) -> None:
    # A file whose name says nothing: Qt's own provider reads its bytes (an SQLite header
    # makes it "SQLite3 database"); ours must answer from the name alone.
    wal = tmp_path / "tracks.db-wal"
    wal.write_bytes(b"SQLite format 3\x00" + bytes(200))
    sniffed = QAbstractFileIconProvider().type(QFileInfo(str(wal)))
    assert "SQLite" in sniffed, "Qt's own provider reads the file (test sanity)"
    provider = NameOnlyIconProvider()
    assert provider.type(QFileInfo(str(wal))) == "DB-WAL file"
    assert provider.type(QFileInfo(str(tmp_path))) == "Folder"
    assert provider.type(QFileInfo(str(tmp_path / "x.csv"))) == "CSV file"
    assert not provider.icon(QFileInfo(str(wal))).isNull()


def test_a_file_dialog_is_widget_based_hides_sqlite_files_and_goes_when_closed(
        qapp, tmp_path) -> None:
    db = tmp_path / "tracks.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    (tmp_path / "walk.csv").write_text(CSV)
    chosen: list[list[Path]] = []
    dialog = file_dialog(None, "Import tracks", "open_many", chosen.append,
                         directory=tmp_path)
    try:
        assert dialog.testOption(QFileDialog.Option.DontUseNativeDialog)
        assert isinstance(dialog.iconProvider(), NameOnlyIconProvider)
        proxy = dialog.proxyModel()
        assert proxy is not None
        model = proxy.sourceModel()
        root = model.index(str(tmp_path))
        deadline_rows = 0
        while model.rowCount(root) < 4 and deadline_rows < 500:  # the gatherer thread
            QApplication.processEvents()
            deadline_rows += 1
            QDir(str(tmp_path))
        shown = {proxy.index(r, 0, proxy.mapFromSource(root)).data()
                 for r in range(proxy.rowCount(proxy.mapFromSource(root)))}
        assert "walk.csv" in shown and "tracks.db" in shown
        assert not {"tracks.db-wal", "tracks.db-shm"} & shown
    finally:
        dialog.reject()
        conn.close()
    from PySide6.QtCore import QEvent

    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not filedialogs.open_file_dialogs(), "a closed dialog must not stay alive"


def test_after_switching_databases_no_descriptor_of_the_old_one_stays(
        make_window, loop, tmp_path) -> None:
    w = make_window()
    old = w.engine.db_path
    # The views read on a pool of threads, each with its own connection (the map, the
    # timeline, the statistics all do, once the db has data): make every thread read.
    done: list[Any] = []
    import threading

    started = threading.Barrier(2, timeout=10)

    def read(conn: sqlite3.Connection) -> Any:
        started.wait()  # both pool threads busy at once: each opens a connection
        return conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()

    for _ in range(2):
        w.views.loader.submit(read, done.append)
    run(loop, until(lambda: len(done) == 2, what="the views' reads"))
    assert len(_db_fds(old)) > 3, "the views' readers hold the db (test sanity)"
    other = tmp_path / "other" / "tracks.db"
    other.parent.mkdir()
    assert run(loop, w.switch_db(other), timeout=60)
    run(loop, until(lambda: not _db_fds(old), timeout=10,
                    what=f"the old db's descriptors to close: {_db_fds(old)}"))
    assert _db_fds(other)


def _drop(window: Any, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(window.rect().center())
    actions = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(QPoint(int(pos.x()), int(pos.y())), actions, mime,
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    drop = QDropEvent(pos, actions, mime, Qt.MouseButton.NoButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    QApplication.sendEvent(window, drop)


@pytest.fixture
def opened_paths() -> Any:
    """The paths this process opens from Python (audit events), while the test runs."""
    seen: list[str] = []
    active = [True]

    def hook(event: str, args: tuple) -> None:
        if active[0] and event == "open" and args and isinstance(args[0], (str, bytes,
                                                                           os.PathLike)):
            seen.append(os.fsdecode(args[0]))

    sys.addaudithook(hook)  # cannot be removed: it goes quiet after the test
    yield seen
    active[0] = False


def test_dropping_the_db_folder_never_opens_the_db_in_the_window(
        make_window, loop, opened_paths) -> None:
    w = make_window(hold=["import"])
    db = w.engine.db_path
    (db.parent / "walk.csv").write_text(CSV)
    opened_paths.clear()
    # The folder holding the open db, the db itself and its WAL, as a user might drop them.
    _drop(w, [db.parent, db, Path(f"{db}-wal")])
    run(loop, until(lambda: any(t.skill_name == "import" for t in w.engine.tasks.values()),
                    what="the import task"))
    [task] = [t for t in w.engine.tasks.values() if t.skill_name == "import"]
    assert json.loads(task.params["paths"]) == [str(db.parent)]
    ours = {str(db), f"{db}-wal", f"{db}-shm"}
    assert not [p for p in opened_paths if str(Path(p).resolve()) in ours]
    run(loop, until(lambda: boxes(w), what="the refused-files message"))
    [box] = boxes(w)
    assert "tracks.db" in box.text() and "cannot be imported into itself" in box.text()
    # Only what the user named is refused: the folder's own tracks.db is passed over.
    assert box.text().count("tracks.db:") == 1 and "tracks.db-wal:" in box.text()


def _title_fits(dialog: Any) -> bool:
    QApplication.processEvents()
    app_name = QApplication.applicationDisplayName() or "trackdesk"
    font = dialog.font()
    font.setBold(True)
    needed = QFontMetrics(font).horizontalAdvance(f"{dialog.windowTitle()} — {app_name}")
    return dialog.isVisible() and dialog.width() >= needed + 100  # + icon, 3 buttons


def test_dialog_titles_show_whole(make_canvas, make_window, loop, tmp_path) -> None:
    # "Save c… kdesk": the canvas's narrow name dialog under a long title. Shown, each
    # dialog is as wide as its title (and the " — trackdesk" after it) needs.
    c = make_canvas()
    ask = c.ask_text("Save chain template", "Template name:", "mine", lambda _t: None)
    assert ask.windowTitle() == "Save chain template" and _title_fits(ask)
    ask.reject()
    (tmp_path / "w").mkdir()
    w = make_window(path=tmp_path / "w" / "tracks.db")  # the canvas's engine has the other
    for dialog in (w.choose_db(True), w.choose_import_files(), w.choose_import_folder()):
        try:
            assert len(dialog.windowTitle()) <= 24 and _title_fits(dialog), \
                dialog.windowTitle()
        finally:
            dialog.reject()


def test_the_import_dialogs_open_at_home_then_where_you_last_imported_from(
        make_window, loop, tmp_path, monkeypatch) -> None:
    # Not the app's working directory (a double-clicked app's is "/" or its install dir):
    # first your home folder, then the folder you last imported from.
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    (tmp_path / "w").mkdir()
    w = make_window(path=tmp_path / "w" / "tracks.db")
    dialog = w.choose_import_folder()
    assert Path(dialog.directory().absolutePath()) == home
    trip = tmp_path / "exports" / "istria"
    trip.mkdir(parents=True)
    gpx = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "gpx"
    (trip / "car.gpx").write_bytes((gpx / "around-visnjan-with-car.gpx").read_bytes())
    dialog.filesSelected.emit([str(trip)])
    dialog.reject()
    run(loop, until(lambda: any(t.skill_name == "import" for t in w.engine.tasks.values()),
                    what="the folder's import task"))
    for again in (w.choose_import_files(), w.choose_import_folder()):
        try:
            assert Path(again.directory().absolutePath()) == tmp_path / "exports"
        finally:
            again.reject()


def test_a_refused_link_tooltip_goes_when_the_pointer_moves_on(make_canvas, loop) -> None:
    c = make_canvas()
    vp = c.view.viewport()
    c.scene.refuse("dependency cycle", vp.mapToGlobal(QPoint(100, 100)))
    assert QToolTip.isVisible() and "Link refused" in QToolTip.text()
    for x in (140, 180):  # the pointer moves on over the canvas
        QApplication.sendEvent(vp, QMouseEvent(
            QEvent.Type.MouseMove, QPointF(x, x), QPointF(vp.mapToGlobal(QPoint(x, x))),
            Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier))
    # Qt fades a hidden tooltip out (~300 ms); well before the tooltip's own time is up
    # (REFUSAL_TIP_MS, and Qt's default of 10 s before), the move has taken it away.
    run(loop, until(lambda: not QToolTip.isVisible(), timeout=(REFUSAL_TIP_MS - 1500) / 1000,
                    what="the tooltip to go: it lingers after the drop"))
