"""Issue 11 in the window: resource columns, the metrics panel, the health view and
history clean-up from the settings, against a real engine and real test workers."""

from __future__ import annotations

import sqlite3
from typing import Any

from trackdesk.engine.states import Status
from trackdesk.ui.task_model import COLUMN_INDEX

from .conftest import run, until

ALLOC_MB = 250


def _cell(w: Any, task_id: int, key: str) -> str:
    row = w.model.row_of(task_id)
    return w.model.index(row, COLUMN_INDEX[key]).data() if row is not None else ""


def test_memory_column_shows_a_running_workers_memory(make_window: Any, loop: Any) -> None:
    w = make_window(sample_interval_s=0.2)
    rec = run(loop, w.engine.create_task("count", params={
        "n": 2000, "batch": 10, "sleep_s": 0.05, "alloc_mb": ALLOC_MB}))

    def megabytes() -> float:
        text = _cell(w, rec.id, "memory")
        return float(text.split()[0].replace(",", "")) if text.endswith(("MB", ")")) else 0.0

    # The ballast plus the interpreter (about 16 MB): big enough that a worker without
    # the ballast (or the engine's own memory) could not pass for it.
    run(loop, until(lambda: megabytes() >= ALLOC_MB * 0.95, 20, "the memory column"))
    assert megabytes() <= ALLOC_MB * 1.2
    assert _cell(w, rec.id, "cpu").endswith("%")
    w.select_tasks([rec.id])
    run(loop, until(lambda: "MB now" in w.detail.fields["resources"].text(), 5,
                    "resources in the detail pane"))
    assert "peak" in w.detail.fields["resources"].text()
    run(loop, w.engine.cancel(rec.id))
    run(loop, until(lambda: w.engine.tasks[rec.id].status == Status.CANCELLED, 10))
    # Once finished: the peak stays, the current figure goes.
    run(loop, until(lambda: _cell(w, rec.id, "memory").startswith("peak"), 5))


def test_metrics_panel_figures_match_the_tasks_run(make_window: Any, loop: Any) -> None:
    w = make_window()
    ids = [run(loop, w.engine.create_task("count", params={"n": 30, "batch": 10,
                                                           "key": f"k{i}"})).id
           for i in range(3)]
    bad = run(loop, w.engine.create_task("count", params={"n": 30, "batch": 10,
                                                          "key": "bad", "fail_at": 15}))
    done = run(loop, w.engine.wait_for([*ids, bad.id], poll=0.05))
    assert [t.status for t in done] == [Status.COMPLETED] * 3 + [Status.FAILED]
    panel = w.monitor.show_metrics()
    # Events are coalesced: the panel follows within the refresh interval.
    run(loop, until(lambda: (w.monitor.last_metrics or {}).get("finished") == 4, 5,
                    "the metrics panel"))
    m = w.monitor.last_metrics
    count = m["per_skill"]["count"]
    assert (count["completed"], count["failed"]) == (3, 1)
    assert count["failure_rate"] == 0.25
    assert count["points_per_second"] > 0
    assert panel.figures["finished"].text() == "4"
    assert panel.figures["failure_rate"].text() == "25.0%"
    assert panel.skills.rowCount() == 1
    assert panel.skills.item(0, 0).text() == "count"
    assert panel.skills.item(0, 1).text() == "3"
    assert panel.skills.item(0, 2).text() == "1"
    assert sum(b["completed"] for b in m["series"]) == 3
    assert "completed" in panel.queue.text()
    assert "failed" in w.monitor.status_label.text()
    w.monitor.metrics_dock.hide()


def test_health_view_lists_a_stuck_task_and_restarts_it(make_window: Any, loop: Any) -> None:
    w = make_window(sample_interval_s=0.2)
    health = w.monitor.show_health()
    health.docker = False  # the Docker probe has its own tests
    rec = run(loop, w.engine.create_task("count_silent", params={
        "n": 20, "batch": 5, "sleep_s": 4.0}))
    restarts: list[int] = []

    def on_event(e: Any) -> None:
        changes = getattr(e, "changes", {})
        if getattr(e, "task_id", None) == rec.id and changes.get("status_reason") == \
                "restarted":
            restarts.append(e.task_id)

    unsubscribe = w.engine.events.subscribe(on_event)
    run(loop, until(lambda: rec.id in w.engine.stuck_ids(), 15, "the task flagged stuck"))
    run(loop, until(lambda: health.stuck.rowCount() == 1, 10, "the stuck list"))
    assert health.stuck.item(0, 0).text() == str(rec.id)
    assert "stuck" in health.summary.text()
    assert health.fields["engine"].text().startswith("running (pid")
    assert health.fields["integrity"].text() == "ok"
    first_worker = w.engine.tasks[rec.id].worker_ref
    health.stuck.cellWidget(0, 4).click()
    run(loop, until(lambda: len(restarts) == 1, 15, "the restart"))
    # Queued again and started by a new worker (which, being silent, gets stuck again).
    run(loop, until(lambda: w.engine.tasks[rec.id].status == Status.RUNNING
                    and w.engine.tasks[rec.id].worker_ref not in (None, first_worker), 10))
    run(loop, until(lambda: rec.id in w.engine.stuck_ids(), 15, "stuck again"))
    w.monitor.act_restart_stuck.trigger()  # Tasks → Restart stuck tasks
    run(loop, until(lambda: len(restarts) == 2, 15, "the restart from the menu"))
    unsubscribe()
    run(loop, w.engine.cancel(rec.id))
    w.monitor.health_dock.hide()


def test_pruning_from_the_settings_keeps_results(make_window: Any, loop: Any,
                                                 db_path: Any) -> None:
    w = make_window()
    ids = []
    for i in range(3):  # one after the other: "keep the newest" is by end time
        ids.append(run(loop, w.engine.create_task("count", params={"n": 10,
                                                                    "key": f"k{i}"})).id)
        run(loop, w.engine.wait_for(ids[-1:], poll=0.05))
    dialog = w.open_settings()
    dialog.history_keep.setValue(1)
    dialog.history_remove.setChecked(True)
    dialog.prune_button.click()
    run(loop, until(lambda: len(w.engine.tasks) == 1, 10, "the pruned history"))
    assert list(w.engine.tasks) == [ids[-1]]
    run(loop, until(lambda: "2 finished tasks removed" in dialog.prune_result.text(), 5))
    run(loop, until(lambda: w.model.rowCount() == 1, 5, "the table"))
    with sqlite3.connect(db_path) as conn:  # what the tasks produced is still there
        assert conn.execute("SELECT COUNT(*) FROM test_counts").fetchone()[0] == 30
    dialog.accept()
    assert (w.settings.history_keep, w.settings.history_archive) == (1, False)


def test_history_is_archived_at_start_when_asked(make_window: Any, loop: Any,
                                                 db_path: Any) -> None:
    from datetime import timedelta

    from trackdesk.engine.records import utcnow
    from trackdesk.ui.settings import AppSettings

    from .conftest import insert, record

    old, recent = utcnow() - timedelta(days=40), utcnow() - timedelta(days=2)
    insert(db_path, *(record(status=Status.COMPLETED, start_time=old, end_time=old)
                      for _ in range(3)),
           record(status=Status.FAILED, start_time=recent, end_time=recent))
    w = make_window(settings=AppSettings(history_days=30, history_at_start=True))
    run(loop, until(lambda: w.monitor.last_prune is not None, 10, "the clean-up at start"))
    assert len(w.monitor.last_prune) == 3
    assert [t.status for t in w.engine.tasks.values()] == [Status.FAILED]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM task_archive").fetchone()[0] == 3


def test_health_view_resumes_interrupted_tasks(make_window: Any, loop: Any,
                                               db_path: Any) -> None:
    from trackdesk.engine.records import utcnow

    from .conftest import insert, record

    [rec] = insert(db_path, record(status=Status.INTERRUPTED, start_time=utcnow(),
                                   end_time=utcnow(), params={"n": 20, "batch": 10}))
    w = make_window()
    health = w.monitor.show_health()
    health.docker = False
    run(loop, until(lambda: health.report is not None, 10, "the first check"))
    assert health.report["tasks"]["interrupted"] == [rec.id]
    assert f"task {rec.id} (count)" in health.interrupted.text()
    assert health.resume_all.isEnabled()
    health.resume_all.click()
    run(loop, until(lambda: w.engine.tasks[rec.id].status == Status.COMPLETED, 15))
    run(loop, until(lambda: health.interrupted.text() == "none", 10, "the list emptied"))
    w.monitor.health_dock.hide()
