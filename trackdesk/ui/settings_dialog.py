"""The settings dialog: opened with open(), never exec(); the window applies the result."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from trackdesk.ui.settings import AppSettings, default_db_path


class SettingsDialog(QDialog):
    def __init__(self, settings: AppSettings, parent: QWidget | None = None,
                 api_available: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle("trackdesk settings")
        self.setMinimumWidth(560)
        self._base = settings

        self.db = QLineEdit(settings.db_path)
        self.db.setPlaceholderText(str(default_db_path()))
        self.db.setToolTip("The tracks.db this window opens at start; empty for the default "
                           "one in your data folder")
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

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok |
                                   QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        dialog = QFileDialog(self, "Choose a tracks.db", self.db.text() or
                             str(default_db_path().parent), "tracks.db (*.db);;All files (*)")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setOption(QFileDialog.Option.DontConfirmOverwrite)
        dialog.fileSelected.connect(self.db.setText)
        dialog.open()

    def value(self) -> AppSettings:
        """The settings as edited (the dialog's result)."""
        return replace(
            self._base,
            db_path=self.db.text().strip(),
            default_launcher=self.launcher.currentData(),
            concurrency=self.concurrency.value(),
            batch_size=self.batch.value(),
            on_quit="leave" if self.quit_leave.isChecked() else "stop",
            notify=self.notify.isChecked(),
            serve_api=self.serve_api.isChecked(),
            api_port=self.api_port.value(),
        )
