"""Task states and the one function that moves a task between them.

Every status change goes through :func:`check_transition`, driven by the declared table
``TRANSITIONS``: an illegal move is an error, never a silent write.
"""

from __future__ import annotations

from trackdesk.protocol import Priority, Status, TaskType

__all__ = ["Priority", "Status", "TaskType"]

TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.SKIPPED})
#: States in which a run is over and nothing more happens without a person: the time
#: it ended is known.
ENDED = TERMINAL | {Status.INTERRUPTED}
# States a task can be rerun from.
RERUNNABLE = ENDED
ACTIVE = frozenset({Status.RUNNING, Status.PAUSED})

S = Status
TRANSITIONS: dict[Status, frozenset[Status]] = {
    # pending -> pending is a retry being re-armed with a new attempt time.
    # pending -> completed: a rerun cancelled or skipped before it ran; the completed
    # run it was to replace stands again (issue 18).
    S.PENDING: frozenset({S.RUNNING, S.PAUSED, S.CANCELLED, S.SKIPPED, S.FAILED,
                          S.COMPLETED}),
    # running -> pending: the attempt failed and a retry is due.
    S.RUNNING: frozenset({S.COMPLETED, S.FAILED, S.CANCELLED, S.PAUSED, S.INTERRUPTED,
                          S.PENDING}),
    # paused -> pending: a held (never started) task released; paused -> failed: the
    # worker died while stopped.
    S.PAUSED: frozenset({S.RUNNING, S.PENDING, S.CANCELLED, S.INTERRUPTED, S.FAILED,
                         S.COMPLETED}),
    S.COMPLETED: frozenset({S.PENDING}),
    S.FAILED: frozenset({S.PENDING}),
    S.CANCELLED: frozenset({S.PENDING}),
    S.SKIPPED: frozenset({S.PENDING, S.CANCELLED}),
    S.INTERRUPTED: frozenset({S.PENDING, S.CANCELLED}),
}


class IllegalTransition(Exception):
    def __init__(self, task_id: int, old: Status, new: Status) -> None:
        super().__init__(f"task {task_id} cannot go from {old} to {new}")
        self.task_id = task_id
        self.old = old
        self.new = new


def can_transition(old: Status | str, new: Status | str) -> bool:
    return Status(new) in TRANSITIONS[Status(old)]


def check_transition(task_id: int, old: Status | str, new: Status | str) -> Status:
    """Return ``new`` as a Status, or raise IllegalTransition."""
    old_s, new_s = Status(old), Status(new)
    if new_s not in TRANSITIONS[old_s]:
        raise IllegalTransition(task_id, old_s, new_s)
    return new_s
