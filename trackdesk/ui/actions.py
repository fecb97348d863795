"""Every action on tasks, declared once: title, tip, icon, shortcut, when it is enabled,
what it asks the engine to do, and whether it asks first.

The menu bar, the toolbar and the right-click menu are all built from ``TASK_ACTIONS``;
nothing else decides what an action is called or when it makes sense.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from trackdesk.engine.records import TaskRecord
from trackdesk.engine.states import ACTIVE, RERUNNABLE, TERMINAL, Priority, Status


@dataclass(frozen=True)
class Selection:
    """The selected tasks plus the whole collection (for chain and downstream questions)."""

    tasks: Sequence[TaskRecord]
    all_tasks: Mapping[int, TaskRecord]

    def where(self, pred: Callable[[TaskRecord], bool]) -> list[TaskRecord]:
        return [t for t in self.tasks if pred(t)]

    def downstream(self, rec: TaskRecord) -> list[TaskRecord]:
        """Every task after ``rec`` through ``blocks_task_ids``."""
        seen: dict[int, TaskRecord] = {}
        stack = list(rec.blocks_task_ids)
        while stack:
            i = stack.pop()
            t = self.all_tasks.get(i)
            if t is None or i in seen:
                continue
            seen[i] = t
            stack.extend(t.blocks_task_ids)
        return list(seen.values())

    def failed_chains(self) -> list[str]:
        """Chain runs of the selection that hold at least one failed task."""
        runs = {t.chain_run_id for t in self.tasks if t.chain_run_id}
        if not runs:
            return []
        return sorted({t.chain_run_id for t in self.all_tasks.values()
                       if t.chain_run_id in runs and t.status == Status.FAILED})  # type: ignore[misc]


# ---------------------------------------------------------------- predicates --------
def cancellable(t: TaskRecord) -> bool:
    return t.status not in TERMINAL - {Status.SKIPPED}


def rerunnable(t: TaskRecord) -> bool:
    return t.status in RERUNNABLE


def pausable(t: TaskRecord) -> bool:
    return t.status in (Status.RUNNING, Status.PENDING)


def resumable(t: TaskRecord) -> bool:
    return t.status in (Status.PAUSED, Status.INTERRUPTED)


def removable(t: TaskRecord) -> bool:
    return t.status in TERMINAL


def reprioritisable(t: TaskRecord) -> bool:
    return t.status not in TERMINAL


def can_rerun_from_here(sel: Selection) -> bool:
    if len(sel.tasks) != 1:
        return False
    rec = sel.tasks[0]
    if not rerunnable(rec):
        return False
    below = sel.downstream(rec)
    return bool(below) and not any(t.status in ACTIVE for t in below)


# ---------------------------------------------------------------- commands ----------
class TaskEngine(Protocol):
    """What the actions ask of the engine (``trackdesk.engine.engine.Engine``)."""

    async def cancel(self, task_id: int) -> Any: ...

    async def pause(self, task_id: int) -> Any: ...

    async def resume(self, task_id: int) -> Any: ...

    async def rerun(self, task_id: int, full: bool = False,
                    downstream: bool = False) -> list[int]: ...

    async def retry_failed(self, chain_run_id: str) -> list[int]: ...

    async def remove(self, task_ids: list[int]) -> Any: ...

    async def set_priority(self, task_id: int, level: str) -> Any: ...


class Commands:
    """What each action asks of the engine, for the tasks it applies to. No Qt here."""

    def __init__(self, engine: TaskEngine) -> None:
        self.engine = engine

    async def cancel(self, sel: Selection) -> list[int]:
        ids = [t.id for t in sel.where(cancellable)]
        for i in ids:
            await self.engine.cancel(i)
        return ids

    async def rerun(self, sel: Selection, full: bool = False) -> list[int]:
        ids: list[int] = []
        for t in sel.where(rerunnable):
            ids += await self.engine.rerun(t.id, full=full)
        return ids

    async def rerun_full(self, sel: Selection) -> list[int]:
        return await self.rerun(sel, full=True)

    async def rerun_from_here(self, sel: Selection) -> list[int]:
        return await self.engine.rerun(sel.tasks[0].id, downstream=True)

    async def retry_failed(self, sel: Selection) -> list[int]:
        ids: list[int] = []
        for run in sel.failed_chains():
            ids += await self.engine.retry_failed(run)
        return ids

    async def pause(self, sel: Selection) -> list[int]:
        ids = [t.id for t in sel.where(pausable)]
        for i in ids:
            await self.engine.pause(i)
        return ids

    async def resume(self, sel: Selection) -> list[int]:
        ids = [t.id for t in sel.where(resumable)]
        for i in ids:
            await self.engine.resume(i)
        return ids

    async def remove(self, sel: Selection) -> list[int]:
        ids = [t.id for t in sel.where(removable)]
        if ids:
            await self.engine.remove(ids)
        return ids

    async def set_priority(self, sel: Selection, level: Priority) -> list[int]:
        ids = [t.id for t in sel.where(reprioritisable)]
        for i in ids:
            await self.engine.set_priority(i, level.value)
        return ids


# ---------------------------------------------------------------- confirmations -----
def has_worker(t: TaskRecord) -> bool:
    """A worker process is alive for it (a held, never-started task has none)."""
    return t.status == Status.RUNNING or (t.status == Status.PAUSED and bool(t.worker_ref))


def confirm_cancel(sel: Selection) -> str | None:
    busy = sel.where(has_worker)
    if not busy:
        return None
    names = ", ".join(f"{t.id} ({t.skill_name})" for t in busy[:5])
    more = f" and {len(busy) - 5} more" if len(busy) > 5 else ""
    return (f"Cancel {len(busy)} running task{'s' if len(busy) != 1 else ''}: {names}{more}?"
            "\n\nThe worker is asked to stop; the batch in flight is committed or rolled "
            "back whole.")


def confirm_remove(sel: Selection) -> str | None:
    n = len(sel.where(removable))
    return (f"Remove {n} finished task{'s' if n != 1 else ''} from the history?\n\n"
            "Their analysis results stay in the tracks.db; only the task rows and logs go.")


# ---------------------------------------------------------------- the table ---------
@dataclass(frozen=True)
class TaskAction:
    key: str
    title: str
    tip: str
    icon: str  # a QStyle.StandardPixmap name
    shortcut: str | None
    enabled_when: Callable[[Selection], bool]
    run: Callable[[Commands, Selection], Awaitable[list[int]]] | None
    confirm: Callable[[Selection], str | None] | None = None
    in_toolbar: bool = False
    separator_before: bool = False


def _any(pred: Callable[[TaskRecord], bool]) -> Callable[[Selection], bool]:
    return lambda sel: any(pred(t) for t in sel.tasks)


TASK_ACTIONS: tuple[TaskAction, ...] = (
    TaskAction("cancel", "&Cancel", "Stop the selected tasks (running ones are asked to stop "
               "first)", "SP_BrowserStop", "Del", _any(cancellable), Commands.cancel,
               confirm_cancel, in_toolbar=True),
    TaskAction("pause", "&Pause", "Pause running tasks; hold pending ones in the queue",
               "SP_MediaPause", "Ctrl+P", _any(pausable), Commands.pause, in_toolbar=True),
    TaskAction("resume", "Res&ume", "Resume paused tasks; restart interrupted ones where "
               "they left off", "SP_MediaPlay", "Ctrl+Shift+P", _any(resumable),
               Commands.resume, in_toolbar=True),
    TaskAction("rerun", "&Rerun", "Queue finished tasks again (incremental work resumes "
               "where the last run stopped)", "SP_BrowserReload", "Ctrl+R", _any(rerunnable),
               Commands.rerun, in_toolbar=True, separator_before=True),
    TaskAction("rerun_full", "Rerun as &full recompute", "Clear this skill's results and "
               "analyse everything again", "SP_DialogResetButton", "Ctrl+Shift+R",
               _any(rerunnable), Commands.rerun_full),
    TaskAction("rerun_from_here", "Rerun from &here", "Rerun this task and every task after "
               "it in its chain", "SP_ArrowDown", "Ctrl+Alt+R", can_rerun_from_here,
               Commands.rerun_from_here),
    TaskAction("retry_failed", "Retry &failed in this chain", "Rerun the failed tasks of "
               "the selected tasks' chain runs; their skipped dependents come back too",
               "SP_DialogRetryButton", None, lambda sel: bool(sel.failed_chains()),
               Commands.retry_failed),
    TaskAction("open_log", "Open &log", "Show the live log of this task", "SP_FileDialogDetailedView",
               "Ctrl+L", lambda sel: len(sel.tasks) == 1, None, separator_before=True),
    TaskAction("copy_id", "Cop&y id", "Copy the ids of the selected tasks", "SP_FileIcon",
               "Ctrl+Shift+C", lambda sel: bool(sel.tasks), None),
    TaskAction("remove", "Re&move finished", "Remove finished tasks from the history",
               "SP_TrashIcon", "Shift+Del", _any(removable), Commands.remove,
               confirm_remove, separator_before=True),
)
ACTIONS_BY_KEY = {a.key: a for a in TASK_ACTIONS}

PRIORITY_TIP = "Move the selected queued tasks up or down the queue"
