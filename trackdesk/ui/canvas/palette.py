"""The palette: every skill of the registry, built-in and user skills apart, searchable;
drag one onto the canvas (or double-click it) to add it to the chain."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtWidgets import QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from trackdesk.skills.registry import SkillRegistry
from trackdesk.skills.spec import SkillSpec
from trackdesk.ui.canvas.view import MIME_SKILL

GROUPS = (("builtin", "Built-in skills"), ("user", "Your skills"), ("test", "Test skills"))
# Import reads files the user picks (drop them on the main window): not a chain step.
HIDDEN = {"import"}
SKILL_ROLE = Qt.ItemDataRole.UserRole + 1


class _SkillTree(QTreeWidget):
    def mimeData(self, items: Sequence[QTreeWidgetItem]) -> QMimeData:  # noqa: N802
        data = QMimeData()
        names = [i.data(0, SKILL_ROLE) for i in items if i.data(0, SKILL_ROLE)]
        if names:
            data.setData(MIME_SKILL, names[0].encode("utf-8"))
            data.setText(names[0])
        return data

    def mimeTypes(self) -> list[str]:  # noqa: N802
        return [MIME_SKILL]

    def supportedDropActions(self) -> Qt.DropAction:  # noqa: N802
        return Qt.DropAction.CopyAction  # skills are lent to the canvas, never moved


class SkillPalette(QWidget):
    skillActivated = Signal(str)  # double-click / Enter: add at the centre of the view

    def __init__(self, registry: SkillRegistry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search skills…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.apply_filter)
        self.tree = _SkillTree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QTreeWidget.DragDropMode.DragOnly)
        self.tree.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.tree.setRootIsDecorated(False)
        self.tree.setIndentation(8)
        self.tree.itemActivated.connect(self._activated)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.search)
        lay.addWidget(self.tree)
        self.set_registry(registry)

    def set_registry(self, registry: SkillRegistry) -> None:
        self.registry = registry
        self.tree.clear()
        specs = [s for s in registry.specs() if s.name not in HIDDEN]
        for kind, title in GROUPS:
            group_specs = [s for s in specs if (s.kind if s.kind in ("builtin", "test")
                                                 else "user") == kind]
            if not group_specs:
                continue
            group = QTreeWidgetItem(self.tree, [title])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            for spec in group_specs:
                self._item(group, spec)
            group.setExpanded(True)
        # User skills that did not load: listed (not draggable) so the user sees why.
        broken = [p for p in registry.problems if p.fatal]
        if broken:
            group = QTreeWidgetItem(self.tree, ["Skills that did not load"])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            for problem in broken:
                name = Path(problem.folder or str(problem)).name or "?"
                item = QTreeWidgetItem(group, [f"⚠ {name}"])
                item.setFlags(Qt.ItemFlag.NoItemFlags)
                item.setToolTip(0, f"{problem}\n\nFix the file, then Chains → Reload "
                                "skills.")
            group.setExpanded(True)
        self.apply_filter(self.search.text())

    def _item(self, group: QTreeWidgetItem, spec: SkillSpec) -> None:
        item = QTreeWidgetItem(group, [spec.title or spec.name])
        item.setData(0, SKILL_ROLE, spec.name)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                      | Qt.ItemFlag.ItemIsDragEnabled)
        params = ", ".join(p.name for p in spec.params)
        item.setToolTip(0, f"<b>{spec.title or spec.name}</b> ({spec.name} {spec.version})"
                        f"<br>{spec.description}"
                        + (f"<br><i>parameters: {params}</i>" if params else "")
                        + "<br>Drag onto the canvas, or double-click.")

    def visible_skills(self) -> list[str]:
        out = []
        for g in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(g)
            for i in range(group.childCount()):
                item = group.child(i)
                if not item.isHidden() and item.data(0, SKILL_ROLE):
                    out.append(item.data(0, SKILL_ROLE))
        return out

    def apply_filter(self, text: str) -> None:
        """Show skills whose name, title or description holds every word typed."""
        words = text.lower().split()
        for g in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(g)
            shown = 0
            for i in range(group.childCount()):
                item = group.child(i)
                name = item.data(0, SKILL_ROLE)
                if name and name in self.registry:
                    spec = self.registry.get(name)
                    hay = f"{spec.name} {spec.title} {spec.description}".lower()
                else:
                    hay = f"{item.text(0)} {item.toolTip(0)}".lower()
                hide = not all(w in hay for w in words)
                item.setHidden(hide)
                shown += not hide
            group.setHidden(shown == 0)

    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        name = item.data(0, SKILL_ROLE)
        if name:
            self.skillActivated.emit(name)
