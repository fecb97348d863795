"""Drag and drop of track files: the overlay shown while dragging and the path sorting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QMimeData, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget


def local_paths(mime: QMimeData) -> list[Path]:
    """The local files and folders in a drag (web links and the like are ignored)."""
    if not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]


@dataclass
class DropPlan:
    """What a drop becomes: the paths for one import task, and what cannot be imported."""

    paths: list[Path]  # absolute; folders and zips stay whole (the worker walks them)
    files: int  # importable files found under them
    unsupported: list[tuple[str, str]]  # (name, reason)


def plan_import(paths: Sequence[Path], db: Path) -> DropPlan:
    """Sort dropped or chosen paths with the importers' own ``formats.expand``: the open
    tracks.db and its companions are refused by ``stat`` alone, the rest is sorted by a
    child process (``drop_plan``), so the window process never opens a file it imports.
    Blocking: call it from an executor thread."""
    from trackdesk.ui.drop_plan import plan_in_child
    from trackdesk.ui.filedialogs import companions, same_file_as_any

    db_files = companions(db)
    own = [p for p in paths if same_file_as_any(Path(p), db_files)]
    rest = [Path(p) for p in paths if p not in own]
    refused = [(str(p), f"this is the open {db.name} (or a file SQLite keeps beside it): "
                "it cannot be imported into itself") for p in own]
    if not rest:
        return DropPlan([], 0, refused)
    got = plan_in_child(rest, db_files)
    return DropPlan([Path(p) for p in got["paths"]], int(got["files"]),
                    refused + [(str(n), str(why)) for n, why in got["unsupported"]])


class DropOverlay(QWidget):
    """A translucent sheet over the window saying what a drop will do."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.headline = ""
        self.detail = ""
        self.hide()

    def show_for(self, headline: str, detail: str) -> None:
        self.headline, self.detail = headline, detail
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(parent.rect())
        self.raise_()
        self.show()
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(15, 23, 42, 170))
        outer = QRectF(self.rect()).adjusted(18, 18, -18, -18)
        p.setPen(QPen(QColor(147, 197, 253), 3, Qt.PenStyle.DashLine))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(outer, 16, 16)
        # A solid card in the middle: the text must read over a busy table.
        card = QRectF(0, 0, min(620.0, outer.width() - 40), 124)
        card.moveCenter(outer.center())
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(255, 255, 255, 245))
        p.drawRoundedRect(card, 12, 12)
        f = p.font()
        base = f.pointSizeF()
        f.setPointSizeF(base * 1.7)
        f.setBold(True)
        p.setFont(f)
        p.setPen(QColor("#1e3a8a"))
        p.drawText(card.adjusted(20, 14, -20, -card.height() / 2),
                   Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter,
                   self.headline)
        f.setPointSizeF(base * 1.05)
        f.setBold(False)
        p.setFont(f)
        p.setPen(QColor("#334155"))
        p.drawText(card.adjusted(24, card.height() / 2 + 4, -24, -12),
                   Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop |
                   Qt.TextFlag.TextWordWrap, self.detail)
        p.end()
