"""The inbox: other processes' work, picked up from tracks.db.

Other processes (the CLI, the REST API of another app) never update a task row: they
insert task rows as ``pending`` and requests into ``task_requests``. The inbox adopts
every row the engine does not know (docs/ENGINE.md, "the pick-up rule") and carries out
the requests through the engine's public methods, answering each in its row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from trackdesk.engine.lifecycle import EngineError, Lifecycle
from trackdesk.engine.persistence import Persistence
from trackdesk.engine.store import UnknownTaskError
from trackdesk.skills.user import reload_async

if TYPE_CHECKING:
    from trackdesk.engine.engine import Engine

log = logging.getLogger(__name__)


class Inbox:
    def __init__(self, book: Lifecycle, db: Persistence, engine: Engine) -> None:
        self.book = book
        self.db = db
        self.engine = engine
        # PRAGMA data_version at the last look for other processes' work (None: look).
        self._seen_version: int | None = None

    async def loop(self, interval_s: Callable[[], float]) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception as exc:  # noqa: BLE001 - a busy db must not end the engine
                self.db.log_db_error("cannot look for new tasks for now (trying again)", exc)
            await asyncio.sleep(interval_s())

    async def poll_once(self) -> None:
        store = self.db.require_store()
        asked = await self.pick_up()
        if not asked:
            return
        for req in await self.db.call(store.open_requests):
            outcome = await self.handle(req.action, req.task_id, req.payload)
            await self.db.call(store.finish_request, req.id, outcome)

    async def pick_up(self, force: bool = False) -> bool:
        """Adopt every task row not yet known, whoever wrote it; return whether requests
        from other processes wait. ``force`` looks even when the db says nothing changed
        (the API asked for a task it does not know yet)."""
        store = self.db.require_store()
        candidates, asked, version = await self.db.call(
            store.news, self.book.max_seen_id, None if force else self._seen_version)
        ids = sorted(i for i in candidates if i not in self.book.tasks)
        if ids:
            new = await self.db.call(store.load_ids, ids)
            self.book.add([r for r in new if r.id not in self.book.tasks])
        # Remembered only after the rows were read: a failed read looks again next time.
        self._seen_version = version
        return asked

    async def handle(self, action: str, task_id: int | None,
                     payload: dict[str, Any]) -> dict[str, Any]:
        """Carry out one request from another process; never raises."""
        e = self.engine

        def tid() -> int:
            return int(task_id or 0)

        handlers: dict[str, Callable[[], Awaitable[Any]]] = {
            "cancel": lambda: e.cancel(tid()),
            "pause": lambda: e.pause(tid()),
            "resume": lambda: e.resume(tid()),
            "rerun": lambda: e.rerun(tid(), bool(payload.get("full")),
                                     bool(payload.get("downstream")),
                                     payload.get("launcher")),
            "priority": lambda: e.set_priority(tid(), payload.get("level", "normal")),
            "remove": lambda: e.remove([tid()]),
            "restart": lambda: e.restart(tid()),
            "prune": lambda: e.prune(payload.get("older_than_s"), payload.get("keep"),
                                     bool(payload.get("archive"))),
            # `trackdesk skills reload`: the user skills folder again, in this registry.
            "reload_skills": lambda: reload_async(e.registry),
        }
        handler = handlers.get(action)
        if handler is None:
            return {"ok": False, "message": f"unknown action {action!r}"}
        try:
            if task_id and task_id not in self.book.tasks:
                # Queued by another process a moment ago: adopt it now, not next poll.
                await self.pick_up(force=True)
            result = await handler()
        except (EngineError, UnknownTaskError) as exc:
            return {"ok": False, "message": str(exc)}
        except Exception as exc:  # noqa: BLE001
            log.exception("request %s failed", action)
            return {"ok": False, "message": f"{type(exc).__name__}: {exc}"}
        return {"ok": True, "message": f"{action} done", "result": result}
