"""The settings dialog: opened with open(), never exec(); the window applies the result."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from trackdesk.ui.aio import spawn
from trackdesk.ui.filedialogs import file_dialog
from trackdesk.ui.settings import AppSettings, default_db_path

if TYPE_CHECKING:
    from trackdesk.session import Session


class SettingsDialog(QDialog):
    def __init__(self, settings: AppSettings, parent: QWidget | None = None,
                 api_available: bool = False, session: Session | None = None) -> None:
        super().__init__(parent)
        self.session = session  # the open tracks.db (Clean up now acts on its engine)
        self.setWindowTitle("trackdesk settings")
        self.setMinimumWidth(560)
        self._base = settings
        # The field shows the tracks.db open now (not the one remembered for the next
        # start); only an edit of it asks to switch (see ``switch_to``).
        open_db = session.db_path if session is not None else None
        self._shown_db = str(open_db) if open_db is not None else settings.db_path

        self.db = QLineEdit(self._shown_db)
        self.db.setPlaceholderText(str(default_db_path()))
        self.db.setToolTip("The tracks.db open in this window; choose another to switch to "
                           "it (you are asked first)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        db_row = QHBoxLayout()
        db_row.addWidget(self.db, 1)
        db_row.addWidget(browse)

        self.launcher = QComboBox()
        self.launcher.addItem("Local process", "local")
        self.launcher.addItem("Docker container", "docker")
        self.launcher.setCurrentIndex(max(0, self.launcher.findData(settings.default_launcher)))
        self.launcher.setToolTip("Where new tasks run unless a chain node says otherwise")

        self.concurrency = QSpinBox()
        self.concurrency.setRange(1, 64)
        self.concurrency.setValue(settings.concurrency)
        self.concurrency.setToolTip("How many tasks may run at the same time")
        self.concurrency.setSuffix(" tasks at once")

        self.batch = QSpinBox()
        self.batch.setRange(100, 10_000_000)
        self.batch.setSingleStep(10_000)
        self.batch.setGroupSeparatorShown(True)
        self.batch.setValue(settings.batch_size)
        self.batch.setSuffix(" points")
        self.batch.setToolTip("Points a worker handles per batch; a cancelled task loses at "
                              "most one batch")

        self.quit_stop = QRadioButton("Stop them (they become interrupted; resume them later)")
        self.quit_leave = QRadioButton("Leave them running (the next start follows them)")
        group = QButtonGroup(self)
        group.addButton(self.quit_stop)
        group.addButton(self.quit_leave)
        (self.quit_leave if settings.on_quit == "leave" else self.quit_stop).setChecked(True)
        quit_box = QVBoxLayout()
        quit_box.addWidget(self.quit_stop)
        quit_box.addWidget(self.quit_leave)

        self.notify = QCheckBox("Notify me when a chain finishes or fails")
        self.notify.setChecked(settings.notify)

        self.serve_api = QCheckBox("Serve the REST API from the app")
        self.serve_api.setChecked(settings.serve_api and api_available)
        self.serve_api.setEnabled(api_available)
        if not api_available:
            self.serve_api.setToolTip("The REST API is not part of this installation")
        self.api_port = QSpinBox()
        self.api_port.setRange(1024, 65535)
        self.api_port.setValue(settings.api_port)
        self.api_port.setEnabled(api_available)
        api_row = QHBoxLayout()
        api_row.addWidget(self.serve_api)
        api_row.addStretch(1)
        api_row.addWidget(QLabel("port"))
        api_row.addWidget(self.api_port)

        form = QFormLayout()
        form.addRow("tracks.db:", db_row)
        form.addRow("Run new tasks in:", self.launcher)
        form.addRow("Concurrency:", self.concurrency)
        form.addRow("Batch size:", self.batch)
        form.addRow("Running tasks on quit:", quit_box)
        form.addRow("", self.notify)
        form.addRow("", api_row)

        history = self._build_history(settings)
        map_box = self._build_map(settings)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok |
                                   QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(history)
        layout.addWidget(map_box)
        layout.addWidget(buttons)

    def _build_history(self, settings: AppSettings) -> QGroupBox:
        # Years of finished tasks slow nothing down much, but a person may want them gone;
        # analysis results are never part of this (engine.prune leaves them alone).
        self.history_days = QSpinBox()
        self.history_days.setRange(0, 36500)
        self.history_days.setSpecialValueText("no age limit")
        self.history_days.setSuffix(" days")
        self.history_days.setValue(settings.history_days)
        self.history_days.setToolTip("Finished tasks that ended longer ago than this")
        self.history_keep = QSpinBox()
        self.history_keep.setRange(0, 10_000_000)
        self.history_keep.setGroupSeparatorShown(True)
        self.history_keep.setSpecialValueText("no count limit")
        self.history_keep.setPrefix("keep the newest ")
        self.history_keep.setValue(settings.history_keep)
        self.history_keep.setToolTip("Finished tasks beyond this many (newest first)")
        self.history_archive = QRadioButton("Archive them (kept in the tracks.db, out of "
                                            "the table)")
        self.history_remove = QRadioButton("Remove them")
        group = QButtonGroup(self)
        group.addButton(self.history_archive)
        group.addButton(self.history_remove)
        (self.history_archive if settings.history_archive else
         self.history_remove).setChecked(True)
        self.history_at_start = QCheckBox("Clean up at every start")
        self.history_at_start.setChecked(settings.history_at_start)
        self.prune_button = QPushButton("Clean up now")
        self.prune_button.setToolTip("Apply these limits to the open tracks.db now; a task "
                                     "another task still depends on stays")
        self.prune_button.clicked.connect(lambda: self.prune_now())
        self.prune_result = QLabel("")
        self.prune_result.setWordWrap(True)
        limits = QHBoxLayout()
        limits.addWidget(QLabel("older than"))
        limits.addWidget(self.history_days)
        limits.addWidget(QLabel("or beyond"))
        limits.addWidget(self.history_keep, 1)
        now_row = QHBoxLayout()
        now_row.addWidget(self.history_at_start)
        now_row.addStretch(1)
        now_row.addWidget(self.prune_button)
        box = QGroupBox("History: finished tasks (analysis results are never touched)")
        v = QVBoxLayout(box)
        v.addLayout(limits)
        v.addWidget(self.history_archive)
        v.addWidget(self.history_remove)
        v.addLayout(now_row)
        v.addWidget(self.prune_result)
        return box

    def prune_now(self) -> Any:
        """Prune the open tracks.db (the session's engine) with the limits as edited."""
        engine = self.session.engine if self.session is not None else None
        args = self.value().prune_args()
        if engine is None:
            self.prune_result.setText("No tracks.db is open.")
            return None
        if args is None:
            self.prune_result.setText("Choose an age or a count first.")
            return None
        self.prune_button.setEnabled(False)
        verb = "archived" if args["archive"] else "removed"

        def done(ids: list[int]) -> None:
            if not _alive(self):
                return  # closed meanwhile; the engine did the work all the same
            self.prune_button.setEnabled(True)
            self.prune_result.setText(f"{len(ids):,} finished task{'s' if len(ids) != 1 else ''}"
                                      f" {verb}." if ids else "Nothing to clean up.")

        def failed(_what: str, exc: BaseException) -> None:
            if not _alive(self):
                return
            self.prune_button.setEnabled(True)
            self.prune_result.setText(f"Could not clean up: {exc}")

        return spawn(engine.prune(**args), "cleaning up the task history", failed, done)

    # -- issue 21: the map's basemap, local days, countries ------------------------------
    def _build_map(self, settings: AppSettings) -> QGroupBox:
        box = QGroupBox("Map and places")
        self.basemap = QComboBox()
        for key, text in (("osm", "Web tiles (OpenStreetMap by default)"),
                          ("file", "A local MBTiles or PMTiles file (offline)"),
                          ("offline", "The built-in world map (offline)"),
                          ("off", "No basemap")):
            self.basemap.addItem(text, key)
        self.basemap.setCurrentIndex(max(0, self.basemap.findData(settings.basemap)))
        self.basemap_url = QLineEdit(settings.basemap_url)
        self.basemap_url.setToolTip("A tile URL template with {z}, {x} and {y}; tiles are "
                                    "cached on disk for a week")
        self.basemap_file = QLineEdit(settings.basemap_file)
        self.basemap_file.setPlaceholderText("an .mbtiles or .pmtiles file of raster tiles")
        pick = QPushButton("Browse…")
        pick.clicked.connect(self._browse_tiles)
        file_row = QHBoxLayout()
        file_row.addWidget(self.basemap_file, 1)
        file_row.addWidget(pick)
        self.day_start = QSpinBox()
        self.day_start.setRange(0, 23)
        self.day_start.setValue(settings.day_start_hour)
        self.day_start.setSuffix(":00")
        self.day_start.setToolTip("Local hour a day starts: 04:00 puts a night out on the "
                                  "evening it began")
        self.country_min = QSpinBox()
        self.country_min.setRange(0, 1440)
        self.country_min.setValue(settings.country_min_minutes)
        self.country_min.setSuffix(" min")
        self.country_min.setToolTip("A day counts for a country or city once your stays "
                                    "there add up to this long")
        form = QFormLayout(box)
        form.addRow("Basemap:", self.basemap)
        form.addRow("Tile URL:", self.basemap_url)
        form.addRow("Tile file:", file_row)
        form.addRow("A day starts at:", self.day_start)
        form.addRow("Count a country after:", self.country_min)
        return box

    def _browse_tiles(self) -> None:
        def chosen(files: list[Path]) -> None:
            self.basemap_file.setText(str(files[0]))
            self.basemap.setCurrentIndex(self.basemap.findData("file"))

        file_dialog(self, "Choose a tile file", "open", chosen,
                    directory=str(Path(self.basemap_file.text()).parent)
                    if self.basemap_file.text().strip() else "",
                    filters=("Tiles (*.mbtiles *.pmtiles)", "All files (*)"))

    def _browse(self) -> None:
        current = self.db.text().strip()
        file_dialog(self, "Choose a tracks.db", "save",
                    lambda files: self.db.setText(str(files[0])),
                    directory=str(Path(current).parent) if current else
                    str(default_db_path().parent),
                    select=Path(current).name if current else "",
                    filters=["tracks.db (*.db)", "All files (*)"], confirm_overwrite=False)

    def switch_to(self) -> Path | None:
        """The tracks.db the user chose here, or None when the field was not changed."""
        text = self.db.text().strip()
        if text == self._shown_db.strip():
            return None
        return Path(text) if text else default_db_path()

    def value(self) -> AppSettings:
        """The settings as edited (the dialog's result)."""
        # The remembered tracks.db changes only when a switch happens (switch_db).
        return replace(
            self._base,
            db_path=self._base.db_path,
            default_launcher=self.launcher.currentData(),
            concurrency=self.concurrency.value(),
            batch_size=self.batch.value(),
            on_quit="leave" if self.quit_leave.isChecked() else "stop",
            notify=self.notify.isChecked(),
            serve_api=self.serve_api.isChecked(),
            api_port=self.api_port.value(),
            history_days=self.history_days.value(),
            history_keep=self.history_keep.value(),
            history_archive=self.history_archive.isChecked(),
            history_at_start=self.history_at_start.isChecked(),
            basemap=self.basemap.currentData(),
            basemap_url=self.basemap_url.text().strip() or self._base.basemap_url,
            basemap_file=self.basemap_file.text().strip(),
            day_start_hour=self.day_start.value(),
            country_min_minutes=self.country_min.value(),
        )


def _alive(widget: QWidget) -> bool:
    import shiboken6

    return shiboken6.isValid(widget)
