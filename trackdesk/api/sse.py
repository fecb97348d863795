"""Server-sent events: the engine's task changes, as they happen, to any number of clients.

Each engine event is serialised once and handed to every client's queue on the loop
thread; a client that cannot keep up is told to ``reset`` (list the tasks again) rather
than holding the engine's memory hostage. Events carry ids; a client that reconnects with
``Last-Event-ID`` gets what it missed while it is still in the recent history.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from trackdesk.api.encoding import dumps as _dumps
from trackdesk.engine.events import Event, LogLine, TaskAdded, TaskChanged, TaskRemoved
from trackdesk.engine.states import Priority

if TYPE_CHECKING:
    from trackdesk.engine.engine import Engine
    from trackdesk.engine.records import TaskRecord

KEEPALIVE_S = 10.0
# Frames a slow client may have queued before it is told to reset.
MAX_PENDING = 10_000
HISTORY = 2_000


class _Client:
    def __init__(self, logs: bool, only: int | None) -> None:
        self.logs = logs
        self.only = only
        self.frames: list[bytes] = []
        self.wake = asyncio.Event()
        self.overflow = False

    def wants(self, kind: str, task_id: int | None) -> bool:
        if kind == "log" and not self.logs:
            return False
        return self.only is None or task_id == self.only

    def offer(self, kind: str, task_id: int | None, frame: bytes) -> None:
        if self.overflow or not self.wants(kind, task_id):
            return
        if len(self.frames) >= MAX_PENDING:
            self.overflow = True
            self.frames.clear()
        else:
            self.frames.append(frame)
        self.wake.set()


class EventHub:
    """Fans engine events out to the event-stream clients, with a short replay history."""

    def __init__(self, engine: Engine, task_json: Callable[[TaskRecord], str] | None = None
                 ) -> None:
        self._engine = engine
        self._task_json = task_json or (lambda rec: _dumps(rec.to_dict()))
        self._clients: set[_Client] = set()
        self._history: deque[tuple[int, str, int | None, bytes]] = deque(maxlen=HISTORY)
        self.seq = 0
        self.closed = False

    # -- engine side (loop thread) ------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if self.closed:
            return
        if isinstance(event, LogLine) and not any(c.logs for c in self._clients):
            return  # log lines are chatty: serialised only when somebody listens
        # (The engine announces an upstream task's new blocks_task_ids itself.)
        self._send(*self._describe(event))

    def _send(self, kind: str, task_id: int | None, data: str) -> None:
        self.seq += 1
        frame = f"id: {self.seq}\nevent: {kind}\ndata: {data}\n\n".encode()
        if kind != "log":
            self._history.append((self.seq, kind, task_id, frame))
        for client in self._clients:
            client.offer(kind, task_id, frame)

    def _describe(self, event: Event) -> tuple[str, int | None, str]:
        if isinstance(event, TaskAdded):
            rec = event.task
            return "task_added", rec.id, \
                f'{{"task_id":{rec.id},"task":{self._task_json(rec)}}}'
        if isinstance(event, TaskChanged):
            rec = self._engine.tasks.get(event.task_id)
            task = self._task_json(rec) if rec is not None else "null"
            changes = _dumps(_changes(event.changes))
            return "task_changed", event.task_id, \
                f'{{"task_id":{event.task_id},"changes":{changes},"task":{task}}}'
        if isinstance(event, TaskRemoved):
            return "task_removed", event.task_id, f'{{"task_id":{event.task_id}}}'
        assert isinstance(event, LogLine)
        return "log", event.task_id, _dumps({
            "task_id": event.task_id, "ts": event.ts, "stream": event.stream,
            "level": event.level, "message": event.message})

    # -- client side --------------------------------------------------------------------
    def add(self, logs: bool, only: int | None) -> _Client:
        client = _Client(logs, only)
        self._clients.add(client)
        return client

    def remove(self, client: _Client) -> None:
        self._clients.discard(client)

    def since(self, last_id: int) -> list[tuple[str, int | None, bytes]] | None:
        """Frames after ``last_id``, or None when some of them are no longer kept."""
        if last_id >= self.seq:
            return []
        if not self._history or self._history[0][0] > last_id + 1:
            return None
        return [(k, t, f) for s, k, t, f in self._history if s > last_id]

    @property
    def clients(self) -> int:
        return len(self._clients)

    def close(self) -> None:
        self.closed = True
        for client in self._clients:
            client.wake.set()


def _changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Engine field changes in the names and forms that to_dict() uses."""
    out = dict(changes)
    if "priority" in out and isinstance(out["priority"], int):
        out["priority"] = Priority.from_rank(out["priority"]).value
    if "params" in out:
        out["params_json"] = json.dumps(out["params"])
    return out


async def stream_events(request: web.Request, hub: EventHub, engine: Engine, logs: bool,
                        only: int | None) -> web.StreamResponse:
    """The event-stream response: ``ready`` first, then task events until either end quits."""
    last: int | None = None
    raw_last = request.headers.get("Last-Event-ID", "").strip()
    if raw_last.isdigit() and len(raw_last) < 19:
        last = int(raw_last)
    resp = web.StreamResponse(headers={"Cache-Control": "no-cache",
                                       "X-Accel-Buffering": "no"})
    resp.content_type = "text/event-stream"
    resp.charset = "utf-8"
    client = hub.add(logs, only)
    try:
        await resp.prepare(request)
        ready = _dumps({"tasks": len(engine.tasks), "last_event_id": hub.seq})
        out = [f"retry: 2000\nevent: ready\ndata: {ready}\n\n".encode()]
        if last is not None:
            missed = hub.since(last)
            if missed is None:
                out.append(b"event: reset\ndata: {\"reason\":\"missed events\"}\n\n")
            else:
                out += [f for k, t, f in missed if client.wants(k, t)]
        await resp.write(b"".join(out))
        while not hub.closed:
            if client.overflow:
                await resp.write(b"event: reset\ndata: {\"reason\":\"too slow\"}\n\n")
                break
            if client.frames:
                frames, client.frames = client.frames, []
                await resp.write(b"".join(frames))
                continue
            client.wake.clear()
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            try:
                await asyncio.wait_for(client.wake.wait(), KEEPALIVE_S)
            except TimeoutError:
                await resp.write(b": keepalive\n\n")
    except (ConnectionError, RuntimeError):
        pass  # the client went away
    finally:
        hub.remove(client)
    with contextlib.suppress(ConnectionError, RuntimeError):
        await resp.write_eof()
    return resp
