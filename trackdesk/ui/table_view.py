"""The task table's view: uniform rows, movable columns, one delegate, and repaints of
only the visible cells a change touched (docs/UI.md, "How it stays smooth")."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractItemModel, QRect, Qt
from PySide6.QtGui import QRegion
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from trackdesk.ui.delegates import TaskCellDelegate
from trackdesk.ui.task_model import COLUMNS


class TaskTableView(QTableView):
    """A table view that repaints only the visible cells a change touched.

    QAbstractItemView repaints the whole viewport for any multi-cell dataChanged; with
    progress arriving ten times a second that is most of the GUI thread's work. Here a
    change outside the visible rows costs nothing and one inside repaints its columns."""

    def __init__(self, model: QAbstractItemModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSortingEnabled(True)
        self.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.setWordWrap(False)
        self.setShowGrid(False)
        self.setAlternatingRowColors(True)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        vh = self.verticalHeader()
        vh.hide()
        # Fixed, uniform row heights: the view never measures rows.
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.horizontalHeader()
        header.setSectionsMovable(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for i, col in enumerate(COLUMNS):
            header.resizeSection(i, col.width)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setItemDelegate(TaskCellDelegate(self))
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def dataChanged(self, top_left: Any, bottom_right: Any,  # noqa: N802 - Qt's name
                    roles: Any = ()) -> None:
        if top_left == bottom_right or not self.isVisible() or not top_left.isValid():
            super().dataChanged(top_left, bottom_right, roles)
            return
        vp = self.viewport()
        first = self.rowAt(0)
        if first < 0:
            return  # nothing visible
        last = self.rowAt(vp.height() - 1)
        if last < 0:
            last = self.model().rowCount() - 1
        top, bottom = max(top_left.row(), first), min(bottom_right.row(), last)
        if top > bottom:
            return
        y0 = self.rowViewportPosition(top)
        y1 = self.rowViewportPosition(bottom) + self.rowHeight(bottom)
        header = self.horizontalHeader()
        region = QRegion()
        for col in range(top_left.column(), bottom_right.column() + 1):
            if not header.isSectionHidden(col):
                region += QRect(header.sectionViewportPosition(col), y0,
                                header.sectionSize(col), y1 - y0)
        vp.update(region)


__all__ = ["TaskTableView"]
