"""Every task action, against a real engine: enabled only where it makes sense, and when
triggered it really changes the engine's tasks (view edit -> engine call)."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox

from tests.ui.conftest import answer, boxes, insert, record, run, until
from trackdesk.engine.states import Priority, Status
from trackdesk.ui.actions import TASK_ACTIONS

# One task in every state the engine can be left in between runs; "count" tasks are held
# (per-skill limit 0) so pending ones stay pending.
STATIC = {
    "pending": Status.PENDING,
    "held": Status.PAUSED,
    "completed": Status.COMPLETED,
    "failed": Status.FAILED,
    "cancelled": Status.CANCELLED,
    "interrupted": Status.INTERRUPTED,
}


@pytest.fixture
def scene(make_window: Any, db_path: Any, loop: Any) -> Any:
    """A window over tasks in every state, plus a chain run with a failure, plus one
    really running worker."""
    named = {}
    for name, status in STATIC.items():
        [named[name]] = insert(db_path, record(status=status, params={"n": 10}))
    # A chain run: a failed task and its skipped dependent.
    up, down = insert(db_path, record(status=Status.FAILED, chain_run_id="runA"),
                      record(status=Status.SKIPPED, chain_run_id="runA"), deps=[[], [0]])
    named["chain_failed"], named["skipped"] = up, down
    w = make_window(hold=["count"])
    running = run(loop, w.engine.create_task(
        "count_limited", params={"n": 100_000, "batch": 1, "sleep_s": 0.05, "key": "run"}))
    run(loop, until(lambda: w.engine.tasks[running.id].status == Status.RUNNING,
                    what="the worker to start"))
    named["running"] = running
    ids = {name: rec.id for name, rec in named.items()}
    run(loop, until(lambda: all(w.model.row_of(i) is not None for i in ids.values())))
    return w, ids


def enabled(w: Any, key: str, task_ids: list[int]) -> bool:
    w.select_tasks(task_ids)
    w.update_actions()
    return w.task_actions[key].isEnabled()


# action -> the tasks it may act on; every other single task must leave it disabled.
EXPECTED = {
    "cancel": {"pending", "held", "running", "interrupted", "skipped"},
    "pause": {"pending", "running"},
    "resume": {"held", "interrupted"},
    "rerun": {"completed", "failed", "cancelled", "interrupted", "skipped", "chain_failed"},
    "rerun_full": {"completed", "failed", "cancelled", "interrupted", "skipped",
                   "chain_failed"},
    "rerun_from_here": {"chain_failed"},  # the only finished task with tasks after it
    "retry_failed": {"chain_failed", "skipped"},  # their chain run has a failed task
    "open_log": set(STATIC) | {"running", "chain_failed", "skipped"},
    "copy_id": set(STATIC) | {"running", "chain_failed", "skipped"},
    "remove": {"completed", "failed", "cancelled", "chain_failed", "skipped"},
}


def test_the_action_table_covers_every_action():
    assert set(EXPECTED) == {a.key for a in TASK_ACTIONS}


def test_each_action_is_enabled_exactly_for_the_tasks_it_can_act_on(scene):
    w, ids = scene
    wrong = []
    for key, allowed in EXPECTED.items():
        for name, task_id in ids.items():
            if enabled(w, key, [task_id]) != (name in allowed):
                wrong.append(f"{key} on {name}: {'enabled' if name not in allowed else 'disabled'}")
    assert not wrong, wrong
    w.select_tasks([])
    w.update_actions()
    assert not any(a.isEnabled() for a in w.task_actions.values())
    assert not w.priority_menu.isEnabled()


def test_context_menu_holds_the_declared_actions_in_order(scene):
    w, ids = scene
    w.select_tasks([ids["completed"]])
    menu = w.build_task_menu()
    titles = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert titles[:3] == ["&Cancel", "&Pause", "Res&ume"]
    assert "Priorit&y" in titles and "Re&move finished" in titles
    menu.close()


def trigger(w: Any, key: str, task_ids: list[int]) -> None:
    w.select_tasks(task_ids)
    w.update_actions()
    assert w.task_actions[key].isEnabled(), key
    w.task_actions[key].trigger()


def test_cancel_asks_first_for_a_running_task_then_stops_its_worker(scene, loop):
    w, ids = scene
    trigger(w, "cancel", [ids["running"]])
    [box] = boxes(w)
    assert "Cancel 1 running task" in box.text()
    answer(box, QMessageBox.StandardButton.Yes)
    run(loop, until(lambda: w.engine.tasks[ids["running"]].status == Status.CANCELLED,
                    what="the running task to be cancelled"))
    # The row follows the engine.
    run(loop, until(lambda: w.model.data(w.model.index(w.model.row_of(ids["running"]), 3))
                    == "cancelled"))


def test_answering_no_cancels_nothing(scene, loop):
    w, ids = scene
    trigger(w, "cancel", [ids["running"]])
    [box] = boxes(w)
    answer(box, QMessageBox.StandardButton.No)
    run(loop, until(lambda: not boxes(w)))
    assert w.engine.tasks[ids["running"]].status == Status.RUNNING


def test_cancel_of_queued_tasks_needs_no_confirmation(scene, loop):
    w, ids = scene
    trigger(w, "cancel", [ids["pending"], ids["held"], ids["completed"]])
    assert not boxes(w)
    run(loop, until(lambda: w.engine.tasks[ids["pending"]].status == Status.CANCELLED
                    and w.engine.tasks[ids["held"]].status == Status.CANCELLED))
    assert w.engine.tasks[ids["completed"]].status == Status.COMPLETED


def test_pause_and_resume(scene, loop):
    w, ids = scene
    trigger(w, "pause", [ids["running"], ids["pending"]])
    run(loop, until(lambda: w.engine.tasks[ids["running"]].status == Status.PAUSED and
                    w.engine.tasks[ids["pending"]].status == Status.PAUSED))
    trigger(w, "resume", [ids["running"], ids["interrupted"]])
    run(loop, until(lambda: w.engine.tasks[ids["running"]].status == Status.RUNNING and
                    w.engine.tasks[ids["interrupted"]].status == Status.PENDING))


@pytest.mark.parametrize("key, task_type", [("rerun", "INCREMENTAL"),
                                            ("rerun_full", "FULL_RECOMPUTE")])
def test_rerun_and_rerun_as_full_recompute(scene, loop, key, task_type):
    w, ids = scene
    trigger(w, key, [ids["completed"], ids["cancelled"], ids["running"]])
    for name in ("completed", "cancelled"):
        run(loop, until(lambda n=name: w.engine.tasks[ids[n]].status == Status.PENDING))
        assert w.engine.tasks[ids[name]].task_type == task_type
    assert w.engine.tasks[ids["running"]].status == Status.RUNNING


def test_rerun_from_here_rearms_the_task_and_everything_after_it(scene, loop):
    w, ids = scene
    trigger(w, "rerun_from_here", [ids["chain_failed"]])
    run(loop, until(lambda: w.engine.tasks[ids["chain_failed"]].status == Status.PENDING
                    and w.engine.tasks[ids["skipped"]].status == Status.PENDING))


def test_retry_failed_in_this_chain_from_any_task_of_the_chain(scene, loop):
    w, ids = scene
    trigger(w, "retry_failed", [ids["skipped"]])
    run(loop, until(lambda: w.engine.tasks[ids["chain_failed"]].status == Status.PENDING))
    assert w.engine.tasks[ids["failed"]].status == Status.FAILED  # not of this chain


def test_priority_submenu_sets_the_level_of_queued_tasks(scene, loop):
    w, ids = scene
    w.select_tasks([ids["pending"], ids["completed"]])
    w.update_actions()
    assert w.priority_menu.isEnabled()
    assert w.priority_actions[Priority.NORMAL].isChecked()
    w.priority_actions[Priority.URGENT].trigger()
    run(loop, until(lambda: w.engine.tasks[ids["pending"]].priority_name == "urgent"))
    assert w.engine.tasks[ids["completed"]].priority_name == "normal"
    run(loop, until(lambda: w.model.data(w.model.index(w.model.row_of(ids["pending"]), 11))
                    == "urgent"))


def test_open_log_shows_the_log_tab_with_the_tasks_history(scene, loop):
    w, ids = scene
    trigger(w, "open_log", [ids["running"]])
    assert w.detail.task_id == ids["running"]
    assert w.detail.tabs.currentIndex() == 1
    run(loop, until(lambda: "starting at" in w.detail.log.toPlainText(),
                    what="the worker's stderr in the log view"))


def test_copy_id_puts_the_ids_on_the_clipboard(scene):
    w, ids = scene
    trigger(w, "copy_id", [ids["completed"], ids["failed"]])
    assert QGuiApplication.clipboard().text() == \
        ", ".join(str(i) for i in sorted([ids["completed"], ids["failed"]]))


def test_remove_finished_asks_then_drops_only_finished_tasks(scene, loop):
    w, ids = scene
    trigger(w, "remove", [ids["completed"], ids["pending"]])
    [box] = boxes(w)
    assert "Remove 1 finished task" in box.text()
    answer(box, QMessageBox.StandardButton.Yes)
    run(loop, until(lambda: ids["completed"] not in w.engine.tasks))
    run(loop, until(lambda: w.model.row_of(ids["completed"]) is None))
    assert ids["pending"] in w.engine.tasks


def test_an_engine_refusal_is_shown_as_a_message_not_a_traceback(scene, loop):
    w, ids = scene
    # The task finishes between the menu and the click: the engine refuses politely.
    w.select_tasks([ids["pending"]])
    w.update_actions()
    run(loop, w.engine.cancel(ids["pending"]))
    from trackdesk.ui.actions import ACTIONS_BY_KEY, Selection

    w._run(ACTIONS_BY_KEY["pause"], Selection([w.engine.tasks[ids["pending"]]],
                                              w.engine.tasks))
    run(loop, until(lambda: True))  # nothing to do: pause skips tasks it cannot pause
    failing = w.commands.engine.pause(ids["completed"])
    from trackdesk.ui.aio import spawn

    spawn(failing, "pausing", w.user_error)
    run(loop, until(lambda: boxes(w), what="the refusal message"))
    assert "only a running or pending task can be paused" in boxes(w)[0].text()
