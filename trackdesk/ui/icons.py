"""Icons drawn with QPainter: no resource files, crisp at any scale, same on every desktop.

Status icons pair a colour with a shape so the states stay apart for colour-blind users.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QApplication, QStyle

from trackdesk.engine.states import Status
from trackdesk.ui.format import STATUS_COLOURS


def _pen(colour: QColor, width: float, cap: Qt.PenCapStyle = Qt.PenCapStyle.SquareCap,
         join: Qt.PenJoinStyle = Qt.PenJoinStyle.BevelJoin) -> QPen:
    pen = QPen(colour, width)
    pen.setCapStyle(cap)
    pen.setJoinStyle(join)
    return pen


def _draw_status(p: QPainter, status: Status, size: float) -> None:
    colour = QColor(STATUS_COLOURS[status])
    r = QRectF(1, 1, size - 2, size - 2)
    c = r.center()
    u = size / 16.0
    if status == Status.PENDING:
        p.setPen(_pen(colour, 1.6 * u))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(r.adjusted(u, u, -u, -u))
        p.setPen(_pen(colour, 1.4 * u, cap=Qt.PenCapStyle.RoundCap))
        p.drawLine(c, QPointF(c.x(), c.y() - 4 * u))
        p.drawLine(c, QPointF(c.x() + 3 * u, c.y()))
        return
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(colour)
    p.drawEllipse(r)
    white = _pen(QColor("white"), 1.8 * u, cap=Qt.PenCapStyle.RoundCap,
                 join=Qt.PenJoinStyle.RoundJoin)
    p.setPen(white)
    p.setBrush(QColor("white"))
    path = QPainterPath()
    if status == Status.RUNNING:
        path.moveTo(c.x() - 2.5 * u, c.y() - 4 * u)
        path.lineTo(c.x() + 4 * u, c.y())
        path.lineTo(c.x() - 2.5 * u, c.y() + 4 * u)
        path.closeSubpath()
        p.setPen(Qt.PenStyle.NoPen)
        p.drawPath(path)
    elif status == Status.PAUSED:
        p.setPen(Qt.PenStyle.NoPen)
        p.drawRect(QRectF(c.x() - 3.2 * u, c.y() - 3.5 * u, 2.2 * u, 7 * u))
        p.drawRect(QRectF(c.x() + 1.0 * u, c.y() - 3.5 * u, 2.2 * u, 7 * u))
    elif status == Status.COMPLETED:
        p.setBrush(Qt.BrushStyle.NoBrush)
        path.moveTo(c.x() - 3.5 * u, c.y())
        path.lineTo(c.x() - 1 * u, c.y() + 2.7 * u)
        path.lineTo(c.x() + 3.8 * u, c.y() - 2.8 * u)
        p.drawPath(path)
    elif status == Status.FAILED:
        d = 2.8 * u
        p.drawLine(QPointF(c.x() - d, c.y() - d), QPointF(c.x() + d, c.y() + d))
        p.drawLine(QPointF(c.x() - d, c.y() + d), QPointF(c.x() + d, c.y() - d))
    elif status == Status.CANCELLED:
        p.drawLine(QPointF(c.x() - 3.5 * u, c.y()), QPointF(c.x() + 3.5 * u, c.y()))
    elif status == Status.SKIPPED:
        for dx in (-2.5, 1.0):
            p.drawLine(QPointF(c.x() + dx * u, c.y() - 3 * u), QPointF(c.x() + (dx + 2.5) * u, c.y()))
            p.drawLine(QPointF(c.x() + (dx + 2.5) * u, c.y()), QPointF(c.x() + dx * u, c.y() + 3 * u))
    elif status == Status.INTERRUPTED:
        p.drawLine(QPointF(c.x(), c.y() - 4 * u), QPointF(c.x(), c.y() + 0.8 * u))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawEllipse(QPointF(c.x(), c.y() + 3.4 * u), 1.1 * u, 1.1 * u)


@cache
def status_icon(status: Status) -> QIcon:
    """A 16 px (and 32 px for HiDPI) icon per status, made once."""
    icon = QIcon()
    for size in (16, 32):
        pm = QPixmap(size, size)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        _draw_status(p, status, float(size))
        p.end()
        icon.addPixmap(pm)
    return icon


@cache
def app_icon() -> QIcon:
    """The trackdesk mark: a winding track with a start and an end point."""
    icon = QIcon()
    for size in (16, 32, 64, 128):
        pm = QPixmap(size, size)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        u = size / 32.0
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#1e3a8a"))
        p.drawRoundedRect(QRectF(0, 0, size, size), 7 * u, 7 * u)
        path = QPainterPath(QPointF(7 * u, 24 * u))
        path.cubicTo(QPointF(14 * u, 26 * u), QPointF(8 * u, 12 * u), QPointF(16 * u, 13 * u))
        path.cubicTo(QPointF(24 * u, 14 * u), QPointF(19 * u, 6 * u), QPointF(25 * u, 7 * u))
        p.setPen(_pen(QColor("#93c5fd"), 2.6 * u, cap=Qt.PenCapStyle.RoundCap))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(path)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#22c55e"))
        p.drawEllipse(QPointF(7 * u, 24 * u), 3 * u, 3 * u)
        p.setBrush(QColor("#f97316"))
        p.drawEllipse(QPointF(25 * u, 7 * u), 3 * u, 3 * u)
        p.end()
        icon.addPixmap(pm)
    return icon


def std_icon(name: str) -> QIcon:
    """A theme icon when the desktop has one, else the style's built-in one."""
    fallback = getattr(QStyle.StandardPixmap, name, None)
    style = QApplication.style()
    if fallback is None or style is None:
        return QIcon()
    return style.standardIcon(fallback)
