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
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
)
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
# "Your labels" (issue 19): a lane under each day for what the imported files said.
LABEL_H = 13
# The transport modes' colours; bus has no mode of its own in the analysis.
LABEL_COLOURS = {**MODE_COLOURS, "bus": "#e65100"}
PLACE_MARK = "#5d4037"
VISIT_FILL = "#eee5da"


def month_range(month: str) -> tuple[date, date]:
    y, m = (int(v) for v in month.split("-"))
    first = date(y, m, 1)
    nxt = date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)
    return first, nxt - timedelta(days=1)


class TimelineStrip(QWidget):
    """The painted strips; ``timeline`` is the data of the period shown."""

    hovered = Signal(str)
    periodShown = Signal(object, object)  # first, last: the labels of it are wanted

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.timeline: data.Timeline | None = None
        # The user's own labels of the period shown (data.timeline_labels), and that
        # period: labels read for another month are not drawn.
        self.labels: list[tuple] = []
        self.labels_period: tuple[date, date] | None = None
        # The user's corrections in force (start, end, what): marked on the strip and
        # named in the hover text (set by corrections_ui).
        self.corrected: list[tuple[float, float, str]] = []
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_timeline(self, tl: data.Timeline | None) -> None:
        self.timeline = tl
        days = (tl.last - tl.first).days + 1 if tl else 0
        self.setMinimumHeight(34 + days * self.row_pitch() + 8)
        self.updateGeometry()
        self.update()
        if tl is not None:
            self.periodShown.emit(tl.first, tl.last)
        else:
            self.labels, self.labels_period = [], None  # a closed or switched database

    # -- your labels (issue 19) -----------------------------------------------------------
    def shown_labels(self) -> list[tuple]:
        """The labels of the period on screen; none while another period's are held."""
        tl = self.timeline
        if tl is None or self.labels_period != (tl.first, tl.last):
            return []
        return self.labels

    def row_pitch(self) -> float:
        """A day's height: its row, and the labels lane when the period has labels."""
        return ROW_H + (LABEL_H if self.shown_labels() else 0)

    def set_labels(self, first: date, last: date, labels: list[tuple]) -> None:
        self.labels, self.labels_period = labels, (first, last)
        days = len(self.days())
        self.setMinimumHeight(34 + days * self.row_pitch() + 8)
        self.updateGeometry()
        self.update()

    def _clock(self, ts: float, fmt: str = "%a %d %b %H:%M") -> str:
        # The hover text's own format and zone (the period's zone when the timeline
        # carries one).
        tl = self.timeline
        zone = tl.zone_at(ts) if tl is not None else None  # where you were then
        return datetime.fromtimestamp(ts, data.zone_info(zone)).strftime(fmt)

    def label_text(self, item: tuple) -> str:
        """'train — IN_SUBWAY, from Google, Sun 13 Sep 14:26–14:56'."""
        start, end, kind, value, raw, source = item[:6]
        what = {"place": "place ", "semantic": "place type "}.get(kind, "") + value
        text = what + (f" — {raw}" if raw and raw != value else "") + \
            f", from {data.source_name(source)}, "
        a, b = self._clock(start), self._clock(end)
        same_day = a[:10] == b[:10]
        return text + a + "–" + (b[11:] if same_day else b)

    def _paint_labels(self, p: QPainter, d: date, top: float) -> None:
        """The lane of day ``d`` at ``top``: activities as coloured stretches, places
        and place types as a marker with the name."""
        items = self._spans(d, self.shown_labels(), 0)
        lane = QRectF(self._x(0), top, self._x(1) - self._x(0), LABEL_H - 3)
        p.setPen(Qt.PenStyle.NoPen)
        p.fillRect(lane, QColor("#fafafa"))
        marks = [it for it in items if it[2] != "activity"]
        for f0, f1, *_ in marks:
            # A visit's time as a pale band: where you were, under the activities.
            p.fillRect(QRectF(self._x(f0), lane.top() + 1, max(1.0, self._x(f1) -
                              self._x(f0)), lane.height() - 2), QColor(VISIT_FILL))
        for f0, f1, kind, value, *_ in items:
            if kind == "activity":
                p.fillRect(QRectF(self._x(f0), lane.top() + 1, max(1.5, self._x(f1) -
                                  self._x(f0)), lane.height() - 2),
                           QColor(LABEL_COLOURS.get(value, "#777")))
        font = QFont(self.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() - 2.5))
        p.setFont(font)
        fm = p.fontMetrics()
        # A name runs up to the next label of any kind, never over it.
        starts = sorted({round(self._x(it[0])) for it in items})
        done: set[tuple[int, str]] = set()
        for f0, _f1, kind, value, *_ in marks:
            x0 = self._x(f0)
            # A diamond where the visit starts, the name after it.
            cy = lane.center().y()
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(PLACE_MARK))
            p.drawPolygon([QPointF(x0, cy - 4), QPointF(x0 + 4, cy), QPointF(x0, cy + 4),
                           QPointF(x0 - 4, cy)])
            name = value if kind == "place" else value.lower()
            if (round(x0), kind) in done:
                continue
            done.add((round(x0), kind))
            nxt = next((s for s in starts if s > round(x0) + 1), self._x(1))
            room = nxt - x0 - 10
            if kind == "semantic" and any(round(self._x(m[0])) == round(x0) and
                                          m[2] == "place" for m in marks):
                continue  # its place's name is written there already
            if room > 14:
                p.setPen(QColor("#3e2723"))
                p.drawText(QRectF(x0 + 6, lane.top(), room, lane.height()),
                           Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                           fm.elidedText(name, Qt.TextElideMode.ElideRight, int(room)))
        p.setBrush(Qt.BrushStyle.NoBrush)

    def labels_under(self, d: date, x: float) -> list[tuple]:
        """The labels drawn at ``x`` in day ``d``'s lane (2 px of slack for a marker)."""
        shown = self.shown_labels()
        # Each label carries its index through _spans, which clips it to the day.
        indexed = [(*it, j) for j, it in enumerate(shown)]
        return [shown[sp[-1]] for sp in self._spans(d, indexed, 0)
                if self._x(sp[0]) - 4 <= x <= self._x(sp[1]) + 2]

    def _hover_lane(self, d: date, x: float) -> None:
        here = self.labels_under(d, x)
        text = "\n".join(self.label_text(it) for it in here) if here else \
            "No label of yours here"
        self.setToolTip(text)
        self.hovered.emit(text.replace("\n", "; "))

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
        if tl is not None:
            t0, t1 = tl.day_bounds(d)  # the day as you lived it (issue 21)
        else:
            t0, t1 = data.day_start(d), data.day_start(d + timedelta(days=1))
        if t1 <= t0:
            return []  # a date skipped by a flight over the date line
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
        pitch = self.row_pitch()
        for i, d in enumerate(self.days()):
            top = 30 + i * pitch
            if pitch > ROW_H:
                self._paint_labels(p, d, top + ROW_H - 2)
                p.setFont(font)
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
            self._paint_corrected(p, d, row)
            weekend = d.weekday() >= 5
            p.setPen(QColor("#a33") if weekend else QColor("#333"))
            p.drawText(QRectF(4, top, LEFT - 10, ROW_H), Qt.AlignmentFlag.AlignVCenter |
                       Qt.AlignmentFlag.AlignRight, d.strftime("%a %d %b"))
            self._paint_day_notes(p, d, row)
        p.setPen(QPen(QColor(0, 0, 0, 40), 1, Qt.PenStyle.DotLine))
        for h in range(3, 24, 3):
            x = self._x(h / 24)
            p.drawLine(QPointF(x, 26), QPointF(x, 30 + len(self.days()) * pitch))

    def _paint_day_notes(self, p: QPainter, d: date, row: QRectF) -> None:
        """Where the zone changed within the day (a tick and the new zone's city), and
        the length of a day that was not 24 hours (the date line, a skipped date)."""
        tl = self.timeline
        if tl is None:
            return
        t0, t1 = tl.day_bounds(d)
        p.save()
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() - 1.5))
        p.setFont(small)
        if t1 > t0:
            for ts, zone in tl.zone_changes:
                if t0 <= ts < t1:
                    x = self._x((ts - t0) / (t1 - t0))
                    p.setPen(QPen(QColor("#b00060"), 2))
                    p.drawLine(QPointF(x, row.top() - 1), QPointF(x, row.bottom() + 1))
                    p.drawText(QRectF(x + 3, row.top(), 160, row.height()),
                               Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                               "→ " + zone.rsplit("/", 1)[-1].replace("_", " "))
        hours = (t1 - t0) / 3600.0
        if abs(hours - 24) > 1.01:  # DST days (23 h, 25 h) are not news
            p.setPen(QColor("#b00060"))
            text = "not lived: skipped by a flight" if hours <= 0 else \
                f"a {hours:.0f}-hour day"
            p.drawText(row.adjusted(0, 0, -4, 0), Qt.AlignmentFlag.AlignVCenter |
                       Qt.AlignmentFlag.AlignRight, text)
        p.restore()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        tl = self.timeline
        if tl is None:
            return
        pitch = self.row_pitch()
        i = int((event.position().y() - 30) // pitch)
        days = self.days()
        if not 0 <= i < len(days):
            self.setToolTip("")
            return
        if event.position().y() - 30 - i * pitch >= ROW_H - 2:
            self._hover_lane(days[i], event.position().x())
            return
        t = self.time_at(event.position())
        if t is None:
            return
        text = self._clock(t)
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
        text += self.corrected_note(t)
        self.setToolTip(text)
        self.hovered.emit(text)

    def time_at(self, pos: QPointF) -> float | None:
        """The moment drawn at ``pos`` in a day's row, on that day as it was lived (its
        own zone and length); None outside the rows and in the labels lanes."""
        tl = self.timeline
        if tl is None:
            return None
        pitch = self.row_pitch()
        i = int((pos.y() - 30) // pitch)
        days = self.days()
        if not 0 <= i < len(days) or pos.y() - 30 - i * pitch >= ROW_H - 2:
            return None
        frac = (pos.x() - LEFT) / max(1, self.width() - LEFT - 12)
        if not 0 <= frac <= 1:
            return None
        t0, t1 = tl.day_bounds(days[i])
        return t0 + frac * (t1 - t0)

    # -- your corrections (issue 20) ------------------------------------------------------
    def corrected_note(self, t: float) -> str:
        """' — corrected by you: was a train' when a correction covers ``t`` (a minute
        either side: a split is an instant)."""
        hits = [what for a, b, what in self.corrected if a - 60 <= t <= b + 60]
        return f" — corrected by you: {hits[-1]}" if hits else ""

    def _paint_corrected(self, p: QPainter, d: date, row: QRectF) -> None:
        """A dark tick along the top of each corrected stretch: what you said, not what
        the analysis guessed (the colour below shows the result of the last run)."""
        if not self.corrected:
            return
        p.setPen(Qt.PenStyle.NoPen)
        for f0, f1, *_ in self._spans(d, self.corrected, 0):
            x0, x1 = self._x(f0), max(self._x(f1), self._x(f0) + 3)
            p.fillRect(QRectF(x0, row.top() - 2, x1 - x0, 3), QColor("#111"))
            p.setBrush(QColor("#111"))
            p.drawPolygon([QPointF(x0, row.top() - 2), QPointF(x0 + 5, row.top() - 2),
                           QPointF(x0, row.top() + 4)])
        p.setBrush(Qt.BrushStyle.NoBrush)



class ElidedLabel(QLabel):
    """One line of text that takes the room it is given and ends in "…" when that is too
    little, the whole text in its tooltip. A plain QLabel asks for its text's width: the
    day summary ("… days where you were: Asia/Tokyo, Asia/Bangkok") or a hovered trip
    made the whole window wider than a laptop's screen."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(40)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        self._full = text
        self.setToolTip(text)
        self._elide()

    def text(self) -> str:
        """The whole text, not the part shown."""
        return self._full

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight,
                                              max(self.width(), 0))
        super().setText(shown)

class TimelineView(QWidget):
    """Month chooser and the strips."""

    def _load_labels(self, first: date, last: date) -> None:
        """Read the user's own labels of the period shown, off the GUI thread."""
        def job(conn: sqlite3.Connection) -> list[tuple]:
            return data.timeline_labels(conn, first, last)

        def done(labels: list[tuple]) -> None:
            self.strip.set_labels(first, last, labels)
            self.labels_legend.setVisible(bool(self.strip.shown_labels()))

        self.loader.submit(job, done)

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
        self.info = ElidedLabel()
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
        self.labels_legend = QLabel(
            "  <span style='color:#5d4037'>&#9670;</span> your labels")
        self.labels_legend.setToolTip("The lane under each day: what your imported files "
                                      "said (Google's activities and place visits, "
                                      "GeoLife's transport modes, a track's type). Hover "
                                      "a label for its source.")
        self.labels_legend.setVisible(False)
        bar.addWidget(self.labels_legend)
        # The summary takes all the room left (and no more), at the right.
        self.info.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        bar.addWidget(self.info, 1)
        self.strip = TimelineStrip()
        self.strip.hovered.connect(self.info.setText)
        self.strip.periodShown.connect(self._load_labels)
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
        self.labels_legend.setVisible(False)

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
            zones = tl.zones()
            where = f" · days in {zones[0]}" if len(zones) == 1 else \
                (" · days where you were: " + ", ".join(zones) if zones else "")
            self.info.setText(f"{len(tl.data_days)} of {(last - first).days + 1} days with "
                              f"data, {len(tl.stays)} stays, {len(tl.trips)} trips{where}")

        self.loader.submit(job, done)
