"""TaskTableModel: the Qt adapter over the engine's task collection and events.

The engine stays Qt-free and speaks through plain events (TaskAdded, TaskChanged,
TaskRemoved); this adapter turns them into Qt model signals. Rules that keep a table of
tens of thousands of live tasks smooth:

- every cell's text, sort key and colour are computed once per change, so ``data()`` is a
  lookup (views call it hundreds of times per repaint);
- event callbacks only note what changed; a ~100 ms timer turns the notes into batched
  row inserts and row-range ``dataChanged`` signals that carry their roles and columns, so
  a sorted proxy re-sorts only when the sort column really changed;
- filtering runs in C++: the proxy matches a regular expression against one precomputed
  filter string per row instead of calling a Python ``filterAcceptsRow``;
- sorting happens in the model: one ``sorted()`` over the precomputed keys and one layout
  change, instead of the proxy's n log n comparisons, each a call into Python (a header
  click on 10,000 tasks took about a second that way). New rows go straight to their
  place; a change that breaks the order re-sorts.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRegularExpression,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor

from trackdesk.engine.events import Event, TaskAdded, TaskChanged, TaskRemoved
from trackdesk.engine.records import TaskRecord
from trackdesk.engine.states import Priority, Status
from trackdesk.ui import format as fmt
from trackdesk.ui.icons import status_icon

ModelIndex = QModelIndex | QPersistentModelIndex

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 2  # float percent; NO_BAR: draw none
FILTER_ROLE = Qt.ItemDataRole.UserRole + 3
ID_ROLE = Qt.ItemDataRole.UserRole + 4
STATUS_ROLE = Qt.ItemDataRole.UserRole + 5
ROW_ROLE = Qt.ItemDataRole.UserRole + 6  # the row's precomputed cells (_Row), for painting
# PySide6 6.12 under Python 3.11 loses a reference to None each time C++ hands an invalid
# QVariant back to Python (QModelIndex.data(), proxy.data()): the process dies once None's
# count reaches zero. Roles that Python code reads through Qt therefore never return None.
NO_BAR = -1.0

_R = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_L = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int
    tip: str
    fields: frozenset[str]  # TaskRecord fields whose change alters this column
    align: Qt.AlignmentFlag = _L


def _f(*names: str) -> frozenset[str]:
    return frozenset(names)


COLUMNS: tuple[Column, ...] = (
    Column("id", "ID", 56, "Task id", _f(), _R),
    Column("skill", "Skill", 150, "The analysis skill this task runs", _f("skill_name")),
    Column("type", "Type", 105, "Incremental (new points only) or full recompute",
           _f("task_type")),
    Column("status", "Status", 110, "Where the task is in its life", _f("status",
           "status_reason", "error_message", "attempt", "max_retries")),
    Column("progress", "Progress", 130, "Share of points processed",
           _f("progress_percent", "status", "total_points", "processed_points")),
    Column("points", "Points", 150, "Points processed / points to process",
           _f("processed_points", "total_points"), _R),
    Column("failed", "Failed", 60, "Points the skill could not use", _f("failed_points"), _R),
    Column("eta", "ETA", 90, "Time left, once the processing rate is steady",
           _f("eta_seconds", "status"), _R),
    Column("duration", "Duration", 90, "Time since the task started",
           _f("start_time", "end_time", "status", "duration"), _R),
    Column("started", "Started", 115, "When the task started (local time)",
           _f("start_time")),
    Column("launcher", "Launcher", 70, "Where the worker runs: local process or Docker",
           _f("launcher")),
    Column("priority", "Priority", 70, "Queue priority", _f("priority")),
    Column("cpu", "CPU", 60, "CPU share of the worker now (100 % = one core); CPU time "
           "once finished", _f("cpu_percent", "cpu_time_s", "status"), _R),
    Column("memory", "Memory", 130, "Memory of the worker now (its peak so far in "
           "brackets); the peak once finished", _f("memory_mb", "peak_memory_mb", "status"),
           _R),
)
COLUMN_INDEX = {c.key: i for i, c in enumerate(COLUMNS)}
N_COLUMNS = len(COLUMNS)
STATUS_COL = COLUMN_INDEX["status"]
PROGRESS_COL = COLUMN_INDEX["progress"]
DURATION_COL = COLUMN_INDEX["duration"]
CPU_COL = COLUMN_INDEX["cpu"]
MEMORY_COL = COLUMN_INDEX["memory"]
_NUMERIC = [c.align == _R for c in COLUMNS]
# Fields that change no column (heartbeat_at, worker_ref...) cause no repaint at all.
_FIELD_COLUMNS: dict[str, list[int]] = {}
for _i, _c in enumerate(COLUMNS):
    for _name in _c.fields:
        _FIELD_COLUMNS.setdefault(_name, []).append(_i)

# Columns a progress report changes: sorted by one of them, progress goes out at 1 Hz.
LIVE_COLUMNS = frozenset({"progress", "points", "failed", "eta", "duration"})
# Coalescing window: events within it become one batch of model signals.
FLUSH_MS = 100
# The status bar's points/s averages this many seconds: workers report in bursts (a block
# every second or two), and a one-second window showed "0 points/s" between two bursts.
RATE_WINDOW_S = 5.0
# Two changed rows closer than this are sent as one range: fewer signals beat precision.
MERGE_GAP = 24


class TaskSource(Protocol):
    """What the model needs of the engine: its live task snapshot and its event bus."""

    tasks: Mapping[int, TaskRecord]

    @property
    def events(self) -> Any: ...


# Fields a progress report changes; a batch of only these updates five cells in place.
PROGRESS_FIELDS = frozenset({"processed_points", "total_points", "failed_points",
                             "progress_percent", "eta_seconds", "heartbeat_at", "duration",
                             "cpu_percent", "memory_mb", "peak_memory_mb", "cpu_time_s"})
_PRIORITY_NAMES = [p.value for p in Priority]
# strftime and astimezone are the dearest part of a row; start times repeat, so cache.
_started = lru_cache(maxsize=32768)(fmt.short_time)


class LiveState:
    """What the records alone do not say, noted by the window as events arrive.

    - Paused time: a record's duration is its wall span; a person reads Duration as the
      time the task worked, so the spans spent paused (seen as status changes) are taken
      off. A task paused before this window opened counts as it did (the engine keeps no
      pause history).
    - The last trusted rate of each running task: the engine withholds its ETA until a
      rate is stable and starts over after a resume; the ETA then goes on from the rate
      measured before the pause instead of flipping back to "estimating…".
    """

    def __init__(self) -> None:
        self.paused_total: dict[int, float] = {}
        self.paused_since: dict[int, float] = {}
        self.rates: dict[int, tuple[float, int]] = {}  # id -> (points/s, processed then)

    def on_change(self, rec: TaskRecord, changes: Iterable[str], now: float) -> None:
        task_id = rec.id
        if "start_time" in changes:  # a new run: nothing of the last one carries over
            self.paused_total.pop(task_id, None)
            self.paused_since.pop(task_id, None)
            self.rates.pop(task_id, None)
        if "status" not in changes:
            return
        if rec.status == Status.PAUSED and rec.start_time is not None:
            self.paused_since.setdefault(task_id, now)
        elif task_id in self.paused_since:
            since = self.paused_since.pop(task_id)
            self.paused_total[task_id] = self.paused_total.get(task_id, 0.0) + now - since
        if rec.status not in (Status.RUNNING, Status.PAUSED):
            self.rates.pop(task_id, None)

    def forget(self, task_id: int) -> None:
        self.paused_total.pop(task_id, None)
        self.paused_since.pop(task_id, None)
        self.rates.pop(task_id, None)

    def duration(self, rec: TaskRecord, now: float | None = None) -> float | None:
        """Seconds the task worked: its wall span less the time it spent paused."""
        wall = rec.duration_s
        if wall is None:
            return None
        paused = self.paused_total.get(rec.id, 0.0)
        since = self.paused_since.get(rec.id)
        if since is not None:
            paused += (time.time() if now is None else now) - since
        return max(0.0, wall - paused)

    def eta(self, rec: TaskRecord) -> float | None:
        if rec.status != Status.RUNNING:
            return None
        left = rec.total_points - rec.processed_points
        if rec.eta_seconds is not None:
            if rec.eta_seconds > 0 and left > 0:
                self.rates[rec.id] = (left / rec.eta_seconds, rec.processed_points)
            return rec.eta_seconds
        known = self.rates.get(rec.id)
        if known is None or left <= 0 or rec.processed_points < known[1]:
            return None
        return left / known[0]


_NO_LIVE = LiveState()


class _Row:
    """Precomputed cells of one task."""

    __slots__ = ("display", "sort", "progress", "status", "tip", "filter", "colour")

    def __init__(self, rec: TaskRecord, live: LiveState = _NO_LIVE) -> None:
        st = rec.status
        status_text = st.value
        if st == Status.PENDING and rec.attempt and rec.status_reason:
            status_text = "retrying"
        started = rec.start_time
        priority = _PRIORITY_NAMES[max(0, min(len(_PRIORITY_NAMES) - 1, rec.priority))]
        self.display: list[str] = [
            str(rec.id),
            rec.skill_name,
            fmt.TASK_TYPE_LABELS.get(rec.task_type, rec.task_type),
            status_text,
            "", "", "", "", "",
            _started(started) if started is not None else "",
            rec.launcher,
            priority,
            "", "",
        ]
        self.sort: list[Any] = [
            rec.id,
            rec.skill_name,
            rec.task_type,
            _STATUS_ORDER[st],
            0.0, 0, 0, 0.0, 0.0,
            started.timestamp() if started else 0.0,
            rec.launcher,
            rec.priority,
            0.0, 0.0,
        ]
        self.status = st
        self.colour = _STATUS_QCOLOURS[st]
        self.update_progress(rec, live)
        tip = rec.status_reason or ""
        if rec.error_message:
            first = rec.error_message.splitlines()[0]
            tip = f"{tip}\n{first}".strip() if tip else first
        self.tip = tip
        # id, status and the words a person would search for, lower-cased once.
        self.filter = (f"{st.value}\x1f{rec.id} {rec.skill_name} {rec.task_type} "
                       f"{status_text} {rec.launcher} {priority} "
                       f"{rec.chain_run_id or ''} {rec.created_by or ''} "
                       f"{(rec.error_message or '')[:200]}").lower()

    def update_progress(self, rec: TaskRecord, live: LiveState = _NO_LIVE) -> None:
        """Refresh only the cells a progress report changes (status stays the same)."""
        d, s = self.display, self.sort
        pct = rec.progress_percent
        # A task that never ran has no bar and no counts: "0 %" would read as "stuck".
        working = rec.status in (Status.RUNNING, Status.PAUSED) and rec.start_time is not None
        ran = working or rec.start_time is not None or rec.processed_points > 0
        d[4] = f"{pct:.0f} %"
        # A running task always shows its count; a total not yet known reads "?".
        d[5] = (fmt.points(rec.processed_points, rec.total_points) or
                (f"{rec.processed_points:,} / ?" if working else "")) if ran else ""
        d[6] = f"{rec.failed_points:,}" if ran else ""
        eta = live.eta(rec)
        d[7] = fmt.eta(rec.status, eta)
        dur = live.duration(rec)
        d[8] = fmt.seconds(dur)
        s[4] = pct
        s[5] = rec.processed_points
        s[6] = rec.failed_points
        s[7] = eta if eta is not None else -1.0
        s[8] = dur if dur is not None else -1.0
        self.progress = pct if ran else NO_BAR
        # Resources: sampled about once a second, so they ride the progress fast path.
        d[CPU_COL], s[CPU_COL] = _cpu_cell(rec)
        d[MEMORY_COL], s[MEMORY_COL] = _memory_cell(rec)


def _cpu_cell(rec: TaskRecord) -> tuple[str, float]:
    if rec.cpu_percent is not None and rec.status == Status.RUNNING:
        return f"{rec.cpu_percent:.0f} %", rec.cpu_percent
    if rec.cpu_time_s:
        # Once the worker is gone its share means nothing; what it cost still does.
        return f"{fmt.cpu_time(rec.cpu_time_s)} CPU", -1.0
    return "", -1.0


def _memory_cell(rec: TaskRecord) -> tuple[str, float]:
    peak = rec.peak_memory_mb
    if rec.memory_mb is not None and rec.status == Status.RUNNING:
        now = rec.memory_mb
        if peak and peak >= now + 1:
            return f"{now:,.0f} MB (peak {peak:,.0f})", now
        return f"{now:,.0f} MB", now
    if peak:
        return f"peak {peak:,.0f} MB", peak
    return "", -1.0


_STATUS_ORDER = {s: i for i, s in enumerate(
    (Status.RUNNING, Status.PAUSED, Status.PENDING, Status.INTERRUPTED, Status.FAILED,
     Status.SKIPPED, Status.CANCELLED, Status.COMPLETED))}
_STATUS_QCOLOURS = {s: QColor(c) for s, c in fmt.STATUS_COLOURS.items()}


@dataclass
class UpdateStats:
    """CPU time (of the GUI thread) the model spends on updates, for the benchmark."""

    events: int = 0
    flushes: int = 0
    event_s: float = 0.0
    flush_s: float = 0.0

    @property
    def busy_s(self) -> float:
        return self.event_s + self.flush_s


class TaskTableModel(QAbstractTableModel):
    """One row per task of the source, in the order the engine made them."""

    # ids of tasks whose rows changed in the last batch (selection-dependent UI listens)
    tasksChanged = Signal(object)
    countsChanged = Signal()

    def __init__(self, parent: Any = None, flush_ms: int = FLUSH_MS) -> None:
        super().__init__(parent)
        self._source: TaskSource | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._ids: list[int] = []
        self._row_of: dict[int, int] = {}
        self._rows: list[_Row] = []
        self._added: dict[int, TaskRecord] = {}
        self._removed: set[int] = set()
        self._dirty: set[int] = set()
        self._dirty_fields: set[str] = set()
        self._counts: Counter[Status] = Counter()
        self._running: set[int] = set()
        self._last_points: dict[int, int] = {}
        self._last_rate_at = time.monotonic()
        self._rate = 0.0
        self._rate_samples: deque[tuple[float, int]] = deque()  # (tick time, points since)
        self._rate_since = 0.0  # when the current stretch of running tasks began
        self.live = LiveState()
        self.stats = UpdateStats()
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(flush_ms)
        self._flush_timer.timeout.connect(self.flush)
        # Durations of running tasks grow without any event: refresh them once a second.
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._on_tick)
        self._tick.start()
        self._load_queue: list[TaskRecord] = []
        # While the view is sorted by a column progress changes (progress, points, ETA...),
        # every report would move rows and re-sort the proxy: progress then goes out once
        # a second with the tick; status changes still go out at once.
        self.hold_progress = False
        self._held: set[int] = set()
        self._releasing = False
        # Row order: by this column (-1: the order the engine made the tasks), ties by id.
        self._sort_col = -1
        self._sort_desc = False

    # ---------------------------------------------------------------- source ---------
    def set_source(self, source: TaskSource | None, batch: int = 0) -> None:
        """Show the tasks of ``source`` (an Engine) and follow its events.

        With ``batch`` > 0 the existing tasks arrive in chunks of that many rows, one
        chunk per event-loop turn, so a big history never freezes the window."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.beginResetModel()
        self._source = source
        self._ids, self._row_of = [], {}
        self._rows.clear()
        self._added.clear()
        self._removed.clear()
        self._dirty.clear()
        self._dirty_fields.clear()
        self._held.clear()
        self._counts.clear()
        self._running.clear()
        self._last_points.clear()
        self._rate_samples.clear()
        self._rate = 0.0
        self.live = LiveState()
        self._load_queue = []
        records = list(source.tasks.values()) if source is not None else []
        if batch <= 0 or len(records) <= batch:
            for rec in records:
                self._append(rec)
            records = []
            self._reorder(signal=False)
        self.endResetModel()
        if source is not None:
            self._unsubscribe = source.events.subscribe(self._on_event)
        if records:
            self._load_queue = records
            self._load_batch = batch
            QTimer.singleShot(0, self._load_more)
        self.countsChanged.emit()

    def _load_more(self) -> None:
        if not self._load_queue:
            return
        chunk, self._load_queue = (self._load_queue[:self._load_batch],
                                   self._load_queue[self._load_batch:])
        chunk = [r for r in chunk if r.id not in self._row_of and self._source is not None
                 and r.id in self._source.tasks]
        if chunk:
            self._insert(chunk)
            self.countsChanged.emit()
        if self._load_queue:
            QTimer.singleShot(0, self._load_more)

    @property
    def loading(self) -> bool:
        return bool(self._load_queue)

    def _append(self, rec: TaskRecord, row: _Row | None = None) -> None:
        row = row or _Row(rec, self.live)
        self._row_of[rec.id] = len(self._ids)
        self._ids.append(rec.id)
        self._rows.append(row)
        self._count_in(rec, row)

    def _count_in(self, rec: TaskRecord, row: _Row) -> None:
        self._counts[row.status] += 1
        if row.status == Status.RUNNING:
            self._running.add(rec.id)
            self._last_points[rec.id] = rec.processed_points

    # ---------------------------------------------------------------- events ---------
    def _on_event(self, event: Event) -> None:
        # Called by the engine for every change: note it and return at once.
        t0 = time.thread_time()
        if type(event) is TaskChanged:
            self._dirty.add(event.task_id)
            self._dirty_fields.update(event.changes)
            if ("status" in event.changes or "start_time" in event.changes) and \
                    self._source is not None:
                rec = self._source.tasks.get(event.task_id)
                if rec is not None:  # the moment matters (paused time): note it now
                    self.live.on_change(rec, event.changes, time.time())
        elif type(event) is TaskAdded:
            self._added[event.task.id] = event.task
            self._removed.discard(event.task.id)
        elif type(event) is TaskRemoved:
            self._removed.add(event.task_id)
            self._added.pop(event.task_id, None)
            self.live.forget(event.task_id)
        else:
            return
        if not self._flush_timer.isActive():
            self._flush_timer.start()
        self.stats.events += 1
        self.stats.event_s += time.thread_time() - t0

    def flush(self) -> None:
        """Turn the changes noted since the last flush into model signals."""
        t0 = time.thread_time()
        self._flush_timer.stop()
        changed: set[int] = set()
        if self._removed:
            changed |= self._flush_removed()
        if self._added:
            changed |= self._flush_added()
        if self._dirty:
            changed |= self._flush_changed()
        self.stats.flushes += 1
        self.stats.flush_s += time.thread_time() - t0
        if changed:
            self.tasksChanged.emit(changed)
            self.countsChanged.emit()

    def _flush_removed(self) -> set[int]:
        gone = {i for i in self._removed if i in self._row_of}
        self._removed.clear()
        if not gone:
            return set()
        rows = sorted((self._row_of[i] for i in gone), reverse=True)
        # Remove contiguous blocks from the bottom up so earlier row numbers stay valid.
        start = end = rows[0]
        blocks = []
        for r in rows[1:]:
            if r == start - 1:
                start = r
            else:
                blocks.append((start, end))
                start = end = r
        blocks.append((start, end))
        for first, last in blocks:
            self.beginRemoveRows(QModelIndex(), first, last)
            for r in range(last, first - 1, -1):
                self._counts[self._rows[r].status] -= 1
            del self._ids[first:last + 1]
            del self._rows[first:last + 1]
            self.endRemoveRows()
        self._row_of = {task_id: r for r, task_id in enumerate(self._ids)}
        for i in gone:
            self._dirty.discard(i)
            self._running.discard(i)
            self._last_points.pop(i, None)
        return gone

    def _flush_added(self) -> set[int]:
        new = [rec for i, rec in self._added.items() if i not in self._row_of]
        self._added.clear()
        if not new:
            return set()
        new.sort(key=lambda r: r.id)
        self._insert(new)
        return {rec.id for rec in new}

    def _insert(self, records: list[TaskRecord]) -> None:
        """Add rows where the order puts them: as one block at the end or at the top (new
        tasks, in the default orders), else at the end followed by one re-sort."""
        pairs = sorted(((_Row(rec, self.live), rec) for rec in records),
                       key=lambda p: self._key(p[0], p[1].id), reverse=self._sort_desc)
        n, k = len(self._ids), len(pairs)
        if n and self._before(self._key(pairs[-1][0], pairs[-1][1].id), self._key_at(0)):
            self.beginInsertRows(QModelIndex(), 0, k - 1)
            self._ids[0:0] = [rec.id for _row, rec in pairs]
            self._rows[0:0] = [row for row, _rec in pairs]
            self._row_of = {task_id: r for r, task_id in enumerate(self._ids)}
            for row, rec in pairs:
                self._count_in(rec, row)
            self.endInsertRows()
            return
        self.beginInsertRows(QModelIndex(), n, n + k - 1)
        for row, rec in pairs:
            self._append(rec, row)
        self.endInsertRows()
        if n and not self._before(self._key_at(n - 1), self._key_at(n)):
            self._reorder()

    # ---------------------------------------------------------------- order ----------
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order the rows by ``column`` (-1: the order the engine made the tasks)."""
        self._sort_col = column if 0 <= column < N_COLUMNS else -1
        self._sort_desc = order == Qt.SortOrder.DescendingOrder
        self._reorder()

    @property
    def sort_column(self) -> int:
        return self._sort_col

    @property
    def sort_order(self) -> Qt.SortOrder:
        return (Qt.SortOrder.DescendingOrder if self._sort_desc
                else Qt.SortOrder.AscendingOrder)

    def _key(self, row: _Row, task_id: int) -> tuple[Any, int]:
        return (row.sort[self._sort_col] if self._sort_col >= 0 else task_id, task_id)

    def _key_at(self, r: int) -> tuple[Any, int]:
        return self._key(self._rows[r], self._ids[r])

    def _before(self, a: tuple[Any, int], b: tuple[Any, int]) -> bool:
        """Whether a row keyed ``a`` belongs above one keyed ``b``."""
        return a > b if self._sort_desc else a < b

    def _in_place(self, r: int) -> bool:
        key = self._key_at(r)
        return ((r == 0 or self._before(self._key_at(r - 1), key)) and
                (r == len(self._ids) - 1 or self._before(key, self._key_at(r + 1))))

    def _reorder(self, signal: bool = True) -> None:
        """Put every row in its place: one ``sorted()``; the proxy, the view's selection
        and current row follow through the persistent indexes."""
        n = len(self._ids)
        key = self._key
        rows, ids = self._rows, self._ids
        order = sorted(range(n), key=lambda r: key(rows[r], ids[r]), reverse=self._sort_desc)
        if order == list(range(n)):
            return
        if signal:
            self.layoutAboutToBeChanged.emit()
        self._ids = [ids[r] for r in order]
        self._rows[:] = [rows[r] for r in order]
        self._row_of = {task_id: r for r, task_id in enumerate(self._ids)}
        if signal:
            moved = self.persistentIndexList()
            if moved:
                new_row = [0] * n
                for new, old in enumerate(order):
                    new_row[old] = new
                self.changePersistentIndexList(
                    moved, [self.index(new_row[i.row()], i.column()) for i in moved])
            self.layoutChanged.emit()

    def _flush_changed(self) -> set[int]:
        assert self._source is not None
        tasks = self._source.tasks
        fields = self._dirty_fields
        dirty = self._dirty
        self._dirty, self._dirty_fields = set(), set()
        cols = sorted({c for f in fields for c in _FIELD_COLUMNS.get(f, ())})
        if not cols:
            return set()
        status_changed = "status" in fields
        rows: list[int] = []
        if fields <= PROGRESS_FIELDS:
            # The common case by far: progress reports of running tasks.
            if self.hold_progress and not self._releasing:
                self._held.update(dirty)
                return set()
            for task_id in dirty:
                r = self._row_of.get(task_id)
                rec = tasks.get(task_id)
                if r is not None and rec is not None:
                    self._rows[r].update_progress(rec, self.live)
                    rows.append(r)
            if rows:
                self._emit_ranges(rows, cols[0], cols[-1],
                                  [Qt.ItemDataRole.DisplayRole, SORT_ROLE, PROGRESS_ROLE])
                self._keep_order(rows, cols)
            return dirty
        for task_id in dirty:
            r = self._row_of.get(task_id)
            rec = tasks.get(task_id)
            if r is None or rec is None:
                continue
            old = self._rows[r]
            new = _Row(rec, self.live)
            self._rows[r] = new
            if old.status is not new.status:
                self._counts[old.status] -= 1
                self._counts[new.status] += 1
                if new.status == Status.RUNNING:
                    self._running.add(task_id)
                    self._last_points[task_id] = rec.processed_points
                elif old.status == Status.RUNNING:
                    self._running.discard(task_id)
                    self._last_points.pop(task_id, None)
            rows.append(r)
        if not rows:
            return set()
        roles = [Qt.ItemDataRole.DisplayRole, SORT_ROLE, PROGRESS_ROLE]
        if status_changed or "status_reason" in fields or "error_message" in fields:
            roles += [Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.ForegroundRole,
                      Qt.ItemDataRole.ToolTipRole, FILTER_ROLE, STATUS_ROLE]
        self._emit_ranges(rows, cols[0], cols[-1], roles)
        self._keep_order(rows, cols)
        return dirty

    def _keep_order(self, rows: list[int], cols: list[int]) -> None:
        # Only a change of the sort column can move a row; checking the neighbours of
        # the changed rows is enough to know whether it did.
        if self._sort_col in cols and not all(self._in_place(r) for r in rows):
            self._reorder()

    def _emit_ranges(self, rows: list[int], first_col: int, last_col: int,
                     roles: list[Any]) -> None:
        rows.sort()
        start = prev = rows[0]
        for r in rows[1:]:
            if r - prev > MERGE_GAP:
                self.dataChanged.emit(self.index(start, first_col),
                                      self.index(prev, last_col), roles)
                start = r
            prev = r
        self.dataChanged.emit(self.index(start, first_col), self.index(prev, last_col), roles)

    def _on_tick(self) -> None:
        if self._source is None:
            return
        now = time.monotonic()
        tasks = self._source.tasks
        total = 0
        for task_id in self._running:
            rec = tasks.get(task_id)
            if rec is None:
                continue
            last = self._last_points.get(task_id, rec.processed_points)
            total += max(0, rec.processed_points - last)
            self._last_points[task_id] = rec.processed_points
        self._last_rate_at = now
        if not self._running:
            self._rate_samples.clear()
            self._rate = 0.0
        else:
            if not self._rate_samples and self._rate_since == 0.0:
                self._rate_since = now - 1.0
            self._rate_samples.append((now, total))
            while self._rate_samples and now - self._rate_samples[0][0] > RATE_WINDOW_S:
                self._rate_samples.popleft()
            # Over the window, or since the tasks started when that is shorter.
            span = max(1e-3, min(RATE_WINDOW_S, now - self._rate_since))
            self._rate = sum(n for _t, n in self._rate_samples) / span
        if not self._running:
            self._rate_since = 0.0
        if self._held:
            # Held progress (the table is sorted by a live column) goes out now, once.
            self._dirty.update(self._held)
            self._dirty.update(self._running)
            self._held.clear()
            self._dirty_fields.update(("processed_points", "failed_points", "total_points",
                                       "progress_percent", "eta_seconds", "duration"))
            self._releasing = True
            try:
                self.flush()
            finally:
                self._releasing = False
        elif self._running:
            self._dirty.update(self._running)
            self._dirty_fields.add("duration")
            if not self._flush_timer.isActive():
                self._flush_timer.start()
        self.countsChanged.emit()

    # ---------------------------------------------------------------- figures --------
    def counts(self) -> dict[Status, int]:
        return {s: self._counts.get(s, 0) for s in Status}

    def points_per_second(self) -> float:
        """Points processed per second by all running tasks, over the last few seconds
        (``RATE_WINDOW_S``)."""
        return self._rate if self._running else 0.0

    def task_id(self, row: int) -> int:
        return self._ids[row]

    def row_of(self, task_id: int) -> int | None:
        return self._row_of.get(task_id)

    def task_ids(self) -> list[int]:
        return list(self._ids)

    def record(self, task_id: int) -> TaskRecord | None:
        return self._source.tasks.get(task_id) if self._source is not None else None

    # ---------------------------------------------------------------- Qt API ---------
    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else N_COLUMNS

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = index.row()
        if r >= len(self._rows):
            return None
        row = self._rows[r]
        col = index.column()
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.DisplayRole:
            return row.display[col]
        if role == SORT_ROLE:
            return row.sort[col]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return COLUMNS[col].align
        if col == STATUS_COL:
            if role == Qt.ItemDataRole.DecorationRole:
                return status_icon(row.status)
            if role == Qt.ItemDataRole.ForegroundRole:
                return row.colour
            if role == Qt.ItemDataRole.ToolTipRole:
                return row.tip or None
        if role == PROGRESS_ROLE:
            return row.progress
        if role == FILTER_ROLE:
            return row.filter
        if role == ID_ROLE:
            return self._ids[r]
        if role == STATUS_ROLE:
            return row.status.value
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < N_COLUMNS:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].title
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section].tip
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return COLUMNS[section].align
        return None

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        return _ROW_FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags


_ROW_FLAGS = (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable |
              Qt.ItemFlag.ItemNeverHasChildren)

STATUS_FILTERS: tuple[tuple[str, frozenset[Status] | None], ...] = (
    ("All tasks", None),
    ("Active", frozenset({Status.PENDING, Status.RUNNING, Status.PAUSED})),
    ("Needs attention", frozenset({Status.FAILED, Status.INTERRUPTED, Status.SKIPPED})),
    *((s.value.capitalize(), frozenset({s})) for s in Status),
)


class TaskFilterProxy(QSortFilterProxyModel):
    """Filter by status and free text; sorting is handed to the task model."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterRole(FILTER_ROLE)
        self.setFilterKeyColumn(0)
        self.setDynamicSortFilter(True)
        self._statuses: frozenset[Status] | None = None
        self._text = ""

    def set_filter(self, statuses: Iterable[Status] | None = None, text: str = "") -> None:
        """Show only tasks in ``statuses`` (None: all) whose words contain every word of
        ``text`` (case-insensitive)."""
        self._statuses = None if statuses is None else frozenset(statuses)
        self._text = text
        self.setFilterRegularExpression(self.filter_pattern(self._statuses, text))

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        # The proxy keeps the source's order (its own sort column stays -1); the task
        # model sorts itself in one sorted() call (see the module's docstring).
        model = self.sourceModel()
        if isinstance(model, TaskTableModel):
            model.sort(column, order)
        else:
            super().sort(column, order)

    def sortColumn(self) -> int:  # noqa: N802
        model = self.sourceModel()
        return model.sort_column if isinstance(model, TaskTableModel) else super().sortColumn()

    def sortOrder(self) -> Qt.SortOrder:  # noqa: N802
        model = self.sourceModel()
        return model.sort_order if isinstance(model, TaskTableModel) else super().sortOrder()

    @staticmethod
    def filter_pattern(statuses: frozenset[Status] | None, text: str) -> QRegularExpression:
        head = "^" if statuses is None else \
            "^(?:" + "|".join(sorted(s.value for s in statuses)) + ")\x1f"
        words = [w for w in text.lower().split() if w]
        body = "".join(f"(?=.*{QRegularExpression.escape(w)})" for w in words)
        if statuses is None and not body:
            return QRegularExpression()
        return QRegularExpression(head + body,
                                  QRegularExpression.PatternOption.DotMatchesEverythingOption)

    @property
    def statuses(self) -> frozenset[Status] | None:
        return self._statuses

    @property
    def text(self) -> str:
        return self._text
