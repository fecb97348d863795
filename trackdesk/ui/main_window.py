"""The main window: the live task table, the detail pane, menus, toolbar and status bar.

It composes widgets and actions. The engine belongs to the session
(``trackdesk.session.Session``): File → New/Open and Settings ask the session to switch,
and every pane follows the session's announcements. The window never blocks: engine
calls run as asyncio tasks on the qasync loop (``spawn``), dialogs open with ``open()``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QItemSelection, QPoint, QSettings, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,  # the type only: filedialogs makes them
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QSystemTrayIcon,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from trackdesk.api.host import api_available
from trackdesk.engine.events import Event
from trackdesk.engine.lock import EngineLockedError
from trackdesk.engine.records import TaskRecord
from trackdesk.engine.states import Priority, Status
from trackdesk.session import Session, load_engine_modules
from trackdesk.ui import dialogs
from trackdesk.ui import format as fmt
from trackdesk.ui import settings as app_settings
from trackdesk.ui.actions import (
    PRIORITY_TIP,
    TASK_ACTIONS,
    Commands,
    Selection,
    TaskAction,
    reprioritisable,
)
from trackdesk.ui.aio import spawn
from trackdesk.ui.detail import DetailPane
from trackdesk.ui.dropzone import DropOverlay, local_paths, plan_import
from trackdesk.ui.filedialogs import file_dialog
from trackdesk.ui.icons import app_icon, std_icon
from trackdesk.ui.notify import ChainWatcher, summary
from trackdesk.ui.settings import AppSettings, default_db_path
from trackdesk.ui.settings_dialog import SettingsDialog
from trackdesk.ui.table_view import TaskTableView
from trackdesk.ui.task_model import (
    COLUMNS,
    LIVE_COLUMNS,
    STATUS_FILTERS,
    TaskFilterProxy,
    TaskTableModel,
)

if TYPE_CHECKING:  # loaded in a thread once the window shows (SQLAlchemy is slow to import)
    from trackdesk.engine.engine import Engine

log = logging.getLogger(__name__)

# Rows added per event-loop turn when a tracks.db with a long history opens.
LOAD_BATCH = 1000
NOTIFY_BATCH_MS = 2000
LAYOUT_VERSION = 1
CANVAS_TIP = "Build chains from skills, keep them as templates and watch them run"


class MainWindow(dialogs.DialogHost, QMainWindow):
    """The window of one session (``trackdesk.ui.host.WindowHost`` is what its panes use).

    ``store`` keeps the settings and the layout; the composition root
    (``trackdesk.ui.app.compose``) makes the session and the window together."""

    def __init__(self, session: Session, store: QSettings | None = None) -> None:
        super().__init__()
        self.session = session
        self.store = store or app_settings.qsettings()
        self.commands: Commands | None = None
        self.quit_requested = asyncio.Event()
        self._may_close = False
        self._selected: set[int] = set()
        # Confirmations still open: (box, action, task ids) — kept true as tasks move on.
        self._open_confirms: list[tuple[Any, TaskAction, list[int]]] = []
        self._unsubscribe_watch: Callable[[], None] | None = None
        self._watcher: ChainWatcher | None = None
        self.chain_canvas: Any = None  # made on first use (trackdesk.ui.canvas)
        self.images_dialog: Any = None
        self.open_dialogs: list[QWidget] = []  # the latest non-modal boxes (tests use them)
        self.last_context_menu: QMenu | None = None

        self.setWindowTitle("trackdesk")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)

        self.model = TaskTableModel(self)
        self.proxy = TaskFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self._build_table()
        self.detail = DetailPane()
        session.subscribe(self._set_table_source)
        session.subscribe(self.detail.set_engine)
        self._build_filter_bar()

        top = QWidget()
        tv = QVBoxLayout(top)
        tv.setContentsMargins(6, 6, 6, 0)
        tv.setSpacing(4)
        from trackdesk.ui.notice import InterruptedBar

        self.interrupted_bar = InterruptedBar(self._resume_interrupted,
                                              self._discard_interrupted)
        tv.addWidget(self.interrupted_bar)
        tv.addLayout(self.filter_bar)
        tv.addWidget(self.view)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)

        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self._build_tray()
        self.overlay = DropOverlay(self)
        # Map, timeline, statistics and coverage (issue 8): tabs beside the task table.
        from trackdesk.ui.views import install_views

        self.views = install_views(self)
        # First run (issue 9): a welcome page instead of the tabs while the db is empty.
        from trackdesk.ui.welcome import install_welcome

        self.welcome = install_welcome(self)
        # Resources, metrics and health (issue 11): docks, a Tasks entry, a status figure.
        from trackdesk.ui.monitor import install_monitor

        self.monitor = install_monitor(self)
        # Who follows the open tracks.db, in this order (the table first: the detail
        # pane reads its live state): the panes above subscribed themselves.
        session.subscribe(self._follow_engine)

        self.model.tasksChanged.connect(self._on_tasks_changed)
        self.model.countsChanged.connect(self._schedule_counts)
        self.model.rowsInserted.connect(self._schedule_counts)
        self._counts_timer = QTimer(self)
        self._counts_timer.setSingleShot(True)
        self._counts_timer.setInterval(250)
        self._counts_timer.timeout.connect(self._update_counts)
        self._actions_timer = QTimer(self)
        self._actions_timer.setSingleShot(True)
        self._actions_timer.setInterval(300)
        self._actions_timer.timeout.connect(self.update_actions)
        self._notify_timer = QTimer(self)
        self._notify_timer.setSingleShot(True)
        self._notify_timer.setInterval(NOTIFY_BATCH_MS)
        self._notify_timer.timeout.connect(self._notify)
        self._restore_layout()
        self.update_actions()

    # ================================================================ building ======
    def _build_table(self) -> None:
        view = TaskTableView(self.proxy)
        header = view.horizontalHeader()
        header.sortIndicatorChanged.connect(self._on_sort_changed)
        header.customContextMenuRequested.connect(self._header_menu)
        view.customContextMenuRequested.connect(self._task_menu)
        view.selectionModel().selectionChanged.connect(self._on_selection)
        view.doubleClicked.connect(lambda _i: self.detail.show_log())
        self.view = view

    def _on_sort_changed(self, column: int, _order: Any = None) -> None:
        self.model.hold_progress = (0 <= column < len(COLUMNS)
                                    and COLUMNS[column].key in LIVE_COLUMNS)

    def _build_filter_bar(self) -> None:
        self.status_filter = QComboBox()
        for title, _statuses in STATUS_FILTERS:
            self.status_filter.addItem(title)
        self.status_filter.setToolTip("Show only tasks in these states")
        self.status_filter.currentIndexChanged.connect(self._apply_filter)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search tasks: skill, id, status, chain run, error…")
        self.search.setClearButtonEnabled(True)
        self.search.setAcceptDrops(False)
        self.search.textChanged.connect(self._apply_filter)
        self.shown_label = QLabel("")
        self.shown_label.setMinimumWidth(150)
        self.shown_label.setAlignment(Qt.AlignmentFlag.AlignRight |
                                      Qt.AlignmentFlag.AlignVCenter)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Show:"))
        bar.addWidget(self.status_filter)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.shown_label)
        self.filter_bar = bar
        for signal in (self.proxy.rowsInserted, self.proxy.rowsRemoved,
                       self.proxy.modelReset, self.proxy.layoutChanged):
            signal.connect(self._schedule_counts)

    def _build_actions(self) -> None:
        self.task_actions: dict[str, QAction] = {}
        for spec in TASK_ACTIONS:
            act = QAction(std_icon(spec.icon), spec.title, self)
            act.setToolTip(spec.tip)
            act.setStatusTip(spec.tip)
            if spec.shortcut:
                act.setShortcut(QKeySequence(spec.shortcut))
            act.triggered.connect(partial(self.trigger, spec.key))
            self.task_actions[spec.key] = act
            self.addAction(act)  # shortcuts work wherever the focus is in the window
        self.priority_menu = QMenu("Priorit&y", self)
        self.priority_menu.setToolTip(PRIORITY_TIP)
        self.priority_menu.setToolTipsVisible(True)
        self.priority_actions: dict[Priority, QAction] = {}
        group = QActionGroup(self)
        for level in reversed(list(Priority)):
            act = QAction(level.value.capitalize(), self)
            act.setCheckable(True)
            act.triggered.connect(partial(self.set_priority, level))
            group.addAction(act)
            self.priority_menu.addAction(act)
            self.priority_actions[level] = act

        def make(text: str, slot: Callable[[], Any], shortcut: str | None = None,
                 tip: str = "", icon: str | None = None) -> QAction:
            act = QAction(text, self)
            if icon:
                act.setIcon(std_icon(icon))
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
            if tip:
                act.setToolTip(tip)
                act.setStatusTip(tip)
            act.triggered.connect(lambda _checked=False: slot())
            return act

        self.act_open = make("&Open tracks.db…", self.choose_db, "Ctrl+O",
                             "Switch to another tracks.db", "SP_DialogOpenButton")
        self.act_new = make("&New tracks.db…", partial(self.choose_db, True), "Ctrl+N",
                            "Create an empty tracks.db and switch to it", "SP_FileIcon")
        self.act_import = make("&Import tracks…", self.choose_import_files, "Ctrl+I",
                               "Import track files (GPX, KML, GeoJSON, CSV, FIT, zips…); "
                               "you can also drop them on the window", "SP_ArrowDown")
        self.act_import.setIconText("Import")
        self.act_import_dir = make("Import a &folder…", self.choose_import_folder,
                                   "Ctrl+Shift+I", "Import every track file in a folder",
                                   "SP_DirOpenIcon")
        self.act_settings = make("&Settings…", self.open_settings, "Ctrl+,",
                                 "Concurrency, launcher, batch size, quitting")
        self.act_quit = make("&Quit", self.request_quit, "Ctrl+Q", "Close trackdesk")
        self.act_chain = make("&Run default chain", partial(self.run_chain, False), "F5",
                              "Analyse the points not analysed yet with every skill of the "
                              "default chain", "SP_MediaPlay")
        self.act_chain.setIconText("Run chain")
        self.act_chain_full = make("Run default chain as &full recompute",
                                   partial(self.run_chain, True), "Shift+F5",
                                   "Clear every skill's results and analyse all points again",
                                   "SP_MediaSeekForward")
        self.act_chain_full.setIconText("Full recompute")
        def open_canvas() -> None:
            from trackdesk.ui.canvas import open_canvas as show  # loaded on first use

            show(self)

        self.act_canvas = make("Open chain &canvas…", open_canvas, "Ctrl+Shift+K", CANVAS_TIP,
                               "SP_FileDialogContentsView")
        # A chain the canvas left unsaved (a crash) is offered again at the next start.
        from trackdesk.ui.canvas.recovery import offer_at_start

        QTimer.singleShot(1500, self, partial(offer_at_start, self, open_canvas))
        self.act_about = make("&About trackdesk", self.about)
        self.act_search = make("Find", lambda: self.search.setFocus(), "Ctrl+F")
        self.addAction(self.act_search)
        self.act_details = QAction("&Details pane", self)
        self.act_details.setCheckable(True)
        self.act_details.setChecked(True)
        self.act_details.setShortcut(QKeySequence("F9"))
        self.act_details.toggled.connect(self.detail.setVisible)
        self.act_reset_columns = make("&Reset column layout", self.reset_columns)
        for act in (self.act_open, self.act_new, self.act_import, self.act_import_dir,
                    self.act_chain, self.act_chain_full):
            act.setEnabled(False)  # until a tracks.db is open

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.setToolTipsVisible(True)
        for act in (self.act_open, self.act_new, None, self.act_import, self.act_import_dir,
                    None, self.act_settings, None, self.act_quit):
            m.addSeparator() if act is None else m.addAction(act)
        # File actions must work before any db is open (choosing one is the way out of
        # an error at start): enable them now, import waits for an engine.
        self.act_open.setEnabled(True)
        self.act_new.setEnabled(True)
        m = mb.addMenu("&Tasks")
        m.setToolTipsVisible(True)
        for spec in TASK_ACTIONS:
            if spec.separator_before:
                m.addSeparator()
            m.addAction(self.task_actions[spec.key])
            if spec.key == "resume":
                m.addMenu(self.priority_menu)
        m = mb.addMenu("&Chains")
        m.setToolTipsVisible(True)
        m.addAction(self.act_chain)
        m.addAction(self.act_chain_full)
        m.addSeparator()
        m.addAction(self.act_canvas)
        from trackdesk.ui.user_skills import reload_action  # the user skills folder again

        self.act_reload_skills = reload_action(self)
        m.addAction(self.act_reload_skills)
        self.act_images = QAction("Skill &images…", self)  # docker: sync, build, purge
        self.act_images.setToolTip("The skills' Docker images: built, missing, outdated, "
                                   "orphaned; build and remove them")
        self.act_images.setStatusTip(self.act_images.toolTip())
        self.act_images.triggered.connect(lambda _checked=False: self.open_images())
        m.addAction(self.act_images)
        m = mb.addMenu("&View")
        m.addAction(self.act_details)
        self.columns_menu = m.addMenu("&Columns")
        self.columns_menu.aboutToShow.connect(
            lambda: self._fill_columns_menu(self.columns_menu))
        m.addAction(self.act_reset_columns)
        m = mb.addMenu("&Help")
        self.help_menu = m
        self.act_shortcuts = QAction("&Keyboard shortcuts", self)
        self.act_shortcuts.setShortcut(QKeySequence("Ctrl+/"))
        self.act_shortcuts.triggered.connect(lambda _c=False: self.show_shortcuts())
        self.act_docs = QAction("&Documentation", self)
        self.act_docs.setShortcut(QKeySequence(QKeySequence.StandardKey.HelpContents))
        self.act_docs.setToolTip("The user guide that comes with trackdesk")
        self.act_docs.triggered.connect(lambda _c=False: self.show_docs())
        m.addAction(self.act_docs)
        m.addAction(self.act_shortcuts)
        m.addSeparator()
        m.addAction(self.act_about)

    def _build_toolbar(self) -> None:
        tb = QToolBar("Main")
        tb.setObjectName("main-toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.addAction(self.act_import)
        tb.addSeparator()
        tb.addAction(self.act_chain)
        tb.addAction(self.act_chain_full)
        tb.addSeparator()
        for spec in TASK_ACTIONS:
            if spec.in_toolbar:
                act = self.task_actions[spec.key]
                act.setIconText(spec.title.replace("&", ""))
                tb.addAction(act)
        self.addToolBar(tb)
        self.toolbar = tb

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.queue_label = QLabel("")
        self.queue_label.setToolTip("Queue: tasks waiting, running and failed; points "
                                    "processed per second by all running tasks")
        self.db_label = QLabel("")
        self.db_label.setStyleSheet("color: palette(mid);")
        sb.addPermanentWidget(self.queue_label)
        sb.addPermanentWidget(self.db_label)

    def _build_tray(self) -> None:
        self.tray: QSystemTrayIcon | None = None
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return
        tray = QSystemTrayIcon(app_icon(), self)
        tray.setToolTip("trackdesk")
        menu = QMenu(self)
        menu.addAction("Show trackdesk", self._raise)
        menu.addAction(self.act_quit)
        tray.setContextMenu(menu)
        tray.activated.connect(lambda _reason: self._raise())
        tray.show()
        self.tray = tray

    def _raise(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    # ================================================================ the engine ====
    @property
    def engine(self) -> Engine | None:
        """The engine of the open tracks.db: the session's."""
        return self.session.engine

    @property
    def settings(self) -> AppSettings:
        return self.session.settings

    async def open_db(self, path: Path | None = None) -> bool:
        """Ask the session to open ``path`` (default: the settings', else the default
        one); say why when it cannot. The panes follow the session."""
        path = Path(path) if path is not None else (self.settings.db or default_db_path())
        self.statusBar().showMessage(f"Opening {path}…")
        self._show_db_path(path)
        # The engine and SQLAlchemy load on a worker thread while the window paints; the
        # error class below comes with them.
        await asyncio.get_running_loop().run_in_executor(None, load_engine_modules)
        from trackdesk.tracks.db import NotATracksDb

        try:
            await self.session.open(path)
        except EngineLockedError as exc:
            self.statusBar().showMessage("This tracks.db is in use by another trackdesk")
            self.show_message(QMessageBox.Icon.Warning, "tracks.db in use",
                              f"{exc}.\n\nOnly one trackdesk at a time can run the tasks of "
                              "a tracks.db. Switch to that window, or choose another "
                              "tracks.db with File → Open.")
            return False
        except (NotATracksDb, OSError) as exc:
            self.statusBar().showMessage("Could not open the tracks.db")
            self.show_message(QMessageBox.Icon.Critical, "Cannot open tracks.db", str(exc))
            return False
        return True

    async def close_db(self, running: str | None = None) -> None:
        """Close the open tracks.db: running tasks stop or go on, as the settings say."""
        engine = self.engine
        if engine is None:
            return
        how = running or self.settings.on_quit
        busy = sum(1 for t in engine.tasks.values() if t.status == Status.RUNNING)
        if busy:
            self.statusBar().showMessage(
                f"Stopping {busy} running task{'s' if busy != 1 else ''}…" if how == "stop"
                else f"Leaving {busy} task{'s' if busy != 1 else ''} running…")
        await self.session.close(how)

    async def switch_db(self, path: Path) -> bool:
        """File → New/Open: open ``path`` and remember it for the next start."""
        ok = await self.open_db(path)
        if ok:
            self.settings.db_path = str(path)
            app_settings.save(self.store, self.settings)
        return ok

    def _set_table_source(self, engine: Engine | None) -> None:
        self.model.set_source(engine, batch=LOAD_BATCH)
        self.detail.live = self.model.live

    def _follow_engine(self, engine: Engine | None) -> None:
        """The window's own part of a switch: commands, notifications, title, actions."""
        if self._unsubscribe_watch is not None:
            self._unsubscribe_watch()
            self._unsubscribe_watch = None
        self._watcher = None
        self.commands = Commands(engine) if engine is not None else None
        for act in (self.act_import, self.act_import_dir, self.act_chain,
                    self.act_chain_full):
            act.setEnabled(engine is not None)
        if engine is None:
            self.interrupted_bar.announce(())
            self.update_actions()
            return
        self._announce_interrupted(engine)
        self._watcher = ChainWatcher(engine.tasks)
        self._unsubscribe_watch = engine.events.subscribe(self._on_engine_event)
        self.setWindowTitle(f"{engine.db_path.name} — trackdesk")
        self._show_db_path(engine.db_path)
        self.db_label.setToolTip(f"The tracks.db of this window: {engine.db_path}")
        self.statusBar().showMessage(f"Opened {engine.db_path}", 4000)
        self.update_actions()

    def _show_db_path(self, path: Path) -> None:
        # Elided in the middle: a long path crowded out the status bar's messages at
        # 1000 px ("Import ta…"); the full path is in the tooltip and the title.
        self.db_label.setText(self.db_label.fontMetrics().elidedText(
            str(path), Qt.TextElideMode.ElideMiddle, 240))

    def _on_engine_event(self, event: Event) -> None:
        if self._watcher is not None and self._watcher.on_event(event) and \
                not self._notify_timer.isActive():
            self._notify_timer.start()

    def _notify(self) -> None:
        if self._watcher is None:
            return
        outcomes = self._watcher.take()
        if not outcomes:
            return
        title, text, ok = summary(outcomes)
        self.statusBar().showMessage(f"{title}: {text}", 10_000)
        if self.tray is not None and self.settings.notify:
            icon = QSystemTrayIcon.MessageIcon.Information if ok else \
                QSystemTrayIcon.MessageIcon.Warning
            self.tray.showMessage(title, text, icon, 8000)
        self.last_notification = (title, text)

    # ================================================================ selection =====
    def selected_ids(self) -> list[int]:
        ids = []
        for index in self.view.selectionModel().selectedRows():
            src = self.proxy.mapToSource(index)
            if src.isValid():
                ids.append(self.model.task_id(src.row()))
        return ids

    def selection(self, ids: Iterable[int] | None = None) -> Selection:
        tasks = self.engine.tasks if self.engine is not None else {}
        chosen = self.selected_ids() if ids is None else list(ids)
        return Selection([tasks[i] for i in chosen if i in tasks], tasks)

    def select_tasks(self, ids: Iterable[int]) -> None:
        """Select the rows of these tasks (tests and 'reveal' use it)."""
        sm = self.view.selectionModel()
        sel = QItemSelection()
        for task_id in ids:
            row = self.model.row_of(task_id)
            if row is None:
                continue
            index = self.proxy.mapFromSource(self.model.index(row, 0))
            if index.isValid():
                sel.select(index, index)
        sm.select(sel, sm.SelectionFlag.ClearAndSelect | sm.SelectionFlag.Rows)
        if not sel.isEmpty():
            self.view.scrollTo(sel.indexes()[0])

    def _on_selection(self, *_args: Any) -> None:
        ids = self.selected_ids()
        self._selected = set(ids)
        self.detail.set_task(ids[0] if len(ids) == 1 else None)
        if len(ids) > 1:
            self.detail.title.setText(f"{len(ids)} tasks selected")
            self.detail.subtitle.setText("Select one task to see its details and log.")
        self.update_actions()

    def _on_tasks_changed(self, ids: set[int]) -> None:
        if self.detail.task_id in ids:
            self.detail.refresh()
        if self._selected:
            # Not only the selected tasks decide: "Rerun from here" waits for the tasks
            # below to settle. A stale state left the shortcut dead while the menu (which
            # recomputes on opening) worked; batched, since progress changes often.
            if self._selected & ids:
                self.update_actions()
            elif not self._actions_timer.isActive():
                self._actions_timer.start()
        if self.engine is not None:
            self.interrupted_bar.follow(self.engine.tasks)
        if self._open_confirms:
            self._review_confirms(ids)

    def _review_confirms(self, changed: set[int]) -> None:
        """A question about tasks that moved on meanwhile is closed (nothing left to do)
        or reworded; "Yes" never silently does nothing."""
        keep = []
        for box, spec, ids in self._open_confirms:
            if not dialogs.alive(box) or not box.isVisible():
                continue
            if changed & set(ids):
                sel = self.selection(ids)
                if not spec.enabled_when(sel):
                    done = ", ".join(f"task {t.id} {t.status.value}" for t in sel.tasks)
                    box.close()
                    self.statusBar().showMessage(
                        f"Nothing to {spec.title.replace('&', '').lower()}: "
                        f"{done or 'the tasks are gone'} meanwhile", 8000)
                    continue
                question = spec.confirm(sel) if spec.confirm else None
                if question and question != box.text():
                    box.setText(question)
            keep.append((box, spec, ids))
        self._open_confirms = keep

    def _announce_interrupted(self, engine: Engine) -> None:
        """Tasks the last quit interrupted: say so, with the two ways on (issue 18).

        Only tasks interrupted since the last announcement for this tracks.db: older
        ones were announced before and stay counted in the status bar and listed under
        "Needs attention", but a bar about last year's quit would be noise."""
        key = "interrupted/" + str(engine.db_path).replace("/", "|")
        try:
            seen = float(self.store.value(key, 0.0) or 0.0)
        except (TypeError, ValueError):
            seen = 0.0
        fresh = [t for t in engine.tasks.values() if t.status == Status.INTERRUPTED and
                 (t.end_time or t.updated_at).timestamp() > seen]
        self.interrupted_bar.announce(fresh)
        if fresh:
            self.store.setValue(key, max((t.end_time or t.updated_at).timestamp()
                                         for t in fresh))

    def _resume_interrupted(self, ids: list[int]) -> None:
        if self.commands is None:
            return
        sel = self.selection(ids)
        spawn(self.commands.resume(sel), "resuming the interrupted tasks", self.user_error,
              lambda done: self.statusBar().showMessage(
                  f"Resumed {len(done)} task{'s' if len(done) != 1 else ''}", 4000))

    def _discard_interrupted(self, ids: list[int]) -> None:
        if self.commands is None:
            return
        sel = self.selection(ids)
        spawn(self.commands.cancel(sel), "discarding the interrupted tasks",
              self.user_error, lambda done: self.statusBar().showMessage(
                  f"Discarded {len(done)} interrupted task{'s' if len(done) != 1 else ''}",
                  4000))

    def update_actions(self) -> None:
        """Enable each action only when it makes sense for the current selection."""
        sel = self.selection() if self.engine is not None else Selection([], {})
        for spec in TASK_ACTIONS:
            self.task_actions[spec.key].setEnabled(self.engine is not None and
                                                   spec.enabled_when(sel))
        prios = {t.priority_name for t in sel.tasks if reprioritisable(t)}
        self.priority_menu.setEnabled(bool(prios))
        for level, act in self.priority_actions.items():
            act.setChecked(prios == {level.value})

    # ================================================================ task actions ==
    def trigger(self, key: str, _checked: bool = False) -> None:
        """Carry out the action ``key`` of TASK_ACTIONS on the selected tasks."""
        spec = next(a for a in TASK_ACTIONS if a.key == key)
        sel = self.selection()
        if self.engine is None or not spec.enabled_when(sel):
            return
        if key == "open_log":
            self.act_details.setChecked(True)
            self.detail.set_task(sel.tasks[0].id)
            self.detail.show_log()
            return
        if key == "copy_id":
            text = ", ".join(str(i) for i in sorted(t.id for t in sel.tasks))
            QGuiApplication.clipboard().setText(text)
            self.statusBar().showMessage(f"Copied {text}", 3000)
            return
        ids = [t.id for t in sel.tasks]
        question = spec.confirm(sel) if spec.confirm else None
        if question:
            box = self.confirm(spec.title.replace("&", ""), question,
                               lambda: self._run(spec, self.selection(ids)))
            self._open_confirms = [c for c in self._open_confirms
                                   if dialogs.alive(c[0])] + [(box, spec, ids)]
        else:
            self._run(spec, sel)

    def _run(self, spec: TaskAction, sel: Selection) -> None:
        if self.commands is None or spec.run is None:
            return
        if not spec.enabled_when(sel):
            # Confirmed, but the tasks moved on meanwhile: say so rather than nothing.
            now = ", ".join(f"task {t.id} is {t.status.value}" for t in sel.tasks)
            self.statusBar().showMessage(
                f"Nothing to {spec.title.replace('&', '').lower()}: {now or 'no task left'}",
                8000)
            return
        title = spec.title.replace("&", "").lower()

        def done(ids: list[int]) -> None:
            if ids:
                self.statusBar().showMessage(
                    f"{spec.title.replace('&', '')}: task{'s' if len(ids) != 1 else ''} "
                    f"{', '.join(map(str, ids[:10]))}{'…' if len(ids) > 10 else ''}", 4000)

        spawn(spec.run(self.commands, sel), title, self.user_error, done)

    def set_priority(self, level: Priority, _checked: bool = False) -> None:
        sel = self.selection()
        if self.commands is None or not any(reprioritisable(t) for t in sel.tasks):
            return
        spawn(self.commands.set_priority(sel, level), "setting the priority",
              self.user_error)

    def _task_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if index.isValid() and not self.view.selectionModel().isRowSelected(
                index.row(), index.parent()):
            self.view.selectRow(index.row())
        menu = self.build_task_menu()
        menu.popup(self.view.viewport().mapToGlobal(pos))

    def build_task_menu(self) -> QMenu:
        """The right-click menu for the selection, built from TASK_ACTIONS."""
        self.update_actions()
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.setToolTipsVisible(True)
        for spec in TASK_ACTIONS:
            if spec.separator_before:
                menu.addSeparator()
            menu.addAction(self.task_actions[spec.key])
            if spec.key == "resume":
                menu.addMenu(self.priority_menu)
        self.last_context_menu = menu
        return menu

    # ================================================================ chains, import
    def run_chain(self, full: bool) -> None:
        if self.engine is None:
            return
        engine = self.engine
        task_type = "FULL_RECOMPUTE" if full else "INCREMENTAL"

        def go() -> None:
            spawn(engine.run_chain(task_type=task_type), "running the default chain",
                  self.user_error,
                  lambda recs: self.statusBar().showMessage(
                      f"Chain run {recs[0].chain_run_id if recs else ''} queued: "
                      f"{len(recs)} tasks", 6000))

        if full:
            self.confirm("Full recompute",
                         "Run every skill of the default chain as a full recompute?\n\n"
                         "Each skill's previous results are cleared and all points are "
                         "analysed again; imported points are never changed.", go)
        else:
            go()

    def import_dir(self) -> Path:
        """Where the import dialogs open: the folder you last imported from, else your
        home folder (where Downloads and exports live), never the app's working dir."""
        last = str(self.store.value("dialogs/import_dir", "") or "")
        return Path(last) if last and Path(last).is_dir() else Path.home()

    def _chosen_for_import(self, paths: list[Path]) -> asyncio.Task[Any] | None:
        if paths:
            # A chosen folder reopens beside itself, so its neighbours are one click away.
            self.store.setValue("dialogs/import_dir", str(Path(paths[0]).parent))
        return self.import_paths(paths)

    def choose_import_files(self) -> QFileDialog:
        return file_dialog(self, "Import tracks", "open_many", self._chosen_for_import,
                           directory=self.import_dir(),
                           filters=["Track files (*.gpx *.kml *.kmz *.geojson *.json *.csv "
                                    "*.fit *.zip *.tcx *.nmea)", "All files (*)"])

    def choose_import_folder(self) -> QFileDialog:
        return file_dialog(self, "Import a folder", "folder", self._chosen_for_import,
                           directory=self.import_dir())

    def import_paths(self, paths: Iterable[Path]) -> asyncio.Task[Any] | None:
        """Queue one import task for the supported files among ``paths``."""
        paths = [Path(p) for p in paths]
        if not paths or self.engine is None:
            return None
        return spawn(self._import(self.engine, paths), "importing tracks", self.user_error)

    async def _import(self, engine: Engine, paths: list[Path]) -> TaskRecord | None:
        loop = asyncio.get_running_loop()
        # Sorting reads every file: done by a child process, never here, so the window
        # never opens (and, closing, unlocks) tracks.db or its -wal/-shm (filedialogs.py).
        plan = await loop.run_in_executor(None, plan_import, paths, engine.db_path)
        if plan.unsupported:
            bad = plan.unsupported
            lines = "\n".join(f"• {Path(name).name}: {why}" for name, why in bad[:25])
            more = f"\n… and {len(bad) - 25} more" if len(bad) > 25 else ""
            self.show_message(
                QMessageBox.Icon.Information, "Some files cannot be imported",
                f"{len(bad)} file{'s' if len(bad) != 1 else ''} cannot be imported"
                + (" and will be left out" if plan.paths else "") + ":\n\n" + lines + more,
                detail="\n".join(f"{name}: {why}" for name, why in bad))
        if not plan.paths:
            return None
        rec = await engine.create_task(
            "import", params={"paths": json.dumps([str(p) for p in plan.paths])},
            priority="high")
        self.statusBar().showMessage(
            f"Import task {rec.id} queued: {plan.files:,} "
            f"file{'s' if plan.files != 1 else ''}", 6000)
        return rec

    # ================================================================ drag and drop =
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        paths = local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        if self.engine is None:
            self.overlay.show_for("No tracks.db open", "Open a tracks.db first (File → Open)")
            return
        names = ", ".join(p.name for p in paths[:3]) + ("…" if len(paths) > 3 else "")
        self.overlay.show_for(
            "Drop to import",
            f"{len(paths)} item{'s' if len(paths) != 1 else ''} ({names}) → one import task "
            f"into {self.engine.db_path.name}")

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802
        self.overlay.hide()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self.overlay.hide()
        paths = local_paths(event.mimeData())
        if not paths or self.engine is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.import_paths(paths)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self.overlay.isVisible():
            self.overlay.setGeometry(self.rect())

    # ================================================================ filter, counts
    def _apply_filter(self, *_args: Any) -> None:
        statuses = STATUS_FILTERS[max(0, self.status_filter.currentIndex())][1]
        self.proxy.set_filter(statuses, self.search.text())
        self._schedule_counts()

    def _schedule_counts(self, *_args: Any) -> None:
        if not self._counts_timer.isActive():
            self._counts_timer.start()

    def _update_counts(self) -> None:
        c = self.model.counts()
        rate = self.model.points_per_second()
        parts = [f"{c[Status.PENDING]:,} pending", f"{c[Status.RUNNING]:,} running"]
        if c[Status.PAUSED]:
            parts.append(f"{c[Status.PAUSED]:,} paused")
        parts.append(f"{c[Status.FAILED]:,} failed")
        if c[Status.INTERRUPTED]:
            parts.append(f"{c[Status.INTERRUPTED]:,} interrupted")
        if c[Status.RUNNING]:
            parts.append(fmt.rate(rate))
        self.queue_label.setText("   ".join(parts))
        total, shown = self.model.rowCount(), self.proxy.rowCount()
        loading = " (loading…)" if self.model.loading else ""
        self.shown_label.setText(f"{total:,} tasks{loading}" if shown == total
                                 else f"{shown:,} of {total:,} tasks{loading}")
        if self.model.loading:
            self._schedule_counts()

    # ================================================================ dialogs =======
    def user_error(self, what: str, exc: BaseException) -> None:
        self.statusBar().showMessage(f"Could not finish {what}: {exc}", 8000)
        self.show_message(QMessageBox.Icon.Warning, "trackdesk", f"Could not finish {what}:"
                          f"\n\n{exc}")

    def choose_db(self, new: bool = False) -> QFileDialog:
        start = str(self.engine.db_path.parent if self.engine else default_db_path().parent)
        return file_dialog(
            self, "New tracks.db" if new else "Open a tracks.db", "save" if new else "open",
            lambda files: spawn(self.switch_db(files[0]), "opening the tracks.db",
                                self.user_error),
            directory=start, filters=["tracks.db (*.db)", "All files (*)"],
            select="tracks.db" if new else "", suffix="db" if new else "")

    def open_images(self) -> Any:
        """Chains > Skill images: a non-modal dialog (the docker SDK loads on first use)."""
        from trackdesk.ui.images_dialog import open_images_dialog

        return open_images_dialog(self)

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.settings, self, api_available(), self.session)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.value(),
                                                            dialog.switch_to()))
        self.remember(dialog)
        dialog.open()
        return dialog

    def apply_settings(self, new: AppSettings, switch_to: Path | None = None) -> None:
        """Store and apply ``new``; open ``switch_to`` only after the user says yes.

        The tracks.db in the settings is the one to open at the next start; the open one
        changes only when the user chose another in the dialog (``switch_to``) and
        confirms, never because some other setting changed."""
        app_settings.save(self.store, new)
        old = self.session.settings
        # The engine and whoever follows the settings (the views' basemap, local days
        # and countries; the REST API) hear it from the session.
        self.session.update_settings(new)
        if self.engine is not None and old.day_start_hour != new.day_start_hour:
            self._recount_days()  # footprint_stats counts the days again (issue 21)
        current = self.engine.db_path if self.engine is not None else None
        wanted = switch_to.expanduser().resolve() if switch_to is not None else None
        if wanted is not None and wanted != current:
            self.confirm("Switch tracks.db", f"Switch to {wanted} now?\n\nRunning tasks of "
                         f"the current tracks.db are "
                         f"{'stopped' if new.on_quit == 'stop' else 'left running'}.",
                         lambda: spawn(self.switch_db(wanted), "opening the tracks.db",
                                       self.user_error))
        self.statusBar().showMessage("Settings saved", 3000)

    def _recount_days(self) -> None:
        """Days now start at another hour: footprint_stats counts its days again (its
        parameter changed, so its run is a full one) when the tracks.db was analysed."""
        engine = self.engine
        if engine is None or not any(t.skill_name == "footprint_stats"
                                     for t in engine.tasks.values()):
            return
        spawn(engine.create_task("footprint_stats", created_by="settings"),
              "counting the days again", self.user_error)

    def show_shortcuts(self) -> Any:
        """Help > Keyboard shortcuts: generated from the window's actions."""
        from trackdesk.ui.help import ShortcutsDialog

        dialog = ShortcutsDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.remember(dialog)
        dialog.open()
        return dialog

    def docs_url(self) -> Any:
        from PySide6.QtCore import QUrl

        from trackdesk.ui.help import DOCS_HOME, docs_dir

        folder = docs_dir()
        return QUrl() if folder is None else QUrl.fromLocalFile(str(folder / DOCS_HOME))

    def show_docs(self) -> Any:
        """Help > Documentation: the bundled docs/ pages, rendered in the app."""
        from trackdesk.ui.help import DocsDialog, docs_dir

        folder = docs_dir()
        if folder is None:
            return self.show_message(QMessageBox.Icon.Information, "Documentation",
                                     "The documentation is not part of this installation.")
        dialog = DocsDialog(self, folder)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.remember(dialog)
        dialog.show()
        return dialog

    def about(self) -> None:
        from trackdesk import __version__ as version

        box = QMessageBox(self)
        box.setIconPixmap(app_icon().pixmap(64, 64))
        box.setWindowTitle("About trackdesk")
        box.setText(f"<b>trackdesk {version}</b>")
        box.setInformativeText("A desktop task monitor and analysis engine for your "
                               "lifetime GPS location history.<br><br>Drop track files on "
                               "the window to import them; run the default chain to analyse "
                               "them.")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.remember(box)
        box.open()

    # ================================================================ columns =======
    def _header_menu(self, pos: QPoint) -> None:
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._fill_columns_menu(menu)
        menu.addSeparator()
        menu.addAction(self.act_reset_columns)
        menu.popup(self.view.horizontalHeader().mapToGlobal(pos))

    def _fill_columns_menu(self, menu: QMenu) -> None:
        menu.clear()
        header = self.view.horizontalHeader()
        visible = [i for i in range(len(COLUMNS)) if not header.isSectionHidden(i)]
        for i, col in enumerate(COLUMNS):
            act = menu.addAction(col.title)
            act.setCheckable(True)
            act.setChecked(not header.isSectionHidden(i))
            # The last visible column cannot go: an empty table helps nobody.
            act.setEnabled(not (len(visible) == 1 and i in visible))
            act.toggled.connect(partial(self.set_column_visible, i))

    def set_column_visible(self, column: int, visible: bool) -> None:
        self.view.horizontalHeader().setSectionHidden(column, not visible)
        self._save_layout()

    def reset_columns(self) -> None:
        header = self.view.horizontalHeader()
        for i, col in enumerate(COLUMNS):
            header.setSectionHidden(i, False)
            header.moveSection(header.visualIndex(i), i)
            header.resizeSection(i, col.width)
        self.view.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self._save_layout()

    # ================================================================ layout ========
    def _restore_layout(self) -> None:
        s = self.store
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1200, 760)
        if str(s.value("window/layout_version", "")) == str(LAYOUT_VERSION):
            header_state = s.value("window/header")
            if isinstance(header_state, QByteArray) and not header_state.isEmpty():
                header = self.view.horizontalHeader()
                if header.restoreState(header_state):
                    self.view.sortByColumn(header.sortIndicatorSection(),
                                           header.sortIndicatorOrder())
            splitter = s.value("window/splitter")
            if isinstance(splitter, QByteArray) and not splitter.isEmpty():
                self.splitter.restoreState(splitter)
        else:
            self.splitter.setSizes([470, 290])
        details = s.value("window/details", True)
        self.act_details.setChecked(str(details).lower() not in ("false", "0"))
        try:
            self.status_filter.setCurrentIndex(int(s.value("window/status_filter", 0)))
        except (TypeError, ValueError):
            pass

    def _save_layout(self) -> None:
        s = self.store
        s.setValue("window/layout_version", LAYOUT_VERSION)
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/header", self.view.horizontalHeader().saveState())
        s.setValue("window/splitter", self.splitter.saveState())
        s.setValue("window/details", self.act_details.isChecked())
        s.setValue("window/status_filter", self.status_filter.currentIndex())
        s.sync()

    # ================================================================ quitting ======
    def request_quit(self) -> None:
        """Ask the app to end; the main coroutine stops the engine, then closes us."""
        self._save_layout()
        self.quit_requested.set()

    async def shutdown(self, running: str | None = None) -> None:
        """Stop the engine and close the window for good."""
        self._save_layout()
        self.setEnabled(False)
        try:
            await self.close_db(running)
        finally:
            if self.tray is not None:
                self.tray.hide()
            self._may_close = True
            self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self._may_close:
            self.detail.detach()
            event.accept()
            return
        # Closing the window is quitting, but the engine must stop first: ask the main
        # coroutine to do it (it closes us afterwards).
        event.ignore()
        self.request_quit()


__all__ = ["MainWindow", "QApplication"]
