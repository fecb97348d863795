"""The detail pane: everything about the selected task, and its live log."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont, QFontDatabase, QTextCursor, QTextOption
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from trackdesk.engine.events import Event, LogLine
from trackdesk.engine.records import TaskRecord
from trackdesk.engine.states import Status
from trackdesk.ui import format as fmt
from trackdesk.ui.aio import spawn
from trackdesk.ui.icons import status_icon

# The log view keeps the newest lines only: a chatty worker must not eat the memory.
LOG_MAX_LINES = 5000
LOG_HISTORY = 2000
LOG_FLUSH_MS = 100
RECENT_LINES = 2000  # of all tasks, for lines not yet stored when a task is selected
_FINISHED = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.SKIPPED,
                       Status.INTERRUPTED})


def _mono() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


def _text_box(placeholder: str) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setReadOnly(True)
    box.setFont(_mono())
    box.setPlaceholderText(placeholder)
    box.setAcceptDrops(False)  # drops belong to the window (import)
    # Long lines (paths) wrap: unwrapped, the end of a long line scrolled the view to the
    # far right, where the short lines look blank.
    box.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
    box.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    # A read-only box still takes the keyboard: Ctrl+Home / Ctrl+End, Page Up / Down.
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse |
                                Qt.TextInteractionFlag.TextSelectableByKeyboard)
    return box


def _value_text(value: Any) -> Any:
    """A parameter as stored, decoded: the import's paths are a JSON list in a string."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if value is None:
        return "—"
    return str(value)


def key_values(data: dict[str, Any] | None, indent: str = "") -> str:
    """A dict as readable lines: 'key: value', lists one item a line, nested dicts
    indented; no JSON quoting or escapes (a path reads as the path)."""
    if not data:
        return ""
    lines: list[str] = []
    for key, raw in data.items():
        value = _value_text(raw)
        label = str(key).replace("_", " ")
        if isinstance(value, dict):
            if not value:
                lines.append(f"{indent}{label}: —")
                continue
            lines.append(f"{indent}{label}:")
            lines.append(key_values(value, indent + "    "))
        elif isinstance(value, list | tuple):
            if not value:
                lines.append(f"{indent}{label}: none")
                continue
            lines.append(f"{indent}{label}: ({len(value):,})")
            for item in value:
                if isinstance(item, dict):
                    head, *rest = key_values(item, indent + "      ").splitlines() or [""]
                    lines.append(f"{indent}  • {head.strip()}")
                    lines.extend(rest)
                else:
                    lines.append(f"{indent}  • {_scalar(item)}")
        else:
            lines.append(f"{indent}{label}: {_scalar(value)}")
    return "\n".join(lines)


def stored_points(summary: dict[str, Any] | None) -> int | None:
    """Points a finished task stored, when its result says (an import's new points)."""
    if not summary:
        return None
    for key in ("stored", "points_stored", "new", "new_points"):
        value = summary.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def format_log_line(ts: float, stream: str, level: str, message: str) -> str:
    clock = time.strftime("%H:%M:%S", time.localtime(ts))
    lvl = "" if level in ("info", "") else f"{level.upper()} "
    return f"{clock}  {stream:<6}  {lvl}{message}"


# The import's result summary counts the annotation rows each file added under this
# note (trackdesk/tracks/importer.py).
LABELS_NOTE = "annotations kept (activities, places)"


def labels_kept_text(skill: str, summary: dict[str, Any] | None) -> str:
    """'5 of your labels kept (activities, places): see them ... in the Timeline', for an
    import whose files carried labels; '' for anything else."""
    if skill != "import" or not isinstance(summary, dict):
        return ""
    notes = summary.get("notes")
    n = notes.get(LABELS_NOTE) if isinstance(notes, dict) else None
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        return ""
    what = "label" if n == 1 else "labels"
    return (f"{n:,} of your {what} kept (activities, places): see them under each day "
            "in the Timeline")


class DetailPane(QWidget):
    """Shows one task; ``set_task(None)`` shows a hint instead."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine: Any = None
        self.live: Any = None  # the table model's LiveState: paused time, trusted rates
        self.task_id: int | None = None
        self._unsubscribe: Any = None
        self._live: list[tuple[float, str]] = []
        self._recent: deque[LogLine] = deque(maxlen=RECENT_LINES)
        self._loading: asyncio.Task[Any] | None = None
        self._history_until = 0.0
        self._log_lines = 0

        self.title = QLabel("No task selected")
        f = self.title.font()
        f.setPointSizeF(f.pointSizeF() * 1.15)
        f.setBold(True)
        self.title.setFont(f)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_icon = QLabel()
        self.subtitle = QLabel("")
        self.subtitle.setWordWrap(True)
        self.subtitle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        head = QHBoxLayout()
        head.addWidget(self.status_icon)
        head.addWidget(self.title)
        head.addSpacing(12)
        head.addWidget(self.subtitle, 1)

        # -- details tab
        self.fields: dict[str, QLabel] = {}
        forms = []
        # Two short columns read better than one long list in a pane this low.
        for group in ((("status", "Status"), ("type", "Type"), ("points", "Points"),
                       ("failed", "Failed points"), ("stored", "Stored"), ("eta", "ETA"), ("duration", "Duration"),
                       ("attempt", "Attempt"), ("priority", "Priority"),
                       ("resources", "Resources")),
                      (("created", "Created"), ("started", "Started"), ("ended", "Ended"),
                       ("launcher", "Launcher"), ("chain", "Chain run"),
                       ("depends", "Waits for"), ("blocks", "Needed by"),
                       ("created_by", "Created by"))):
            form = QFormLayout()
            form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            form.setVerticalSpacing(3)
            for key, label in group:
                value = QLabel("")
                value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                value.setWordWrap(True)
                self.fields[key] = value
                form.addRow(label + ":", value)
            forms.append(form)
        timings = QHBoxLayout()
        timings.setContentsMargins(0, 0, 0, 0)
        for form in forms:
            timings.addLayout(form, 1)
        self.params = _text_box("No parameters")
        self.result = _text_box("No result yet")
        self.error = _text_box("")
        self.error.setStyleSheet("QPlainTextEdit { color: #b91c1c; }")
        self.error.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.error_box = QGroupBox("Error")
        QVBoxLayout(self.error_box).addWidget(self.error)
        params_box = QGroupBox("Parameters")
        QVBoxLayout(params_box).addWidget(self.params)
        result_box = QGroupBox("Result summary")
        QVBoxLayout(result_box).addWidget(self.result)
        # An import's count of the labels it kept (issue 19), above the full summary.
        self.labels_kept = QLabel("")
        self.labels_kept.setWordWrap(True)
        self.labels_kept.setVisible(False)
        result_box.layout().insertWidget(0, self.labels_kept)

        form_holder = QWidget()
        form_holder.setLayout(timings)
        timings.setAlignment(Qt.AlignmentFlag.AlignTop)
        scroll = QScrollArea()
        scroll.setWidget(form_holder)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        details = QWidget()
        grid = QGridLayout(details)
        grid.setContentsMargins(6, 6, 6, 6)
        grid.addWidget(scroll, 0, 0, 2, 1)
        grid.addWidget(params_box, 0, 1)
        grid.addWidget(result_box, 0, 2)
        grid.addWidget(self.error_box, 1, 1, 1, 2)
        grid.setColumnStretch(0, 5)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(2, 3)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 1)  # the error box: a few lines; its own scroll bar

        # -- log tab
        self.log = _text_box("The task's log appears here")
        self.log.setMaximumBlockCount(LOG_MAX_LINES)
        self.follow = QCheckBox("&Follow")
        self.follow.setToolTip("Keep the newest lines in view")
        self.follow.setChecked(True)
        self.follow.toggled.connect(self._on_follow)
        self.log_info = QLabel("")
        self.log_info.setStyleSheet("color: palette(mid);")
        clear = QPushButton("Clear view")
        clear.setToolTip("Empty this view (the stored log is kept)")
        clear.clicked.connect(self.log.clear)
        bar = QHBoxLayout()
        bar.addWidget(self.follow)
        bar.addWidget(self.log_info, 1)
        bar.addWidget(clear)
        log_tab = QWidget()
        lv = QVBoxLayout(log_tab)
        lv.setContentsMargins(6, 6, 6, 6)
        lv.addLayout(bar)
        lv.addWidget(self.log)
        sb = self.log.verticalScrollBar()
        sb.actionTriggered.connect(self._on_user_scroll)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(details, "&Details")
        self.tabs.addTab(log_tab, "L&og")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 4)
        layout.addLayout(head)
        layout.addWidget(self.tabs)

        self._log_timer = QTimer(self)
        self._log_timer.setSingleShot(True)
        self._log_timer.setInterval(LOG_FLUSH_MS)
        self._log_timer.timeout.connect(self._flush_log)
        self.set_task(None)

    # ---------------------------------------------------------------- wiring ---------
    def set_engine(self, engine: Any) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.engine = engine
        if engine is not None:
            self._unsubscribe = engine.events.subscribe(self._on_event)
        self.set_task(None)

    def detach(self) -> None:
        """Stop following the engine (before the window goes)."""
        self.set_engine(None)

    def _on_event(self, event: Event) -> None:
        if type(event) is LogLine:
            # Every task's newest lines, briefly: a line announced just before its task
            # was selected may not be stored yet when the history is read (the engine
            # writes logs in batches); without this it showed nowhere.
            self._recent.append(event)
        if type(event) is LogLine and event.task_id == self.task_id:
            self._live.append((event.ts, format_log_line(event.ts, event.stream, event.level,
                                                         event.message)))
            if len(self._live) > LOG_MAX_LINES:
                del self._live[:-LOG_MAX_LINES]
            if self._loading is None and not self._log_timer.isActive():
                self._log_timer.start()

    # ---------------------------------------------------------------- showing --------
    def set_task(self, task_id: int | None) -> None:
        if task_id == self.task_id and task_id is not None:
            return
        if self._loading is not None:
            self._loading.cancel()
            self._loading = None
        self.task_id = task_id
        self._live.clear()
        self.log.clear()
        self._log_lines = 0
        self.log_info.setText("")
        rec = self._record()
        # A live task's log follows its newest line; a finished one opens at its start
        # (what went wrong is usually read from the top).
        self.follow.setChecked(rec is not None and rec.status not in _FINISHED)
        self.tabs.setEnabled(rec is not None)
        self.refresh()
        if rec is not None and self.engine is not None:
            self._loading = spawn(self._load_history(rec.id), "reading the task's log",
                                  on_user_error=lambda *_: None)

    def _record(self) -> TaskRecord | None:
        if self.engine is None or self.task_id is None:
            return None
        return self.engine.tasks.get(self.task_id)

    async def _load_history(self, task_id: int) -> None:
        try:
            records = await self.engine.read_log(task_id, limit=LOG_HISTORY, tail=True)
        finally:
            if self.task_id == task_id:
                self._loading = None
        if self.task_id != task_id:
            return
        lines = [format_log_line(r.ts, r.stream, r.level, r.message) for r in records]
        self._history_until = records[-1].ts if records else 0.0
        # Lines announced while the history was read may be in both: keep the later ones.
        # Lines announced before the selection and not stored yet come from _recent.
        live = {(ts, line) for ts, line in self._live if ts > self._history_until}
        live.update((e.ts, format_log_line(e.ts, e.stream, e.level, e.message))
                    for e in self._recent
                    if e.task_id == task_id and e.ts > self._history_until)
        self._live = sorted(live, key=lambda p: p[0])
        if len(records) == LOG_HISTORY:
            lines.insert(0, f"… earlier lines not shown (the view keeps the last "
                            f"{LOG_HISTORY:,} of the stored log)")
        self._append(lines)
        self._flush_log()

    def _flush_log(self) -> None:
        if not self._live:
            return
        lines = [line for _, line in self._live]
        self._live.clear()
        self._append(lines)

    def _append(self, lines: list[str]) -> None:
        if not lines:
            return
        sb = self.log.verticalScrollBar()
        keep = sb.value()
        self.log.appendPlainText("\n".join(lines))
        self._log_lines += len(lines)
        self.log_info.setText(f"{self._log_lines:,} lines"
                              + (f" (showing the last {LOG_MAX_LINES:,})"
                                 if self._log_lines > LOG_MAX_LINES else ""))
        if self.follow.isChecked():
            self.log.moveCursor(QTextCursor.MoveOperation.End)
            sb.setValue(sb.maximum())
        else:
            if keep == 0:
                self.log.moveCursor(QTextCursor.MoveOperation.Start)
            sb.setValue(keep)
        self.log.horizontalScrollBar().setValue(0)

    def _on_follow(self, on: bool) -> None:
        if on:
            sb = self.log.verticalScrollBar()
            sb.setValue(sb.maximum())

    def _on_user_scroll(self, _action: int) -> None:
        # Scrolling up to read stops following; scrolling back to the end resumes it.
        sb = self.log.verticalScrollBar()
        QTimer.singleShot(0, lambda: self.follow.setChecked(sb.value() >= sb.maximum()))

    def show_log(self) -> None:
        self.tabs.setCurrentIndex(1)

    def refresh(self) -> None:
        """Redraw the fields from the task's current record."""
        rec = self._record()
        if rec is None:
            self.title.setText("No task selected")
            self.subtitle.setText("Select a task to see its parameters, timings, result "
                                  "and live log.")
            self.status_icon.clear()
            for label in self.fields.values():
                label.setText("")
            self.params.setPlainText("")
            self.result.setPlainText("")
            self.error_box.setVisible(False)
            self.labels_kept.setVisible(False)
            return
        self.title.setText(f"Task {rec.id} · {rec.skill_name}")
        self.status_icon.setPixmap(status_icon(rec.status).pixmap(20, 20))
        self.subtitle.setText(rec.status_reason or "")
        f = self.fields
        f["status"].setText(rec.status.value)
        f["type"].setText(fmt.TASK_TYPE_LABELS.get(rec.task_type, rec.task_type))
        # Non-breaking spaces: a narrow pane wraps before "(5.5 %)", never inside it.
        pct = f"\u00a0({rec.progress_percent:.1f}\u00a0%)" if rec.total_points else ""
        f["points"].setText((fmt.points(rec.processed_points, rec.total_points) or "0") + pct)
        f["failed"].setText(fmt.count(rec.failed_points))
        stored = stored_points(rec.result_summary)
        f["stored"].setText("—" if stored is None else fmt.count(stored))
        live = self.live
        eta = live.eta(rec) if live is not None else rec.eta_seconds
        f["eta"].setText(fmt.eta(rec.status, eta) or "—")
        f["created"].setText(fmt.local_time(rec.created_at))
        f["started"].setText(fmt.local_time(rec.start_time) or "—")
        f["ended"].setText(fmt.local_time(rec.end_time) or "—")
        dur = live.duration(rec) if live is not None else rec.duration_s
        f["duration"].setText(fmt.seconds(dur) or "—")
        f["attempt"].setText(f"{rec.attempt} of {rec.max_retries + 1}" if rec.attempt else "—")
        f["priority"].setText(rec.priority_name)
        f["launcher"].setText(rec.launcher + (f"  ({rec.worker_ref})" if rec.worker_ref else ""))
        f["chain"].setText(rec.chain_run_id or "—")
        f["depends"].setText(", ".join(map(str, rec.depends_on_task_ids)) or "—")
        f["blocks"].setText(", ".join(map(str, rec.blocks_task_ids)) or "—")
        f["created_by"].setText(rec.created_by or "—")
        res = []
        nb = "\u00a0"  # keeps "16 MB" and "CPU 3 %" whole when the line wraps
        if rec.status == Status.RUNNING and rec.cpu_percent is not None:
            res.append(f"CPU{nb}{rec.cpu_percent:.0f}{nb}% now")
        if rec.status == Status.RUNNING and rec.memory_mb is not None:
            res.append(f"{rec.memory_mb:,.0f}{nb}MB now")
        if rec.peak_memory_mb:
            res.append(f"peak{nb}{rec.peak_memory_mb:,.0f}{nb}MB")
        if rec.cpu_time_s:
            res.append(f"CPU{nb}time{nb}{fmt.cpu_time(rec.cpu_time_s).replace(' ', nb)}")
        f["resources"].setText(", ".join(res) or "—")
        self._set_text(self.params, key_values(rec.params))
        self._set_text(self.result, key_values(rec.result_summary)
                       if rec.result_summary else "")
        self.result.setPlaceholderText("No result yet" if rec.status not in _FINISHED else
                                       "The task ended without a result summary")
        self.error_box.setVisible(bool(rec.error_message))
        self.error_box.setTitle("Error" + (f" ({rec.failure_kind})" if rec.failure_kind else "")
                                + (" — retrying" if rec.status == Status.PENDING else ""))
        self._set_text(self.error, rec.error_message or "")
        kept = labels_kept_text(rec.skill_name, rec.result_summary)
        self.labels_kept.setText(kept)
        self.labels_kept.setVisible(bool(kept))

    @staticmethod
    def _set_text(box: QPlainTextEdit, text: str) -> None:
        if box.toPlainText() != text:  # keeps the user's scroll position and selection
            box.setPlainText(text)
