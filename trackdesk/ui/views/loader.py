"""Database reads off the GUI thread, results back on it.

``Loader.submit(fn, callback)`` runs ``fn(conn)`` on a worker thread with that thread's
own read-only sqlite3 connection (``data.ThreadConnections``) and calls ``callback(result)``
on the GUI thread through a queued signal. A ``generation`` counter makes results of an
older database (or an older refresh) fall on the floor instead of painting stale data.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sqlite3
import sys
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal

log = logging.getLogger(__name__)
SWITCH_S = float(os.environ.get("TRACKDESK_VIEWS_SWITCH", "0.0005"))
WORKERS = int(os.environ.get("TRACKDESK_VIEWS_WORKERS", "2"))
NICE = int(os.environ.get("TRACKDESK_VIEWS_NICE", "0"))
RENDER_NICE = 5
# One render process leaves a core to the GUI on a two-core machine.
RENDER_PROCESSES = int(os.environ.get("TRACKDESK_VIEWS_RENDERERS",
                                      str(max(1, min(4, (os.cpu_count() or 2) - 1)))))


def _render_process_init() -> None:
    # The render process gives way to the GUI (a process holds no GIL the GUI needs, so
    # a lower priority cannot stall it the way it would a thread).
    try:
        os.nice(RENDER_NICE)
    except OSError:
        pass


def _lower_priority() -> None:
    # Readers yield the CPU to the GUI thread: on a two-core machine two busy readers
    # and the GUI thread otherwise share two cores and frames take three times longer.
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    except (AttributeError, OSError):
        pass


class _Relay(QObject):
    """Carries results from worker threads to the GUI thread. One per process, created
    on the GUI thread and never deleted: a loader's own Qt object dies with its view
    (Qt deletes it with its parent when a window closes), and a pool thread emitting on
    it while the GUI thread deleted it crashed the app (a segfault in CI: a tile render
    came back during a window's teardown). The relay outlives every loader; the
    loader is looked up on the GUI thread, where it is deleted, so the check is exact."""

    delivered = Signal(object)


_RELAY: _Relay | None = None


def _relay() -> _Relay:
    global _RELAY
    if _RELAY is None:
        _RELAY = _Relay()
        _RELAY.delivered.connect(_to_loader, Qt.ConnectionType.QueuedConnection)
    return _RELAY


def _to_loader(item: tuple[weakref.ref[Loader], tuple[int, Any, Any]]) -> None:
    ref, payload = item
    loader = ref()
    if loader is None or not shiboken6.isValid(loader):
        return  # the view (and its loader) closed while the work ran: nobody to tell
    loader._deliver(payload)


class Loader(QObject):
    """A small pool of reader threads bound to one tracks.db."""

    failed = Signal(str)

    def __init__(self, workers: int = WORKERS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # Every Qt call in a paint releases and re-takes the GIL; with reader threads busy
        # in Python, each re-take waits up to the switch interval (5 ms by default), and a
        # frame of ~100 Qt calls would wait hundreds of ms. 0.5 ms keeps frames smooth.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_S))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="views-db",
                                        initializer=_lower_priority)
        self._conns: Any = None  # data.ThreadConnections of the open tracks.db
        self.generation = 0
        self.busy = 0
        self._relay = _relay()
        self._ref = weakref.ref(self)
        self._procs: ProcessPoolExecutor | None = None
        self.render_processes = RENDER_PROCESSES

    @property
    def path(self) -> Path | None:
        return self._conns.path if self._conns is not None else None

    def set_path(self, path: Path | str | None) -> None:
        """Switch database: everything still in flight is dropped on arrival."""
        self.generation += 1
        if self._conns is not None:
            self._conns.close()
        if path is None:
            self._conns = None
            return
        # Imported here: data pulls in numpy, which the window need not wait for.
        from trackdesk.ui.views.data import ThreadConnections

        self._conns = ThreadConnections(path)

    def submit(self, fn: Callable[[sqlite3.Connection], Any],
               callback: Callable[[Any], None]) -> Future[Any] | None:
        conns = self._conns
        if conns is None:
            return None
        gen = self.generation
        self.busy += 1

        def job() -> Any:
            try:
                with conns.use() as conn:
                    result = fn(conn)
            except sqlite3.Error as exc:
                # A worker writing, a database switched under us: the next refresh
                # reads again. Logged, shown in the view's status line.
                log.warning("view read failed: %s", exc)
                self._emit((gen, None, f"{type(exc).__name__}: {exc}"))
                return None
            self._emit((gen, callback, result))
            return result

        return self._pool.submit(job)

    def render(self, fn: Callable[..., Any], args: tuple[Any, ...],
               callback: Callable[[Any], None]) -> Future[Any] | None:
        """Run ``fn(*args)`` in a render process (no GIL shared with the GUI);
        ``callback(result)`` on the GUI thread. ``fn`` and ``args`` must pickle."""
        if self._conns is None:
            return None
        if self._procs is None:
            # spawn, not fork: forking a process that runs Qt threads is unsafe.
            self._procs = ProcessPoolExecutor(self.render_processes,
                                              mp_context=multiprocessing.get_context("spawn"),
                                              initializer=_render_process_init)
        gen = self.generation
        self.busy += 1
        fut = self._procs.submit(fn, *args)

        def done(f: Future[Any]) -> None:
            # A failed render still calls back (with None): the caller forgets the
            # request and may ask again.
            exc = None if f.cancelled() else f.exception()
            if exc is not None:
                log.warning("render failed: %s", exc)
            self._emit((gen, callback, None if f.cancelled() or exc is not None
                        else f.result()))

        fut.add_done_callback(done)
        return fut

    def later(self, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        """A function any thread may call once with a result: ``callback(result)`` then
        runs on the GUI thread, unless another database was opened meanwhile (for work
        on threads of its own, such as the corrections' writes)."""
        gen = self.generation
        self.busy += 1
        return lambda result: self._emit((gen, callback, result))

    def _emit(self, item: tuple[int, Any, Any]) -> None:
        # From any thread; touches no Qt object of this loader (see _Relay).
        self._relay.delivered.emit((self._ref, item))

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
        if self._procs is not None:
            self._procs.shutdown(wait=False, cancel_futures=True)
            self._procs = None
