"""Persistence: the engine's one database thread and its periodic write.

Every blocking call to tracks.db runs on one executor thread (:meth:`Persistence.call`),
never on the loop thread. The lifecycle remembers what changed; :meth:`Persistence.flush`
writes it in one transaction (task columns, log lines, ended attempts) at most every
``flush_interval_s``, sooner when a state changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from trackdesk.engine.chains import DEFAULT_CHAIN_NAME, default_chain
from trackdesk.engine.lifecycle import Lifecycle, LogEntry
from trackdesk.engine.lock import EngineLock
from trackdesk.engine.records import TaskRecord
from trackdesk.engine.store import TaskStore
from trackdesk.skills.registry import SkillRegistry

log = logging.getLogger(__name__)
T = TypeVar("T")


def _disk_full(exc: BaseException) -> bool:
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return True
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC or \
        "disk is full" in str(exc)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class Persistence:
    def __init__(self, book: Lifecycle, db_path: Path, lock: EngineLock) -> None:
        self.book = book
        self.db_path = db_path
        self.lock = lock
        self.store: TaskStore | None = None
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trackdesk-db")
        #: Why the last write of task states failed (None: everything is saved).
        self.unsaved_error: str | None = None
        self._last_db_error: str | None = None
        #: The write of the flush under way (None: none): a flush with nothing of its
        #: own waits for it, so that "flushed" always means "on disk".
        self._writing: asyncio.Future[None] | None = None

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking call on the database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, partial(fn, *args, **kwargs))

    def require_store(self) -> TaskStore:
        if self.store is None:
            raise RuntimeError("the engine is not started")
        return self.store

    async def open(self, registry: SkillRegistry) -> list[TaskRecord]:
        """Open (and migrate) tracks.db, refresh the default chain, read every task."""
        self.store = store = await self.call(TaskStore, self.db_path)
        await self.call(self._ensure_default_chain, store, registry)
        return await self.call(store.load_all)

    @staticmethod
    def _ensure_default_chain(store: TaskStore, registry: SkillRegistry) -> None:
        doc = default_chain(registry).to_document()
        current = store.get_template(DEFAULT_CHAIN_NAME)
        if current is None or current["document"] != doc:
            store.save_template(DEFAULT_CHAIN_NAME, doc, read_only=True,
                                overwrite_read_only=True)

    async def close(self) -> None:
        if self.store is not None:
            with contextlib.suppress(Exception):
                await self.call(self.store.close)
        self._db.shutdown(wait=True)

    # ------------------------------------------------------------------ writing ----
    async def flush(self) -> None:
        book = self.book
        if self.store is None:
            return
        if not book.dirty and not book.logs and not book.attempts:
            # Another flush took the changes and is writing them: a reader that flushed
            # to see them must not overtake that write (CI saw a task's log read empty).
            if self._writing is not None and not self._writing.done():
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._writing)
            return
        dirty, book.dirty = book.dirty, {}
        logs, book.logs = book.logs, []
        attempts, book.attempts = book.attempts, []
        try:
            await self._write(dirty, logs, attempts)
        except Exception as exc:
            book.logs = logs + book.logs
            book.attempts = attempts + book.attempts
            # A full disk refuses growth first; the task states alone are updates in
            # place and may still fit. What the db says about a task's state must
            # match what was shown: the states go first, the log lines wait.
            freed = _disk_full(exc) and self.lock.release_reserve()
            if freed:
                log.debug("the disk is full: gave back the engine's reserved space")
            if dirty and (logs or attempts or freed):
                try:
                    await self._write(dirty, [], [])
                except Exception:  # noqa: BLE001 - the first error is the one to tell
                    pass
                else:
                    dirty = {}
            if dirty:
                for task_id, values in dirty.items():
                    book.dirty.setdefault(task_id, {}).update(
                        {k: v for k, v in values.items()
                         if k not in book.dirty.get(task_id, {})})
                self.unsaved_error = _one_line(exc)
            elif not book.dirty:
                self.unsaved_error = None
            raise
        self.unsaved_error = None

    async def _write(self, dirty: dict[int, dict[str, Any]], logs: list[LogEntry],
                     attempts: list[dict[str, Any]]) -> None:
        """One write, handed to the database thread in the caller's step: a coroutine
        wrapped in a task would only submit on the loop's next turn, and a read issued
        meanwhile would run before this write on the one db thread."""
        write = asyncio.get_running_loop().run_in_executor(
            self._db, partial(self._write_batch, dirty, logs, attempts))
        self._writing = write
        # Shielded: stop() cancels the write loop, and cancelling the awaiting future
        # would also cancel a write still queued behind a slow read on the database
        # thread: the changes (a task that just finished) would be lost.
        await asyncio.shield(write)

    def _write_batch(self, dirty: dict[int, dict[str, Any]], logs: list[LogEntry],
                     attempts: list[dict[str, Any]]) -> None:
        store, tasks = self.require_store(), self.book.tasks
        store.write_batch(dirty, [entry for entry in logs if entry[0] in tasks],
                          [a for a in attempts if a["task_id"] in tasks])

    def log_db_error(self, what: str, exc: BaseException) -> None:
        """One line per distinct database error (a full disk fails every write until
        space is freed: the terminal gets it once, not a traceback twice a second)."""
        text = _one_line(exc)
        if isinstance(exc, sqlite3.Error | OSError):
            if text != self._last_db_error:
                self._last_db_error = text
                log.warning("tracks.db: %s; %s", text, what)
        else:
            log.exception("%s", what)

    async def flush_loop(self, interval_s: float) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.book.flush_now.wait(), interval_s)
            self.book.flush_now.clear()
            try:
                await self.flush()
            except Exception as exc:  # noqa: BLE001
                self.log_db_error("task progress is not saved for now (trying again)", exc)
            # Coalesce: at most one write per interval, even when states change fast.
            await asyncio.sleep(min(0.1, interval_s))

    async def final_flush(self) -> None:
        """The last write when the engine stops: tried a few times, never raises."""
        for attempt in range(3):
            try:
                await self.flush()
                return
            except Exception as exc:  # noqa: BLE001 - stopping must finish regardless
                # unsaved_error says whether the task states were lost (the caller tells
                # the user what the db holds); log lines alone may be.
                self.log_db_error("the last task states are " +
                                  ("NOT saved" if self.unsaved_error else
                                   "saved, their last log lines are not"), exc)
                await asyncio.sleep(0.2 * (attempt + 1))

    async def remove(self, ids: list[int], archive: bool) -> None:
        """Archive or delete finished tasks in the db, then forget and announce them."""
        store = self.require_store()
        await self.flush()
        if archive:
            await self.call(store.archive_tasks, [self.book.tasks[i] for i in ids])
        else:
            await self.call(store.delete_tasks, ids)
        self.book.forget(ids)
