"""The health view: engine, tracks.db, disk, Docker, and the tasks that need a hand.

``trackdesk.engine.health.check_health`` blocks (SQLite integrity check, the file system,
the Docker API), so it runs on an executor thread; the view shows the last report and
offers to restart stuck tasks (``engine.restart``) and resume interrupted ones.
"""

from __future__ import annotations

import asyncio
import copy
from functools import partial
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from trackdesk.engine.health import check_health
from trackdesk.engine.states import Status
from trackdesk.ui import format as fmt
from trackdesk.ui.aio import spawn

_OK = "#15803d"
_BAD = "#b91c1c"


def _alive(widget: QWidget) -> bool:
    import shiboken6

    return shiboken6.isValid(widget)


def _mb(n: float) -> str:
    return f"{n / 2**20:,.1f} MB" if n < 2**30 else f"{n / 2**30:,.1f} GB"


class HealthView(QWidget):
    """Shows one health report; ``check()`` makes a new one off the GUI thread."""

    checked = Signal(dict)  # the report, once shown
    restarted = Signal(int)  # a task id whose restart was asked for

    def __init__(self, parent: QWidget | None = None, docker: bool = True) -> None:
        super().__init__(parent)
        self.engine: Any = None
        self.docker = docker  # tests switch the Docker probe off
        self.report: dict[str, Any] | None = None
        self._checking: asyncio.Task[Any] | None = None
        self._again = False

        self.summary = QLabel("Not checked yet")
        f = self.summary.font()
        f.setPointSizeF(f.pointSizeF() * 1.2)
        f.setBold(True)
        self.summary.setFont(f)
        self.summary.setWordWrap(True)
        self.check_button = QPushButton("Check again")
        self.check_button.setToolTip("Run every check now (the integrity check reads the "
                                     "whole tracks.db index)")
        self.check_button.clicked.connect(lambda: self.check())
        head = QHBoxLayout()
        head.addWidget(self.summary, 1)
        head.addWidget(self.check_button)

        self.fields: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        for key, label in (("engine", "Engine"), ("database", "tracks.db"),
                           ("integrity", "Integrity"), ("disk", "Free disk"),
                           ("docker", "Docker")):
            value = QLabel("—")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            self.fields[key] = value
            form.addRow(label + ":", value)
        checks = QGroupBox("Checks")
        checks.setLayout(form)

        self.stuck = QTableWidget(0, 5)
        self.stuck.setHorizontalHeaderLabels(("Task", "Skill", "Silent for", "Allowed", ""))
        self.stuck.verticalHeader().hide()
        self.stuck.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.stuck.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.stuck.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for col in (0, 4):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.restart_all = QPushButton("Restart stuck tasks")
        self.restart_all.setToolTip("Stop each stuck task's worker and queue the task again")
        self.restart_all.clicked.connect(lambda: self.restart_stuck())
        stuck_box = QGroupBox("Stuck tasks (running, but no progress message for longer "
                              "than their skill allows)")
        sv = QVBoxLayout(stuck_box)
        sv.addWidget(self.stuck)
        sv.addWidget(self.restart_all, 0, Qt.AlignmentFlag.AlignRight)

        self.interrupted = QLabel("—")
        self.interrupted.setWordWrap(True)
        self.resume_all = QPushButton("Resume interrupted tasks")
        self.resume_all.setToolTip("Queue every interrupted task again; each continues "
                                   "where it stopped")
        self.resume_all.clicked.connect(lambda: self.resume_interrupted())
        int_box = QGroupBox("Interrupted tasks (stopped when the app quit)")
        iv = QHBoxLayout(int_box)
        iv.addWidget(self.interrupted, 1)
        iv.addWidget(self.resume_all)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(head)
        layout.addWidget(checks)
        layout.addWidget(stuck_box, 1)
        layout.addWidget(int_box)
        self._show_tasks([], [])

    # ---------------------------------------------------------------- engine ---------
    def set_engine(self, engine: Any) -> None:
        self.engine = engine
        self.report = None
        self.summary.setText("Not checked yet" if engine else "No tracks.db open")
        self.check_button.setEnabled(engine is not None)
        self._show_tasks([], [])

    def check(self) -> asyncio.Task[Any] | None:
        """Start a check unless one runs (then one more follows it)."""
        if self.engine is None:
            return None
        if self._checking is not None and not self._checking.done():
            self._again = True
            return self._checking
        self._checking = spawn(self._check(), "checking the health")
        return self._checking

    async def _check(self) -> dict[str, Any] | None:
        while True:
            engine = self.engine
            if engine is None:
                return None
            self._again = False
            self.check_button.setEnabled(False)
            # Only running and interrupted tasks matter to the checks; copies, because the
            # engine changes its records on this thread while the executor reads them.
            tasks = [copy.copy(t) for t in engine.tasks.values()
                     if t.status in (Status.RUNNING, Status.INTERRUPTED)]
            loop = asyncio.get_running_loop()
            try:
                report = await loop.run_in_executor(
                    None, partial(check_health, engine.db_path, tasks, engine.registry,
                                  docker=self.docker))
            finally:
                # A long integrity check may outlive the window (quit while it ran).
                if _alive(self):
                    self.check_button.setEnabled(self.engine is not None)
            if not _alive(self):
                return None
            if self.engine is engine:
                self.show_report(report)
            if not self._again:
                return report

    def show_report(self, h: dict[str, Any]) -> None:
        self.report = h
        ok = h["healthy"]
        self.summary.setText("Everything is healthy" if ok else
                             "Needs attention: " + "; ".join(h["problems"]))
        self.summary.setStyleSheet(f"color: {_OK if ok else _BAD};")
        e, d, k = h["engine"], h["database"], h["docker"]
        f = self.fields
        f["engine"].setText(f"running (pid {e['pid']})" if e["running"] else "not running")
        f["database"].setText(f"{d['path']}, {_mb(d['size_bytes'])}")
        f["integrity"].setText(str(d["integrity"]))
        f["disk"].setText(_mb(h["disk"]["free_bytes"]))
        if not k.get("checked"):
            docker = "not checked"
        elif k.get("reachable") and not (k["present"] or k["missing"] or k["outdated"]):
            docker = f"reachable; no skill here runs in Docker ({k['orphaned']} unused images)"
        elif k.get("reachable"):
            docker = (f"reachable; images {'in sync' if k.get('in_sync') else 'not in sync'}"
                      f" ({k['present']} present, {k['missing']} missing, "
                      f"{k['outdated']} outdated, {k['orphaned']} orphaned)")
        else:
            docker = f"not reachable: {k.get('message') or 'no answer'}"
        f["docker"].setText(docker)
        self._show_tasks(h["tasks"]["stuck"], h["tasks"]["interrupted"])
        self.checked.emit(h)

    def _show_tasks(self, stuck: list[dict[str, Any]], interrupted: list[int]) -> None:
        t = self.stuck
        t.setRowCount(len(stuck))
        for r, s in enumerate(stuck):
            for c, text in enumerate((str(s["id"]), s["skill_name"], fmt.seconds(s["silent_s"]),
                                      fmt.seconds(s["limit_s"]))):
                t.setItem(r, c, QTableWidgetItem(text))
            button = QPushButton("Restart")
            button.setToolTip(f"Stop task {s['id']}'s worker and queue the task again")
            button.clicked.connect(partial(self.restart, s["id"]))
            t.setCellWidget(r, 4, button)
        self.restart_all.setEnabled(bool(stuck))
        tasks = self.engine.tasks if self.engine is not None else {}
        self.interrupted.setText(", ".join(
            f"task {i} ({tasks[i].skill_name})" if i in tasks else f"task {i}"
            for i in interrupted) or "none")
        self.resume_all.setEnabled(bool(interrupted))

    # ---------------------------------------------------------------- actions --------
    def restart(self, task_id: int, _checked: bool = False) -> asyncio.Task[Any] | None:
        if self.engine is None:
            return None
        self.restarted.emit(task_id)
        return spawn(self._then_check(self.engine.restart(task_id)), "restarting the task",
                     self._user_error)

    def restart_stuck(self) -> asyncio.Task[Any] | None:
        if self.engine is None:
            return None
        engine = self.engine

        async def go() -> None:
            for task_id in engine.stuck_ids():
                await engine.restart(task_id)

        return spawn(self._then_check(go()), "restarting stuck tasks", self._user_error)

    def resume_interrupted(self) -> asyncio.Task[Any] | None:
        if self.engine is None:
            return None
        engine = self.engine

        async def go() -> None:
            for t in list(engine.tasks.values()):
                if t.status == Status.INTERRUPTED:
                    await engine.resume(t.id)

        return spawn(self._then_check(go()), "resuming interrupted tasks", self._user_error)

    async def _then_check(self, coro: Any) -> None:
        await coro
        if _alive(self):
            self.check()

    def _user_error(self, what: str, exc: BaseException) -> None:
        if not _alive(self):
            return
        self.summary.setText(f"Could not finish {what}: {exc}")
        self.summary.setStyleSheet(f"color: {_BAD};")
