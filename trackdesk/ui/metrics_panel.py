"""The metrics panel: throughput, durations, failures and queue of the engine.

Figures come from ``trackdesk.engine.metrics.compute_metrics`` over the engine's live task
snapshot (pure Python, no database); charts are pyqtgraph bars over its bucketed series.
The panel does not follow events itself: ``trackdesk.ui.monitor`` coalesces them and calls
``show_metrics`` at most every two seconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from trackdesk.engine.states import Status
from trackdesk.ui import format as fmt

WINDOWS_H = (1.0, 6.0, 24.0, 72.0)
SKILL_COLUMNS = ("Skill", "Done", "Failed", "Failure rate", "Avg duration", "p95 duration",
                 "Points/s", "Peak memory")
# About this many bars per chart, whatever the window: readable and cheap to draw.
BARS = 36
_COMPLETED = "#15803d"
_FAILED = "#b91c1c"
_POINTS = "#2563eb"


def bucket_minutes(hours: float) -> int:
    return max(1, round(hours * 60 / BARS))


def _figure(title: str) -> tuple[QWidget, QLabel]:
    box = QWidget()
    v = QVBoxLayout(box)
    v.setContentsMargins(8, 4, 8, 4)
    value = QLabel("—")
    f = value.font()
    f.setPointSizeF(f.pointSizeF() * 1.6)
    f.setBold(True)
    value.setFont(f)
    caption = QLabel(title)
    caption.setStyleSheet("color: #6b7280;")
    v.addWidget(value)
    v.addWidget(caption)
    return box, value


def _delete_later(widgets: list[QWidget]) -> None:
    import shiboken6

    for w in widgets:
        if shiboken6.isValid(w):
            w.deleteLater()


class MetricsPanel(QWidget):
    """Figures, a per-skill table and two charts over the chosen window."""

    windowChanged = Signal(float)  # hours  # noqa: N815 - Qt signal naming

    def __init__(self, parent: QWidget | None = None, hours: float = 24.0) -> None:
        super().__init__(parent)
        import pyqtgraph as pg  # loaded when the panel is first built, not at start

        self._pg = pg
        self.hours = hours
        self.metrics: dict[str, Any] | None = None

        self.window_box = QComboBox()
        for h in WINDOWS_H:
            self.window_box.addItem(f"last {h:g} h", h)
        self.window_box.setCurrentIndex(max(0, self.window_box.findData(hours)))
        self.window_box.setToolTip("Which finished tasks the figures and charts count")
        self.window_box.currentIndexChanged.connect(self._on_window)

        figures = QHBoxLayout()
        self.figures: dict[str, QLabel] = {}
        for key, title in (("tasks_per_minute", "tasks per minute"),
                           ("finished", "tasks finished"),
                           ("failure_rate", "failure rate"),
                           ("points_per_second", "points per second (completed tasks)")):
            box, label = _figure(title)
            self.figures[key] = label
            figures.addWidget(box)
        figures.addStretch(1)
        figures.addWidget(QLabel("Show:"))
        figures.addWidget(self.window_box)

        self.queue = QLabel("")
        self.queue.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        queue_box = QGroupBox("Queue now")
        QVBoxLayout(queue_box).addWidget(self.queue)

        self.skills = QTableWidget(0, len(SKILL_COLUMNS))
        self.skills.setHorizontalHeaderLabels(SKILL_COLUMNS)
        self.skills.verticalHeader().hide()
        self.skills.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.skills.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.skills.setAlternatingRowColors(True)
        self.skills.setShowGrid(False)
        header = self.skills.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        skills_box = QGroupBox("Per skill (finished in the window)")
        QVBoxLayout(skills_box).addWidget(self.skills)

        pg.setConfigOptions(antialias=True, background="w", foreground="#374151")
        before = set(map(id, QApplication.topLevelWidgets()))
        self.tasks_plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
        self.tasks_plot.setTitle("Tasks finished (green completed, red failed)")
        self.tasks_plot.setMouseEnabled(x=False, y=False)
        self.tasks_plot.hideButtons()
        self.points_plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
        self.points_plot.setTitle("Points processed by completed tasks")
        self.points_plot.setLabel("left", units="points")  # SI prefixes: "Mpoints", not 1e+06
        self.points_plot.setMouseEnabled(x=False, y=False)
        self.points_plot.hideButtons()
        for plot in (self.tasks_plot, self.points_plot):
            plot.setMinimumHeight(150)
            plot.showGrid(y=True, alpha=0.2)
            plot.setMenuEnabled(False)
        # pyqtgraph makes its context menus without a parent: they would outlive the
        # panel as stray top-level widgets. They go with it (reparenting them crashes
        # pyqtgraph's own teardown).
        strays = [w for w in QApplication.topLevelWidgets()
                  if id(w) not in before and w.parent() is None]
        self.destroyed.connect(lambda *_: _delete_later(strays))

        grid = QGridLayout(self)
        grid.setContentsMargins(8, 8, 8, 8)
        grid.addLayout(figures, 0, 0, 1, 2)
        grid.addWidget(queue_box, 1, 0, 1, 2)
        grid.addWidget(skills_box, 2, 0, 1, 2)
        grid.addWidget(self.tasks_plot, 3, 0)
        grid.addWidget(self.points_plot, 3, 1)
        grid.setRowStretch(2, 2)
        grid.setRowStretch(3, 3)

    def _on_window(self, _index: int) -> None:
        self.hours = float(self.window_box.currentData())
        self.windowChanged.emit(self.hours)

    # ---------------------------------------------------------------- showing --------
    def show_metrics(self, m: dict[str, Any]) -> None:
        """Show one ``compute_metrics`` result."""
        self.metrics = m
        f = self.figures
        f["tasks_per_minute"].setText(f"{m['tasks_per_minute']:.2f}")
        f["finished"].setText(f"{m['finished']:,}")
        f["failure_rate"].setText(f"{m['failure_rate']:.1%}")
        done = [s for s in m["per_skill"].values() if s["points_per_second"]]
        # All skills together: points over busy time, weighted the way the skills ran.
        points = sum(s["points_per_second"] * s["avg_duration_s"] * s["completed"]
                     for s in done)
        busy = sum(s["avg_duration_s"] * s["completed"] for s in done)
        f["points_per_second"].setText(fmt.rate(points / busy) if busy > 0 else "—")
        q = m["queue"]
        order = ("running", "pending", "paused", "interrupted", "failed", "skipped",
                 "cancelled", "completed")
        self.queue.setText("   ".join(f"<b>{q.get(s, 0):,}</b> {s}" for s in order
                                      if s in {st.value for st in Status}))
        self._fill_skills(m["per_skill"])
        self._draw(m)

    def _fill_skills(self, per_skill: dict[str, dict[str, Any]]) -> None:
        t = self.skills
        t.setRowCount(len(per_skill))
        for r, (skill, s) in enumerate(per_skill.items()):
            pps = s["points_per_second"]
            peak = s.get("peak_memory_mb")
            cells = (skill, f"{s['completed']:,}", f"{s['failed']:,}",
                     f"{s['failure_rate']:.0%}", fmt.seconds(s["avg_duration_s"]),
                     fmt.seconds(s["p95_duration_s"]), f"{pps:,.0f}" if pps else "—",
                     f"{peak:,.0f} MB" if peak else "—")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight |
                                          Qt.AlignmentFlag.AlignVCenter)
                t.setItem(r, c, item)
        # Tall enough for every skill of the default chain without a scroll bar.
        rows = min(max(len(per_skill), 3), 10)
        t.setMinimumHeight(t.horizontalHeader().height() + rows * t.verticalHeader()
                           .defaultSectionSize() + 2 * t.frameWidth() + 2)

    def _draw(self, m: dict[str, Any]) -> None:
        pg = self._pg
        series = m["series"]
        width = bucket_minutes(m["window_hours"]) * 60
        xs = [datetime.fromisoformat(b["start"]).timestamp() + width / 2 for b in series]
        completed = [b["completed"] for b in series]
        failed = [b["failed"] for b in series]
        self.tasks_plot.clear()
        self.points_plot.clear()
        end = datetime.now().timestamp()
        for plot in (self.tasks_plot, self.points_plot):
            plot.setXRange(end - m["window_hours"] * 3600, end, padding=0.02)
        if not series:
            return
        self.tasks_plot.addItem(pg.BarGraphItem(x=xs, height=completed, width=width * 0.8,
                                                brush=_COMPLETED, pen=None))
        self.tasks_plot.addItem(pg.BarGraphItem(x=xs, y0=completed, height=failed,
                                                width=width * 0.8, brush=_FAILED, pen=None))
        self.points_plot.addItem(pg.BarGraphItem(x=xs, height=[b["points"] for b in series],
                                                 width=width * 0.8, brush=_POINTS, pen=None))
