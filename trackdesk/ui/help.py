"""Help menu: the keyboard shortcuts (read from the window's real actions, so the list
cannot drift from what the keys do) and the bundled documentation (docs/*.md, shown in
a text browser that renders Markdown and follows links between the pages)."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

DOCS_HOME = "UI.md"


def shortcut_rows(window: QWidget) -> list[tuple[str, str, str]]:
    """(menu, action, keys) for every action of ``window`` that has a shortcut, in the
    order of the menu bar; actions outside the menus (Find) come last."""
    rows: list[tuple[str, str, str]] = []
    seen: set[int] = set()

    def add(menu_title: str, act: QAction) -> None:
        if id(act) in seen:
            return
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in act.shortcuts()]
        keys = [k for k in keys if k]
        if not keys:
            return
        seen.add(id(act))
        rows.append((menu_title, act.text().replace("&&", "\0").replace("&", "")
                     .replace("\0", "&").rstrip("…").strip(), ", ".join(keys)))

    def walk(title: str, actions: list[QAction]) -> None:
        for act in actions:
            sub = act.menu()
            if sub is not None:
                walk(title, sub.actions())
            elif not act.isSeparator():
                add(title, act)

    if isinstance(window, QMainWindow):  # a dialog has no menu bar: its actions only
        for top in window.menuBar().actions():
            if top.menu() is not None:
                walk(top.text().replace("&", ""), top.menu().actions())
    for act in window.findChildren(QAction):
        add("Window", act)
    return rows


class ShortcutsDialog(QDialog):
    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts — trackdesk")
        rows = shortcut_rows(window)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Menu", "Action", "Keys"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(560, 520)

    def table_text(self) -> str:
        """The table as text, one row a line (tests read it)."""
        return "\n".join("\t".join(self.table.item(r, c).text() for c in range(3))
                         for r in range(self.table.rowCount()))


def docs_dir() -> Path | None:
    """The bundled docs: beside the package in a source or editable install, in the
    bundle's data folder in a PyInstaller build."""
    here = Path(__file__).resolve().parent.parent  # trackdesk/
    candidates = [here.parent / "docs", here / "docs"]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.insert(0, Path(bundle) / "docs")
    return next((c for c in candidates if (c / DOCS_HOME).is_file()), None)


class DocsDialog(QDialog):
    """The Markdown docs in a browser that follows links between pages."""

    def __init__(self, window: QWidget, folder: Path) -> None:
        super().__init__(window)
        self.setWindowTitle("trackdesk documentation")
        self.folder = folder
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setSearchPaths([str(folder)])
        self.browser.setSource(QUrl.fromLocalFile(str(folder / DOCS_HOME)))
        where = QLabel(f"<small>{folder}</small>")
        where.setStyleSheet("color: palette(mid);")
        back = QPushButton("Back")
        back.clicked.connect(self.browser.backward)
        self.browser.backwardAvailable.connect(back.setEnabled)
        back.setEnabled(False)
        folder_button = QPushButton("Open folder")
        folder_button.setToolTip("Show the documentation folder in the file manager")
        folder_button.clicked.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))))
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        bar = QHBoxLayout()
        bar.addWidget(back)
        bar.addWidget(where, 1)
        bar.addWidget(folder_button)
        bar.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addLayout(bar)
        self.resize(820, 620)
