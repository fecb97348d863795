"""The canvas's document: one Chain (the engine's model) plus the undo stack.

Every edit is a QUndoCommand pushed here; commands change the Chain through its own
methods (so the model's checks apply) and announce the change with a signal. The scene
only listens: it never changes the chain itself.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from trackdesk.engine.chains import Chain, Node, UnknownSkillInChainError, layered_layout
from trackdesk.skills.registry import SkillRegistry


class ChainDocument(QObject):
    nodeAdded = Signal(str)
    nodeRemoved = Signal(str)
    nodeChanged = Signal(str)  # position, parameters, launcher or profile
    linkAdded = Signal(str, str)
    linkRemoved = Signal(str, str)
    reset = Signal()  # a whole new chain
    changed = Signal()  # after any of the above

    def __init__(self, registry: SkillRegistry, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self.chain = Chain("untitled")
        self.template: str | None = None  # the stored template this chain came from
        self.read_only = False  # came from a read-only template: saving makes a copy
        self.undo_stack = QUndoStack(self)
        self.undo_stack.indexChanged.connect(self._stack_changed)
        self.undo_stack.cleanChanged.connect(self._stack_changed)

    def _stack_changed(self, *_args: object) -> None:
        try:
            self.changed.emit()
        except RuntimeError:
            pass  # the stack clears itself while the document is being destroyed

    # ------------------------------------------------------------------ state -----
    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    def set_chain(self, chain: Chain, template: str | None, read_only: bool = False,
                  modified: bool = False) -> None:
        """Show a new chain; the undo history starts again."""
        self.undo_stack.clear()
        self.chain = chain
        self.template = template
        self.read_only = read_only
        self.reset.emit()
        self.undo_stack.setClean()
        if modified:
            # A restored or imported chain is not saved anywhere yet: keep it dirty.
            self.undo_stack.resetClean()
        self.changed.emit()

    def mark_saved(self, template: str) -> None:
        self.template = template
        self.chain.name = template
        self.read_only = False
        self.undo_stack.setClean()
        self.changed.emit()

    # ------------------------------------------------------------------ edits -----
    def add_node(self, skill: str, x: float, y: float,
                 params: dict[str, Any] | None = None) -> str:
        """Add a node of ``skill`` (undoable); returns its id."""
        if skill not in self.registry:
            raise UnknownSkillInChainError(f"unknown skill {skill!r}")
        node = Node(self.chain.new_node_id(skill), skill, dict(params or {}), None, x, y)
        self.undo_stack.push(_AddNode(self, node))
        return node.id

    def connect_nodes(self, upstream: str, downstream: str) -> None:
        """Link two nodes (undoable); raises the model's typed error when refused."""
        self.chain.check_connect(upstream, downstream, self.registry)
        self.undo_stack.push(_AddLink(self, upstream, downstream))

    def remove(self, node_ids: list[str], links: list[tuple[str, str]] | None = None) -> None:
        """Delete nodes (with their links) and links (undoable, one step)."""
        links = links or []
        node_ids = [i for i in node_ids if self.chain.has_node(i)]
        links = [link for link in links if link in self.chain.links
                 and link[0] not in node_ids and link[1] not in node_ids]
        if node_ids or links:
            self.undo_stack.push(_Remove(self, node_ids, list(links)))

    def move_nodes(self, moves: dict[str, tuple[tuple[float, float], tuple[float, float]]],
                   text: str = "Move") -> None:
        moves = {i: m for i, m in moves.items() if m[0] != m[1] and self.chain.has_node(i)}
        if moves:
            self.undo_stack.push(_Move(self, moves, text))

    def auto_layout(self) -> None:
        """Arrange the nodes in columns by topological depth (undoable)."""
        positions = layered_layout(self.chain)
        self.move_nodes({n.id: ((n.x, n.y), positions[n.id]) for n in self.chain.nodes},
                        "Auto-layout")

    def set_node(self, node_id: str, text: str = "Edit parameters", **fields: Any) -> None:
        """Change params / launcher / profile of a node (undoable)."""
        node = self.chain.node(node_id)
        before = {k: _copy(getattr(node, k)) for k in fields}
        after = {k: _copy(v) for k, v in fields.items()}
        if before != after:
            self.undo_stack.push(_SetNode(self, node_id, before, after, text))

    # ------------------------------------------------------------------ used by commands
    def _apply_node_fields(self, node_id: str, values: dict[str, Any]) -> None:
        node = self.chain.node(node_id)
        for k, v in values.items():
            setattr(node, k, _copy(v))
        self.nodeChanged.emit(node_id)


def _copy(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value


class _AddNode(QUndoCommand):
    def __init__(self, doc: ChainDocument, node: Node) -> None:
        super().__init__(f"Add {node.skill}")
        self.doc, self.node = doc, node

    def redo(self) -> None:
        self.doc.chain.insert_node(self.node.copy())
        self.doc.nodeAdded.emit(self.node.id)

    def undo(self) -> None:
        self.doc.chain.remove_node(self.node.id)
        self.doc.nodeRemoved.emit(self.node.id)


class _AddLink(QUndoCommand):
    def __init__(self, doc: ChainDocument, a: str, b: str) -> None:
        super().__init__(f"Link {a} → {b}")
        self.doc, self.a, self.b = doc, a, b

    def redo(self) -> None:
        self.doc.chain.add_link(self.a, self.b)
        self.doc.linkAdded.emit(self.a, self.b)

    def undo(self) -> None:
        self.doc.chain.remove_link(self.a, self.b)
        self.doc.linkRemoved.emit(self.a, self.b)


class _Remove(QUndoCommand):
    def __init__(self, doc: ChainDocument, node_ids: list[str],
                 links: list[tuple[str, str]]) -> None:
        what = [*node_ids, *(f"{a} → {b}" for a, b in links)]
        super().__init__("Delete " + ", ".join(what[:3]) + ("…" if len(what) > 3 else ""))
        self.doc, self.node_ids, self.links = doc, node_ids, links
        self._link_slots: list[tuple[int, tuple[str, str]]] = []
        self._nodes: list[tuple[Node, int, list[tuple[int, tuple[str, str]]]]] = []

    def redo(self) -> None:
        chain = self.doc.chain
        self._link_slots = []
        for a, b in self.links:
            self._link_slots.append((chain.remove_link(a, b), (a, b)))
            self.doc.linkRemoved.emit(a, b)
        self._nodes = []
        for node_id in self.node_ids:
            node, index, gone = chain.remove_node(node_id)
            for _i, (a, b) in gone:
                self.doc.linkRemoved.emit(a, b)
            self._nodes.append((node, index, gone))
            self.doc.nodeRemoved.emit(node_id)

    def undo(self) -> None:
        chain = self.doc.chain
        # The exact inverse of redo (reverse order keeps every index right); the view
        # hears of the links only once all their nodes are back.
        for node, index, _gone in reversed(self._nodes):
            chain.insert_node(node, index)
        for _node, _index, gone in reversed(self._nodes):
            chain.restore_links(gone)
        for node, _index, _gone in self._nodes:
            self.doc.nodeAdded.emit(node.id)
        for _node, _index, gone in self._nodes:
            for _i, (a, b) in gone:
                self.doc.linkAdded.emit(a, b)
        for index, (a, b) in reversed(self._link_slots):
            chain.links.insert(min(index, len(chain.links)), (a, b))
            self.doc.linkAdded.emit(a, b)


class _Move(QUndoCommand):
    def __init__(self, doc: ChainDocument,
                 moves: dict[str, tuple[tuple[float, float], tuple[float, float]]],
                 text: str) -> None:
        super().__init__(text)
        self.doc, self.moves = doc, moves

    def _go(self, which: int) -> None:
        for node_id, ends in self.moves.items():
            x, y = ends[which]
            self.doc._apply_node_fields(node_id, {"x": x, "y": y})

    def redo(self) -> None:
        self._go(1)

    def undo(self) -> None:
        self._go(0)


class _SetNode(QUndoCommand):
    def __init__(self, doc: ChainDocument, node_id: str, before: dict[str, Any],
                 after: dict[str, Any], text: str) -> None:
        super().__init__(f"{text} ({node_id})")
        self.doc, self.node_id, self.before, self.after = doc, node_id, before, after

    def redo(self) -> None:
        self.doc._apply_node_fields(self.node_id, self.after)

    def undo(self) -> None:
        self.doc._apply_node_fields(self.node_id, self.before)
