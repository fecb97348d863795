"""Coverage: a calendar of the days with data and of what the chain has analysed.

One row of week columns per year (Monday on top), one square per day as you lived it
(each point in its own time zone, days starting at the hour set in Settings, a flight on
the day it took off: trackdesk.geodata.localdays):

* grey outline: no data that day;
* orange: points the chain has not analysed yet (imported after its last run);
* light green: analysed by an earlier run; dark green: (re)analysed by the latest run
  (rendering_metadata's latest ``skill_changes.from_ts`` on).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from trackdesk.ui.views import data
from trackdesk.ui.views.loader import Loader

GAP = 3
LEFT = 44
COLOURS = {"none": "#e6e9ee", "pending": "#f59e0b", "analysed": "#a7d8a2", "latest": "#2e7d32"}
STATE_TEXT = {"none": "no data", "pending": "data not analysed yet",
              "analysed": "analysed by an earlier chain run",
              "latest": "analysed by the latest chain run"}


class CoverageCalendar(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cell = 13.0
        self.coverage: data.Coverage | None = None
        self.years: list[int] = []
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_coverage(self, cov: data.Coverage | None) -> None:
        self.coverage = cov
        days = cov.data_days if cov else []
        self.years = list(range(days[0].year, days[-1].year + 1)) if days else []
        self._layout()
        self.update()

    @property
    def year_h(self) -> float:
        return 7 * (self.cell + GAP) + 30

    def _layout(self) -> None:
        # Squares grow with the width (up to 22 px): a year fills the view.
        self.cell = max(9.0, min(22.0, (self.width() - LEFT - 10) / 54 - GAP))
        self.setMinimumHeight(int(max(60, len(self.years) * self.year_h + 10)))
        self.setMinimumWidth(int(LEFT + 54 * (9 + GAP) + 10))
        self.updateGeometry()

    def resizeEvent(self, event: Any) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._layout()

    def state(self, d: date) -> str:
        c = self.coverage
        if c is None:
            return "none"
        if d in c.pending:
            return "pending"
        if d in c.latest:
            return "latest"
        if d in c.analysed:
            return "analysed"
        return "none"

    def _cell(self, year_index: int, d: date) -> QRectF:
        jan1 = date(d.year, 1, 1)
        week = (d - jan1).days // 7 + (1 if d.weekday() < jan1.weekday() else 0)
        c = self.cell
        x = LEFT + week * (c + GAP)
        y = year_index * self.year_h + 26 + d.weekday() * (c + GAP)
        return QRectF(x, y, c, c)

    def day_at(self, x: float, y: float) -> date | None:
        for i, year in enumerate(self.years):
            d = date(year, 1, 1)
            while d.year == year:
                if self._cell(i, d).contains(x, y):
                    return d
                d += timedelta(days=1)
        return None

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        try:
            self._paint(p)
        finally:
            p.end()  # a painter left active on a widget crashes Qt

    def _paint(self, p: QPainter) -> None:
        p.fillRect(self.rect(), self.palette().base())
        if not self.years:
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No points yet")
            return
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() - 1.5))
        for i, year in enumerate(self.years):
            top = i * self.year_h
            bold = QFont(self.font())
            bold.setBold(True)
            p.setFont(bold)
            p.setPen(QColor("#222"))
            p.drawText(QRectF(0, top + 4, LEFT + 200, 18), Qt.AlignmentFlag.AlignLeft, str(year))
            p.setFont(small)
            p.setPen(QColor("#666"))
            for wd, name in ((0, "Mon"), (2, "Wed"), (4, "Fri")):
                p.drawText(QRectF(0, top + 26 + wd * (self.cell + GAP) - 1, LEFT - 6,
                                  self.cell + 2),
                           Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
            for m in range(1, 13):
                r = self._cell(i, date(year, m, 1))
                p.drawText(QRectF(r.left(), top + 4, 40, 18), Qt.AlignmentFlag.AlignLeft,
                           date(year, m, 1).strftime("%b"))
            d = date(year, 1, 1)
            while d.year == year:
                st = self.state(d)
                r = self._cell(i, d)
                p.setBrush(QColor(COLOURS[st]))
                p.setPen(QPen(QColor(0, 0, 0, 25), 1) if st == "none" else Qt.PenStyle.NoPen)
                p.drawRoundedRect(r, 2.5, 2.5)
                d += timedelta(days=1)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        d = self.day_at(event.position().x(), event.position().y())
        self.setToolTip("" if d is None else f"{d:%a %d %b %Y}: {STATE_TEXT[self.state(d)]}")


class CoverageView(QWidget):
    def __init__(self, loader: Loader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self.calendar = CoverageCalendar()
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        legend = "   ".join(
            f"<span style='color:{'#c3c9d1' if k == 'none' else COLOURS[k]}; "
            f"font-size:15px'>&#9632;</span> {STATE_TEXT[k]}"
            for k in ("none", "pending", "analysed", "latest"))
        self.legend = QLabel(legend)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.calendar)
        self.months = QTableWidget(0, 5)
        self.months.setHorizontalHeaderLabels(["Month", "Days with data", "Analysed",
                                               "In the latest run", "Waiting"])
        self.months.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.months.verticalHeader().hide()
        self.months.setAlternatingRowColors(True)
        self.months.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(scroll)
        split.addWidget(self.months)
        split.setSizes([300, 300])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.summary)
        lay.addWidget(self.legend)
        lay.addWidget(split, 1)
        self.coverage: data.Coverage | None = None
        self.day_start_hour = 0  # Settings → "A day starts at" (issue 21)

    def set_day_start(self, hour: int) -> None:
        if int(hour) != self.day_start_hour:
            self.day_start_hour = int(hour)
            self.refresh()

    def refresh(self) -> None:
        hour = self.day_start_hour
        self.loader.submit(lambda conn: data.coverage(conn, hour), self._loaded)

    def clear(self) -> None:
        self._loaded(None)

    def _loaded(self, cov: data.Coverage | None) -> None:
        self.coverage = cov
        self.calendar.set_coverage(cov)
        self.months.setRowCount(0)
        if cov is None or not cov.data_days:
            self.summary.setText("No points yet: import track files to fill the calendar.")
            return
        per: dict[str, list[int]] = {}
        for d in cov.data_days:
            row = per.setdefault(f"{d:%Y-%m}", [0, 0, 0, 0])
            row[0] += 1
            row[1] += d in cov.analysed
            row[2] += d in cov.latest
            row[3] += d in cov.pending
        self.months.setRowCount(len(per))
        for i, (month, counts) in enumerate(sorted(per.items(), reverse=True)):
            self.months.setItem(i, 0, QTableWidgetItem(month))
            for j, v in enumerate(counts):
                item = QTableWidgetItem(f"{v:,}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight |
                                      Qt.AlignmentFlag.AlignVCenter)
                self.months.setItem(i, j + 1, item)
        first, last = cov.data_days[0], cov.data_days[-1]
        self.summary.setText(
            f"<b>{len(cov.data_days):,}</b> days with data between {first:%d %b %Y} and "
            f"{last:%d %b %Y}; <b>{len(cov.analysed):,}</b> analysed by the chain "
            f"(<b>{len(cov.latest):,}</b> in its latest run), <b>{len(cov.pending):,}</b> "
            "waiting for the next run.")
