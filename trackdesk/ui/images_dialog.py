"""Chains > Skill images: the ``trackdesk skills list --sync / build / purge`` of the app.

A non-modal dialog: each skill with its local version and image state (present / missing
/ outdated, with why), the orphaned images, and the actions Build selected / Build all
(optionally forced) and Remove selected / Remove orphaned. Removing asks first, and an
image that a pending, running or paused task needs is only removed when the user confirms
forcing it (``skills_needed_by(engine.tasks.values())``).

Every Docker call (:class:`trackdesk.engine.images.ImageManager` blocks) runs on this
module's own single thread, never on the GUI thread and never on the loop's default
executor (the engine's database work uses it); build log lines come back through the
loop. Without a reachable engine the dialog says so in one sentence and disables the
actions.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from trackdesk.ui import dialogs
from trackdesk.ui.aio import spawn

if TYPE_CHECKING:
    from trackdesk.ui.host import WindowHost

TIP = "Skill images for the docker launcher: what is built, missing, outdated, orphaned"
SKILL_COLUMNS = ("Skill", "Version", "Image", "State", "Detail")
ORPHAN_COLUMNS = ("Image", "Skill", "Version", "Size", "Created")
_STATE_COLOURS = {"present": "#15803d", "outdated": "#b45309", "missing": "#b91c1c"}

# One thread for every Docker call of the dialog: calls never overlap, and a 40 s build
# does not take a thread from the loop's default executor.
_EXECUTOR: concurrent.futures.ThreadPoolExecutor | None = None


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    global _EXECUTOR
    if _EXECUTOR is None:
        _EXECUTOR = concurrent.futures.ThreadPoolExecutor(1, "trackdesk-images")
    return _EXECUTOR


def _alive(widget: QWidget) -> bool:
    import shiboken6

    return shiboken6.isValid(widget)


def _lost_engine() -> tuple[type[BaseException], ...]:
    import requests.exceptions

    return (requests.exceptions.ConnectionError,)


def _failures() -> tuple[type[BaseException], ...]:
    import docker.errors

    return (RuntimeError, ValueError, KeyError, OSError, docker.errors.DockerException)


def open_images_dialog(window: WindowHost) -> ImagesDialog:
    """Show the window's images dialog (one at a time), refreshed."""
    dialog = window.images_dialog
    if dialog is not None and _alive(dialog) and dialog.isVisible():
        dialog.raise_()
        dialog.activateWindow()
        dialog.refresh()
        return dialog
    dialog = ImagesDialog(window)
    window.images_dialog = dialog
    window.remember(dialog)
    dialog.show()
    dialog.refresh()
    return dialog


class ImagesDialog(QDialog):
    """The sync listing and the build / purge actions, off the GUI thread."""

    def __init__(self, window: WindowHost | None = None,
                 manager_factory: Callable[[], Any] | None = None) -> None:
        assert window is None or isinstance(window, QWidget)
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("Skill images")
        self.setModal(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(860, 660)
        self._factory = manager_factory
        self.manager: Any = None
        self.report: Any = None
        self.available: bool | None = None  # None: not asked yet
        self.busy: asyncio.Task[Any] | None = None
        self.last_box: QMessageBox | None = None
        self.removed: list[str] = []  # tags removed by the last removal (tests, status)

        self.status = QLabel("Asking Docker…")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.skills = self._table(SKILL_COLUMNS)
        self.skills.setToolTip("The skills that may run in a container, and their image")
        self.orphans = self._table(ORPHAN_COLUMNS)
        self.orphans.setToolTip("Images of no registered skill, or older versions "
                                "superseded by a built current one: nothing runs them")
        skills_box = QGroupBox("Skills")
        QVBoxLayout(skills_box).addWidget(self.skills)
        orphans_box = QGroupBox("Orphaned images")
        QVBoxLayout(orphans_box).addWidget(self.orphans)

        self.force = QCheckBox("Rebuild images that are up to date (force)")
        self.force.setToolTip("Build again from the base image even when an image is "
                              "present (e.g. after the base image was rebuilt)")
        self.refresh_button = QPushButton("Refresh")
        self.build_selected = QPushButton("Build selected")
        self.build_all = QPushButton("Build all")
        self.remove_selected = QPushButton("Remove selected…")
        self.remove_orphaned = QPushButton("Remove orphaned…")
        self.build_selected.setToolTip("Build the images of the selected skills")
        self.build_all.setToolTip("Build every skill's image that is missing or outdated")
        self.remove_selected.setToolTip("Remove the images of the selected skills (every "
                                        "version) and the selected orphaned images")
        self.remove_orphaned.setToolTip("Remove every orphaned image")
        self.refresh_button.clicked.connect(lambda: self.refresh())
        self.build_selected.clicked.connect(lambda: self.build(self.selected_skills()))
        self.build_all.clicked.connect(lambda: self.build(None))
        self.remove_selected.clicked.connect(lambda: self.ask_remove())
        self.remove_orphaned.clicked.connect(lambda: self.ask_remove(orphaned=True))
        self.skills.itemSelectionChanged.connect(self._update_buttons)
        self.orphans.itemSelectionChanged.connect(self._update_buttons)

        actions = QHBoxLayout()
        for b in (self.refresh_button, self.build_selected, self.build_all):
            actions.addWidget(b)
        actions.addWidget(self.force)
        actions.addStretch(1)
        actions.addWidget(self.remove_selected)
        actions.addWidget(self.remove_orphaned)

        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setPlaceholderText("Build and removal messages appear here")
        self.log.setMaximumHeight(110)

        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.close)

        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(skills_box, 3)
        layout.addWidget(orphans_box, 1)
        layout.addLayout(actions)
        layout.addWidget(self.log)
        layout.addWidget(close)
        self._update_buttons()

    @staticmethod
    def _table(columns: Iterable[str]) -> QTableWidget:
        cols = list(columns)
        t = QTableWidget(0, len(cols))
        t.setHorizontalHeaderLabels(cols)
        t.verticalHeader().hide()
        t.verticalHeader().setDefaultSectionSize(t.fontMetrics().height() + 8)
        t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        t.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        header = t.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        return t

    # ---------------------------------------------------------------- state ----------
    def _engine(self) -> Any:
        return self.window_.engine if self.window_ is not None else None

    def _make_manager(self) -> Any:
        """On the executor thread: ImageManager over the open engine's registry."""
        if self._factory is not None:
            return self._factory()
        from trackdesk.engine.images import ImageManager

        engine = self._engine()
        return ImageManager(registry=engine.registry if engine is not None else None)

    def selected_skills(self) -> list[str]:
        rows = sorted({i.row() for i in self.skills.selectedIndexes()})
        return [self.skills.item(r, 0).text() for r in rows]

    def selected_orphans(self) -> list[str]:
        rows = sorted({i.row() for i in self.orphans.selectedIndexes()})
        return [self.orphans.item(r, 0).text() for r in rows]

    def _update_buttons(self) -> None:
        ok = bool(self.available) and (self.busy is None or self.busy.done())
        self.refresh_button.setEnabled(self.busy is None or self.busy.done())
        self.build_all.setEnabled(ok)
        self.force.setEnabled(ok)
        self.build_selected.setEnabled(ok and bool(self.selected_skills()))
        self.remove_selected.setEnabled(
            ok and bool(self.selected_skills() or self.selected_orphans()))
        self.remove_orphaned.setEnabled(ok and self.orphans.rowCount() > 0)

    def append_log(self, line: str) -> None:
        if _alive(self):
            self.log.appendPlainText(line)

    def _thread_log(self) -> Callable[[str], None]:
        """A log callable for the executor thread: each line goes back through the loop."""
        loop = asyncio.get_running_loop()

        def log(line: str) -> None:
            try:
                loop.call_soon_threadsafe(self.append_log, line)
            except RuntimeError:  # the loop closed meanwhile (the app quit)
                pass

        return log

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(_executor(), fn, *args)

    def _start(self, coro: Any, what: str) -> asyncio.Task[Any] | None:
        if self.busy is not None and not self.busy.done():
            coro.close()
            return None
        self.busy = spawn(self._guard(coro, what), what)
        self._update_buttons()
        return self.busy

    async def _guard(self, coro: Any, what: str) -> None:
        """Errors meant for a person end in the dialog, never in a lost task."""
        from trackdesk.engine.launchers.base import LauncherUnavailable

        try:
            await coro
        except LauncherUnavailable as exc:
            if _alive(self):
                self._unavailable(str(exc))
        except _lost_engine() as exc:  # the engine stopped answering after the first call
            if _alive(self):
                from trackdesk.engine.launchers.docker import unavailable_message

                self._unavailable(unavailable_message(exc, for_task=False))
        except _failures() as exc:
            if _alive(self):
                message = str(exc).strip("'\"")
                self.append_log(f"{what} failed: {message}")
                self.status.setText(f"{what.capitalize()} failed: {message}")
        finally:
            if _alive(self):
                self.busy = None
                self._update_buttons()

    # ---------------------------------------------------------------- listing --------
    def refresh(self) -> asyncio.Task[Any] | None:
        """Ask Docker for the sync listing again (off the GUI thread)."""
        return self._start(self._refresh(), "listing the images")

    async def _refresh(self) -> None:
        if self.manager is None:
            self.manager = await self._call(self._make_manager)
        report = await self._call(self.manager.sync)
        if _alive(self):
            self.show_report(report)

    def _unavailable(self, sentence: str) -> None:
        self.available = False
        self.report = None
        self.manager = None  # a new client next time: the engine may be started meanwhile
        self.status.setText(sentence)
        self.status.setStyleSheet("color: #b91c1c;")
        self.skills.setRowCount(0)
        self.orphans.setRowCount(0)
        self._update_buttons()

    def show_report(self, report: Any) -> None:
        self.available = True
        self.report = report
        self.status.setStyleSheet("")
        counts: dict[str, int] = {}
        for s in report.skills:
            counts[s.state] = counts.get(s.state, 0) + 1
        parts = [f"{n} {state}" for state, n in sorted(counts.items())]
        parts.append(f"{len(report.orphaned)} orphaned")
        self.status.setText(f"{len(report.skills)} skills run in containers: "
                            + ", ".join(parts) + ".")
        self.skills.setRowCount(len(report.skills))
        for row, s in enumerate(report.skills):
            cells = (s.skill, s.local_version, s.image, s.state, s.detail)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 3:
                    item.setForeground(QColor(_STATE_COLOURS.get(s.state, "#000000")))
                if s.images:
                    item.setToolTip("\n".join(f"{i.tag}  {i.id}  {i.size_mb:,.0f} MB  "
                                              f"{i.created}" for i in s.images))
                self.skills.setItem(row, col, item)
        self.orphans.setRowCount(len(report.orphaned))
        for row, o in enumerate(report.orphaned):
            cells = (o.tag, o.skill or "?", o.version or "?", f"{o.size_mb:,.0f} MB",
                     o.created)
            for col, text in enumerate(cells):
                self.orphans.setItem(row, col, QTableWidgetItem(text))
        self._update_buttons()

    def states(self) -> dict[str, str]:
        """skill -> the state shown (tests)."""
        return {self.skills.item(r, 0).text(): self.skills.item(r, 3).text()
                for r in range(self.skills.rowCount())}

    def orphan_tags(self) -> list[str]:
        return [self.orphans.item(r, 0).text() for r in range(self.orphans.rowCount())]

    # ---------------------------------------------------------------- building -------
    def build(self, skills: list[str] | None) -> asyncio.Task[Any] | None:
        """Build the images of ``skills`` (None: all), then list again."""
        if not self.available or (skills is not None and not skills):
            return None
        force = self.force.isChecked()
        what = "all skills" if skills is None else ", ".join(skills)
        self.append_log(f"building {what}{' (forced)' if force else ''}…")
        self.status.setText(f"Building the images of {what}…")
        return self._start(self._build(skills, force), "building the images")

    async def _build(self, skills: list[str] | None, force: bool) -> None:
        log = self._thread_log()
        built = await self._call(
            lambda: self.manager.build(skills, force=force, log=log))
        if _alive(self):
            self.append_log(f"built {len(built)} image(s)")
            await self._refresh()

    # ---------------------------------------------------------------- removing -------
    def _needed(self) -> set[str]:
        from trackdesk.engine.images import skills_needed_by

        engine = self._engine()
        return skills_needed_by(engine.tasks.values()) if engine is not None else set()

    def _ask(self, title: str, text: str, on_yes: Callable[[], Any],
             icon: QMessageBox.Icon = QMessageBox.Icon.Question) -> QMessageBox:
        self.last_box = dialogs.ask(self, title, text, on_yes, icon)
        return self.last_box

    def ask_remove(self, orphaned: bool = False) -> QMessageBox | None:
        """Confirm, then remove the selection (or every orphaned image)."""
        if not self.available or (self.busy is not None and not self.busy.done()):
            return None
        if orphaned:
            skills: list[str] = []
            tags = self.orphan_tags()
            if not tags:
                return None
            text = (f"Remove the {len(tags)} orphaned image{'s' if len(tags) != 1 else ''}?"
                    "\n\n" + "\n".join(tags[:12]) + ("\n…" if len(tags) > 12 else ""))
        else:
            skills, tags = self.selected_skills(), self.selected_orphans()
            if not skills and not tags:
                return None
            lines = [f"every image of {s}" for s in skills] + tags
            text = "Remove these images?\n\n" + "\n".join(lines[:12]) + (
                "\n…" if len(lines) > 12 else "")
            if skills:
                text += ("\n\nTasks of these skills cannot run with the docker launcher "
                         "until their images are built again.")
        return self._ask("Remove skill images", text,
                         lambda: self.remove(skills, tags, orphaned))

    def remove(self, skills: list[str], tags: list[str], orphaned: bool = False,
               force: bool = False) -> asyncio.Task[Any] | None:
        needed = self._needed()  # the engine's tasks: read on the GUI thread
        return self._start(self._remove(skills, tags, orphaned, force, needed),
                           "removing the images")

    async def _remove(self, skills: list[str], tags: list[str], orphaned: bool,
                      force: bool, needed: set[str]) -> None:
        from trackdesk.engine.images import ImageInUseError

        try:
            removed = await self._call(lambda: self.manager.purge(
                skills, orphaned=orphaned, force=force, needed=needed, tags=tags))
        except ImageInUseError as exc:
            if _alive(self):
                self.append_log(str(exc))
                names = ", ".join(exc.skills)
                self._ask("Images in use",
                          f"A pending or running task needs the image of {names}.\n\n"
                          "Remove it anyway? Those tasks fail when they start in Docker "
                          "until the image is built again.",
                          lambda: self.remove(skills, tags, orphaned, force=True),
                          QMessageBox.Icon.Warning)
            return
        if not _alive(self):
            return
        self.removed = removed
        for tag in removed:
            self.append_log(f"removed {tag}")
        if not removed:
            self.append_log("nothing removed")
        await self._refresh()


__all__ = ["TIP", "ImagesDialog", "open_images_dialog"]
