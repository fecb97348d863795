"""Keep top-level windows on the screen they open on."""

from __future__ import annotations

from PySide6.QtCore import QRect, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

# Title bar and borders a window manager adds before the window is shown (when Qt cannot
# know them yet): enough for the usual desktops, corrected once the frame is known.
FRAME_GUESS_W = 16
FRAME_GUESS_H = 48


def available(widget: QWidget, near: QWidget | None = None) -> QRect:
    screen = (near.screen() if near is not None else None) or widget.screen() or \
        QGuiApplication.primaryScreen()
    return screen.availableGeometry()


def fit_on_screen(widget: QWidget, near: QWidget | None = None) -> None:
    """Shrink ``widget`` to the screen (of ``near``) and move it fully onto it; called
    before show(), and once more after it when the real frame is known."""
    area = available(widget, near)
    frame_w = max(FRAME_GUESS_W, widget.frameGeometry().width() - widget.width()) \
        if widget.isVisible() else FRAME_GUESS_W
    frame_h = max(FRAME_GUESS_H, widget.frameGeometry().height() - widget.height()) \
        if widget.isVisible() else FRAME_GUESS_H
    w = min(widget.width(), area.width() - frame_w)
    h = min(widget.height(), area.height() - frame_h)
    w, h = max(w, min(widget.minimumWidth(), area.width())), \
        max(h, min(widget.minimumHeight(), area.height()))
    if (w, h) != (widget.width(), widget.height()):
        widget.resize(w, h)
    if near is not None and not widget.isVisible():
        centre = near.frameGeometry().center()
        x, y = centre.x() - (w + frame_w) // 2, centre.y() - (h + frame_h) // 2
    else:
        x, y = widget.frameGeometry().x(), widget.frameGeometry().y()
    x = max(area.left(), min(x, area.right() + 1 - (w + frame_w)))
    y = max(area.top(), min(y, area.bottom() + 1 - (h + frame_h)))
    widget.move(x, y)


def show_on_screen(widget: QWidget, near: QWidget | None = None) -> None:
    fit_on_screen(widget, near)
    widget.show()
    # The window manager's frame is known now: one more pass with the real margins.
    QTimer.singleShot(0, widget, lambda: fit_on_screen(widget))
