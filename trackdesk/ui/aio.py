"""Running engine coroutines from Qt slots.

A slot must return at once; the engine call runs as an asyncio task on the qasync loop.
Errors the engine means for a person (EngineError and friends) go to ``on_user_error``;
anything else is a bug and goes to ``sys.excepthook`` (logged and shown, and in tests it
fails the test), never silently into a forgotten task.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message is meant for a person (imported late: the window shows
    before the engine and SQLAlchemy are loaded)."""
    from trackdesk.engine.engine import EngineError
    from trackdesk.engine.lock import EngineLockedError
    from trackdesk.engine.store import UnknownTaskError

    return (EngineError, UnknownTaskError, EngineLockedError)

# Strong references: the loop keeps only weak ones, and a collected task dies silently.
_running: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any], what: str = "",
          on_user_error: Callable[[str, BaseException], None] | None = None,
          on_done: Callable[[Any], None] | None = None) -> asyncio.Task[Any]:
    """Run ``coro`` on the running loop and route its outcome."""
    task = asyncio.get_event_loop().create_task(coro)
    _running.add(task)

    def done(t: asyncio.Task[Any]) -> None:
        _running.discard(t)
        if t.cancelled():
            return
        exc = t.exception()
        if exc is None:
            if on_done is not None:
                on_done(t.result())
            return
        if on_user_error is not None and isinstance(exc, user_errors()):
            on_user_error(what, exc)
            return
        log.error("%s failed", what or "a background job", exc_info=exc)
        sys.excepthook(type(exc), exc, exc.__traceback__)

    task.add_done_callback(done)
    return task


def pending() -> int:
    return len(_running)
