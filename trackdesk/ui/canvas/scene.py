"""The chain as a QGraphicsScene: it mirrors the document and turns mouse gestures into
document edits (which are undoable commands). It never changes the chain itself."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSceneContextMenuEvent,
    QGraphicsSceneMouseEvent,
    QToolTip,
)

from trackdesk.engine.chains import ChainError
from trackdesk.ui.canvas.document import ChainDocument
from trackdesk.ui.canvas.items import INVALID, LinkItem, NodeItem, PortItem, curve

SCENE_MARGIN = 1500.0
REFUSAL_TIP_MS = 4000  # the longest a "Link refused" tooltip stays


class ChainScene(QGraphicsScene):
    message = Signal(str)  # what the user should read in the status bar
    nodeMenuRequested = Signal(str, QPoint)  # node id, screen position

    def __init__(self, doc: ChainDocument) -> None:
        super().__init__()
        self.doc = doc
        self.nodes: dict[str, NodeItem] = {}
        self.links: dict[tuple[str, str], LinkItem] = {}
        self._drag_from: NodeItem | None = None
        self._drag_line: QGraphicsPathItem | None = None
        self._refusal_tip = False  # a "Link refused" tooltip of ours is showing
        self._drag_target: PortItem | None = None
        self._press_positions: dict[str, tuple[float, float]] = {}
        self.last_refusal = ""
        self.setBackgroundBrush(QColor("#f8fafc"))
        doc.reset.connect(self.rebuild)
        doc.nodeAdded.connect(self._add_node)
        doc.nodeRemoved.connect(self._remove_node)
        doc.nodeChanged.connect(self._node_changed)
        doc.linkAdded.connect(self._add_link)
        doc.linkRemoved.connect(self._remove_link)
        doc.changed.connect(self.grow)
        self.rebuild()

    # ================================================================ mirroring =====
    def rebuild(self) -> None:
        self.clearSelection()
        for link in list(self.links.values()):
            link.detach()
        self.clear()
        self.nodes.clear()
        self.links.clear()
        self._drag_line = None
        for n in self.doc.chain.nodes:
            self._add_node(n.id)
        for a, b in self.doc.chain.links:
            self._add_link(a, b)
        self.setSceneRect(QRectF())  # a new chain: start from its own size
        self.setSceneRect(self.itemsBoundingRect())
        self.grow()

    def grow(self) -> None:
        """Keep a wide margin around the chain: the canvas pans freely, like paper that
        goes on (it grows, never shrinks under the user's view)."""
        want = self.itemsBoundingRect().adjusted(-SCENE_MARGIN, -SCENE_MARGIN,
                                                 SCENE_MARGIN, SCENE_MARGIN)
        if not self.sceneRect().contains(want):
            self.setSceneRect(self.sceneRect().united(want))

    def _title(self, skill: str) -> str:
        if skill in self.doc.registry:
            spec = self.doc.registry.get(skill)
            return spec.title or spec.name
        return skill

    def _add_node(self, node_id: str) -> None:
        node = self.doc.chain.node(node_id)
        item = NodeItem(node_id, node.skill, self._title(node.skill))
        item.setPos(node.x, node.y)
        item.set_launcher(node.launcher)
        self.addItem(item)
        self.nodes[node_id] = item
        self.refresh_problems(node_id)

    def _remove_node(self, node_id: str) -> None:
        item = self.nodes.pop(node_id, None)
        if item is not None:
            self.removeItem(item)

    def _node_changed(self, node_id: str) -> None:
        item = self.nodes.get(node_id)
        if item is None:
            return
        node = self.doc.chain.node(node_id)
        if (item.x(), item.y()) != (node.x, node.y):
            item.setPos(node.x, node.y)
        item.set_launcher(node.launcher)
        self.refresh_problems(node_id)

    def _add_link(self, a: str, b: str) -> None:
        if (a, b) in self.links or a not in self.nodes or b not in self.nodes:
            return
        link = LinkItem(self.nodes[a], self.nodes[b])
        self.addItem(link)
        self.links[(a, b)] = link

    def _remove_link(self, a: str, b: str) -> None:
        link = self.links.pop((a, b), None)
        if link is not None:
            link.detach()
            self.removeItem(link)

    def refresh_problems(self, node_id: str | None = None) -> None:
        """Mark nodes whose parameters a run would refuse."""
        ids = [node_id] if node_id else list(self.nodes)
        for i in ids:
            if i in self.nodes and self.doc.chain.has_node(i):
                errors = self.doc.chain.param_errors(i, self.doc.registry)
                self.nodes[i].set_problems(list(errors.values()))

    # ================================================================ selection =====
    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)]

    def selected_links(self) -> list[tuple[str, str]]:
        return [i.key for i in self.selectedItems() if isinstance(i, LinkItem)]

    def select_nodes(self, ids: list[str]) -> None:
        self.clearSelection()
        for i in ids:
            if i in self.nodes:
                self.nodes[i].setSelected(True)

    # ================================================================ gestures ======
    def _port_at(self, pos: QPointF) -> PortItem | None:
        for item in self.items(pos):
            if isinstance(item, PortItem):
                return item
            if isinstance(item, NodeItem):
                # Dropping on a node's body counts as its input: an easier target.
                return item.in_port
        return None

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        self.end_link_feedback()
        item = self.itemAt(event.scenePos(), self.views()[0].transform()) if self.views() \
            else None
        if isinstance(item, PortItem) and item.kind == "out" and \
                event.button() == Qt.MouseButton.LeftButton:
            self._drag_from = item.node
            line = QGraphicsPathItem()
            line.setPen(_dashed("#2563eb"))
            line.setZValue(3)
            self.addItem(line)
            self._drag_line = line
            self._update_drag(event.scenePos())
            event.accept()
            return
        super().mousePressEvent(event)
        self._press_positions = {i.node_id: (i.x(), i.y()) for i in self.nodes.values()}

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        self.end_link_feedback()
        if self._drag_from is not None:
            self._update_drag(event.scenePos())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def _update_drag(self, pos: QPointF) -> None:
        assert self._drag_from is not None and self._drag_line is not None
        self._drag_line.setPath(curve(self._drag_from.out_port.scenePos(), pos))
        target = self._port_at(pos)
        if target is not None and target.node is self._drag_from:
            target = self._drag_from.in_port  # over itself: show why not
        if self._drag_target is not None and self._drag_target is not target:
            self._drag_target.highlight(None)
        self._drag_target = target
        if target is None:
            self._drag_line.setPen(_dashed("#2563eb"))
            return
        ok, why = self.doc.chain.can_connect(self._drag_from.node_id, target.node.node_id,
                                             self.doc.registry)
        target.highlight(ok)
        self._drag_line.setPen(_dashed(QColor("#16a34a") if ok else INVALID))
        self.message.emit(f"Release to make {target.node.node_id} run after "
                          f"{self._drag_from.node_id}" if ok else f"Cannot link: {why}")

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if self._drag_from is not None:
            self._finish_drag(event)
            return
        super().mouseReleaseEvent(event)
        moved = {}
        for node_id, before in self._press_positions.items():
            item = self.nodes.get(node_id)
            if item is not None and (item.x(), item.y()) != before:
                moved[node_id] = (before, (item.x(), item.y()))
        self._press_positions = {}
        if moved:
            self.doc.move_nodes(moved)

    def _finish_drag(self, event: QGraphicsSceneMouseEvent) -> None:
        source, line = self._drag_from, self._drag_line
        self._drag_from = self._drag_line = None
        if line is not None:
            self.removeItem(line)
        target = self._drag_target
        self._drag_target = None
        if target is not None:
            target.highlight(None)
        event.accept()
        if source is None or target is None:
            self.message.emit("")  # dropped on the background: nothing to say
            return
        if target.node is source:
            target = source.in_port
        try:
            self.doc.connect_nodes(source.node_id, target.node.node_id)
        except ChainError as exc:
            self.refuse(str(exc), event.screenPos())
            return
        self.last_refusal = ""
        self.message.emit(f"{target.node.node_id} now runs after {source.node_id}")

    def refuse(self, why: str, screen_pos: QPoint | None = None) -> None:
        """A link was refused: say why, in the status bar and next to the pointer."""
        self.last_refusal = why
        self.message.emit(f"Link refused: {why}")
        if screen_pos is not None:
            # Shown for a few seconds at most, and gone as soon as the pointer moves on
            # (the status bar keeps the reason): it must not linger after the drop.
            QToolTip.showText(screen_pos, f"Link refused: {why}", None, QRect(),
                              REFUSAL_TIP_MS)
            self._refusal_tip = True

    def end_link_feedback(self) -> None:
        """Hide the "Link refused" tooltip once the user moves on."""
        if self._refusal_tip:
            self._refusal_tip = False
            if QToolTip.isVisible() and QToolTip.text().startswith("Link refused"):
                QToolTip.hideText()

    def contextMenuEvent(self, event: QGraphicsSceneContextMenuEvent) -> None:  # noqa: N802
        for item in self.items(event.scenePos()):
            node = item if isinstance(item, NodeItem) else getattr(item, "node", None)
            if isinstance(node, NodeItem):
                if not node.isSelected():
                    self.clearSelection()
                    node.setSelected(True)
                self.nodeMenuRequested.emit(node.node_id, event.screenPos())
                event.accept()
                return
        super().contextMenuEvent(event)


def _dashed(colour: str | QColor) -> QPen:
    pen = QPen(QColor(colour), 2)
    pen.setDashPattern([4, 3])
    return pen
