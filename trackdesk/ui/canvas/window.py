"""The chain canvas window: palette, canvas, inspector, templates, run and live states.

Engine calls run as asyncio tasks on the qasync loop (``spawn``); template and profile
storage blocks, so the engine's services run it on its database thread (``engine.templates``).
Dialogs open with ``open()``, never ``exec()``. The chain being edited is written to a
recovery file on every edit until it is saved, and offered again after a crash.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPoint, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QWidget,
)

from trackdesk.engine.chains import (
    DEFAULT_CHAIN_NAME,
    Chain,
    ChainError,
    LoadResult,
    RecoveryFile,
    TemplateInfo,
    export_chain,
    import_chain,
    load_document,
)
from trackdesk.engine.engine import Engine, EngineError
from trackdesk.engine.events import Event, TaskAdded, TaskChanged, TaskRemoved
from trackdesk.engine.launchers.base import LauncherUnavailable
from trackdesk.engine.profiles import ProfileError
from trackdesk.engine.records import TaskRecord
from trackdesk.engine.services import Profiles, Templates
from trackdesk.engine.states import RERUNNABLE
from trackdesk.skills.registry import SkillRegistry, load_registry
from trackdesk.ui import dialogs
from trackdesk.ui.aio import spawn
from trackdesk.ui.canvas.document import ChainDocument
from trackdesk.ui.canvas.inspector import NodeInspector
from trackdesk.ui.canvas.items import NODE_H, NODE_W
from trackdesk.ui.canvas.palette import SkillPalette
from trackdesk.ui.canvas.recovery import default_recovery_path
from trackdesk.ui.canvas.scene import ChainScene
from trackdesk.ui.canvas.view import ChainView
from trackdesk.ui.filedialogs import file_dialog, fit_title
from trackdesk.ui.icons import std_icon

if TYPE_CHECKING:
    from trackdesk.ui.host import WindowHost

log = logging.getLogger(__name__)

DOCKER_CHECK_TIMEOUT_S = 15.0
# Errors of a canvas action that are the user's to fix, shown in a box (not a crash).
CANVAS_ERRORS = (ChainError, EngineError, ProfileError, PermissionError, OSError)



class CanvasWindow(dialogs.DialogHost, QMainWindow):
    openTaskRequested = Signal(int)  # the main window selects the task in its table

    def __init__(self, registry: SkillRegistry | None = None, engine: Engine | None = None,
                 recovery: RecoveryFile | None = None, parent: QWidget | None = None,
                 engine_provider: Callable[[], Engine | None] | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Chain canvas — trackdesk")
        self.resize(1280, 760)
        self.engine: Engine | None = None
        self.recovery = recovery
        # Read before anything can overwrite it: the first edit writes a new one.
        self.pending_recovery = recovery.read() if recovery is not None else None
        self.engine_provider = engine_provider
        self.templates: list[TemplateInfo] = []
        self.node_tasks: dict[str, int] = {}  # node id -> its latest task
        self.last_run_id: str | None = None
        self.open_dialogs: list[QWidget] = []
        self.last_menu: QMenu | None = None
        self.last_preflight: list[str] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._dirty_tasks: set[int] = set()
        self._reattach = False
        self._offered = False

        self.doc = ChainDocument(registry or (engine.registry if engine else load_registry()),
                                 self)
        self.scene = ChainScene(self.doc)
        self.scene.setParent(self)
        self.view = ChainView(self.scene)
        self.setCentralWidget(self.view)
        self.palette = SkillPalette(self.doc.registry)
        self.inspector = NodeInspector(self.doc)
        self._dock(self.palette, "Skills", Qt.DockWidgetArea.LeftDockWidgetArea, "palette", 190)
        self._dock(self.inspector, "Parameters", Qt.DockWidgetArea.RightDockWidgetArea,
                   "inspector", 330)
        self.state_label = QLabel("")
        self.statusBar().addPermanentWidget(self.state_label)

        self._build_actions()
        self._build_menus()
        self._build_toolbar()

        self.scene.message.connect(lambda m: self.statusBar().showMessage(m, 6000))
        self.scene.selectionChanged.connect(self._on_selection)
        self.scene.nodeMenuRequested.connect(self._node_menu)
        self.view.skillDropped.connect(self.add_skill)
        self.palette.skillActivated.connect(self.add_skill_at_centre)
        self.inspector.profileSaveRequested.connect(self.save_profile)
        self.inspector.profileDeleteRequested.connect(self.delete_profile)
        self.inspector.profilesWanted.connect(self.load_profiles)
        self.doc.changed.connect(self._on_doc_changed)
        self.doc.nodeAdded.connect(lambda i: self._show_task(i))
        self.doc.reset.connect(self._after_reset)

        self._task_timer = QTimer(self)
        self._task_timer.setSingleShot(True)
        self._task_timer.setInterval(100)  # coalesce progress events into one repaint
        self._task_timer.timeout.connect(self._flush_tasks)
        self._engine_timer = QTimer(self)
        self._engine_timer.setInterval(1000)
        self._engine_timer.timeout.connect(self.follow_engine)
        self.set_engine(engine)
        self._on_doc_changed()

    def _dock(self, widget: QWidget, title: str, area: Qt.DockWidgetArea, name: str,
              width: int) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(area, dock)
        # The canvas gets the room; the side panes start narrow (the user can widen them).
        self.resizeDocks([dock], [width], Qt.Orientation.Horizontal)

    # ================================================================ actions =======
    def _act(self, text: str, slot: Callable[[], Any], shortcut: str | QKeySequence | None = None,
             tip: str = "", icon: str | None = None) -> QAction:
        act = QAction(text, self)
        if icon:
            act.setIcon(std_icon(icon))
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setToolTip(tip)
            act.setStatusTip(tip)
        act.triggered.connect(lambda _checked=False: slot())
        self.addAction(act)
        return act

    def _build_actions(self) -> None:
        stack = self.doc.undo_stack
        self.act_undo = stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(QKeySequence.StandardKey.Undo)
        self.act_undo.setIcon(std_icon("SP_ArrowBack"))
        self.act_redo = stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcut(QKeySequence.StandardKey.Redo)
        self.act_redo.setIcon(std_icon("SP_ArrowForward"))
        # The menu says what would be undone; the toolbar stays short.
        self.act_undo.setIconText("Undo")
        self.act_redo.setIconText("Redo")
        self.addAction(self.act_undo)
        self.addAction(self.act_redo)
        self.act_delete = self._act("&Delete", self.delete_selection, QKeySequence.StandardKey.Delete,
                                    "Delete the selected skills and links", "SP_TrashIcon")
        self.act_select_all = self._act("Select &all", self.select_all, QKeySequence.StandardKey.SelectAll)
        self.act_layout = self._act("Auto-&layout", self.auto_layout, "Ctrl+Shift+L",
                                    "Arrange the skills in columns by their place in the chain",
                                    "SP_FileDialogListView")
        self.act_zoom_in = self._act("Zoom &in", lambda: self.view.zoom_by(1.25),
                                     QKeySequence.StandardKey.ZoomIn)
        self.act_zoom_out = self._act("Zoom &out", lambda: self.view.zoom_by(0.8),
                                      QKeySequence.StandardKey.ZoomOut)
        self.act_fit = self._act("&Fit the chain", self.view.fit, "Ctrl+0",
                                 "Zoom to show the whole chain", "SP_TitleBarMaxButton")
        self.act_new = self._act("&New chain", self.new_chain, QKeySequence.StandardKey.New,
                                 "Start an empty chain")
        self.act_save = self._act("&Save template", self.save, QKeySequence.StandardKey.Save,
                                  "Save the chain as a template in the tracks.db",
                                  "SP_DialogSaveButton")
        self.act_save_as = self._act("Save template &as…", self.save_as, "Ctrl+Shift+S",
                                     "Save the chain under a new template name")
        self.act_rename = self._act("&Rename template…", self.rename_template,
                                    tip="Rename the current template")
        self.act_duplicate = self._act("D&uplicate template…", self.duplicate_template,
                                       tip="Copy the current template (the default chain "
                                       "can only be copied)")
        self.act_delete_tpl = self._act("Delete &template…", self.delete_template,
                                        tip="Delete the current template from the tracks.db")
        self.act_export = self._act("&Export to .json…", self.export_json, "Ctrl+E",
                                    "Write the chain to a .json file")
        self.act_import = self._act("&Import .json…", self.import_json, "Ctrl+Shift+O",
                                    "Read a chain from a .json file")
        self.act_run = self._act("&Run chain", partial(self.run, False), "F5",
                                 "Check the chain, then run it incrementally (points not "
                                 "analysed yet)", "SP_MediaPlay")
        self.act_run.setIconText("Run")
        self.act_run_full = self._act("Run as &full recompute", partial(self.run, True),
                                      "Shift+F5", "Check the chain, then clear each skill's "
                                      "results and analyse everything again",
                                      "SP_MediaSeekForward")
        self.act_run_full.setIconText("Full recompute")
        self.act_close = self._act("&Close canvas", self.close, QKeySequence.StandardKey.Close)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&Chain")
        m.setToolTipsVisible(True)
        m.addAction(self.act_new)
        self.templates_menu = m.addMenu("&Open template")
        self.templates_menu.setToolTipsVisible(True)
        self.templates_menu.aboutToShow.connect(self._templates_menu_shown)
        for a in (self.act_save, self.act_save_as, self.act_rename, self.act_duplicate,
                  self.act_delete_tpl, None, self.act_import, self.act_export, None,
                  self.act_close):
            m.addSeparator() if a is None else m.addAction(a)
        m = mb.addMenu("&Edit")
        for a in (self.act_undo, self.act_redo, None, self.act_delete, self.act_select_all,
                  None, self.act_layout):
            m.addSeparator() if a is None else m.addAction(a)
        m = mb.addMenu("&View")
        for a in (self.act_zoom_in, self.act_zoom_out, self.act_fit):
            m.addAction(a)
        m = mb.addMenu("&Run")
        m.setToolTipsVisible(True)
        m.addAction(self.act_run)
        m.addAction(self.act_run_full)

    def _build_toolbar(self) -> None:
        tb = self.addToolBar("Canvas")
        tb.setObjectName("canvas-toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.act_templates = QAction(std_icon("SP_DirOpenIcon"), "Templates", self)
        self.act_templates.setToolTip("Open, save, rename, duplicate, delete, import and "
                                      "export chain templates")
        menu = QMenu(self)
        menu.setToolTipsVisible(True)
        menu.addMenu(self.templates_menu)
        for a in (self.act_new, self.act_save, self.act_save_as, self.act_rename,
                  self.act_duplicate, self.act_delete_tpl, None, self.act_import,
                  self.act_export):
            menu.addSeparator() if a is None else menu.addAction(a)
        self.act_templates.setMenu(menu)
        tb.addAction(self.act_templates)
        button = tb.widgetForAction(self.act_templates)
        if button is not None:
            button.setPopupMode(button.ToolButtonPopupMode.InstantPopup)  # type: ignore[attr-defined]
        tb.addAction(self.act_save)
        tb.addSeparator()
        for a in (self.act_undo, self.act_redo, self.act_delete, self.act_layout, self.act_fit):
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.act_run)
        tb.addAction(self.act_run_full)
        self.toolbar = tb

    # ================================================================ engine ========
    def follow_engine(self) -> None:
        """Keep up with the main window's engine (it changes when another tracks.db opens)."""
        if self.engine_provider is not None:
            engine = self.engine_provider()
            if engine is not self.engine:
                self.set_engine(engine)

    def set_engine(self, engine: Engine | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        previous, self.engine = self.engine, engine
        self.node_tasks = {}
        if previous is not None and engine is not None and self.doc.template is not None:
            # Another tracks.db: the template the chain came from is not in it.
            if self.doc.modified:
                self.doc.template = None
                self.doc.read_only = False
                self.doc.undo_stack.resetClean()
            else:
                self.doc.set_chain(Chain("untitled"), None)
        self.templates = []
        if engine is not None:
            self.doc.registry = engine.registry
            self.palette.set_registry(engine.registry)
            me = self

            def on_event(event: Event) -> None:
                # The bus may outlive this window: never touch a deleted one.
                if dialogs.alive(me):
                    me._on_event(event)

            self._unsubscribe = engine.events.subscribe(on_event)
            self.refresh_templates()
            if not self.doc.chain.nodes and not self.doc.modified and \
                    self.pending_recovery is None:
                spawn(self._load_template(DEFAULT_CHAIN_NAME), "opening the default chain",
                      self._user_error)
            self.attach_latest(guess=True)
        for item in self.scene.nodes.values():
            item.set_task(None if engine is None else self._task_of(item.node_id))
        self._update_actions()

    def _task_of(self, node_id: str) -> TaskRecord | None:
        if self.engine is None or node_id not in self.node_tasks:
            return None
        return self.engine.tasks.get(self.node_tasks[node_id])

    def _show_task(self, node_id: str) -> None:
        item = self.scene.nodes.get(node_id)
        if item is not None:
            item.set_task(self._task_of(node_id))

    def _on_event(self, event: Event) -> None:
        if isinstance(event, TaskChanged | TaskRemoved):
            if event.task_id in self.node_tasks.values():
                self._dirty_tasks.add(event.task_id)
                if not self._task_timer.isActive():
                    self._task_timer.start()
        elif isinstance(event, TaskAdded) and event.task.chain_run_id and \
                event.task.chain_run_id != self.last_run_id:
            # Maybe this very chain, run from the main window or the CLI.
            self._reattach = True
            if not self._task_timer.isActive():
                self._task_timer.start()

    def _flush_tasks(self) -> None:
        if self._reattach:
            self._reattach = False
            self.attach_latest(guess=False)
        dirty, self._dirty_tasks = self._dirty_tasks, set()
        for node_id, task_id in self.node_tasks.items():
            if task_id in dirty:
                self._show_task(node_id)
        self._update_state_label()

    def attach_latest(self, guess: bool) -> None:
        """Show on each node the task of the latest run of this chain: a chain run whose
        skills are exactly the chain's. With ``guess``, a node whose skill appears once in
        the chain falls back to the latest chain task of that skill."""
        if self.engine is None or not self.doc.chain.nodes:
            return
        runs: dict[str, list[TaskRecord]] = {}
        for t in self.engine.tasks.values():
            if t.chain_run_id:
                runs.setdefault(t.chain_run_id, []).append(t)
        want = sorted(n.skill for n in self.doc.chain.nodes)
        best: list[TaskRecord] | None = None
        for tasks in runs.values():
            if sorted(t.skill_name for t in tasks) == want and (
                    best is None or max(t.id for t in tasks) > max(t.id for t in best)):
                best = tasks
        mapping: dict[str, int] = {}
        if best is not None:
            try:
                order = [n for n in self.doc.chain.topological_order()]
            except ChainError:
                order = list(self.doc.chain.nodes)
            by_skill: dict[str, list[TaskRecord]] = {}
            for t in sorted(best, key=lambda t: t.id):  # tasks are inserted in chain order
                by_skill.setdefault(t.skill_name, []).append(t)
            for n in order:
                if by_skill.get(n.skill):
                    mapping[n.id] = by_skill[n.skill].pop(0).id
            self.last_run_id = best[0].chain_run_id
        elif guess:
            counts: dict[str, int] = {}
            for n in self.doc.chain.nodes:
                counts[n.skill] = counts.get(n.skill, 0) + 1
            latest: dict[str, int] = {}
            for t in self.engine.tasks.values():
                if t.chain_run_id and t.id > latest.get(t.skill_name, 0):
                    latest[t.skill_name] = t.id
            mapping = {n.id: latest[n.skill] for n in self.doc.chain.nodes
                       if counts[n.skill] == 1 and n.skill in latest}
        else:
            return
        self.node_tasks = mapping
        for node_id in self.scene.nodes:
            self._show_task(node_id)
        self._update_state_label()

    def _update_state_label(self) -> None:
        if self.engine is None:
            self.state_label.setText("no tracks.db open")
            return
        tasks = [t for t in (self._task_of(i) for i in self.node_tasks) if t is not None]
        if not tasks:
            self.state_label.setText("")
            return
        counts: dict[str, int] = {}
        for t in tasks:
            counts[str(t.status)] = counts.get(str(t.status), 0) + 1
        self.state_label.setText("latest run: " + ", ".join(f"{v} {k}" for k, v in
                                                            sorted(counts.items())))

    # ================================================================ document ======
    def _after_reset(self) -> None:
        self.node_tasks = {}
        self.attach_latest(guess=True)
        QTimer.singleShot(0, self.view.fit)

    def _on_doc_changed(self) -> None:
        name = self.doc.template or self.doc.chain.name or "untitled"
        ro = " (read-only: save a copy)" if self.doc.read_only else ""
        star = "*" if self.doc.modified else ""
        db = f" — {self.engine.db_path.name}" if self.engine is not None else ""
        self.setWindowTitle(f"{star}{name}{ro} — chain canvas{db}")
        self._update_actions()
        self._write_recovery()

    def _write_recovery(self) -> None:
        if self.recovery is None or (self.pending_recovery is not None and not self._offered):
            return  # the old one is still to be offered: keep it
        try:
            if self.doc.modified:
                self.recovery.write(self.doc.chain, self.doc.template,
                                    str(self.engine.db_path) if self.engine else None)
            else:
                self.recovery.clear()
        except OSError as exc:  # a full disk must not stop editing
            log.warning("could not write the canvas recovery file: %s", exc)

    def _update_actions(self) -> None:
        has_db = self.engine is not None
        is_tpl = has_db and self.doc.template is not None
        ro = self.doc.read_only
        for a in (self.act_save, self.act_save_as, self.templates_menu.menuAction()):
            a.setEnabled(has_db)
        self.act_rename.setEnabled(is_tpl and not ro)
        self.act_delete_tpl.setEnabled(is_tpl and not ro)
        self.act_duplicate.setEnabled(is_tpl)
        self.act_run.setEnabled(has_db and bool(self.doc.chain.nodes))
        self.act_run_full.setEnabled(has_db and bool(self.doc.chain.nodes))
        self.act_delete.setEnabled(bool(self.scene.selectedItems()))

    def _on_selection(self) -> None:
        ids = self.scene.selected_node_ids()
        self.inspector.show_node(ids[0] if len(ids) == 1 else None)
        self._update_actions()

    # ================================================================ editing =======
    def add_skill(self, skill: str, pos: QPointF) -> str | None:
        """Add a node where a palette skill was dropped (its centre under the pointer)."""
        try:
            node_id = self.doc.add_node(skill, pos.x() - NODE_W / 2, pos.y() - NODE_H / 2)
        except ChainError as exc:
            self.statusBar().showMessage(str(exc), 6000)
            return None
        self.scene.select_nodes([node_id])
        self.statusBar().showMessage(f"Added {node_id}: drag from its bottom port to "
                                     "link it", 6000)
        return node_id

    def add_skill_at_centre(self, skill: str) -> str | None:
        centre = self.view.mapToScene(self.view.viewport().rect().center())
        # Cascade so repeated double-clicks do not stack nodes exactly.
        offset = 24.0 * (len(self.doc.chain.nodes) % 6)
        return self.add_skill(skill, centre + QPointF(offset, offset))

    def auto_layout(self) -> None:
        self.doc.auto_layout()
        self.view.fit()

    def delete_selection(self) -> None:
        self.doc.remove(self.scene.selected_node_ids(), self.scene.selected_links())

    def select_all(self) -> None:
        for item in self.scene.items():
            item.setSelected(True)

    def new_chain(self) -> None:
        self._discard_then(lambda: self.doc.set_chain(Chain("untitled"), None))

    def _discard_then(self, go: Callable[[], None]) -> None:
        if not self.doc.modified:
            go()
            return
        self.confirm("Unsaved chain", "The chain has changes that are not saved in a "
                     "template. Discard them?", go)

    # ================================================================ templates =====
    def _templates(self) -> Templates:
        assert self.engine is not None
        return self.engine.templates

    def refresh_templates(self) -> asyncio.Task[Any] | None:
        if self.engine is None:
            return None
        return spawn(self.fetch_templates(), "listing chain templates", self._user_error)

    async def fetch_templates(self) -> list[TemplateInfo]:
        if self.engine is not None:
            self.templates = await self.engine.templates.list()
        return self.templates

    def _templates_menu_shown(self) -> None:
        # Shown at once from what we know, refreshed when the db answers (the CLI or the
        # REST API may have added templates meanwhile).
        self._fill_templates_menu()
        if self.engine is not None:
            spawn(self.fetch_templates(), "listing chain templates", self._user_error,
                  lambda _t: self._fill_templates_menu()
                  if self.templates_menu.isVisible() else None)

    def _fill_templates_menu(self) -> None:
        m = self.templates_menu
        m.clear()
        if not self.templates:
            a = m.addAction("(no templates)")
            a.setEnabled(False)
        for t in self.templates:
            label = f"{t.name} ({t.nodes} skill{'s' if t.nodes != 1 else ''})" + (
                " — read-only" if t.read_only else "")
            a = m.addAction(label)
            a.setCheckable(True)
            a.setChecked(t.name == self.doc.template)
            a.triggered.connect(partial(lambda name, _c=False: self.open_template(name),
                                        t.name))

    def open_template(self, name: str) -> None:
        self._discard_then(lambda: spawn(self._load_template(name), f"opening {name!r}",
                                         self._user_error))

    async def _load_template(self, name: str) -> LoadResult | None:
        if self.engine is None:
            return None
        templates = self._templates()
        try:
            result = await templates.load(name)
            read_only = await templates.is_read_only(name)
        except ChainError as exc:
            self._user_error(f"opening {name!r}", exc)
            return None
        self.doc.set_chain(result.chain, name, read_only=read_only)
        self._report_load(name, result)
        self.statusBar().showMessage(f"Opened template {name!r}" + (
            " (read-only: edits are saved as a copy)" if read_only else ""), 6000)
        return result

    def _report_load(self, what: str, result: LoadResult) -> None:
        if result.warnings:
            self.show_message(QMessageBox.Icon.Warning, "Chain loaded with changes",
                              f"{what} could not be loaded whole; what could be read is on "
                              "the canvas.\n\n" + "\n".join(f"• {w}" for w in
                                                           result.warnings[:15]),
                              "\n".join(result.warnings))

    def save(self) -> asyncio.Task[Any] | None:
        if self.engine is None:
            return None
        if self.doc.template is None or self.doc.read_only:
            self.save_as()
            return None
        return spawn(self._save(self.doc.template, overwrite=True), "saving the template",
                     self._user_error)

    def save_as(self) -> None:
        if self.engine is None:
            return
        base = self.doc.template or self.doc.chain.name or "my chain"
        if self.doc.read_only or base == "untitled":
            from trackdesk.engine.chains import unique_name

            base = unique_name(f"{base} copy" if self.doc.read_only else "my chain",
                               [t.name for t in self.templates])
        self.ask_text("Save chain template", "Template name:", base,
                      lambda name: spawn(self._save(name.strip(), overwrite=False),
                                         "saving the template", self._user_error))

    async def _save(self, name: str, overwrite: bool) -> str | None:
        assert self.engine is not None
        try:
            saved = await self._templates().save(self.doc.chain, name,
                                                 overwrite or name == self.doc.template)
        except CANVAS_ERRORS as exc:
            self._user_error("saving the template", exc)
            return None
        self.doc.mark_saved(saved)
        self.statusBar().showMessage(f"Saved template {saved!r}", 5000)
        await self.fetch_templates()
        return saved

    def rename_template(self) -> None:
        old = self.doc.template
        if self.engine is None or old is None or self.doc.read_only:
            return
        self.ask_text("Rename chain template", "New name:", old,
                      lambda new: spawn(self._rename(old, new.strip()), "renaming the template",
                                        self._user_error))

    async def _rename(self, old: str, new: str) -> None:
        assert self.engine is not None
        try:
            new = await self._templates().rename(old, new)
        except CANVAS_ERRORS as exc:
            self._user_error("renaming the template", exc)
            return
        self.doc.template = new
        self.doc.chain.name = new
        self._on_doc_changed()
        self.statusBar().showMessage(f"Renamed {old!r} to {new!r}", 5000)
        await self.fetch_templates()

    def duplicate_template(self) -> None:
        name = self.doc.template
        if self.engine is None or name is None:
            return
        from trackdesk.engine.chains import unique_name

        self.ask_text("Duplicate chain template", "Name of the copy:",
                      unique_name(f"{name} copy", [t.name for t in self.templates]),
                      lambda new: spawn(self._duplicate(name, new.strip()),
                                        "duplicating the template", self._user_error))

    async def _duplicate(self, name: str, new: str) -> None:
        assert self.engine is not None
        try:
            new = await self._templates().duplicate(name, new)
        except CANVAS_ERRORS as exc:
            self._user_error("duplicating the template", exc)
            return
        await self.fetch_templates()
        if not self.doc.modified:
            await self._load_template(new)
        self.statusBar().showMessage(f"Copied {name!r} to {new!r}", 5000)

    def delete_template(self) -> None:
        name = self.doc.template
        if self.engine is None or name is None or self.doc.read_only:
            return
        self.confirm("Delete chain template", f"Delete the template {name!r} from the "
                     "tracks.db?\n\nThe chain stays on the canvas (unsaved); tasks it ran "
                     "stay in the history.",
                     lambda: spawn(self._delete(name), "deleting the template",
                                   self._user_error))

    async def _delete(self, name: str) -> None:
        assert self.engine is not None
        try:
            await self._templates().delete(name)
        except CANVAS_ERRORS as exc:
            self._user_error("deleting the template", exc)
            return
        if self.doc.template == name:
            self.doc.template = None
            self.doc.undo_stack.resetClean()  # it is saved nowhere now
        self.statusBar().showMessage(f"Deleted template {name!r}", 5000)
        await self.fetch_templates()

    def export_json(self) -> None:
        dialog = file_dialog(
            self, "Export chain", "save",
            lambda files: spawn(self.export_to(files[0]), "exporting the chain",
                                self._user_error),
            filters=["Chain files (*.json)"], select=f"{self.doc.chain.name or 'chain'}.json",
            suffix="json")
        self._remember(dialog)

    async def export_to(self, path: Path) -> Path | None:
        chain = self.doc.chain.copy()
        try:
            out = await asyncio.to_thread(export_chain, chain, path)
        except OSError as exc:
            self._user_error("exporting the chain", exc)
            return None
        self.statusBar().showMessage(f"Exported to {out}", 6000)
        return out

    def import_json(self) -> None:
        dialog = file_dialog(
            self, "Import chain", "open",
            lambda files: self._discard_then(lambda: spawn(
                self.import_from(files[0]), "importing the chain", self._user_error)),
            filters=["Chain files (*.json)", "All files (*)"])
        self._remember(dialog)

    async def import_from(self, path: Path) -> LoadResult | None:
        try:
            result = await asyncio.to_thread(import_chain, path, self.doc.registry)
        except ChainError as exc:
            self._user_error(f"importing {path.name}", exc)
            return None
        # Imported, not saved: it becomes a template only when the user saves it.
        self.doc.set_chain(result.chain, None, modified=True)
        self._report_load(path.name, result)
        self.statusBar().showMessage(f"Imported {path.name}; save it to keep it as a "
                                     "template", 6000)
        return result

    # ================================================================ profiles ======
    def _profiles(self) -> Profiles:
        assert self.engine is not None
        return self.engine.profiles

    def load_profiles(self, skill: str) -> asyncio.Task[Any] | None:
        if self.engine is None:
            return None
        return spawn(self.fetch_profiles(skill), "reading threshold profiles",
                     self._user_error)

    async def fetch_profiles(self, skill: str) -> None:
        if self.engine is None:
            return
        profiles = await self._profiles().list(skill)
        if dialogs.alive(self.inspector):
            self.inspector.set_profiles(skill, profiles)

    def save_profile(self, skill: str, name: str, params: dict[str, Any]) -> asyncio.Task[Any] | None:
        if self.engine is None:
            return None

        async def go() -> None:
            try:
                await self._profiles().save(skill, name, params)
            except ProfileError as exc:
                self._user_error("saving the profile", exc)
                return
            self.statusBar().showMessage(f"Saved profile {name!r} of {skill}", 5000)
            ids = self.scene.selected_node_ids()
            if len(ids) == 1 and self.doc.chain.node(ids[0]).skill == skill and \
                    self.doc.chain.node(ids[0]).params == params:
                self.doc.set_node(ids[0], "Name the profile", profile=name)
            await self.fetch_profiles(skill)

        return spawn(go(), "saving the profile", self._user_error)

    def delete_profile(self, skill: str, name: str) -> None:
        def go() -> None:
            async def run() -> None:
                await self._profiles().delete(skill, name)
                await self.fetch_profiles(skill)
            spawn(run(), "deleting the profile", self._user_error)

        if self.engine is not None:
            self.confirm("Delete profile", f"Delete the threshold profile {name!r} of "
                         f"{skill}? Chains that used it keep their values.", go)

    # ================================================================ running =======
    async def preflight(self) -> list[str]:
        """Why the chain cannot run now: bad parameters, Docker not answering for a node
        that runs in Docker, the tracks.db not open or not answering. Empty: go."""
        engine = self.engine
        if engine is None or engine.store is None or not engine.started:
            return ["no tracks.db is open"]
        problems = [p.message for p in self.doc.chain.validate(
            engine.registry, engine.settings.default_launcher)]
        try:
            await asyncio.wait_for(engine.check_db(), 10)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            problems.append(f"the tracks.db is not ready: {exc or type(exc).__name__}")
        if "docker" in self.doc.chain.launchers_used(engine.settings.default_launcher):
            launcher = engine.launchers.get("docker")
            if launcher is None:
                problems.append("a skill runs in Docker, but the Docker launcher is not "
                                "available in this app")
            else:
                try:
                    # Runs on the launcher's own threads: the GUI stays live.
                    await asyncio.wait_for(launcher.ensure_available(),
                                           DOCKER_CHECK_TIMEOUT_S)
                except LauncherUnavailable as exc:
                    problems.append(f"Docker: {exc}")
                except TimeoutError:
                    problems.append(f"Docker did not answer within "
                                    f"{DOCKER_CHECK_TIMEOUT_S:g} s")
        return problems

    def run(self, full: bool) -> None:
        if self.engine is None:
            return
        task_type = "FULL_RECOMPUTE" if full else "INCREMENTAL"

        def go() -> None:
            spawn(self.run_chain(task_type), "running the chain", self._user_error)

        if full:
            self.confirm("Full recompute", "Run every skill of this chain as a full "
                         "recompute?\n\nEach skill's previous results are cleared and all "
                         "points are analysed again; imported points are never changed.", go)
        else:
            go()

    async def run_chain(self, task_type: str = "INCREMENTAL") -> list[TaskRecord]:
        """Pre-flight, then one task per node; the nodes follow their tasks."""
        engine = self.engine
        if engine is None:
            return []
        self.statusBar().showMessage("Checking the chain before running it…")
        problems = await self.preflight()
        self.last_preflight = problems
        if problems:
            self.statusBar().showMessage("The chain cannot run yet: " + problems[0], 8000)
            self.show_message(QMessageBox.Icon.Warning, "The chain cannot run yet",
                              "Fix these first:\n\n" + "\n".join(f"• {p}" for p in
                                                                 problems[:15]),
                              "\n".join(problems))
            return []
        chain = self.doc.chain.copy()
        order = [n.id for n in chain.topological_order()]
        records = await engine.run_chain(chain=chain, task_type=task_type)
        # run_chain makes the tasks in the chain's topological order.
        self.node_tasks = {node_id: rec.id for node_id, rec in zip(order, records, strict=True)}
        self.last_run_id = records[0].chain_run_id if records else None
        for node_id in self.scene.nodes:
            self._show_task(node_id)
        self._update_state_label()
        self.statusBar().showMessage(
            f"Chain run {self.last_run_id} queued: {len(records)} tasks "
            f"({'full recompute' if task_type == 'FULL_RECOMPUTE' else 'incremental'})", 6000)
        return records

    # ================================================================ node menu =====
    def _node_menu(self, node_id: str, pos: QPoint) -> None:
        menu = self.build_node_menu(node_id)
        menu.popup(pos)

    def build_node_menu(self, node_id: str) -> QMenu:
        task = self._task_of(node_id)
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.setToolTipsVisible(True)
        # Only a finished (or interrupted) task can run again; the engine says the same.
        rerunnable = task is not None and task.status in RERUNNABLE
        a = menu.addAction(std_icon("SP_ArrowDown"), "Rerun from &here",
                           lambda: self.rerun_from(node_id, downstream=True))
        a.setToolTip("Rerun this skill's latest task and every task after it in its run")
        a.setEnabled(rerunnable)
        a = menu.addAction(std_icon("SP_BrowserReload"), "Rerun this &skill only",
                           lambda: self.rerun_from(node_id, downstream=False))
        a.setEnabled(rerunnable)
        a = menu.addAction(std_icon("SP_FileDialogDetailedView"),
                           f"&Open task {task.id}" if task else "Open task",
                           lambda: self.open_task(node_id))
        a.setToolTip("Select this node's latest task in the main window")
        a.setEnabled(task is not None)
        menu.addSeparator()
        menu.addAction(std_icon("SP_TrashIcon"), "&Delete", self.delete_selection)
        self.last_menu = menu
        return menu

    def rerun_from(self, node_id: str, downstream: bool = True) -> asyncio.Task[Any] | None:
        task = self._task_of(node_id)
        if self.engine is None or task is None:
            return None
        return spawn(self.engine.rerun(task.id, downstream=downstream),
                     "rerunning from here" if downstream else "rerunning", self._user_error,
                     lambda ids: self.statusBar().showMessage(
                         f"Queued again: task{'s' if len(ids) != 1 else ''} "
                         f"{', '.join(map(str, ids))}", 5000))

    def open_task(self, node_id: str) -> None:
        task = self._task_of(node_id)
        if task is not None:
            self.openTaskRequested.emit(task.id)

    # ================================================================ recovery ======
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self._engine_timer.start()
        if not self._offered:
            QTimer.singleShot(0, self.offer_recovery)

    def offer_recovery(self) -> QMessageBox | None:
        """A chain left unsaved by the last session: restore it, or let it go."""
        payload = self.pending_recovery
        if payload is None or self._offered:
            self._offered = True
            return None
        self._offered = True
        doc = payload["document"]
        n = len(doc.get("nodes", [])) if isinstance(doc.get("nodes"), list) else 0
        name = payload.get("template") or doc.get("name") or "untitled"

        def discard() -> None:
            self.pending_recovery = None
            if self.recovery is not None:
                self.recovery.clear()
            if self.engine is not None and not self.doc.chain.nodes:
                spawn(self._load_template(DEFAULT_CHAIN_NAME), "opening the default "
                      "chain", self._user_error)

        box = dialogs.ask(self, "Restore unsaved chain",
                          f"The chain canvas was closed with unsaved changes to {name!r} "
                          f"({n} skill{'s' if n != 1 else ''}), perhaps by a crash.\n\n"
                          "Restore that chain?", lambda: self.restore(payload),
                          no=dialogs.Button.Discard, default=dialogs.Button.Yes,
                          on_no=discard)
        self._remember(box)
        return box

    def restore(self, payload: dict[str, Any]) -> LoadResult:
        result = load_document(payload["document"], self.doc.registry)
        self.pending_recovery = None
        template = payload.get("template")
        self.doc.set_chain(result.chain, template if isinstance(template, str) else None,
                           modified=True)
        self._report_load("The restored chain", result)
        self.statusBar().showMessage("Restored the unsaved chain; save it to keep it", 6000)
        return result

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        # Closing only hides: the chain (saved or not) is still here when reopened, and
        # the recovery file keeps an unsaved one for the next session.
        self._engine_timer.stop()
        super().closeEvent(event)

    def detach(self) -> None:
        """Stop following the engine (the window is going away)."""
        self._engine_timer.stop()
        self._task_timer.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.engine = None

    # ================================================================ dialogs =======
    def ask_text(self, title: str, label: str, value: str,
                 on_ok: Callable[[str], Any]) -> QInputDialog:
        dialog = QInputDialog(self)
        fit_title(dialog, title)  # whole, never "Save c… kdesk"
        dialog.setLabelText(label)
        dialog.setTextValue(value)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.textValueSelected.connect(lambda text: on_ok(text) if text.strip() else None)
        self._remember(dialog)
        dialog.open()
        return dialog

    def _user_error(self, what: str, exc: BaseException) -> None:
        self.statusBar().showMessage(f"Could not finish {what}: {exc}", 8000)
        self.show_message(QMessageBox.Icon.Warning, "Chain canvas",
                          f"Could not finish {what}:\n\n{exc}")


def open_canvas(window: WindowHost) -> CanvasWindow:
    """Show the main window's chain canvas (made on first use, then reused); it follows
    the session's engine from then on."""
    canvas = window.chain_canvas
    if canvas is None or not dialogs.alive(canvas):
        assert isinstance(window, QWidget)
        session = window.session
        engine = session.engine
        canvas = CanvasWindow(engine.registry if engine is not None else None, None,
                              RecoveryFile(default_recovery_path()), window,
                              engine_provider=lambda: session.engine)
        me = canvas

        def follow(engine: Engine | None) -> None:
            # Only the next engine, not the gap between two: the canvas's template
            # coroutines read ``self.engine`` again after each await, and a None
            # in between failed them. The session may outlive a closed canvas.
            if engine is not None and dialogs.alive(me):
                me.set_engine(engine)

        canvas.destroyed.connect(session.subscribe(follow))

        def reveal(task_id: int) -> None:
            window.select_tasks([task_id])
            window.raise_()
            window.activateWindow()

        canvas.openTaskRequested.connect(reveal)
        window.chain_canvas = canvas
    canvas.follow_engine()
    if canvas.isVisible():
        canvas.show()
    else:  # 1280×760 does not fit every screen (nor a 1280×800 one with its title bar)
        from trackdesk.ui.geometry import show_on_screen

        show_on_screen(canvas, window)
    canvas.raise_()
    canvas.activateWindow()
    return canvas
