"""Chain-run notifications: which chain runs just ended, batched into one message.

``ChainWatcher`` is plain Python (it reads engine events); the window shows its messages
with the tray icon when the desktop has one, else in the status bar.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from trackdesk.engine.events import Event, TaskAdded, TaskChanged
from trackdesk.engine.records import TaskRecord
from trackdesk.engine.states import TERMINAL, Status


@dataclass(frozen=True)
class ChainOutcome:
    run_id: str
    tasks: int
    failed: int  # failed, cancelled or skipped

    @property
    def ok(self) -> bool:
        return self.failed == 0


class ChainWatcher:
    """Notes chain runs whose last task just reached a final state."""

    def __init__(self, tasks: Mapping[int, TaskRecord]) -> None:
        self.tasks = tasks
        self._open: set[str] = {t.chain_run_id for t in tasks.values()
                                if t.chain_run_id and t.status not in TERMINAL}
        self.finished: list[ChainOutcome] = []

    def on_event(self, event: Event) -> bool:
        """True when a chain run just finished (``finished`` grew)."""
        if type(event) is TaskAdded:
            if event.task.chain_run_id and event.task.status not in TERMINAL:
                self._open.add(event.task.chain_run_id)
            return False
        if type(event) is not TaskChanged or "status" not in event.changes:
            return False
        rec = self.tasks.get(event.task_id)
        if rec is None or not rec.chain_run_id:
            return False
        run = rec.chain_run_id
        if rec.status not in TERMINAL:
            self._open.add(run)  # a rerun reopens the chain
            return False
        if run not in self._open:
            return False
        members = [t for t in self.tasks.values() if t.chain_run_id == run]
        if any(t.status not in TERMINAL for t in members):
            return False
        self._open.discard(run)
        bad = sum(1 for t in members if t.status != Status.COMPLETED)
        self.finished.append(ChainOutcome(run, len(members), bad))
        return True

    def take(self) -> list[ChainOutcome]:
        out, self.finished = self.finished, []
        return out


def summary(outcomes: list[ChainOutcome]) -> tuple[str, str, bool]:
    """(title, message, all ok) for one batched notification."""
    ok = [o for o in outcomes if o.ok]
    bad = [o for o in outcomes if not o.ok]
    if len(outcomes) == 1:
        o = outcomes[0]
        if o.ok:
            return ("Chain finished", f"All {o.tasks} tasks of chain run {o.run_id} "
                    "completed.", True)
        return ("Chain failed", f"Chain run {o.run_id}: {o.failed} of {o.tasks} tasks did "
                "not complete.", False)
    parts = []
    if ok:
        parts.append(f"{len(ok)} completed")
    if bad:
        parts.append(f"{len(bad)} with failed tasks")
    return (f"{len(outcomes)} chains finished", ", ".join(parts) + ".", not bad)
