"""Statistics: the footprint in figures, per month or year, as charts and a table.

Everything comes from footprint_stats' and stay_stats' tables (``data.statistics``).
Charts are QtCharts stacked bar charts (per mode), the table a ``QTableWidget`` (a few
hundred rows at most: months of a lifetime) that exports to CSV.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCharts import (
    QBarSet,
    QCategoryAxis,
    QChart,
    QChartView,
    QStackedBarSeries,
    QValueAxis,
)
from PySide6.QtCore import QMargins, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from trackdesk.ui.filedialogs import file_dialog
from trackdesk.ui.views import data
from trackdesk.ui.views.loader import Loader
from trackdesk.ui.views.tiles import MODE_COLOURS

MOVING = data.MODES[1:]
COLUMNS = (("period", "Period"), ("days_with_data", "Days"), ("points", "Points"),
           ("area_km2", "Area km²"), ("distance_km", "km"),
           ("moving_h", "Moving h")) + tuple((f"{m}_km", f"{m} km") for m in MOVING)


def _card(title: str) -> tuple[QWidget, QLabel]:
    w = QWidget()
    w.setObjectName("card")
    w.setStyleSheet("#card { background: palette(base); border: 1px solid palette(mid); "
                    "border-radius: 6px; }")
    v = QVBoxLayout(w)
    v.setContentsMargins(10, 6, 10, 6)
    t = QLabel(title)
    t.setStyleSheet("color: palette(dark); font-size: 11px;")
    value = QLabel("—")
    value.setStyleSheet("font-size: 18px; font-weight: 600;")
    v.addWidget(t)
    v.addWidget(value)
    return w, value


class BarChart(QChartView):
    """Stacked bars per mode over periods (QtCharts: no scene menus to leak, crisp text)."""

    def __init__(self, title: str, unit: str) -> None:
        super().__init__()
        self.unit = unit
        chart = QChart()
        chart.setTitle(title)
        chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        chart.setMargins(QMargins(4, 4, 4, 4))
        self.setChart(chart)
        chart.plotAreaChanged.connect(lambda _r: self.fit_labels())
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setMinimumHeight(220)
        self.series: QStackedBarSeries | None = None
        self.x_axis: QCategoryAxis | None = None
        self.labels: list[str] = []
        self.totals = np.zeros(0)

    def set_bars(self, labels: list[str], stacks: dict[str, np.ndarray]) -> None:
        chart = self.chart()
        chart.removeAllSeries()
        for axis in chart.axes():
            chart.removeAxis(axis)
        series = QStackedBarSeries()
        series.setBarWidth(0.75)
        total = np.zeros(len(labels))
        for mode, values in stacks.items():
            if not np.any(values > 0):
                continue
            bar = QBarSet(mode)
            bar.append([float(v) for v in values])
            bar.setColor(QColor(MODE_COLOURS[mode]))
            bar.setBorderColor(QColor(MODE_COLOURS[mode]))
            series.append(bar)
            total += values
        chart.addSeries(series)
        # A category axis over the bar positions (0..n-1): its labelled ranges can span
        # several periods, so a label gets the room of its whole range and is never
        # elided (a QBarCategoryAxis gives each label one bar's width: "20…").
        x = QCategoryAxis()
        x.setLabelsPosition(QCategoryAxis.AxisLabelsPosition.AxisLabelsPositionCenter)
        x.setRange(-0.5, max(0, len(labels)) - 0.5)
        x.setGridLineVisible(False)
        self.labels = list(labels)
        self.x_axis = x
        self._step = 0
        y = QValueAxis()
        y.setRange(0, max(float(total.max()) if len(total) else 1.0, 1e-6) * 1.08)
        y.setLabelFormat("%.0f")
        y.setTitleText(self.unit)
        y.applyNiceNumbers()
        chart.addAxis(x, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(y, Qt.AlignmentFlag.AlignLeft)
        series.attachAxis(x)
        series.attachAxis(y)
        chart.legend().setVisible(series.count() > 0)
        self.series = series
        self.totals = total
        self.fit_labels()

    def fit_labels(self) -> None:
        """Label every period when the labels fit across; else label groups of n periods
        (each label names the first period of its group and spans the group)."""
        x, labels = self.x_axis, self.labels
        if x is None or not labels:
            return
        fm = QFontMetrics(x.labelsFont())
        plot = self.chart().plotArea().width() or max(1.0, self.width() - 90.0)
        per = plot / len(labels)
        # QtCharts keeps a margin on both sides of a label: half as wide again is safe.
        wide = max(fm.horizontalAdvance(lab) for lab in labels) * 1.5 + 8
        step = max(1, math.ceil(wide / per))
        if step == self._step:
            return
        self._step = step
        for old in list(x.categoriesLabels()):
            x.remove(old)
        n = len(labels)
        for k in range(0, n, step):
            x.append(labels[k], min(k + step, n) - 0.5)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self.fit_labels()


class StatisticsView(QWidget):
    def __init__(self, loader: Loader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self.stats: data.Statistics | None = None
        self.period = QComboBox()
        self.period.addItems(["Per month", "Per year"])
        self.period.currentIndexChanged.connect(lambda _i: self._show())
        self.export = QPushButton("Export CSV…")
        self.export.setToolTip("Save the table below as a CSV file")
        self.export.clicked.connect(self.choose_export)
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 4)
        bar.addWidget(self.period)
        bar.addStretch(1)
        bar.addWidget(self.export)
        cards = QGridLayout()
        cards.setContentsMargins(6, 0, 6, 0)
        self.cards: dict[str, QLabel] = {}
        for i, (key, title) in enumerate((
                ("explored", "Explored area"), ("days", "Days with data"),
                ("distance", "Distance travelled"), ("moving", "Time moving"),
                ("farthest", "Farthest from home"), ("longest", "Longest trip"))):
            w, value = _card(title)
            self.cards[key] = value
            cards.addWidget(w, 0, i)
        self.distance_chart = BarChart("Distance per mode", "km")
        self.time_chart = BarChart("Time moving per mode", "hours")
        charts = QSplitter(Qt.Orientation.Horizontal)
        charts.addWidget(self.distance_chart)
        charts.addWidget(self.time_chart)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([c[1] for c in COLUMNS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)  # a few hundred rows at most
        self.table.horizontalHeader().setStretchLastSection(True)
        self.places = QTableWidget(0, 4)
        self.places.setHorizontalHeaderLabels(["Top places", "Visits", "Hours there", "Where"])
        self.places.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.places.verticalHeader().hide()
        # The name takes the room ("home · Haidian, 3.5 km E"); the numbers and the town
        # only what they need (a few dozen rows: sizing to contents costs nothing).
        header = self.places.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        # issue 21: countries and cities by dwell (days from stays, not points)
        self.dwell_minutes, self.day_start_hour = 60, 0
        self.countries = self._dwell_table("Country")
        self.cities = self._dwell_table("City")
        self.dwell: dict[str, list] = {"country": [], "city": []}
        where = QTabWidget()
        where.addTab(self.places, "Places")
        where.addTab(self.countries, "Countries")
        where.addTab(self.cities, "Cities")
        self.where_tabs = where
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.table)
        lower.addWidget(where)
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 2)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(charts)
        split.addWidget(lower)
        split.setSizes([330, 260])
        self.status = QLabel("")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 4)
        lay.addLayout(bar)
        lay.addLayout(cards)
        lay.addWidget(split, 1)
        lay.addWidget(self.status)

    @property
    def period_type(self) -> str:
        return "year" if self.period.currentIndex() == 1 else "month"

    def refresh(self) -> None:
        self.loader.submit(data.statistics, self._loaded)
        self._refresh_dwell()

    # -- countries and cities ------------------------------------------------------------
    @staticmethod
    def _dwell_table(what: str) -> QTableWidget:
        t = QTableWidget(0, 5)
        t.setHorizontalHeaderLabels([what, "Days", "Hours", "First day", "Last day"])
        t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        t.verticalHeader().hide()
        t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        t.horizontalHeader().setStretchLastSection(True)
        t.setToolTip("A day counts once your stays there add up to the minimum set in "
                     "Settings; flights and drives through count nothing")
        return t

    def set_dwell_options(self, min_minutes: int, day_start_hour: int) -> None:
        self.dwell_minutes, self.day_start_hour = min_minutes, day_start_hour
        if self.stats is not None:
            self._refresh_dwell()

    def _refresh_dwell(self) -> None:
        from trackdesk.geodata.dwell import dwell_by

        minutes, hour = float(self.dwell_minutes), int(self.day_start_hour)

        def job(conn: Any) -> dict[str, list]:
            return {by: dwell_by(conn, by, None, minutes, hour) for by in ("country", "city")}

        self.loader.submit(job, self._dwell_loaded)

    def _dwell_loaded(self, rows: dict[str, list]) -> None:
        self.dwell = rows
        for by, table in (("country", self.countries), ("city", self.cities)):
            got = rows.get(by, [])
            table.setRowCount(len(got))
            for i, r in enumerate(got):
                name = f"{r.name} ({r.country_code})" if r.country_code else r.name
                for j, v in enumerate((name, f"{r.days:,}", f"{r.hours:,.1f}", r.first_day,
                                       r.last_day)):
                    item = QTableWidgetItem(v)
                    if j in (1, 2):
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight |
                                              Qt.AlignmentFlag.AlignVCenter)
                    table.setItem(i, j, item)

    def clear(self) -> None:
        self.stats = None
        self._show()

    def _loaded(self, stats: data.Statistics) -> None:
        self.stats = stats
        self._show()

    def _show(self) -> None:
        s = self.stats.summary if self.stats else {}
        rows = self.stats.periods.get(self.period_type, []) if self.stats else []

        def num(key: str) -> float | None:
            v = s.get(key)
            return float(v) if isinstance(v, int | float) else None

        fmt = {"explored": (num("explored_km2"), "{:,.1f} km²", 1),
               "days": (num("days_with_data"), "{:,.0f}", 1),
               "distance": (num("distance_m"), "{:,.0f} km", 1000),
               "moving": (num("moving_s"), "{:,.0f} h", 3600),
               "farthest": (num("farthest_from_home_m"), "{:,.0f} km", 1000),
               "longest": (num("longest_trip_m"), "{:,.1f} km", 1000)}
        for key, (v, f, div) in fmt.items():
            self.cards[key].setText("—" if v is None else f.format(v / div))
        labels = [r["period"] for r in rows]
        self.distance_chart.set_bars(labels, {m: np.array([r[f"{m}_km"] for r in rows])
                                              for m in MOVING})
        self.time_chart.set_bars(labels, {m: np.array([r[f"{m}_h"] for r in rows])
                                          for m in MOVING})
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            for j, (key, _title) in enumerate(COLUMNS):
                v = r[key]
                text = v if isinstance(v, str) else (f"{v:,.0f}" if isinstance(v, int) else
                                                     f"{v:,.1f}")
                item = QTableWidgetItem(text)
                if not isinstance(v, str):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight |
                                          Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, j, item)
        places = self.stats.top_places if self.stats else []
        self.places.setRowCount(len(places))
        for i, pl in enumerate(places):
            where = ", ".join(x for x in (pl.get("locality"), pl.get("country_code")) if x)
            values = [data.place_title(pl.get("name"), pl["label"], pl["id"]),
                      f"{pl['n_visits']:,}", f"{pl['dwell_h']:,.1f}",
                      where or f"{pl['lat']:.4f}, {pl['lon']:.4f}"]
            for j, v in enumerate(values):
                self.places.setItem(i, j, QTableWidgetItem(v))
        self.export.setEnabled(bool(rows))
        self.status.setText("" if self.stats is None or rows else
                            "No statistics yet: run the default chain (footprint_stats).")

    # ------------------------------------------------------------------ CSV -----------
    def csv_rows(self) -> list[list[Any]]:
        if self.stats is None:
            return [["period"]]
        return data.statistics_csv_rows(self.stats, self.period_type)

    def export_csv(self, path: Path | str) -> int:
        """Write the table to ``path``; returns the number of data rows. (Small: a
        lifetime is a few hundred months, so writing on the GUI thread is instant.)"""
        rows = self.csv_rows()
        with open(path, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)
        self.status.setText(f"Saved {len(rows) - 1} rows to {path}")
        return len(rows) - 1

    def choose_export(self) -> None:
        file_dialog(self, "Export statistics", "save",
                    lambda files: self.export_csv(files[0]), filters=["CSV (*.csv)"],
                    select=f"footprint-{self.period_type}.csv", suffix="csv")


__all__ = ["StatisticsView"]
