"""File → Export…: points (and the analysis) to GPX, GeoJSON or CSV (issue 21).

The file is chosen with Qt's own file dialog (``DontUseNativeDialog``: the same dialog on
every desktop, and one a test can drive). The export itself runs on the views' reader
thread; the dialog only shows the outcome.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,  # the type only: filedialogs makes them
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from trackdesk.ui.views.loader import Loader

FILTERS = {"gpx": "GPX (*.gpx)", "geojson": "GeoJSON (*.geojson *.json)", "csv": "CSV (*.csv)"}


class ExportDialog(QDialog):
    def __init__(self, loader: Loader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.loader = loader
        self.file = QLineEdit()
        self.file.setPlaceholderText("where to write the export")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self.choose_file)
        row = QHBoxLayout()
        row.addWidget(self.file, 1)
        row.addWidget(browse)
        self.format = QComboBox()
        for key, text in (("gpx", "GPX — one track per trip, the mode as its type"),
                          ("geojson", "GeoJSON — trips, stays and places"),
                          ("csv", "CSV — one row per point")):
            self.format.addItem(text, key)
        self.format.currentIndexChanged.connect(self._format_changed)
        self.whole = QCheckBox("Everything")
        self.whole.setChecked(True)
        self.first = QDateEdit(QDate.currentDate().addMonths(-1))
        self.last = QDateEdit(QDate.currentDate())
        for d in (self.first, self.last):
            d.setCalendarPopup(True)
            d.setDisplayFormat("yyyy-MM-dd")
            d.setEnabled(False)
        self.whole.toggled.connect(lambda on: (self.first.setEnabled(not on),
                                               self.last.setEnabled(not on)))
        period = QHBoxLayout()
        period.addWidget(self.whole)
        period.addWidget(QLabel("from"))
        period.addWidget(self.first)
        period.addWidget(QLabel("to"))
        period.addWidget(self.last)
        self.analysis = QCheckBox("With the analysis (modes, stays, trips, places, time zones)")
        self.result = QLabel("")
        self.result.setWordWrap(True)
        form = QFormLayout()
        form.addRow("File:", row)
        form.addRow("Format:", self.format)
        form.addRow("Days (UTC):", period)
        form.addRow("", self.analysis)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = self.buttons.addButton("Export",
                                                    QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.clicked.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.result)
        lay.addWidget(self.buttons)
        self.outcome: str | None = None

    def _format_changed(self) -> None:
        text = self.file.text().strip()
        if text:
            self.file.setText(str(Path(text).with_suffix("." + self.format.currentData())))

    def choose_file(self) -> QFileDialog:
        from trackdesk.ui.filedialogs import file_dialog

        fmt = self.format.currentData()
        return file_dialog(self, "Export to", "save",
                           lambda files: self.file.setText(str(files[0])),
                           directory=Path.home(), select=f"trackdesk.{fmt}",
                           filters=(FILTERS[fmt],), suffix=fmt)

    def start(self) -> None:
        from trackdesk.tracks.export import ExportError, export

        target = self.file.text().strip()
        db = self.loader.path
        if not target:
            self.result.setText("Choose a file to export to.")
            return
        if db is None:
            self.result.setText("No tracks.db is open.")
            return
        fmt = self.format.currentData()
        first = last = None
        if not self.whole.isChecked():
            first = date.fromisoformat(self.first.date().toString("yyyy-MM-dd"))
            last = date.fromisoformat(self.last.date().toString("yyyy-MM-dd"))
        with_analysis = self.analysis.isChecked()

        def job(_conn: sqlite3.Connection) -> str:
            try:
                r = export(Path(db), Path(target).expanduser(), fmt, first, last,
                           with_analysis)
            except ExportError as exc:
                return f"Not exported: {exc}"
            return f"Exported {r.points:,} points in {r.tracks:,} tracks to {r.path}."

        self.export_button.setEnabled(False)
        self.result.setText("Exporting…")
        self.loader.submit(job, self._done)

    def _done(self, message: str) -> None:
        self.outcome = message
        self.result.setText(message)
        self.export_button.setEnabled(True)
