"""The four views as tabs next to the task table, kept fresh by engine events.

``ViewsPanel`` owns one ``Loader`` (reader threads on the open tracks.db) and the map,
timeline, statistics and coverage views. It subscribes to the engine: when a task of a
skill that feeds a view completes, that view is marked stale and read again, at once if
it is the tab on screen, else when it is next shown (a chain completes nine tasks in a
row: refreshes are coalesced for ``REFRESH_MS``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow, QTabWidget, QWidget

from trackdesk.engine.events import Event, TaskChanged
from trackdesk.ui.host import menu_named
from trackdesk.ui.views.loader import Loader

if TYPE_CHECKING:
    from trackdesk.engine.engine import Engine
    from trackdesk.ui.host import WindowHost
    from trackdesk.ui.settings import AppSettings

REFRESH_MS = 400
# Which completed skills change what each view shows.
FEEDS: dict[str, frozenset[str]] = {
    "map": frozenset({"rendering_metadata", "stay_stats", "stay_detection", "outlier_detection",
                      "trajectory_completion", "trip_construction", "grid_system"}),
    "timeline": frozenset({"import", "stay_detection", "transport_mode", "trip_construction",
                           "stay_stats"}),
    "statistics": frozenset({"footprint_stats", "stay_stats"}),
    "coverage": frozenset({"import", "rendering_metadata"}),
}
TITLES = {"map": "Map", "timeline": "Timeline", "statistics": "Statistics",
          "coverage": "Coverage"}


class ViewsPanel(QTabWidget):
    """Tabs: whatever ``first`` is (the task table), then the four views."""

    refreshed = Signal(str)  # view name, after it asked for fresh data
    viewBuilt = Signal(str, object)  # name, view: built on first use (corrections_ui)
    engineChanged = Signal(object)  # the engine followed now, or None

    def __init__(self, first: QWidget | None = None, first_title: str = "Tasks",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDocumentMode(True)
        self.loader = Loader(parent=self)
        # The corrections controller (install_views sets it: issue 20's Edit menu and dock).
        self.corrections: Any = None
        # Each view is built the first time it is shown (or asked for): numpy, QtCharts
        # and the views' modules cost a good part of a second the window need not wait.
        self.views: dict[str, Any] = {}
        self._placeholders: dict[str, QWidget] = {}
        if first is not None:
            self.addTab(first, first_title)
        for name in TITLES:
            holder = QWidget()
            self._placeholders[name] = holder
            self.addTab(holder, TITLES[name])
        self.stale: set[str] = set()
        self.refresh_count: dict[str, int] = dict.fromkeys(TITLES, 0)
        self.app_settings: AppSettings | None = None
        self._engine: Engine | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._refresh_stale)
        self.currentChanged.connect(self._on_tab)

    # ------------------------------------------------------------------ views ---------
    def view(self, name: str) -> Any:
        """The view called ``name``, built (and put in its tab) on first use."""
        got = self.views.get(name)
        if got is not None:
            return got
        if name == "map":
            from trackdesk.ui.views.map_view import MapView as cls
        elif name == "timeline":
            from trackdesk.ui.views.timeline import TimelineView as cls
        elif name == "statistics":
            from trackdesk.ui.views.statistics import StatisticsView as cls
        else:
            from trackdesk.ui.views.coverage import CoverageView as cls
        got = cls(self.loader)
        self.views[name] = got
        self._apply_options(name, got)
        holder = self._placeholders.pop(name)
        index = self.indexOf(holder)
        current = self.currentIndex()
        self.blockSignals(True)
        self.removeTab(index)
        self.insertTab(index, got, TITLES[name])
        self.setCurrentIndex(current)
        self.blockSignals(False)
        holder.deleteLater()
        if self.currentWidget() is got:
            # It replaced the tab on screen: no tab change will tell it to load.
            QTimer.singleShot(0, self._refresh_stale)
        self.viewBuilt.emit(name, got)
        return got

    # -- issue 21: the settings the views follow (basemap, local days, countries) --------
    def configure(self, settings: AppSettings) -> None:
        """Follow these AppSettings (at start and whenever Settings is saved)."""
        self.app_settings = settings
        for name, view in self.views.items():
            self._apply_options(name, view)

    def _apply_options(self, name: str, view: Any) -> None:
        settings = self.app_settings
        if settings is None:
            return
        if name == "map":
            view.set_basemap(settings.basemap_config())
        elif name in ("timeline", "coverage"):
            view.set_day_start(settings.day_start_hour)
        elif name == "statistics":
            view.set_dwell_options(settings.country_min_minutes, settings.day_start_hour)

    @property
    def map(self) -> Any:
        return self.view("map")

    @property
    def timeline(self) -> Any:
        return self.view("timeline")

    @property
    def statistics(self) -> Any:
        return self.view("statistics")

    @property
    def coverage(self) -> Any:
        return self.view("coverage")

    def _on_tab(self, index: int) -> None:
        widget = self.widget(index)
        for name, holder in list(self._placeholders.items()):
            if holder is widget:
                self.view(name)
        self._refresh_stale()

    # ------------------------------------------------------------------ database ------
    def set_engine(self, engine: Engine | None) -> None:
        """Follow this engine's tracks.db and events (None: the db was closed)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._engine = engine
        self.set_db(engine.db_path if engine is not None else None)
        if engine is not None:
            self._unsubscribe = engine.events.subscribe(self.on_event)
        self.engineChanged.emit(engine)

    @property
    def engine(self) -> Any:
        """The engine whose tracks.db the views show (None: no db open)."""
        return self._engine

    def set_db(self, path: Path | str | None) -> None:
        self.loader.set_path(path)
        for view in self.views.values():
            view.clear()
        self.stale = set(TITLES) if path is not None else set()
        self._refresh_stale()

    def on_event(self, event: Event) -> None:
        """Engine events (on the loop thread, which is the GUI thread under qasync)."""
        if not isinstance(event, TaskChanged) or event.changes.get("status") != "completed":
            return
        task = self._engine.tasks.get(event.task_id) if self._engine is not None else None
        self.task_completed(task.skill_name if task is not None else None)

    def task_completed(self, skill: str | None) -> None:
        hit = {name for name, skills in FEEDS.items() if skill is None or skill in skills}
        if hit:
            self.stale |= hit
            self._timer.start()

    def refresh_all(self) -> None:
        self.stale = set(TITLES)
        self._refresh_stale(force=True)

    def _refresh_stale(self, force: bool = False) -> None:
        if self.loader.path is None:
            return
        current = self.currentWidget()
        for name in sorted(self.stale):
            view = self.views.get(name)
            if force and view is None:
                view = self.view(name)
            if view is not None and (force or view is current):
                self.stale.discard(name)
                self.refresh_count[name] += 1
                view.refresh()
                self.refreshed.emit(name)

    def show_failed_points(self, skill: str) -> None:
        view = self.map
        self.setCurrentWidget(view)
        view.show_failed_points(skill)

    def shutdown(self) -> None:
        self.set_engine(None)
        if self.corrections is not None:
            self.corrections.shutdown()  # a correction being written is finished first
        self.loader.shutdown()


def install_views(window: WindowHost) -> ViewsPanel:
    """Put the views next to the window's central widget (as tabs) and add their menu
    items. The panel follows the session's engine and settings."""
    assert isinstance(window, QMainWindow)
    central = window.takeCentralWidget()
    panel = ViewsPanel(central, "Tasks", window)
    window.setCentralWidget(panel)
    panel.configure(window.settings)
    window.session.subscribe(panel.set_engine)
    window.session.subscribe_settings(lambda _old, new: panel.configure(new))
    _add_export_action(window, panel)
    # Corrections (issue 20): Edit menu, "Your corrections" dock, the views' context menus.
    from trackdesk.ui.views.corrections_ui import install_corrections

    panel.corrections = install_corrections(window, panel)
    view_menu = menu_named(window, "View")
    if view_menu is not None:
        view_menu.addSeparator()
        for i, (_name, title) in enumerate(TITLES.items()):
            act = QAction(f"Show {title.lower()}", window)
            act.setShortcut(f"Ctrl+{i + 2}")
            act.triggered.connect(lambda _c=False, k=i + 1: panel.setCurrentIndex(k))
            view_menu.addAction(act)
        failed = QAction("Show failed points of the selected task on the map", window)
        failed.setToolTip("Highlight where the points the selected task could not use are")

        def show_failed() -> None:
            ids = window.selected_ids()
            engine = window.engine
            if not ids or engine is None or ids[0] not in engine.tasks:
                return
            panel.show_failed_points(engine.tasks[ids[0]].skill_name)

        failed.triggered.connect(lambda _c=False: show_failed())
        view_menu.addAction(failed)
        tasks_act = QAction("Show tasks", window)
        tasks_act.setShortcut("Ctrl+1")
        tasks_act.triggered.connect(lambda _c=False: panel.setCurrentIndex(0))
        view_menu.addAction(tasks_act)
    return panel


def _add_export_action(window: QMainWindow, panel: ViewsPanel) -> None:
    """File → Export… (issue 21): the export runs on a reader thread, never the GUI's."""
    file_menu = menu_named(window, "File")
    if file_menu is None:
        return
    act = QAction("Export…", window)
    act.setToolTip("Write your points (and the analysis) to GPX, GeoJSON or CSV")
    act.triggered.connect(lambda: open_export_dialog(window, panel))
    actions = file_menu.actions()
    file_menu.insertAction(actions[1] if len(actions) > 1 else None, act)


def open_export_dialog(window: QMainWindow, panel: ViewsPanel) -> Any:
    from trackdesk.ui.views.export_dialog import ExportDialog

    dialog = ExportDialog(panel.loader, window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
