"""What the parts of the desktop app declare to each other (typing.Protocol, no probing).

``WindowHost`` is what panes, docks and dialogs use of the main window; ``MainWindow``
implements it. ``EnginePane`` is a pane that follows the session's engine: it subscribes
its ``set_engine`` to ``trackdesk.session.Session``. The composition root
(``trackdesk.ui.app``) owns the session, the REST API host and the window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtWidgets import QMenu, QMessageBox, QStatusBar, QWidget

if TYPE_CHECKING:
    from trackdesk.engine.engine import Engine
    from trackdesk.session import Session
    from trackdesk.ui.settings import AppSettings


class EnginePane(Protocol):
    """A pane that follows the open tracks.db."""

    def set_engine(self, engine: Engine | None) -> None:
        """Follow ``engine`` (None: the tracks.db was closed)."""


class WindowHost(Protocol):
    """The main window, as its panes and dialogs see it."""

    session: Session
    chain_canvas: Any  # the chain canvas window, made on first use (None before)
    images_dialog: Any  # Chains → Skill images, made on first use (None before)

    @property
    def engine(self) -> Engine | None:
        """The engine of the open tracks.db (the session's)."""

    @property
    def settings(self) -> AppSettings:
        """The app's settings as they are now."""

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 - Qt's name

    def menuBar(self) -> Any: ...  # noqa: N802 - Qt's name

    def user_error(self, what: str, exc: BaseException) -> None:
        """Tell the user that ``what`` failed for a reason meant for a person."""

    def show_message(self, icon: QMessageBox.Icon, title: str, text: str,
                     detail: str = "") -> QMessageBox: ...

    def remember(self, widget: QWidget) -> None:
        """Keep a non-modal dialog alive (and findable by tests) while it is open."""

    def selected_ids(self) -> list[int]: ...

    def select_tasks(self, ids: Iterable[int]) -> None: ...

    def choose_import_files(self) -> Any: ...

    def choose_db(self, new: bool = False) -> Any: ...

    def import_paths(self, paths: Iterable[Path]) -> Any: ...


UserError = Callable[[str, BaseException], None]


def menu_named(window: Any, title: str) -> QMenu | None:
    """The window's top-level menu ``title`` ("File", "View"...; its & ignored), if any."""
    return next((a.menu() for a in window.menuBar().actions()
                 if a.text().replace("&", "") == title and a.menu() is not None), None)


__all__ = ["EnginePane", "UserError", "WindowHost", "menu_named"]
