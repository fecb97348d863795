"""Message boxes that never block the event loop (``open()``, never ``exec()``): the
engine's coroutines share the loop, so a modal ``exec()`` would stop the task table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

Button = QMessageBox.StandardButton


def ask(parent: QWidget, title: str, text: str, on_yes: Callable[[], Any],
        icon: QMessageBox.Icon = QMessageBox.Icon.Question, no: Button = Button.No,
        default: Button = Button.No, on_no: Callable[[], Any] | None = None) -> QMessageBox:
    """Yes or ``no`` (No, Discard...); ``on_yes`` / ``on_no`` run on the answer."""
    box = QMessageBox(icon, title, text, Button.Yes | no, parent)
    box.setDefaultButton(default)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def clicked(button: Any) -> None:
        if box.standardButton(button) == Button.Yes:
            on_yes()
        elif on_no is not None:
            on_no()

    box.buttonClicked.connect(clicked)
    box.open()
    return box


def tell(parent: QWidget, icon: QMessageBox.Icon, title: str, text: str,
         detail: str = "") -> QMessageBox:
    """A message with OK, and ``detail`` behind "Show Details..." when given."""
    box = QMessageBox(icon, title, text, Button.Ok, parent)
    if detail:
        box.setDetailedText(detail)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def alive(obj: Any) -> bool:
    """Whether the C++ side of a Qt object still exists (a closed box deletes itself)."""
    try:
        import shiboken6

        return shiboken6.isValid(obj)
    except ImportError:  # pragma: no cover
        return True


class DialogHost:
    """A window's questions and messages, all non-blocking; it keeps the latest few
    (``open_dialogs``) so they stay alive and tests can answer them."""

    open_dialogs: list[QWidget]

    def confirm(self, title: str, text: str, on_yes: Callable[[], None]) -> QMessageBox:
        box = ask(self, title, text, on_yes)  # type: ignore[arg-type]
        self.remember(box)
        return box

    def show_message(self, icon: QMessageBox.Icon, title: str, text: str,
                     detail: str = "") -> QMessageBox:
        box = tell(self, icon, title, text, detail)  # type: ignore[arg-type]
        self.remember(box)
        return box

    def remember(self, widget: QWidget) -> None:
        """Keep ``widget`` (a non-modal dialog) alive while it is open."""
        self.open_dialogs = [d for d in self.open_dialogs[-9:] if alive(d)] + [widget]

    # The chain canvas still calls it by this name (its module is being reworked in
    # parallel); new code calls ``remember``.
    _remember = remember
