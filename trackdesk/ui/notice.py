"""The bar above the task table that announces tasks interrupted by the last quit."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from trackdesk.engine.records import TaskRecord
from trackdesk.engine.states import Status


class InterruptedBar(QFrame):
    """'3 tasks were interrupted when trackdesk last quit: …  [Resume] [Discard] [×]'.

    It names the tasks it was opened for and hides itself once none of them is still
    interrupted (resumed or discarded here, from the table or by the CLI)."""

    def __init__(self, on_resume: Callable[[list[int]], object],
                 on_discard: Callable[[list[int]], object],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("interrupted-bar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#interrupted-bar { background: #fff7ed; border: 1px solid #fdba74;"
                           " border-radius: 4px; } #interrupted-bar QLabel { color: #7c2d12; }")
        self.ids: list[int] = []
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Queue them again; incremental work goes on where it "
                                      "stopped")
        self.discard_button = QPushButton("Discard")
        self.discard_button.setToolTip("Cancel them; they stay in the history as cancelled")
        close = QPushButton("×")
        close.setFlat(True)
        close.setToolTip("Hide this message (the tasks stay interrupted)")
        close.setFixedWidth(28)
        self.resume_button.clicked.connect(lambda: on_resume(list(self.ids)))
        self.discard_button.clicked.connect(lambda: on_discard(list(self.ids)))
        close.clicked.connect(self.hide)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 4, 4)
        row.addWidget(self.label, 1)
        row.addWidget(self.resume_button)
        row.addWidget(self.discard_button)
        row.addWidget(close)
        self.hide()

    def text(self) -> str:
        return self.label.text()

    def announce(self, tasks: Iterable[TaskRecord]) -> None:
        recs = sorted(tasks, key=lambda t: t.id)
        self.ids = [t.id for t in recs]
        if not recs:
            self.hide()
            return
        names = ", ".join(f"{t.id} ({t.skill_name})" for t in recs[:4])
        more = f" and {len(recs) - 4} more" if len(recs) > 4 else ""
        n = len(recs)
        self.label.setText(f"{n} task{'s' if n != 1 else ''} {'were' if n != 1 else 'was'} "
                           f"interrupted when trackdesk last quit: {names}{more}. "
                           + ("Resume them, or discard them?" if n != 1 else
                              "Resume it, or discard it?"))
        self.show()

    def follow(self, tasks: Mapping[int, TaskRecord]) -> None:
        """Hide once none of the announced tasks is interrupted any more."""
        if self.isHidden() or not self.ids:
            return
        still = [tasks[i] for i in self.ids if i in tasks and
                 tasks[i].status == Status.INTERRUPTED]
        if not still:
            self.ids = []
            self.hide()
