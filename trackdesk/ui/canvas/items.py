"""What the canvas draws: a node (a skill, its ports and the state of its latest task)
and a link (upstream output -> downstream input). Items hold no chain state of their own
beyond what they paint; the scene keeps them in step with the document."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsObject,
    QGraphicsPathItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from trackdesk.engine.records import TaskRecord
from trackdesk.engine.states import Status
from trackdesk.ui.format import STATUS_COLOURS

NODE_W = 200.0
NODE_H = 74.0
PORT_R = 7.0
HEADER_H = 26.0
ACCENT = QColor("#1e3a8a")
INVALID = QColor("#dc2626")


class PortItem(QGraphicsEllipseItem):
    """An input (top) or output (bottom) port of a node; links are dragged out of
    outputs and dropped on inputs. Chains flow downwards: a long chain then fits a
    landscape window at a readable zoom (nodes are wider than tall)."""

    def __init__(self, node: NodeItem, kind: str) -> None:
        super().__init__(-PORT_R, -PORT_R, 2 * PORT_R, 2 * PORT_R, node)
        self.node = node
        self.kind = kind  # "in" | "out"
        self.setPos(NODE_W / 2, 0.0 if kind == "in" else NODE_H)
        self.setPen(QPen(ACCENT, 1.6))
        self.setBrush(QBrush(QColor("white") if kind == "in" else QColor("#93c5fd")))
        self.setAcceptHoverEvents(True)
        self.setZValue(2)
        if kind == "out":
            self.setCursor(Qt.CursorShape.CrossCursor)
            self.setToolTip("Drag from here to another skill's input to make it wait "
                            "for this one")
        else:
            self.setToolTip("Drop a link here: this skill then runs after the other one")

    def highlight(self, state: bool | None) -> None:
        """None: normal; True: the link may end here; False: it may not."""
        colour = {None: QColor("white") if self.kind == "in" else QColor("#93c5fd"),
                  True: QColor("#22c55e"), False: INVALID}[state]
        self.setBrush(QBrush(colour))

    def hoverEnterEvent(self, event: Any) -> None:  # noqa: N802
        self.setScale(1.3)
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event: Any) -> None:  # noqa: N802
        self.setScale(1.0)
        super().hoverLeaveEvent(event)


class NodeItem(QGraphicsObject):
    """One node: title, node id and launcher, and a strip with its latest task's state."""

    def __init__(self, node_id: str, skill: str, title: str) -> None:
        super().__init__()
        self.node_id = node_id
        self.skill = skill
        self.title = title
        self.launcher: str | None = None
        self.problems: list[str] = []
        self.task: TaskRecord | None = None
        self.links: list[LinkItem] = []
        self.in_port = PortItem(self, "in")
        self.out_port = PortItem(self, "out")
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable
                      | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(1)
        self._update_tip()

    # -- state shown ------------------------------------------------------------------
    def set_problems(self, problems: list[str]) -> None:
        if problems != self.problems:
            self.problems = problems
            self._update_tip()
            self.update()

    def set_launcher(self, launcher: str | None) -> None:
        if launcher != self.launcher:
            self.launcher = launcher
            self.update()

    def set_task(self, task: TaskRecord | None) -> None:
        self.task = task
        self._update_tip()
        self.update()

    @property
    def status(self) -> Status | None:
        return None if self.task is None else Status(self.task.status)

    def status_text(self) -> str:
        t = self.task
        if t is None:
            return "not run yet"
        status = Status(t.status)
        if status in (Status.RUNNING, Status.PAUSED):
            if t.total_points:
                return (f"{status.value} {t.progress_percent:.0f}% · "
                        f"{short(t.processed_points)} / {short(t.total_points)}")
            return f"{status.value}…"
        if status == Status.COMPLETED and t.total_points:
            return f"completed · {short(t.total_points)} points"
        return status.value

    def _update_tip(self) -> None:
        lines = [f"<b>{self.title}</b> ({self.node_id})"]
        if self.task is not None:
            lines.append(f"task {self.task.id}: {self.status_text()}")
            if self.task.error_message:
                lines.append(self.task.error_message.splitlines()[0][:200])
        lines += [f"<span style='color:#dc2626'>{p}</span>" for p in self.problems]
        lines.append("<i>right-click: rerun from here, open the task</i>")
        self.setToolTip("<br>".join(lines))

    # -- geometry ---------------------------------------------------------------------
    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(-2, -2, NODE_W + 4, NODE_H + 4)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(QRectF(0, 0, NODE_W, NODE_H), 8, 8)
        return path

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:  # noqa: N802
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            for link in self.links:
                link.adjust()
        return super().itemChange(change, value)

    def paint(self, p: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(0, 0, NODE_W, NODE_H)
        status = self.status
        colour = QColor(STATUS_COLOURS[status]) if status is not None else QColor("#94a3b8")
        # Body and header.
        border = INVALID if self.problems else (QColor("#f59e0b") if self.isSelected()
                                                else QColor("#334155"))
        p.setPen(QPen(border, 2.6 if self.isSelected() or self.problems else 1.2))
        p.setBrush(QColor("#ffffff"))
        p.drawRoundedRect(rect, 8, 8)
        header = QPainterPath()
        header.addRoundedRect(QRectF(0, 0, NODE_W, HEADER_H), 8, 8)
        header.addRect(QRectF(0, HEADER_H - 8, NODE_W, 8))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#e0e7ff"))
        p.drawPath(header.simplified())
        # Title and id.
        font = QFont(p.font())
        font.setBold(True)
        font.setPointSizeF(9.5)
        p.setFont(font)
        p.setPen(QColor("#0f172a"))
        fm = QFontMetricsF(font)
        p.drawText(QRectF(10, 0, NODE_W - 20, HEADER_H),
                   Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                   fm.elidedText(self.title, Qt.TextElideMode.ElideRight, NODE_W - 20))
        small = QFont(p.font())
        small.setBold(False)
        small.setPointSizeF(8.0)
        p.setFont(small)
        sm = QFontMetricsF(small)
        sub = self.node_id + (f" · {self.launcher}" if self.launcher else "") + (
            f" · task {self.task.id}" if self.task is not None else "")
        if self.problems:
            sub = f"⚠ {len(self.problems)} problem{'s' if len(self.problems) > 1 else ''} · " + sub
            p.setPen(INVALID)
        else:
            p.setPen(QColor("#475569"))
        p.drawText(QRectF(10, HEADER_H + 2, NODE_W - 20, 18),
                   Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                   sm.elidedText(sub, Qt.TextElideMode.ElideRight, NODE_W - 20))
        # Status strip: a dot, the state and, while it runs, a progress bar.
        y = HEADER_H + 22
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(colour)
        p.drawEllipse(QPointF(15, y + 8), 4.5, 4.5)
        p.setPen(colour.darker(120) if status is not None else QColor("#64748b"))
        p.drawText(QRectF(25, y, NODE_W - 35, 16),
                   Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                   sm.elidedText(self.status_text(), Qt.TextElideMode.ElideRight, NODE_W - 35))
        if self.task is not None:
            frac = max(0.0, min(1.0, (self.task.progress_percent or 0.0) / 100.0))
            bar = QRectF(8, NODE_H - 6, NODE_W - 16, 3.5)
            p.setBrush(QColor("#e2e8f0"))
            p.drawRoundedRect(bar, 1.5, 1.5)
            if frac > 0:
                p.setBrush(colour)
                p.drawRoundedRect(QRectF(bar.x(), bar.y(), bar.width() * frac, bar.height()),
                                  1.5, 1.5)


class LinkItem(QGraphicsPathItem):
    """A dependency: a curve from the upstream's output to the downstream's input."""

    def __init__(self, source: NodeItem, target: NodeItem) -> None:
        super().__init__()
        self.source, self.target = source, target
        source.links.append(self)
        target.links.append(self)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(0)
        self.setToolTip(f"{source.node_id} → {target.node_id}: {target.node_id} runs after "
                        f"{source.node_id}")
        self.adjust()

    @property
    def key(self) -> tuple[str, str]:
        return self.source.node_id, self.target.node_id

    def detach(self) -> None:
        for n in (self.source, self.target):
            if self in n.links:
                n.links.remove(self)

    def adjust(self) -> None:
        self.setPath(curve(self.source.out_port.scenePos(), self.target.in_port.scenePos()))

    def shape(self) -> QPainterPath:
        # A wider grip than the drawn line, so a link is easy to click.
        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        return stroker.createStroke(self.path())

    def paint(self, p: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        colour = QColor("#f59e0b") if self.isSelected() else QColor("#475569")
        p.setPen(QPen(colour, 2.4 if self.isSelected() else 1.8))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(self.path())
        end = self.target.in_port.scenePos()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(colour)
        p.drawPolygon(QPolygonF([end + QPointF(0, -PORT_R), end + QPointF(-5, -PORT_R - 9),
                                 end + QPointF(5, -PORT_R - 9)]))


def short(n: int) -> str:
    """A point count that fits a node: 950, 62.4k, 3.91M."""
    if n < 10_000:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1000:.1f}k".replace(".0k", "k")
    return f"{n / 1_000_000:.2f}M"


def curve(a: QPointF, b: QPointF) -> QPainterPath:
    """A vertical S-curve from a to b (links read top to bottom, like the chain)."""
    path = QPainterPath(a)
    dy = max(30.0, abs(b.y() - a.y()) * 0.5)
    path.cubicTo(QPointF(a.x(), a.y() + dy), QPointF(b.x(), b.y() - dy), b)
    return path
