"""Every file dialog of the window process, built here and only here.

Why (docs/ENGINE.md, "Why the window never opens the database files"): SQLite's locks on
tracks.db are POSIX advisory locks, and those belong to the *process*: closing ANY
descriptor of tracks.db, -wal or -shm drops every lock the process holds, even one opened
for a moment to read a few bytes. Qt's file dialog does exactly that for every file of the
folder it lists: its file-system model asks the icon provider for an icon and a type
("SQLite3 database"), and both sniff the file's first bytes through QMimeDatabase. With
the window's locks gone, a CLI or worker closing its connection believes it is the last
one, checkpoints and deletes the WAL and -shm the engine still uses: "database disk image
is malformed", lost tasks.

So the dialogs here are Qt's own widget dialog (never the platform's: a GTK or portal
dialog would make thumbnails in our process), with an icon provider that names icons and
types from the file *name* only, and a filter hiding SQLite's companion files (-wal, -shm,
-journal) and the engine's lock file, which nobody should pick. A dialog deletes itself
when it closes: none stays alive, hidden, watching a folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from PySide6.QtCore import (
    QEvent,
    QFileInfo,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QAbstractFileIconProvider, QFont, QFontMetrics, QIcon
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QFileSystemModel,
    QStyle,
    QWidget,
)

Mode = Literal["open", "open_many", "folder", "save"]

# SQLite's own files beside a database, and the engine's single-runner lock file.
COMPANION_SUFFIXES = ("-wal", "-shm", "-journal", ".engine.lock")
# Room for a title bar's icon and buttons (and a window manager's margins) beside the text.
TITLE_CHROME_PX = 160


def companions(db: Path) -> list[Path]:
    """The database and the files SQLite and the engine keep beside it."""
    return [db] + [db.with_name(db.name + s) for s in COMPANION_SUFFIXES]


def is_companion_name(name: str) -> bool:
    return name.endswith(COMPANION_SUFFIXES)


def same_file_as_any(path: Path, files: Iterable[Path]) -> bool:
    """Whether ``path`` is one of ``files`` (by device and inode: links and other
    spellings count too). Only ``stat``: opening would drop SQLite's locks."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    for f in files:
        try:
            other = os.stat(f)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (other.st_dev, other.st_ino):
            return True
    return False


class NameOnlyIconProvider(QAbstractFileIconProvider):
    """Icons and type names from the file name alone: never opens a file.

    QAbstractFileIconProvider's own icon() and type() call QMimeDatabase's
    mimeTypeForFile(QFileInfo), which reads the first bytes of any file whose name is not
    conclusive (tracks.db-wal, tracks.db-shm) or is ambiguous (tracks.db). Called from
    the dialog's gatherer thread too: nothing here touches Python state but the style."""

    def __init__(self) -> None:
        super().__init__()
        # Icons are made once, on the GUI thread; the gatherer thread only returns them.
        style = QApplication.style()
        self._folder = style.standardIcon(QStyle.StandardPixmap.SP_DirIcon)
        self._file = style.standardIcon(QStyle.StandardPixmap.SP_FileIcon)
        self._link = style.standardIcon(QStyle.StandardPixmap.SP_FileLinkIcon)
        self._drive = style.standardIcon(QStyle.StandardPixmap.SP_DriveHDIcon)
        self._computer = style.standardIcon(QStyle.StandardPixmap.SP_ComputerIcon)

    def icon(self, what: Any) -> QIcon:  # noqa: D401 - Qt's overloads
        if isinstance(what, QFileInfo):
            if what.isRoot():
                return self._drive
            if what.isDir():
                return self._folder
            return self._link if what.isSymLink() else self._file
        kinds = QAbstractFileIconProvider.IconType
        if what == kinds.Computer:
            return self._computer
        if what == kinds.Drive:
            return self._drive
        if what == kinds.Folder:
            return self._folder
        return self._file

    def type(self, info: QFileInfo) -> str:
        if info.isRoot():
            return "Drive"
        if info.isDir():
            return "Folder"
        suffix = info.suffix()
        return f"{suffix.upper()} file" if suffix else "File"


class HideCompanions(QSortFilterProxyModel):
    """The dialog's list without SQLite's -wal/-shm/-journal files and engine locks."""

    def filterAcceptsRow(self, row: int,  # noqa: N802 - Qt's name
                         parent: QModelIndex | QPersistentModelIndex) -> bool:
        model = self.sourceModel()
        if isinstance(model, QFileSystemModel):
            name = model.fileName(model.index(row, 0, parent))
            if is_companion_name(name):
                return False
        return True


_provider: NameOnlyIconProvider | None = None


def icon_provider() -> NameOnlyIconProvider:
    """One provider for every dialog (it must outlive them: the model keeps a pointer)."""
    global _provider
    if _provider is None:
        _provider = NameOnlyIconProvider()
    return _provider


class _WidenOnShow(QObject):
    """Widens a dialog to its ``minTitleWidth`` when it shows (a dialog's layout may
    reset a minimum width set before: QInputDialog's does)."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Show and isinstance(obj, QWidget):
            need = obj.property("minTitleWidth")
            if isinstance(need, int) and obj.width() < need:
                obj.resize(need, obj.height())
        return False


_widen = _WidenOnShow()


def title_width(title: str, font: QFont) -> int:
    """The width a title bar needs to show ``title`` whole, with the " — trackdesk" Qt
    appends and room for the bar's icon and buttons."""
    app_name = QApplication.applicationDisplayName() or "trackdesk"
    shown = title if app_name in title else f"{title} — {app_name}"
    # The title bar's font is the window manager's: assume a bold one a little larger.
    bar = QFont(font)
    bar.setBold(True)
    if bar.pointSizeF() > 0:
        bar.setPointSizeF(bar.pointSizeF() * 1.15)
    return QFontMetrics(bar).horizontalAdvance(shown) + TITLE_CHROME_PX


def fit_title(dialog: QWidget, title: str) -> None:
    """Set a short title and make the dialog wide enough that the window manager shows it
    whole, never "Save c… kdesk"."""
    dialog.setWindowTitle(title)
    need = title_width(title, dialog.font())
    dialog.setProperty("minTitleWidth", need)
    dialog.installEventFilter(_widen)


def file_dialog(parent: QWidget | None, title: str, mode: Mode,
                on_chosen: Callable[[list[Path]], Any], *, directory: str | Path = "",
                filters: Sequence[str] = (), select: str = "", suffix: str = "",
                confirm_overwrite: bool = True) -> QFileDialog:
    """Open (non-modal, ``open()``) a file dialog; ``on_chosen`` gets the chosen paths.

    The only place in the window process that makes a QFileDialog (a test checks it)."""
    dialog = QFileDialog(parent)
    # Before anything else: the options decide which kind of dialog Qt builds.
    options = (QFileDialog.Option.DontUseNativeDialog
               | QFileDialog.Option.DontUseCustomDirectoryIcons)
    if not confirm_overwrite:
        options |= QFileDialog.Option.DontConfirmOverwrite
    dialog.setOptions(options)
    dialog.setIconProvider(icon_provider())
    dialog.setProxyModel(HideCompanions(dialog))
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    fit_title(dialog, title)
    if mode == "save":
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    elif mode == "open_many":
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
    elif mode == "folder":
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    else:
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    if filters:
        dialog.setNameFilters(list(filters))
    if suffix:
        dialog.setDefaultSuffix(suffix)
    if directory:
        dialog.setDirectory(str(directory))
    if select:
        dialog.selectFile(select)
    dialog.filesSelected.connect(lambda files: on_chosen([Path(f) for f in files]))
    dialog.open()
    return dialog


def open_file_dialogs(root: QObject | None = None) -> list[QFileDialog]:
    """The file dialogs alive now (tests: none must stay after it closed)."""
    widgets = QApplication.topLevelWidgets() if root is None else root.findChildren(QDialog)
    return [w for w in widgets if isinstance(w, QFileDialog)]


__all__ = ["companions", "file_dialog", "fit_title", "title_width", "icon_provider", "is_companion_name",
           "open_file_dialogs", "same_file_as_any"]
