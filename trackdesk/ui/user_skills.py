"""Chains > Reload skills: the user skills folder again, without restarting the app.

The engine's registry is updated in place (:func:`trackdesk.skills.user.reload_async`:
user code runs on a thread), so the engine, the REST API and every open chain canvas see
new, edited and removed skills at once. Broken skills are listed with file, line and
reason; the others load anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox

from trackdesk.skills.user import LoadReport, reload_async, skills_dir
from trackdesk.ui.aio import spawn

if TYPE_CHECKING:
    from trackdesk.ui.host import WindowHost

TIP = "Load the user skills folder again: new, edited and removed skills"


def reload_action(window: WindowHost) -> QAction:
    """The menu action, bound to ``window``."""
    assert isinstance(window, QMainWindow)
    act = QAction("Re&load skills", window)
    act.setToolTip(TIP)
    act.setStatusTip(TIP)
    act.triggered.connect(lambda _checked=False: reload_skills(window))
    return act


def reload_skills(window: WindowHost) -> None:
    engine = window.engine
    if engine is not None:
        registry = engine.registry
    else:  # no tracks.db open: still worth checking the folder
        from trackdesk.skills.registry import load_registry

        registry = load_registry(user_skills=False)
    spawn(reload_async(registry), "reloading the skills", window.user_error,
          lambda report: _done(window, registry, report))


def _done(window: WindowHost, registry: Any, report: dict[str, Any]) -> None:
    from trackdesk.ui.canvas.palette import SkillPalette

    # Open chain canvases show the new palette at once (a canvas is a top-level window).
    for palette in {id(p): p for w in QApplication.topLevelWidgets()
                    for p in w.findChildren(SkillPalette)}.values():
        if palette.registry is registry:
            palette.set_registry(registry)
    problems = [p for p in report["problems"] if p["fatal"]]
    n = len(report["skills"])
    window.statusBar().showMessage(
        f"{n} user skill{'s' if n != 1 else ''} loaded from {skills_dir()}"
        + (f"; {len(problems)} broken" if problems else ""), 8000)
    if problems:
        # The window's own message box: opened with open(), never exec() in the loop.
        window.show_message(QMessageBox.Icon.Warning, "Some skills did not load",
                            describe(report))


def describe(report: dict[str, Any] | LoadReport) -> str:
    """The problems, one per line: ``file:line: reason``."""
    data = report.to_dict() if isinstance(report, LoadReport) else report
    lines = []
    for p in data["problems"]:
        where = f"{p['file']}:{p['line']}" if p["line"] else p["file"]
        lines.append(f"{where}: {p['reason']}")
    return "\n".join(lines) + "\n\nThe other skills are loaded. Fix the file, then Reload skills."
