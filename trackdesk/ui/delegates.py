"""The progress column: a real style progress bar painted per cell, no widget per row."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
)

from trackdesk.ui.format import STATUS_COLOURS
from trackdesk.ui.task_model import NO_BAR, PROGRESS_ROLE, STATUS_ROLE

# The bar takes the status colour; all of them are dark enough for the white label.
_BAR_COLOURS = {s.value: QColor(c) for s, c in STATUS_COLOURS.items()}


class ProgressDelegate(QStyledItemDelegate):
    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        value = index.data(PROGRESS_ROLE)
        # Background, selection and focus as for any cell, without the text.
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        if value is None or value == NO_BAR:
            return
        status = index.data(STATUS_ROLE)
        bar = QStyleOptionProgressBar()
        bar.rect = QRect(option.rect.adjusted(4, 3, -4, -3))
        bar.minimum = 0
        bar.maximum = 1000
        bar.progress = int(round(float(value) * 10))
        bar.text = f"{value:.0f} %"
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        bar.state = option.state | QStyle.StateFlag.State_Horizontal
        bar.palette = QPalette(option.palette)
        colour = _BAR_COLOURS.get(status)
        if colour is not None:
            bar.palette.setColor(QPalette.ColorRole.Highlight, colour)
            bar.palette.setColor(QPalette.ColorRole.HighlightedText, QColor("white"))
        painter.save()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, widget)
        painter.restore()
