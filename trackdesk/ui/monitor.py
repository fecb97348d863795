"""What the machine is doing (issue 11): the metrics and health docks of the window.

``install_monitor(window)`` adds two dock widgets (hidden until asked for from the View
menu), a Tasks menu entry "Restart stuck tasks" and a status-bar figure (tasks per minute
and failure rate over the last hour). Engine events are only noted; a timer turns them
into at most one metrics computation every ``REFRESH_MS`` and, while the health view is
on screen, a health check when a task starts, stops or is flagged stuck.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QScrollArea, QWidget

from trackdesk.engine.events import Event, TaskAdded, TaskChanged, TaskRemoved
from trackdesk.ui.aio import spawn
from trackdesk.ui.host import menu_named

if TYPE_CHECKING:
    from trackdesk.engine.engine import Engine
    from trackdesk.ui.host import WindowHost
    from trackdesk.ui.settings import AppSettings

REFRESH_MS = 2000
SLOW_REFRESH_MS = 30_000
STATUS_WINDOW_H = 1.0
# Changes that can alter a health report (not progress, which arrives all the time).
_HEALTH_FIELDS = frozenset({"status", "status_reason"})


class Monitor(QObject):
    """Owns the two docks and keeps them (and the status-bar figure) fresh."""

    def __init__(self, window: WindowHost) -> None:
        assert isinstance(window, QMainWindow)
        super().__init__(window)
        self.window = window
        self.engine: Engine | None = None
        self.metrics_panel: Any = None  # built on first show (pyqtgraph loads then)
        self.health_view: Any = None
        self.last_metrics: dict[str, Any] | None = None
        self.last_prune: list[int] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._health_stale = True

        self.metrics_dock = self._dock("Metrics", "metrics-dock")
        self.health_dock = self._dock("Health", "health-dock")
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.metrics_dock)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.health_dock)
        window.tabifyDockWidget(self.metrics_dock, self.health_dock)
        self.metrics_dock.hide()
        self.health_dock.hide()
        self.metrics_dock.visibilityChanged.connect(self._on_metrics_shown)
        self.health_dock.visibilityChanged.connect(self._on_health_shown)

        self.status_label = QLabel("")
        self.status_label.setToolTip(f"Tasks finished per minute and the share that failed, "
                                     f"over the last {STATUS_WINDOW_H:g} h")
        # Beside the queue figures (the window's first permanent widget), before the path.
        window.statusBar().insertPermanentWidget(1, self.status_label)

        self.act_restart_stuck = QAction("Restart &stuck tasks", window)
        tip = ("Stop the worker of every running task silent for longer than its skill "
               "allows, and queue the task again")
        self.act_restart_stuck.setToolTip(tip)
        self.act_restart_stuck.setStatusTip(tip)
        self.act_restart_stuck.setEnabled(False)
        self.act_restart_stuck.triggered.connect(lambda _c=False: self.restart_stuck())
        tasks_menu = menu_named(window, "Tasks")
        if tasks_menu is not None:
            tasks_menu.addSeparator()
            tasks_menu.addAction(self.act_restart_stuck)
        view_menu = menu_named(window, "View")
        if view_menu is not None:
            view_menu.addSeparator()
            for dock, keys in ((self.metrics_dock, "Ctrl+Shift+M"),
                               (self.health_dock, "Ctrl+Shift+H")):
                act = dock.toggleViewAction()
                act.setShortcut(QKeySequence(keys))
                view_menu.addAction(act)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        # "Over the last hour" slides with no event at all: recompute now and then.
        self._slow = QTimer(self)
        self._slow.setInterval(SLOW_REFRESH_MS)
        self._slow.timeout.connect(self.refresh)

    def _dock(self, title: str, name: str) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(name)
        dock.setAllowedAreas(Qt.DockWidgetArea.AllDockWidgetAreas)
        return dock

    # ---------------------------------------------------------------- widgets --------
    def _first_show(self, dock: QDockWidget) -> None:
        # A dock starts at about a third of the window's height: the task table keeps
        # its rows (the splitter between them moves as the user likes after that).
        if not dock.isFloating() and not dock.property("sized"):
            dock.setProperty("sized", True)
            QTimer.singleShot(0, dock, lambda: self.window.resizeDocks(
                [dock], [max(160, self.window.height() // 3)], Qt.Orientation.Vertical))

    def show_metrics(self) -> Any:
        """Show the metrics dock (built on first use) and return its panel."""
        self.metrics_dock.show()
        self.metrics_dock.raise_()
        return self._metrics()

    def show_health(self) -> Any:
        self.health_dock.show()
        self.health_dock.raise_()
        return self._health()

    def _metrics(self) -> Any:
        if self.metrics_panel is None:
            from trackdesk.ui.metrics_panel import MetricsPanel

            self.metrics_panel = MetricsPanel()
            self.metrics_panel.windowChanged.connect(lambda _h: self.refresh())
            self.metrics_dock.setWidget(_scrolled(self.metrics_panel))
            self.refresh()
        return self.metrics_panel

    def _health(self) -> Any:
        if self.health_view is None:
            from trackdesk.ui.health_view import HealthView

            self.health_view = HealthView()
            self.health_view.set_engine(self.engine)
            self.health_dock.setWidget(_scrolled(self.health_view))
        return self.health_view

    def _on_metrics_shown(self, visible: bool) -> None:
        if visible:
            self._first_show(self.metrics_dock)
            self._metrics()
            self.refresh()

    def _on_health_shown(self, visible: bool) -> None:
        if visible:
            self._first_show(self.health_dock)
            self._health()
            if self._health_stale:
                self._check_health()

    # ---------------------------------------------------------------- engine ---------
    def set_engine(self, engine: Engine | None) -> None:
        """Follow this engine (None: the tracks.db was closed)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.engine = engine
        self.act_restart_stuck.setEnabled(engine is not None)
        if self.health_view is not None:
            self.health_view.set_engine(engine)
        self._health_stale = True
        if engine is None:
            self._timer.stop()
            self._slow.stop()
            self.status_label.setText("")
            return
        self._slow.start()
        self._unsubscribe = engine.events.subscribe(self._on_event)
        self.refresh()
        if self.health_dock.isVisible():
            self._check_health()
        settings = self.window.settings
        if settings.history_at_start:
            self.prune_history(settings)

    def _on_event(self, event: Event) -> None:
        # Note and return: the engine calls this for every progress report.
        if type(event) is TaskChanged:
            if _HEALTH_FIELDS.isdisjoint(event.changes):
                return  # progress and resources: no figure of the panels changes
            self._health_stale = True
        elif type(event) not in (TaskAdded, TaskRemoved):
            return
        if not self._timer.isActive():
            self._timer.start()

    def refresh(self) -> None:
        """Recompute the metrics now (the timer calls this at most every 2 s)."""
        self._timer.stop()
        engine = self.engine
        if engine is None:
            return
        from trackdesk.engine.metrics import compute_metrics
        from trackdesk.ui.metrics_panel import bucket_minutes

        tasks = list(engine.tasks.values())
        hour = compute_metrics(tasks, STATUS_WINDOW_H)
        self.status_label.setText(f"{hour['tasks_per_minute']:.2f} tasks/min   "
                                  f"{hour['failure_rate']:.0%} failed")
        if self.metrics_panel is not None and self.metrics_dock.isVisible():
            hours = self.metrics_panel.hours
            m = compute_metrics(tasks, hours, bucket_minutes=bucket_minutes(hours))
            self.last_metrics = m
            self.metrics_panel.show_metrics(m)
        if self._health_stale and self.health_dock.isVisible():
            self._check_health()

    def _check_health(self) -> None:
        if self.health_view is not None and self.engine is not None:
            self._health_stale = False
            self.health_view.check()

    # ---------------------------------------------------------------- actions --------
    def restart_stuck(self) -> None:
        engine = self.engine
        if engine is None:
            return
        ids = engine.stuck_ids()
        bar = self.window.statusBar()
        if not ids:
            bar.showMessage("No stuck task: every running task reported progress in time",
                            5000)
            return

        async def go() -> list[int]:
            for task_id in ids:
                await engine.restart(task_id)
            return ids

        spawn(go(), "restarting stuck tasks", self.window.user_error,
              lambda done: bar.showMessage(
                  "Restarted task" + ("s " if len(done) != 1 else " ") +
                  ", ".join(map(str, done)), 5000))

    def prune_history(self, settings: AppSettings) -> Any:
        """Archive or remove old finished tasks as ``settings`` say (results stay)."""
        args = settings.prune_args()
        if self.engine is None or args is None:
            return None
        bar = self.window.statusBar()

        def done(ids: list[int]) -> None:
            self.last_prune = ids
            if ids:
                bar.showMessage(f"History: {'archived' if args['archive'] else 'removed'} "
                                f"{len(ids):,} old finished tasks", 6000)

        return spawn(self.engine.prune(**args), "cleaning up the task history",
                     self.window.user_error, done)


def _scrolled(panel: QWidget) -> QScrollArea:
    """The dock's content in a scroll area: a dock asks its window for room enough for
    its widget's minimum size, and the window grew past the screen for it (1000×700 →
    1000×1197); scrolled, the dock takes the room it is given."""
    area = QScrollArea()
    area.setWidget(panel)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setMinimumSize(QSize(200, 120))
    return area


def install_monitor(window: WindowHost) -> Monitor:
    """Add the metrics and health docks, the menu entries and the status-bar figure.

    The monitor follows the session's engine."""
    monitor = Monitor(window)
    window.session.subscribe(monitor.set_engine)
    return monitor
