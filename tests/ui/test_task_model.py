"""The table model alone, driven by engine-like events (no engine, no loop)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import Qt

from trackdesk.engine.events import EventBus, TaskAdded, TaskChanged, TaskRemoved
from trackdesk.engine.records import TaskRecord
from trackdesk.engine.states import Status
from trackdesk.ui.task_model import (
    COLUMN_INDEX,
    NO_BAR,
    PROGRESS_ROLE,
    TaskFilterProxy,
    TaskTableModel,
)


class FakeEngine:
    def __init__(self) -> None:
        self.tasks: dict[int, TaskRecord] = {}
        self.events = EventBus()

    def add(self, **kw: Any) -> TaskRecord:
        rec = TaskRecord(id=len(self.tasks) + 1, skill_name=kw.pop("skill_name", "count"), **kw)
        self.tasks[rec.id] = rec
        self.events.emit(TaskAdded(rec))
        return rec

    def change(self, task_id: int, **changes: Any) -> None:
        rec = self.tasks[task_id]
        for k, v in changes.items():
            setattr(rec, k, v)
        self.events.emit(TaskChanged(task_id, changes))

    def remove(self, task_id: int) -> None:
        del self.tasks[task_id]
        self.events.emit(TaskRemoved(task_id))


def cell(model: TaskTableModel, task_id: int, column: str) -> str:
    row = model.row_of(task_id)
    assert row is not None
    return model.data(model.index(row, COLUMN_INDEX[column]))


def test_model_passes_the_qt_model_tester_through_adds_changes_and_removals(qtmodeltester):
    src = FakeEngine()
    for i in range(20):
        src.add(status=Status.COMPLETED if i % 2 else Status.PENDING, total_points=100)
    model = TaskTableModel()
    model.set_source(src)
    qtmodeltester.check(model)
    for _ in range(5):
        src.add()
    src.change(3, status=Status.RUNNING, processed_points=40, progress_percent=40.0)
    src.remove(2)
    src.remove(7)
    model.flush()
    assert model.rowCount() == 23
    qtmodeltester.check(model)


def test_a_progress_event_updates_the_row_after_one_coalesced_flush():
    src = FakeEngine()
    src.add(status=Status.RUNNING, total_points=1000, start_time=datetime.now(UTC))
    model = TaskTableModel()
    model.set_source(src)
    src.change(1, processed_points=250, progress_percent=25.0, eta_seconds=None)
    # Not yet: events are only noted until the timer fires.
    assert cell(model, 1, "points") == "0 / 1,000"
    model.flush()
    assert cell(model, 1, "points") == "250 / 1,000"
    assert cell(model, 1, "eta") == "estimating…"
    assert model.data(model.index(0, COLUMN_INDEX["progress"]), PROGRESS_ROLE) == 25.0
    src.change(1, eta_seconds=125.0)
    model.flush()
    assert cell(model, 1, "eta") == "2 min 05 s"


def test_many_changes_become_few_row_range_signals_with_roles_and_columns():
    src = FakeEngine()
    for _ in range(1000):
        src.add(status=Status.RUNNING, total_points=100)
    model = TaskTableModel()
    model.set_source(src)
    signals: list[tuple[int, int, int, int, list]] = []
    model.dataChanged.connect(lambda a, b, roles: signals.append(
        (a.row(), b.row(), a.column(), b.column(), list(roles))))
    for step in range(10):  # 10 progress reports from each of 200 neighbouring tasks
        for task_id in range(301, 501):
            src.change(task_id, processed_points=step, progress_percent=float(step))
    model.flush()
    assert len(signals) == 1
    top, bottom, left, right, roles = signals[0]
    assert (top, bottom) == (300, 499)
    # Only the progress and points columns: a proxy sorted by id need not re-sort.
    assert (left, right) == (COLUMN_INDEX["progress"], COLUMN_INDEX["points"])
    assert Qt.ItemDataRole.DisplayRole in roles
    assert Qt.ItemDataRole.DecorationRole not in roles  # status did not change


def test_status_change_updates_counts_icon_roles_and_the_pending_bar():
    src = FakeEngine()
    src.add(status=Status.PENDING)
    model = TaskTableModel()
    model.set_source(src)
    assert model.counts()[Status.PENDING] == 1
    assert model.data(model.index(0, COLUMN_INDEX["progress"]), PROGRESS_ROLE) == NO_BAR
    roles_seen: list[list] = []
    model.dataChanged.connect(lambda a, b, roles: roles_seen.append(list(roles)))
    src.change(1, status=Status.FAILED, error_message="bad point at 7\nmore")
    model.flush()
    assert model.counts()[Status.FAILED] == 1 and model.counts()[Status.PENDING] == 0
    assert Qt.ItemDataRole.DecorationRole in roles_seen[0]
    status_index = model.index(0, COLUMN_INDEX["status"])
    assert model.data(status_index) == "failed"
    assert model.data(status_index, Qt.ItemDataRole.ToolTipRole) == "bad point at 7"


def test_inserts_arrive_in_one_batch_and_removals_keep_rows_consistent():
    src = FakeEngine()
    model = TaskTableModel()
    model.set_source(src)
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _p, a, b: inserted.append((a, b)))
    for _ in range(500):
        src.add()
    model.flush()
    assert inserted == [(0, 499)]
    for task_id in (10, 11, 12, 300):
        src.remove(task_id)
    model.flush()
    assert model.rowCount() == 496
    assert all(model.task_id(model.row_of(i)) == i for i in src.tasks)


def test_a_long_history_loads_in_batches_without_blocking(qtbot):
    src = FakeEngine()
    for _ in range(5000):
        src.add(status=Status.COMPLETED)
    model = TaskTableModel()
    model.set_source(src, batch=1000)
    assert model.rowCount() == 0 and model.loading
    qtbot.waitUntil(lambda: model.rowCount() == 5000, timeout=5000)
    assert not model.loading
    assert model.counts()[Status.COMPLETED] == 5000


def test_proxy_filters_by_status_and_words_and_sorts_any_column():
    src = FakeEngine()
    src.add(skill_name="stay_detection", status=Status.RUNNING, progress_percent=70.0)
    src.add(skill_name="trip_construction", status=Status.FAILED, error_message="no trips found")
    src.add(skill_name="stay_stats", status=Status.COMPLETED, progress_percent=100.0)
    src.add(skill_name="grid_system", status=Status.RUNNING, progress_percent=10.0)
    model = TaskTableModel()
    model.set_source(src)
    proxy = TaskFilterProxy()
    proxy.setSourceModel(model)

    def shown() -> list[int]:
        return [model.task_id(proxy.mapToSource(proxy.index(r, 0)).row())
                for r in range(proxy.rowCount())]

    proxy.set_filter({Status.RUNNING})
    assert sorted(shown()) == [1, 4]
    proxy.set_filter(None, "stay")
    assert sorted(shown()) == [1, 3]
    proxy.set_filter(None, "STAY running")
    assert shown() == [1]
    proxy.set_filter({Status.FAILED}, "trips found")  # error text is searchable
    assert shown() == [2]
    proxy.set_filter(None, "")
    proxy.sort(COLUMN_INDEX["progress"], Qt.SortOrder.DescendingOrder)
    assert shown()[:2] == [3, 1]
    # A live change re-sorts the row.
    src.change(4, progress_percent=99.0)
    model.flush()
    assert shown()[:2] == [3, 4]


def test_durations_of_running_tasks_tick_without_events():
    src = FakeEngine()
    src.add(status=Status.RUNNING, start_time=datetime.now(UTC) - timedelta(seconds=65))
    model = TaskTableModel()
    model.set_source(src)
    assert cell(model, 1, "duration") == "1 min 05 s"
    src.tasks[1].start_time = datetime.now(UTC) - timedelta(seconds=125)
    model._on_tick()
    model.flush()
    assert cell(model, 1, "duration") == "2 min 05 s"


def test_sorted_by_a_live_column_progress_goes_out_once_a_second():
    src = FakeEngine()
    src.add(status=Status.RUNNING, total_points=100, start_time=datetime.now(UTC))
    model = TaskTableModel()
    model.set_source(src)
    model.hold_progress = True
    src.change(1, processed_points=40, progress_percent=40.0)
    model.flush()
    assert cell(model, 1, "points") == "0 / 100"  # held: rows must not jump 10 times/s
    model._on_tick()
    assert cell(model, 1, "points") == "40 / 100"
    src.change(1, status=Status.FAILED)
    model.flush()
    assert cell(model, 1, "status") == "failed"  # a state change is never held


def _shown(model: TaskTableModel, proxy: TaskFilterProxy) -> list[int]:
    return [model.task_id(proxy.mapToSource(proxy.index(r, 0)).row())
            for r in range(proxy.rowCount())]


def test_sorting_ten_thousand_tasks_orders_them_and_keeps_the_selected_task(qtmodeltester):
    src = FakeEngine()
    for i in range(10_000):
        src.add(skill_name=("stay_detection", "trip_construction", "grid_system")[i % 3],
                status=Status.COMPLETED, total_points=100,
                processed_points=(i * 7919) % 10_000)
    model = TaskTableModel()
    model.set_source(src)
    proxy = TaskFilterProxy()
    proxy.setSourceModel(model)
    from PySide6.QtCore import QItemSelectionModel
    selection = QItemSelectionModel(proxy)
    chosen = proxy.index(_shown(model, proxy).index(1234), 0)
    selection.setCurrentIndex(chosen, QItemSelectionModel.SelectionFlag.ClearAndSelect |
                              QItemSelectionModel.SelectionFlag.Rows)

    proxy.sort(COLUMN_INDEX["points"], Qt.SortOrder.DescendingOrder)
    points = [src.tasks[i].processed_points for i in _shown(model, proxy)]
    assert points == sorted(points, reverse=True)
    assert proxy.sortColumn() == COLUMN_INDEX["points"]
    # The selected task is still the selected one, wherever it went.
    current = selection.currentIndex()
    assert model.task_id(proxy.mapToSource(current).row()) == 1234
    assert [model.task_id(proxy.mapToSource(i).row()) for i in selection.selectedRows()] == [1234]

    proxy.sort(COLUMN_INDEX["skill"], Qt.SortOrder.AscendingOrder)
    shown = _shown(model, proxy)
    # Equal keys keep a stable order: by task id.
    assert shown[:3] == [3, 6, 9] and shown[-1] == 9_998
    qtmodeltester.check(model)


def test_new_tasks_land_in_their_place_in_any_sort_order():
    src = FakeEngine()
    for i in range(6):
        src.add(status=Status.COMPLETED, total_points=100, processed_points=10 * i)
    model = TaskTableModel()
    model.set_source(src)
    proxy = TaskFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(COLUMN_INDEX["id"], Qt.SortOrder.DescendingOrder)  # the window's default
    src.add(status=Status.PENDING)
    src.add(status=Status.PENDING)
    model.flush()
    assert _shown(model, proxy) == [8, 7, 6, 5, 4, 3, 2, 1]  # newest on top
    proxy.sort(COLUMN_INDEX["points"], Qt.SortOrder.AscendingOrder)
    src.add(status=Status.COMPLETED, total_points=100, processed_points=25)
    model.flush()
    points = [src.tasks[i].processed_points for i in _shown(model, proxy)]
    assert points == sorted(points) and 9 in _shown(model, proxy)
    assert _shown(model, proxy).index(9) == _shown(model, proxy).index(3) + 1


def test_a_state_change_moves_the_task_when_sorted_by_status():
    src = FakeEngine()
    for _ in range(5):
        src.add(status=Status.COMPLETED)
    model = TaskTableModel()
    model.set_source(src)
    proxy = TaskFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(COLUMN_INDEX["status"], Qt.SortOrder.AscendingOrder)
    assert _shown(model, proxy) == [1, 2, 3, 4, 5]
    src.change(4, status=Status.RUNNING)  # running tasks sort first
    model.flush()
    assert _shown(model, proxy)[0] == 4
    src.remove(4)
    model.flush()
    assert _shown(model, proxy) == [1, 2, 3, 5]
