"""The timeline: one strip per day of the chosen month, midnight to midnight.

Stays are pale blocks (home and work in their own tints), moving time is coloured by
transport mode, and hours without any data are hatched, so a gap in the logging is never
mistaken for a long stay. Painted with QPainter: a month is at most 31 x a few hundred
rectangles.
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from trackdesk.ui.views import data
from trackdesk.ui.views.loader import Loader
from trackdesk.ui.views.tiles import MODE_COLOURS

ROW_H = 22
LEFT = 86
STAY_COLOURS = {"home": "#d9c6ec", "work": "#bfe3dc", None: "#dde3ea"}


def month_range(month: str) -> tuple[date, date]:
    y, m = (int(v) for v in month.split("-"))
    first = date(y, m, 1)
    nxt = date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)
    return first, nxt - timedelta(days=1)


class TimelineStrip(QWidget):
    """The painted strips; ``timeline`` is the data of the period shown."""

    hovered = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.timeline: data.Timeline | None = None
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_timeline(self, tl: data.Timeline | None) -> None:
        self.timeline = tl
        days = (tl.last - tl.first).days + 1 if tl else 0
        self.setMinimumHeight(34 + days * ROW_H + 8)
        self.updateGeometry()
        self.update()

    def days(self) -> list[date]:
        tl = self.timeline
        if tl is None:
            return []
        return [tl.first + timedelta(days=i) for i in range((tl.last - tl.first).days + 1)]

    def _x(self, frac: float) -> float:
        return LEFT + frac * (self.width() - LEFT - 12)

    def _spans(self, d: date, items: list, f0: float) -> list:
        """Items (start, end, ...) clipped to day ``d``, as fractions of the day."""
        tl = self.timeline
        zone, hour = (tl.zone, tl.hour) if tl is not None else (None, 0)
        t0 = data.day_start(d, zone, hour)
        t1 = data.day_start(d + timedelta(days=1), zone, hour)
        out = []
        for it in items:
            a, b = max(it[0], t0), min(it[1], t1)
            if b > a or (b == a and t0 <= a < t1):
                out.append(((a - t0) / (t1 - t0), (b - t0) / (t1 - t0), *it[2:]))
        return out

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        try:
            self._paint(p)
        finally:
            p.end()  # a painter left active on a widget crashes Qt

    def _paint(self, p: QPainter) -> None:
        p.fillRect(self.rect(), self.palette().base())
        tl = self.timeline
        font = QFont(self.font())
        font.setPointSizeF(max(7.5, font.pointSizeF() - 1))
        p.setFont(font)
        if tl is None:
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No period chosen")
            return
        # Hour ruler.
        p.setPen(QColor("#555"))
        for h in range(0, 25, 3):
            x = self._x(h / 24)
            # The last label ends at the edge instead of running past it.
            box = QRectF(x - 40, 6, 40, 16) if h == 24 else QRectF(x - 20, 6, 40, 16)
            align = Qt.AlignmentFlag.AlignRight if h == 24 else Qt.AlignmentFlag.AlignCenter
            p.drawText(box, align, f"{(h + tl.hour) % 24 if h < 24 else tl.hour or 24:02d}:00")
        hatch = QBrush(QColor("#c9ced6"), Qt.BrushStyle.BDiagPattern)
        for i, d in enumerate(self.days()):
            top = 30 + i * ROW_H
            row = QRectF(self._x(0), top + 2, self._x(1) - self._x(0), ROW_H - 5)
            p.setPen(Qt.PenStyle.NoPen)
            # No data is the default; covered spans are painted white over the hatch.
            p.fillRect(row, QColor("#f4f5f7"))
            p.fillRect(row, hatch)
            for f0, f1 in self._spans(d, tl.covered, 0):
                p.fillRect(QRectF(self._x(f0), row.top(), self._x(f1) - self._x(f0),
                                  row.height()), QColor("white"))
            for f0, f1, label, _sid in self._spans(d, tl.stays, 0):
                p.fillRect(QRectF(self._x(f0), row.top() + 3, max(1.0, self._x(f1) -
                                  self._x(f0)), row.height() - 6),
                           QColor(STAY_COLOURS.get(label, STAY_COLOURS[None])))
            for f0, f1, mode in self._spans(d, tl.segments, 0):
                p.fillRect(QRectF(self._x(f0), row.top(), max(1.5, self._x(f1) - self._x(f0)),
                                  row.height()), QColor(MODE_COLOURS.get(mode, "#777")))
            p.setPen(QPen(QColor("#c4c9d0"), 1))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(row)
            weekend = d.weekday() >= 5
            p.setPen(QColor("#a33") if weekend else QColor("#333"))
            p.drawText(QRectF(4, top, LEFT - 10, ROW_H), Qt.AlignmentFlag.AlignVCenter |
                       Qt.AlignmentFlag.AlignRight, d.strftime("%a %d %b"))
        p.setPen(QPen(QColor(0, 0, 0, 40), 1, Qt.PenStyle.DotLine))
        for h in range(3, 24, 3):
            x = self._x(h / 24)
            p.drawLine(QPointF(x, 26), QPointF(x, 30 + len(self.days()) * ROW_H))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        tl = self.timeline
        if tl is None:
            return
        i = int((event.position().y() - 30) // ROW_H)
        days = self.days()
        if not 0 <= i < len(days):
            self.setToolTip("")
            return
        frac = (event.position().x() - LEFT) / max(1, self.width() - LEFT - 12)
        if not 0 <= frac <= 1:
            return
        t0 = data.day_start(days[i], tl.zone, tl.hour)
        t = t0 + frac * (data.day_start(days[i] + timedelta(days=1), tl.zone, tl.hour) - t0)
        text = datetime.fromtimestamp(t, data._zone(tl.zone)).strftime("%a %d %b %H:%M")
        for a, b, mode, tid in tl.trips:
            if a <= t <= b:
                text += f" — trip {tid} ({mode}), {(b - a) / 60:.0f} min"
                break
        else:
            for a, b, label, sid in tl.stays:
                if a <= t <= b:
                    where = tl.stay_places.get(sid) or label
                    text += f" — stay {sid}" + (f" at {where}" if where else "") + \
                        f", {(b - a) / 3600:.1f} h"
                    break
            else:
                if not any(a <= t <= b for a, b in tl.covered):
                    text += " — no data"
        self.setToolTip(text)
        self.hovered.emit(text)


class TimelineView(QWidget):
    """Month chooser and the strips."""

    def __init__(self, loader: Loader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self.month = QComboBox()
        self.month.setMinimumContentsLength(8)
        self.month.currentTextChanged.connect(self._month_chosen)
        self.prev = QPushButton("◀")
        self.next = QPushButton("▶")
        for b in (self.prev, self.next):
            b.setFixedWidth(34)
        self.prev.setToolTip("Previous month")
        self.next.setToolTip("Next month")
        self.prev.clicked.connect(lambda: self._step(-1))
        self.next.clicked.connect(lambda: self._step(1))
        self.info = QLabel("")
        legend = "  ".join(f"<span style='color:{c}'>&#9608;</span> {m}"
                           for m, c in MODE_COLOURS.items() if m != "stationary")
        legend += ("  <span style='color:#d9c6ec'>&#9608;</span> home"
                   "  <span style='color:#bfe3dc'>&#9608;</span> work"
                   "  <span style='color:#dde3ea'>&#9608;</span> other stay"
                   "  <span style='color:#c9ced6'>&#9636;</span> no data")
        self.legend = QLabel(legend)
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 4)
        bar.addWidget(QLabel("Month:"))
        bar.addWidget(self.prev)
        bar.addWidget(self.month)
        bar.addWidget(self.next)
        bar.addSpacing(12)
        bar.addWidget(self.legend)
        bar.addStretch(1)
        bar.addWidget(self.info)
        self.strip = TimelineStrip()
        self.strip.hovered.connect(self.info.setText)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.strip)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(scroll, 1)
        self.months: list[str] = []
        self.day_start_hour = 0  # Settings → "A day starts at" (issue 21)

    def set_day_start(self, hour: int) -> None:
        self.day_start_hour = int(hour)
        if self.month.currentText():
            self._month_chosen(self.month.currentText())

    def refresh(self) -> None:
        self.loader.submit(data.months_with_data, self._months_loaded)

    def clear(self) -> None:
        self.months = []
        self.month.clear()
        self.strip.set_timeline(None)

    def _months_loaded(self, months: list[str]) -> None:
        current = self.month.currentText()
        self.months = months
        self.month.blockSignals(True)
        self.month.clear()
        self.month.addItems(months)
        self.month.blockSignals(False)
        if not months:
            self.strip.set_timeline(None)
            self.info.setText("No data yet")
            return
        self.month.setCurrentText(current if current in months else months[-1])
        self._month_chosen(self.month.currentText())

    def _step(self, delta: int) -> None:
        i = self.month.currentIndex() + delta
        if 0 <= i < self.month.count():
            self.month.setCurrentIndex(i)

    def _month_chosen(self, month: str) -> None:
        if not month:
            return
        self.show_period(*month_range(month))

    def show_period(self, first: date, last: date) -> None:
        """Show the days from ``first`` to ``last`` (any period, not only a month)."""
        hour = self.day_start_hour

        def job(conn: sqlite3.Connection) -> data.Timeline:
            return data.timeline(conn, first, last, hour=hour)

        def done(tl: data.Timeline) -> None:
            self.strip.set_timeline(tl)
            where = f" · days in {tl.zone}" if tl.zone else ""
            self.info.setText(f"{len(tl.data_days)} of {(last - first).days + 1} days with "
                              f"data, {len(tl.stays)} stays, {len(tl.trips)} trips{where}")

        self.loader.submit(job, done)
