"""The task graph: who waits for whom, read from the tasks' dependency lists.

Plain functions over the engine's ``{id: TaskRecord}``; nothing here changes a task.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from trackdesk.engine.chains import find_order
from trackdesk.engine.records import TaskRecord
from trackdesk.engine.states import TERMINAL, Status

Tasks = Mapping[int, TaskRecord]


def downstream_ids(tasks: Tasks, task_id: int) -> list[int]:
    """Every task that depends on ``task_id``, directly or not, in dependency order."""
    children: dict[int, list[int]] = {}
    for t in tasks.values():
        for d in t.depends_on_task_ids:
            children.setdefault(d, []).append(t.id)
    seen: list[int] = []
    stack = list(children.get(task_id, []))
    while stack:
        i = stack.pop(0)
        if i in seen:
            continue
        seen.append(i)
        stack.extend(children.get(i, []))
    return seen


def ready(rec: TaskRecord, tasks: Tasks, now: float) -> bool:
    """Pending, its retry time come, and every upstream task completed."""
    if rec.status != Status.PENDING:
        return False
    if rec.next_attempt_at is not None and rec.next_attempt_at > now:
        return False
    for dep in rec.depends_on_task_ids:
        up = tasks.get(dep)
        if up is not None and up.status != Status.COMPLETED:
            return False
    return True


def is_idle(tasks: Tasks, running: Collection[int]) -> bool:
    """Nothing running, and no pending task that could still start on its own (one
    waiting behind a paused or interrupted task waits for a person, not for us)."""
    if running:
        return False
    stuck: dict[int, bool] = {}

    def blocked(rec: TaskRecord) -> bool:
        if rec.id in stuck:
            return stuck[rec.id]
        stuck[rec.id] = True  # guards against a cycle in bad data
        result = False
        for dep in rec.depends_on_task_ids:
            up = tasks.get(dep)
            if up is None or up.status == Status.COMPLETED:
                continue
            if up.status != Status.PENDING or blocked(up):
                result = True
                break
        stuck[rec.id] = result
        return result

    return all(blocked(t) for t in tasks.values() if t.status == Status.PENDING)


def check_new_link(tasks: Tasks, task_id: int, upstream_id: int) -> None:
    """Raise CycleError (naming the cycle) when ``task_id`` may not wait for
    ``upstream_id``."""
    links = [(d, t.id) for t in tasks.values() for d in t.depends_on_task_ids]
    links.append((upstream_id, task_id))
    find_order(list(tasks), [(a, b) for a, b in links if a in tasks])


def prune_choice(tasks: Tasks, now: datetime, older_than_s: float | None,
                 keep: int | None) -> list[int]:
    """Finished tasks older than ``older_than_s`` or beyond the newest ``keep``, less
    those a remaining task depends on (every dependency must still resolve)."""
    finished = sorted((t for t in tasks.values()
                       if t.status in TERMINAL and t.end_time is not None),
                      key=lambda t: (t.end_time or now, t.id), reverse=True)
    chosen: set[int] = set()
    if older_than_s is not None:
        chosen |= {t.id for t in finished
                   if (now - (t.end_time or now)).total_seconds() > older_than_s}
    if keep is not None:
        chosen |= {t.id for t in finished[max(0, keep):]}
    dependents: dict[int, set[int]] = {}
    for t in tasks.values():
        for d in t.depends_on_task_ids:
            dependents.setdefault(d, set()).add(t.id)
    changed = True
    while changed:
        changed = False
        for task_id in list(chosen):
            if dependents.get(task_id, set()) - chosen:
                chosen.discard(task_id)
                changed = True
    return sorted(chosen)
