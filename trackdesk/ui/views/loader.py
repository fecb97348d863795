"""Database reads off the GUI thread, results back on it.

``Loader.submit(fn, callback)`` runs ``fn(conn)`` on a worker thread with that thread's
own read-only sqlite3 connection (``data.ThreadConnections``) and calls ``callback(result)``
on the GUI thread through a queued signal. A ``generation`` counter makes results of an
older database (or an older refresh) fall on the floor instead of painting stale data.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from trackdesk.ui.views.data import ThreadConnections

log = logging.getLogger(__name__)


class Loader(QObject):
    """A small pool of reader threads bound to one tracks.db."""

    _delivered = Signal(object)
    failed = Signal(str)

    def __init__(self, workers: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="views-db")
        self._conns: ThreadConnections | None = None
        self.generation = 0
        self.busy = 0
        self._delivered.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @property
    def path(self) -> Path | None:
        return self._conns.path if self._conns is not None else None

    def set_path(self, path: Path | str | None) -> None:
        """Switch database: everything still in flight is dropped on arrival."""
        self.generation += 1
        if self._conns is not None:
            self._conns.close()
        self._conns = ThreadConnections(path) if path is not None else None

    def submit(self, fn: Callable[[sqlite3.Connection], Any],
               callback: Callable[[Any], None]) -> Future[Any] | None:
        conns = self._conns
        if conns is None:
            return None
        gen = self.generation
        self.busy += 1

        def job() -> Any:
            try:
                result = fn(conns.get())
            except sqlite3.Error as exc:
                # A worker writing, a database switched under us: the next refresh
                # reads again. Logged, shown in the view's status line.
                log.warning("view read failed: %s", exc)
                self._delivered.emit((gen, None, f"{type(exc).__name__}: {exc}"))
                return None
            self._delivered.emit((gen, callback, result))
            return result

        return self._pool.submit(job)

    def _deliver(self, item: tuple[int, Callable[[Any], None] | None, Any]) -> None:
        gen, callback, result = item
        self.busy = max(0, self.busy - 1)
        if gen != self.generation:
            return
        if callback is None:
            self.failed.emit(str(result))
            return
        callback(result)

    def shutdown(self) -> None:
        self.set_path(None)
        self._pool.shutdown(wait=False, cancel_futures=True)
