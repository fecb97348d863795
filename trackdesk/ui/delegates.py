"""Painting the task table: one delegate for every cell, no widget per row.

Qt's stock delegate asks the model for seven roles per cell (font, alignment, colours,
check state, icon, text, background); through the sort/filter proxy each of those is
three calls into Python. With a live table that is most of a repaint. This delegate asks
once per cell for the row's precomputed cells (``ROW_ROLE``) and hands the style a ready
option; the progress column gets a real style progress bar (QStyleOptionProgressBar).
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
)

from trackdesk.ui.format import STATUS_COLOURS
from trackdesk.ui.icons import status_icon
from trackdesk.ui.task_model import COLUMNS, NO_BAR, PROGRESS_COL, ROW_ROLE, STATUS_COL

# The bar takes the status colour; all of them are dark enough for the white label.
_BAR_COLOURS = {s: QColor(c) for s, c in STATUS_COLOURS.items()}
_RIGHT = [bool(c.align & Qt.AlignmentFlag.AlignRight) for c in COLUMNS]
_PAD = 4
_SELECTED = QStyle.StateFlag.State_Selected.value
_WINDOW_ACTIVE = QStyle.StateFlag.State_Active.value
_ALTERNATE = QStyleOptionViewItem.ViewItemFeature.Alternate.value
_ACTIVE = QPalette.ColorGroup.Active
_INACTIVE = QPalette.ColorGroup.Inactive
_HIGHLIGHT = QPalette.ColorRole.Highlight
_HIGHLIGHTED_TEXT = QPalette.ColorRole.HighlightedText
_ALTERNATE_BASE = QPalette.ColorRole.AlternateBase
_TEXT = QPalette.ColorRole.Text


class TaskCellDelegate(QStyledItemDelegate):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._widths: dict[tuple[int, str], int] = {}

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        row = index.data(ROW_ROLE)
        if row is None:
            super().paint(painter, option, index)
            return
        col = index.column()
        rect = option.rect
        state = option.state.value
        pal = option.palette
        selected = bool(state & _SELECTED)
        # The style's item drawing lays text out through QTextLayout for every cell;
        # plain fills and drawText look the same here at a fraction of the cost.
        if selected:
            group = _ACTIVE if state & _WINDOW_ACTIVE else _INACTIVE
            painter.fillRect(rect, pal.brush(group, _HIGHLIGHT))
        elif option.features.value & _ALTERNATE:
            painter.fillRect(rect, pal.brush(_ALTERNATE_BASE))
        if col == PROGRESS_COL:
            if row.progress != NO_BAR:
                widget = option.widget
                style = widget.style() if widget is not None else QApplication.style()
                self._bar(painter, option, row, style, widget)
            return
        text = row.display[col]
        box = rect.adjusted(_PAD, 0, -_PAD, 0)
        if col == STATUS_COL:
            status_icon(row.status).paint(
                painter, QRect(box.x(), box.y() + (box.height() - 16) // 2, 16, 16))
            box.setLeft(box.left() + 21)
            colour = pal.color(_HIGHLIGHTED_TEXT) if selected else row.colour
        else:
            colour = pal.color(_HIGHLIGHTED_TEXT if selected else _TEXT)
        if not text:
            return
        fm = option.fontMetrics
        width = self._advance(fm, text)
        if width > box.width():
            text = fm.elidedText(text, Qt.TextElideMode.ElideRight, box.width())
            width = box.width()
        # drawText at a point skips the layout engine that the rect form runs.
        x = box.right() + 1 - width if _RIGHT[col] else box.left()
        y = box.top() + (box.height() + fm.ascent() - fm.descent()) // 2
        painter.setPen(colour)
        painter.drawText(x, y, text)

    def _advance(self, fm: QFontMetrics, text: str) -> int:
        # Measuring text is a font-shaping call; the same strings come back all the time.
        key = (fm.height(), text)
        width = self._widths.get(key)
        if width is None:
            if len(self._widths) > 20_000:
                self._widths.clear()
            width = self._widths[key] = fm.horizontalAdvance(text)
        return width

    @staticmethod
    def _bar(painter: QPainter, option: QStyleOptionViewItem, row: object, style: QStyle,
             widget: object) -> None:
        value = float(row.progress)  # type: ignore[attr-defined]
        bar = QStyleOptionProgressBar()
        bar.rect = QRect(option.rect.adjusted(4, 3, -4, -3))
        bar.minimum = 0
        bar.maximum = 1000
        bar.progress = int(round(value * 10))
        bar.text = f"{value:.0f} %"
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        bar.state = option.state | QStyle.StateFlag.State_Horizontal
        bar.palette = QPalette(option.palette)
        colour = _BAR_COLOURS.get(row.status)  # type: ignore[attr-defined]
        if colour is not None:
            bar.palette.setColor(QPalette.ColorRole.Highlight, colour)
            bar.palette.setColor(QPalette.ColorRole.HighlightedText, QColor("white"))
        painter.save()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, widget)
        painter.restore()


# The old name: the progress column's delegate is now the table's delegate.
ProgressDelegate = TaskCellDelegate
