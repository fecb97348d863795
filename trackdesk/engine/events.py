"""Plain-Python engine events and the bus that hands them to any number of subscribers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trackdesk.engine.records import TaskRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskAdded:
    task: TaskRecord


@dataclass(frozen=True)
class TaskChanged:
    task_id: int
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskRemoved:
    task_id: int


@dataclass(frozen=True)
class LogLine:
    task_id: int
    ts: float
    stream: str
    level: str
    message: str


Event = TaskAdded | TaskChanged | TaskRemoved | LogLine
Subscriber = Callable[[Event], None]


class EventBus:
    """Synchronous fan-out on the loop thread; one failing subscriber harms no other."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def emit(self, event: Event) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - a broken view must not stop the engine
                log.exception("event subscriber %r failed", callback)
