"""The first run: a welcome page in the window's central area while the tracks.db is empty.

With no points and no tasks there is nothing for the task table to show, so the window
offers the three ways in instead (docs/UI.md, "First run"): drop track files, open a
tracks.db, or try the demo (the tracks in ``resources/demo`` imported, then the default
chain run on them, one click). The page gives way to the task table as soon as the db
has a task, whoever created it (this window, the CLI, the REST API).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from trackdesk.resources import resource

if TYPE_CHECKING:
    from trackdesk.engine.engine import Engine
    from trackdesk.engine.records import TaskRecord
    from trackdesk.ui.host import WindowHost

DEMO_SUFFIXES = (".gpx", ".csv", ".geojson", ".kml", ".fit", ".tcx")
FORMATS_LINE = "GPX, KML/KMZ, GeoJSON, CSV, FIT, TCX, Google exports, zips or whole folders"


def demo_files() -> list[Path]:
    """The shipped demo tracks (``resources/demo``, in a checkout or in the bundle)."""
    folder = resource("demo")
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in DEMO_SUFFIXES)


def db_is_empty(path: Path) -> bool:
    """True when the tracks.db holds no point (blocking: run it on an executor thread)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return True
    try:
        return conn.execute("SELECT 1 FROM points LIMIT 1").fetchone() is None
    except sqlite3.Error:  # no points table yet: an empty db by any measure
        return True
    finally:
        conn.close()


async def start_demo(engine: Engine, files: list[Path] | None = None) -> list[TaskRecord]:
    """Queue the import of the demo tracks and the default chain after it.

    The chain's first tasks get the import as a dependency before this coroutine gives
    the loop back, so no analysis starts on an empty db; if the import fails, the chain
    is skipped with the reason. Returns the import task, then the chain's tasks."""
    files = demo_files() if files is None else files
    if not files:
        from trackdesk.engine.engine import EngineError

        raise EngineError(f"the demo tracks are missing from {resource('demo')}")
    imp = await engine.create_task(
        "import", params={"paths": json.dumps([str(p) for p in files])}, priority="high")
    chain = await engine.run_chain(task_type="INCREMENTAL")
    # No await between run_chain and these calls: the scheduler cannot run in between.
    for rec in chain:
        if not rec.depends_on_task_ids:
            await engine.add_dependency(rec.id, imp.id)
    return [imp, *chain]


class DropCard(QFrame):
    """A dashed frame that reads as a drop target (the window itself takes the drop)."""

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        accent = self.palette().highlight().color()
        fill = QColor(accent)
        fill.setAlpha(22)
        p.setBrush(fill)
        p.setPen(QPen(accent, 2, Qt.PenStyle.DashLine))
        p.drawRoundedRect(QRectF(self.rect()).adjusted(2, 2, -2, -2), 12, 12)
        p.end()


class WelcomePage(QWidget):
    """Three ways in: drop files, open a tracks.db, try the demo."""

    chooseFilesRequested = Signal()  # noqa: N815 - Qt's naming for signals
    openRequested = Signal()  # noqa: N815
    demoRequested = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome-page")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(40, 32, 40, 24)
        outer.addStretch(1)
        title = QLabel("Welcome to trackdesk")
        f = title.font()
        f.setPointSizeF(f.pointSizeF() * 2.0)
        f.setBold(True)
        title.setFont(f)
        title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        outer.addWidget(title)
        lead = QLabel("Your location history, imported into one file of your own and "
                      "analysed: stays, trips, transport modes, places and your footprint.")
        lead.setWordWrap(True)
        lead.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        lead.setStyleSheet("color: palette(dark);")
        outer.addWidget(lead)
        outer.addSpacing(24)

        row = QHBoxLayout()
        row.setSpacing(18)
        drop = DropCard()
        self.drop_card = drop
        self.choose_button = QPushButton("Choose files…")
        self.choose_button.setToolTip("Import track files with a file dialog (Ctrl+I)")
        self.choose_button.clicked.connect(self.chooseFilesRequested)
        self._fill(drop, "⇩", "Drop your track files here",
                   f"{FORMATS_LINE}. Each drop becomes one import task; importing a file "
                   "twice adds nothing.", self.choose_button)
        self.open_button = QPushButton("Open a tracks.db…")
        self.open_button.setToolTip("Switch to a tracks.db you already have (Ctrl+O)")
        self.open_button.clicked.connect(self.openRequested)
        open_card = self._card()
        self._fill(open_card, "🗀", "Open a tracks.db",
                   "Already have a workspace? A tracks.db holds your points and the whole "
                   "task history: copy it between machines and open it here.",
                   self.open_button, QStyle.StandardPixmap.SP_DirOpenIcon)
        self.demo_button = QPushButton("Try the demo")
        self.demo_button.setDefault(True)
        self.demo_button.setToolTip("Import the demo tracks and run the default chain on them")
        self.demo_button.clicked.connect(self.demoRequested)
        demo_card = self._card()
        self._fill(demo_card, "▶", "Try the demo",
                   "Three days of a made-up person around Munich: walks, bike and car trips, "
                   "home, work and a shop. Imported and analysed with one click, into this "
                   "tracks.db.", self.demo_button, QStyle.StandardPixmap.SP_MediaPlay)
        for card in (drop, open_card, demo_card):
            card.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            card.setMinimumWidth(220)
            card.setMaximumWidth(340)
            row.addWidget(card)
        wrap = QHBoxLayout()
        wrap.addStretch(1)
        wrap.addLayout(row)
        wrap.addStretch(1)
        outer.addLayout(wrap)
        outer.addSpacing(20)
        self.db_label = QLabel("")
        self.db_label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.db_label.setWordWrap(True)
        self.db_label.setStyleSheet("color: palette(mid);")
        self.db_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.db_label)
        outer.addStretch(2)

    def _card(self) -> QFrame:
        card = QFrame()
        card.setFrameShape(QFrame.Shape.StyledPanel)
        card.setObjectName("welcome-card")
        return card

    def _fill(self, card: QFrame, glyph: str, title: str, text: str,
              button: QPushButton,
              picture: QStyle.StandardPixmap = QStyle.StandardPixmap.SP_ArrowDown) -> None:
        lay = QVBoxLayout(card)
        lay.setContentsMargins(20, 18, 20, 18)
        lay.setSpacing(8)
        icon = QLabel(glyph)
        f = icon.font()
        f.setPointSizeF(f.pointSizeF() * 2.4)
        icon.setFont(f)
        if not all(QFontMetrics(f).inFontUcs4(ord(c)) for c in glyph):
            # No such glyph in this system's font (an empty box would show): the style's
            # own picture for it, at the glyph's size, instead.
            size = QFontMetrics(f).height()
            icon.setPixmap(self.style().standardIcon(picture).pixmap(size, size))
        icon.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        icon.setStyleSheet("color: palette(highlight);")
        head = QLabel(title)
        f = head.font()
        f.setPointSizeF(f.pointSizeF() * 1.25)
        f.setBold(True)
        head.setFont(f)
        head.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        body = QLabel(text)
        body.setWordWrap(True)
        body.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        body.setMinimumHeight(body.fontMetrics().height() * 5)
        lay.addWidget(icon)
        lay.addWidget(head)
        lay.addWidget(body, 1)
        lay.addWidget(button, 0, Qt.AlignmentFlag.AlignHCenter)

    def set_db(self, path: Path | None) -> None:
        self.db_label.setText(f"Your tracks.db: {path}" if path is not None else "")


class Welcome(QObject):
    """Switches the window's central area between the welcome page and the task tabs."""

    def __init__(self, window: WindowHost, stack: QStackedWidget, page: WelcomePage,
                 tasks: QWidget) -> None:
        assert isinstance(window, QMainWindow)
        super().__init__(window)
        self.window = window
        self.stack = stack
        self.page = page
        self.tasks = tasks
        self.engine: Engine | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._check: asyncio.Task[Any] | None = None
        page.chooseFilesRequested.connect(lambda: window.choose_import_files())
        page.openRequested.connect(lambda: window.choose_db())
        page.demoRequested.connect(self.try_demo)

    @property
    def showing(self) -> bool:
        return self.stack.currentWidget() is self.page

    def set_engine(self, engine: Engine | None) -> None:
        """Follow the session's engine (None: the tracks.db was closed)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._check is not None:
            self._check.cancel()
            self._check = None
        self.engine = engine
        self.page.demo_button.setEnabled(engine is not None)
        if engine is None:
            # No db open (closing, or it failed to open): the table and its messages.
            self.show_tasks()
            return
        self.page.set_db(engine.db_path)
        if engine.tasks:
            self.show_tasks()
            return
        self._unsubscribe = engine.events.subscribe(self._on_event)
        self._check = asyncio.get_event_loop().create_task(self._decide(engine))

    async def _decide(self, engine: Engine) -> None:
        # Points without tasks (an import by an older trackdesk, say): the table, which
        # offers to run the chain; truly empty: the welcome page.
        empty = await asyncio.get_running_loop().run_in_executor(
            None, db_is_empty, engine.db_path)
        if engine is self.engine and not engine.tasks:
            self.show_welcome() if empty else self.show_tasks()

    def _on_event(self, event: Any) -> None:
        from trackdesk.engine.events import TaskAdded

        if isinstance(event, TaskAdded):
            self.show_tasks()

    def show_welcome(self) -> None:
        self.page.demo_button.setEnabled(self.engine is not None)
        self.stack.setCurrentWidget(self.page)

    def show_tasks(self) -> None:
        if self._unsubscribe is not None and self.engine is not None:
            self._unsubscribe()  # the db has tasks now: the welcome page is done with it
            self._unsubscribe = None
        self.stack.setCurrentWidget(self.tasks)

    def try_demo(self) -> asyncio.Task[Any] | None:
        """Import the demo tracks and run the default chain on them (one click)."""
        if self.engine is None:
            return None
        from trackdesk.ui.aio import spawn

        self.page.demo_button.setEnabled(False)  # one demo per click, not two
        engine = self.engine

        def done(recs: list[Any]) -> None:
            self.window.statusBar().showMessage(
                f"Demo: importing {len(demo_files())} track files (task {recs[0].id}), "
                f"then {len(recs) - 1} analysis tasks", 8000)

        def failed(what: str, exc: BaseException) -> None:
            self.page.demo_button.setEnabled(True)
            self.window.user_error(what, exc)

        return spawn(start_demo(engine), "starting the demo", failed, done)


def install_welcome(window: WindowHost) -> Welcome:
    """Put a welcome page beside the window's central widget (a stack of the two).

    The page follows the session's engine."""
    assert isinstance(window, QMainWindow)
    tasks = window.takeCentralWidget()
    stack = QStackedWidget(window)
    page = WelcomePage()
    stack.addWidget(tasks)
    stack.addWidget(page)
    stack.setCurrentWidget(tasks)
    window.setCentralWidget(stack)
    welcome = Welcome(window, stack, page, tasks)
    window.session.subscribe(welcome.set_engine)
    return welcome


__all__ = ["Welcome", "WelcomePage", "demo_files", "install_welcome", "start_demo"]
