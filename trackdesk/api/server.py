"""The REST API on the engine's own loop (aiohttp): no second engine, no thread of its own.

The window starts it from the running app (``await start_api(engine, ...)``), the CLI from
``trackdesk serve``. Every handler runs on the loop thread; blocking store calls go through
the engine's database thread (``engine.call``, ``engine.templates``), never on the loop.

Responses keep the original envelope: ``{"code": 200, "data": ...}``; errors
``{"code": 4xx, "message": "...", "data": null}`` with the same HTTP status.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from trackdesk.api.encoding import dumps
from trackdesk.api.sse import EventHub, stream_events
from trackdesk.engine.chains import Chain, ChainError
from trackdesk.engine.engine import Engine, EngineError, UnknownChainError
from trackdesk.engine.events import Event, TaskAdded, TaskChanged, TaskRemoved
from trackdesk.engine.records import TaskRecord
from trackdesk.engine.states import IllegalTransition, Status, TaskType
from trackdesk.engine.store import UnknownTaskError
from trackdesk.skills.registry import UnknownSkillError

log = logging.getLogger(__name__)

API_PREFIX = "/api/admin/analysis"
OPENAPI_PATH = "/api/openapi.json"
# A task, a chain template or a rerun request fits in far less; anything bigger is a
# mistake or an attack, and is refused before it is read whole.
MAX_BODY_BYTES = 1 << 20
# Off loopback the token is the only protection, so it must not be guessable.
MIN_REMOTE_TOKEN_LEN = 16
MAX_INT = 2**63 - 1  # SQLite's INTEGER range: bigger ids would crash the store
NAME_RE = re.compile(r"^[\w .()+-]{1,100}$")
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ENGINE_KEY = web.AppKey("engine", Engine)
HUB_KEY = web.AppKey("hub", EventHub)
TOKEN_KEY = web.AppKey("token", str)


class ApiConfigError(ValueError):
    """The API cannot start like this (e.g. off loopback without a token)."""


class ApiError(Exception):
    """A request refused with a status code and a message meant for a person."""

    def __init__(self, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}


# ==================================================================== JSON ==========
def envelope(data: Any, code: int = 200) -> web.Response:
    return web.Response(text=dumps({"code": code, "data": data}), status=code,
                        content_type="application/json")


def error_response(code: int, message: str, headers: dict[str, str] | None = None
                   ) -> web.Response:
    return web.Response(text=dumps({"code": code, "message": message, "data": None}),
                        status=code, content_type="application/json", headers=headers)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _check_text(value: Any, where: str = "body") -> None:
    """Refuse strings SQLite cannot store (lone surrogates from \\ud800 escapes)."""
    stack = [(value, where)]
    while stack:
        v, at = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise ApiError(400, f"{at}: text is not valid Unicode") from None
        elif isinstance(v, dict):
            stack.extend((k, at) for k in v)
            stack.extend((x, f"{at}.{k}") for k, x in v.items())
        elif isinstance(v, list):
            stack.extend((x, at) for x in v)


# Tasks serialised between two yields to the loop (~10-40 ms on a slow machine).
SLICE = 200


class TaskJsonCache:
    """Serialised tasks, kept until the task changes: listing 10,000 tasks is a join.

    Started, unfinished tasks are serialised afresh (their duration moves with the clock).
    """

    def __init__(self) -> None:
        self._json: dict[int, str] = {}
        # Whole listing bodies by query string, valid while no task changed (generation)
        # and none in them moves with the clock.
        self.generation = 0
        self._bodies: dict[str, tuple[int, bytes]] = {}

    def body(self, key: str) -> bytes | None:
        hit = self._bodies.get(key)
        return hit[1] if hit is not None and hit[0] == self.generation else None

    def keep_body(self, key: str, body: bytes) -> None:
        if len(self._bodies) >= 8:
            self._bodies.pop(next(iter(self._bodies)))
        self._bodies[key] = (self.generation, body)

    @staticmethod
    def volatile(rec: TaskRecord) -> bool:
        """Its JSON changes with the clock: duration_seconds of a started, unended task
        (running, paused while running, or waiting for a retry). Everything else about
        a task changes only with an event."""
        return rec.start_time is not None and rec.end_time is None

    def on_event(self, event: Event) -> None:
        if isinstance(event, TaskAdded | TaskChanged | TaskRemoved):
            self.generation += 1
        if isinstance(event, TaskChanged | TaskRemoved):
            self._json.pop(event.task_id, None)
        elif isinstance(event, TaskAdded):
            self._json.pop(event.task.id, None)

    def get(self, rec: TaskRecord) -> str:
        if self.volatile(rec):
            return dumps(rec.to_dict())
        text = self._json.get(rec.id)
        if text is None:
            text = self._json[rec.id] = dumps(rec.to_dict())
        return text

    def cached(self, rec: TaskRecord) -> str | None:
        return None if self.volatile(rec) else self._json.get(rec.id)

    async def join(self, records: list[TaskRecord]) -> str:
        """The tasks as a JSON array; serialising uncached ones yields to the loop now
        and then (10,000 fresh tasks take a second or more: the window must not freeze)."""
        parts = []
        fresh = 0
        for rec in records:
            text = self.cached(rec)
            if text is None:
                text = self.get(rec)
                fresh += 1
                if fresh % SLICE == 0:
                    await asyncio.sleep(0)
            parts.append(text)
        return "[" + ",".join(parts) + "]"

    async def warm(self, engine: Engine) -> None:
        """Fill the cache in slices after start, so the first listing is fast too."""
        for i, rec in enumerate(list(engine.tasks.values())):
            if engine.tasks.get(rec.id) is rec:
                self.get(rec)
            if i % SLICE == SLICE - 1:
                await asyncio.sleep(0)

    def clear(self) -> None:
        self._json.clear()
        self._bodies.clear()


CACHE_KEY = web.AppKey("cache", TaskJsonCache)


# ==================================================================== request helpers
async def read_json(request: web.Request, required: bool = True) -> dict[str, Any]:
    """The request body as a JSON object, or an ApiError saying what is wrong with it."""
    limit = request.app._client_max_size
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"request body of {request.content_length} bytes is larger "
                       f"than the {limit} bytes allowed")
    raw = await request.read()  # over client_max_size: HTTPRequestEntityTooLarge -> 413
    if not raw.strip():
        if required:
            raise ApiError(400, "this endpoint needs a JSON object as the request body")
        return {}
    ctype = request.content_type
    if ctype != "application/json" and not (ctype.startswith("application/")
                                            and ctype.endswith("+json")):
        raise ApiError(415, f"send the body as application/json, not {ctype or 'nothing'}")
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"malformed JSON in the request body: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "the request body must be a JSON object, not "
                       f"{type(value).__name__ if value is not None else 'null'}")
    _check_text(value)
    return value


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0]!r} (allowed: "
                       f"{', '.join(sorted(allowed))})")


def _get_str(body: dict[str, Any], key: str, default: str | None = None,
             required: bool = False, nullable: bool = True) -> str | None:
    if key not in body or (body[key] is None and nullable and not required):
        if required:
            raise ApiError(400, f"field {key!r} is required")
        return default
    value = body[key]
    if not isinstance(value, str):
        raise ApiError(400, f"field {key!r} must be a string, not {_kind(value)}")
    return value


def _get_bool(body: dict[str, Any], key: str, default: bool = False) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise ApiError(400, f"field {key!r} must be true or false, not {_kind(value)}")
    return value


def _get_int(body: dict[str, Any], key: str, low: int = 0, high: int = MAX_INT) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"field {key!r} must be a whole number, not {_kind(value)}")
    if not low <= value <= high:
        raise ApiError(400, f"field {key!r} must be between {low} and {high}, not {value}")
    return value


def _get_launcher(body: dict[str, Any]) -> str | None:
    launcher = _get_str(body, "launcher")
    if launcher is not None and launcher not in ("local", "docker"):
        raise ApiError(400, f"unknown launcher {launcher!r} (local or docker)")
    return launcher


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "an object", type(None): "null"}.get(type(value),
                                                                       type(value).__name__)


def _task_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    try:
        task_id = int(raw)
    except ValueError:
        raise ApiError(400, f"task id must be a whole number, not {raw!r}") from None
    if not 0 <= task_id <= MAX_INT:
        raise ApiError(404, f"no task with id {task_id}")
    return task_id


def _query_int(request: web.Request, key: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"query parameter {key!r} must be a whole number, "
                       f"not {raw!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"query parameter {key!r} must be between {low} and {high}")
    return value


def _query_bool(request: web.Request, key: str) -> bool:
    raw = request.query.get(key, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ApiError(400, f"query parameter {key!r} must be true or false, not {raw!r}")


def _engine(request: web.Request) -> Engine:
    engine = request.app[ENGINE_KEY]
    if not engine.started or engine.store is None:
        raise ApiError(503, "the task engine is not running")
    return engine


def _task(engine: Engine, task_id: int) -> TaskRecord:
    rec = engine.tasks.get(task_id)
    if rec is None:
        raise ApiError(404, f"no task with id {task_id}")
    return rec


def _template_name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not NAME_RE.match(name):
        raise ApiError(400, "a chain template name has 1 to 100 letters, digits, spaces "
                       "or . _ - ( ) +")
    return name


async def _act(coro: Awaitable[Any]) -> Any:
    """Run an engine action; its refusals become a 409 (or 404 for an unknown task)."""
    try:
        return await coro
    except UnknownTaskError as exc:
        raise ApiError(404, str(exc)) from None
    except (EngineError, IllegalTransition) as exc:
        raise ApiError(409, str(exc)) from None


async def _confine_paths(engine: Engine, skill: str, params: dict[str, Any] | None
                         ) -> dict[str, Any] | None:
    """Import reads host files: only those inside the tracks.db's folder (the workspace).

    Relative paths are taken from that folder; symlinks are resolved first, so a link
    inside the folder cannot point the importer elsewhere.
    """
    spec = engine.registry.get(skill)
    if (skill != "import" and spec.module != "trackdesk.tracks.worker") or not params \
            or "paths" not in params:
        return params
    raw = params["paths"]
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except ValueError:
            raise ApiError(400, "parameter 'paths' must be a JSON list of paths") from None
    if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
        raise ApiError(400, "parameter 'paths' must be a list of paths")
    root = engine.db_path.parent

    def resolve() -> list[Path]:
        return [(root / p).resolve() for p in raw]

    try:
        resolved = await asyncio.to_thread(resolve)
    except (ValueError, OSError) as exc:
        raise ApiError(400, f"parameter 'paths': {exc}") from None
    for given, path in zip(raw, resolved, strict=True):
        if not path.is_relative_to(root):
            raise ApiError(400, f"import path {given!r} is outside the workspace folder "
                           f"{root}; the API only imports files beside the tracks.db")
    return {**params, "paths": json.dumps([str(p) for p in resolved])}


# ==================================================================== handlers: tasks
CREATE_FIELDS = {"skill_name", "task_type", "params", "priority", "depends_on_task_ids",
                 "launcher", "threshold_profile_id", "timeout_s", "max_retries",
                 "created_by"}


async def create_task(request: web.Request) -> web.Response:
    engine = _engine(request)
    body = await read_json(request)
    _only(body, CREATE_FIELDS)
    skill = _get_str(body, "skill_name", required=True)
    assert skill is not None
    if skill not in engine.registry:
        raise ApiError(400, str(UnknownSkillError(skill, sorted(engine.registry.names()))))
    task_type = _get_str(body, "task_type", "INCREMENTAL")
    params = body.get("params")
    if isinstance(params, str):  # the original scripts sent params_json text
        try:
            params = json.loads(params, parse_constant=_reject_constant) if params.strip() \
                else {}
        except (ValueError, RecursionError) as exc:
            raise ApiError(400, f"field 'params' is not a JSON object: {exc}") from None
    if params is not None and not isinstance(params, dict):
        raise ApiError(400, f"field 'params' must be an object, not {_kind(params)}")
    params = await _confine_paths(engine, skill, params)
    priority = body.get("priority", "normal")
    if isinstance(priority, bool) or not isinstance(priority, str | int):
        raise ApiError(400, "field 'priority' must be low, normal, high, urgent or critical")
    if isinstance(priority, int) and not 0 <= priority <= 4:
        raise ApiError(400, "field 'priority' as a number must be 0 (low) to 4 (critical)")
    deps = body.get("depends_on_task_ids")
    if deps is None:
        deps = []
    if not isinstance(deps, list) or any(isinstance(d, bool) or not isinstance(d, int)
                                         for d in deps):
        raise ApiError(400, "field 'depends_on_task_ids' must be a list of task ids")
    for dep in deps:
        if dep not in engine.tasks:
            raise ApiError(400, f"depends_on_task_ids: no task with id {dep}")
    timeout = body.get("timeout_s")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                or not math.isfinite(timeout) or timeout <= 0):
        raise ApiError(400, "field 'timeout_s' must be a positive number of seconds")
    created_by = _get_str(body, "created_by", "api") or "api"
    if len(created_by) > 100:
        raise ApiError(400, "field 'created_by' is longer than 100 characters")
    try:
        rec = await engine.create_task(
            skill, task_type if task_type is not None else "INCREMENTAL", params, priority,
            deps,
            _get_launcher(body), created_by,
            _get_int(body, "threshold_profile_id"), timeout,
            _get_int(body, "max_retries", 0, 100))
    except UnknownTaskError as exc:
        raise ApiError(400, f"depends_on_task_ids: {exc}") from None
    except EngineError as exc:
        raise ApiError(400, str(exc)) from None
    return envelope(rec.to_dict())


async def list_tasks(request: web.Request) -> web.Response:
    engine = _engine(request)
    cache = request.app[CACHE_KEY]
    key = request.query_string
    body = cache.body(key)
    if body is not None:  # nothing changed since the same listing was built
        return web.Response(body=body, content_type="application/json")
    wanted: set[str] | None = None
    raw = request.query.get("status")
    if raw:
        wanted = {s.strip().lower() for s in raw.split(",") if s.strip()}
        known = {s.value for s in Status}
        bad = sorted(wanted - known)
        if bad:
            raise ApiError(400, f"unknown status {bad[0]!r} (one of "
                           f"{', '.join(s.value for s in Status)})")
    skill = request.query.get("skill_name") or None
    chain_run = request.query.get("chain_run_id") or None
    offset = _query_int(request, "offset", 0, 0, MAX_INT)
    limit = _query_int(request, "limit", 0, 0, MAX_INT)
    picked = [rec for rec in engine.tasks.values()
              # Status is a StrEnum: compared as the string it is (.value is slow).
              if (wanted is None or rec.status in wanted)
              and (skill is None or rec.skill_name == skill)
              and (chain_run is None or rec.chain_run_id == chain_run)]
    picked.sort(key=lambda r: r.id)
    picked = picked[offset:offset + limit] if limit else picked[offset:]
    generation = cache.generation
    # Joined from cached per-task JSON: no re-serialising 10,000 unchanged tasks.
    body = ('{"code":200,"data":' + await cache.join(picked) + "}").encode()
    if generation == cache.generation and not any(cache.volatile(r) for r in picked):
        cache.keep_body(key, body)
    return web.Response(body=body, content_type="application/json")


async def _known_task(engine: Engine, task_id: int) -> TaskRecord:
    """The task, also when another process (the CLI, the window) queued it a moment ago
    and the engine's next look at the db has not come yet."""
    if task_id not in engine.tasks:
        await engine.pick_up(force=True)
    return _task(engine, task_id)


async def get_task(request: web.Request) -> web.Response:
    engine = _engine(request)
    task_id = _task_id(request)
    data = (await _known_task(engine, task_id)).to_dict()
    # Every ended run of the task, oldest first: a rerun reuses the id, never the record.
    data["attempts"] = await engine.attempts(task_id)
    return envelope(data)


async def _on_task(request: web.Request, act: Callable[[Any, int], Awaitable[Any]],
                   takes_body: bool = True) -> web.Response:
    """One engine action on the task in the path; the task as it is afterwards."""
    engine = _engine(request)
    task_id = _task_id(request)
    await _known_task(engine, task_id)
    if takes_body:  # none expected: an unknown field is refused, not ignored
        _only(await read_json(request, required=False), set())
    await _act(act(engine, task_id))
    return envelope(engine.tasks[task_id].to_dict())


async def cancel_task(request: web.Request) -> web.Response:
    return await _on_task(request, lambda e, i: e.cancel(i), takes_body=False)


async def pause_task(request: web.Request) -> web.Response:
    return await _on_task(request, lambda e, i: e.pause(i))


async def resume_task(request: web.Request) -> web.Response:
    return await _on_task(request, lambda e, i: e.resume(i))


async def rerun_task(request: web.Request) -> web.Response:
    engine = _engine(request)
    task_id = _task_id(request)
    _task(engine, task_id)
    body = await read_json(request, required=False)
    _only(body, {"full", "downstream"})
    full, downstream = _get_bool(body, "full"), _get_bool(body, "downstream")
    ids = await _act(engine.rerun(task_id, full=full, downstream=downstream))
    what = "as a full recompute" if full else "incrementally"
    more = f" with {len(ids) - 1} downstream task(s)" if downstream else ""
    return envelope({"message": f"task {task_id} queued again {what}{more}",
                     "task_ids": ids})


async def set_priority(request: web.Request) -> web.Response:
    engine = _engine(request)
    task_id = _task_id(request)
    _task(engine, task_id)
    body = await read_json(request)
    _only(body, {"priority"})
    level = body.get("priority")
    if isinstance(level, bool) or not isinstance(level, str | int) or \
            (isinstance(level, int) and not 0 <= level <= 4):
        raise ApiError(400, "field 'priority' must be low, normal, high, urgent or critical")
    try:
        await engine.set_priority(task_id, level)
    except EngineError as exc:
        raise ApiError(400, str(exc)) from None
    return envelope(engine.tasks[task_id].to_dict())


async def task_log(request: web.Request) -> web.Response:
    engine = _engine(request)
    task_id = _task_id(request)
    _task(engine, task_id)
    after = _query_int(request, "after_id", 0, 0, MAX_INT)
    limit = _query_int(request, "limit", 1000, 1, 10_000)
    tail = _query_bool(request, "tail")
    lines = await _act(engine.read_log(task_id, after, limit, tail))
    return envelope([{"id": r.id, "task_id": r.task_id, "ts": r.ts, "stream": r.stream,
                      "level": r.level, "message": r.message} for r in lines])


# ==================================================================== handlers: chains
async def trigger_chain(request: web.Request) -> web.Response:
    engine = _engine(request)
    body = await read_json(request, required=False)
    _only(body, {"task_type", "name", "launcher"})
    task_type = _get_str(body, "task_type", "INCREMENTAL")
    if task_type not in {t.value for t in TaskType}:
        raise ApiError(400, f"unknown task type {task_type!r} (INCREMENTAL or "
                       "FULL_RECOMPUTE)")
    name = _get_str(body, "name") or "default"
    launcher = _get_launcher(body)
    try:
        records = await engine.run_chain(name, str(task_type), launcher, created_by="api")
    except UnknownChainError as exc:
        raise ApiError(404, str(exc)) from None
    except (EngineError, ChainError) as exc:
        raise ApiError(400, str(exc)) from None
    ids = [r.id for r in records]
    return envelope({"message": f"chain {name!r} triggered: {len(ids)} task(s) queued",
                     "task_ids": ids,
                     "chain_run_id": records[0].chain_run_id if records else None})


async def retry_failed(request: web.Request) -> web.Response:
    engine = _engine(request)
    body = await read_json(request)
    _only(body, {"chain_run_id"})
    run_id = _get_str(body, "chain_run_id", required=True)
    if not any(t.chain_run_id == run_id for t in engine.tasks.values()):
        raise ApiError(404, f"no chain run with id {run_id!r}")
    ids = await _act(engine.retry_failed(run_id or ""))
    return envelope({"message": f"{len(ids)} task(s) queued again", "task_ids": ids})


async def list_chains(request: web.Request) -> web.Response:
    engine = _engine(request)
    return envelope(await engine.templates.documents())


async def get_chain(request: web.Request) -> web.Response:
    engine = _engine(request)
    name = _template_name(request)
    tpl = await engine.templates.document(name)
    if tpl is None:
        raise ApiError(404, f"no chain template named {name!r}")
    return envelope(tpl)


async def put_chain(request: web.Request) -> web.Response:
    """Create or replace a template; the document is checked as a run would check it."""
    engine = _engine(request)
    name = _template_name(request)
    body = await read_json(request)
    _only(body, {"document"})
    doc = body.get("document")
    if not isinstance(doc, dict):
        raise ApiError(400, "field 'document' must be a chain document (an object with "
                       "nodes and links)")
    _check_chain_document(doc)
    try:
        chain = Chain.from_document({**doc, "name": name})
        # Unknown skills, bad parameters, dangling links and cycles are refused now,
        # not when somebody runs the template.
        Engine.chain_records(engine.registry, chain, "INCREMENTAL", "local", None)
        for node in chain.nodes:
            node.params = await _confine_paths(engine, node.skill, node.params) or {}
    except (ChainError, EngineError) as exc:
        raise ApiError(400, f"not a valid chain: {exc}") from None
    except (KeyError, ValueError, TypeError) as exc:
        raise ApiError(400, f"not a valid chain document: {type(exc).__name__}: "
                       f"{exc}") from None
    try:
        await engine.templates.put_document(name, chain.to_document())
    except PermissionError as exc:
        raise ApiError(403, str(exc)) from None
    return envelope(await engine.templates.document(name))


def _check_chain_document(doc: dict[str, Any]) -> None:
    """The document's shape, field by field (Chain.from_document is lenient)."""
    def bad(what: str) -> ApiError:
        return ApiError(400, f"not a valid chain document: {what}")

    for key, kinds in (("format", str), ("name", str), ("version", int)):
        if key in doc and (isinstance(doc[key], bool) or not isinstance(doc[key], kinds)):
            raise bad(f"{key!r} must be {_kind(kinds())}")
    nodes = doc.get("nodes")
    if not isinstance(nodes, list):
        raise bad("'nodes' must be a list of nodes")
    for node in nodes:
        if not isinstance(node, dict):
            raise bad("every node must be an object with an id and a skill")
        for key in ("id", "skill"):
            if not isinstance(node.get(key), str):
                raise bad(f"a node's {key!r} must be a string")
        if not isinstance(node.get("params", {}), dict):
            raise bad("a node's 'params' must be an object")
        if not isinstance(node.get("launcher"), str | None):
            raise bad("a node's 'launcher' must be a string or null")
        for key in ("x", "y"):
            value = node.get(key, 0.0)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad(f"a node's {key!r} must be a number")
    links = doc.get("links", [])
    if not isinstance(links, list) or not all(
            isinstance(link, list) and len(link) == 2 and all(isinstance(x, str) for x in link)
            for link in links):
        raise bad("'links' must be a list of [upstream node id, downstream node id]")


async def delete_chain(request: web.Request) -> web.Response:
    engine = _engine(request)
    name = _template_name(request)
    try:
        found = await engine.templates.delete_document(name)
    except PermissionError as exc:
        raise ApiError(403, str(exc)) from None
    if not found:
        raise ApiError(404, f"no chain template named {name!r}")
    return envelope({"message": f"chain template {name!r} deleted", "name": name})


# ==================================================================== handlers: other
async def list_skills(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    return envelope([s.to_dict() for s in engine.registry.specs()])


async def get_skill(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    name = request.match_info["name"]
    if name not in engine.registry:
        raise ApiError(404, str(UnknownSkillError(name, sorted(engine.registry.names()))))
    return envelope(engine.registry.get(name).to_dict())


async def events(request: web.Request) -> web.StreamResponse:
    engine = _engine(request)
    logs = _query_bool(request, "logs")
    task_id = request.query.get("task_id")
    only = None
    if task_id:
        only = _query_int(request, "task_id", 0, 0, MAX_INT)
    return await stream_events(request, request.app[HUB_KEY], engine, logs, only)


async def health(request: web.Request) -> web.Response:
    from trackdesk import __version__

    engine = request.app[ENGINE_KEY]
    counts: dict[str, int] = {}
    for rec in engine.tasks.values():
        counts[rec.status] = counts.get(rec.status, 0) + 1
    return envelope({"version": __version__, "engine_running": engine.started,
                     "tasks": {str(k): v for k, v in counts.items()}})


async def openapi(request: web.Request) -> web.Response:
    from trackdesk.api.openapi import build_openapi

    engine = request.app[ENGINE_KEY]
    doc = build_openapi(sorted(engine.registry.names()),
                        token=bool(request.app[TOKEN_KEY]))
    return web.Response(text=dumps(doc), content_type="application/json")


# ==================================================================== middlewares ===
# -- corrections (issue 20): stored in tracks.db, applied by the next chain run -------
def _corrections_call(engine: Engine, fn: Callable[..., Any], *args: Any) -> Any:
    from trackdesk.tracks.db import connect_raw

    conn = connect_raw(engine.db_path)
    try:
        return fn(conn, *args)
    finally:
        conn.close()


async def _corrections(request: web.Request, fn: Callable[..., Any], *args: Any,
                       code: int = 200) -> web.Response:
    from trackdesk.tracks.corrections import CorrectionError

    try:
        out = await asyncio.to_thread(_corrections_call, _engine(request), fn, *args)
    except CorrectionError as exc:
        raise ApiError(404 if str(exc).startswith("no correction") else 400, str(exc)) from None
    return envelope(out, code)


async def list_corrections(request: web.Request) -> web.Response:
    from trackdesk.tracks import corrections as corr

    return await _corrections(request, corr.list_all)


async def add_correction(request: web.Request) -> web.Response:
    from trackdesk.tracks import corrections as corr

    body = await read_json(request)
    _only(body, {"kind", "start_ts", "end_ts", "value", "target_ids", "note"})
    kind = _get_str(body, "kind") or ""
    ids = body.get("target_ids") or []
    if not isinstance(ids, list):
        raise ApiError(400, "target_ids must be a list of ids")
    for key in ("start_ts", "end_ts"):
        if body.get(key) is not None and (isinstance(body[key], bool)
                                          or not isinstance(body[key], int | float)):
            raise ApiError(400, f"{key} must be a number (unix seconds)")
    value = body.get("value")
    if value is not None and not isinstance(value, str):
        raise ApiError(400, "value must be a string")
    note = body.get("note")
    if note is not None and not isinstance(note, str):
        raise ApiError(400, "note must be a string")
    return await _corrections(request, corr.add, kind, body.get("start_ts"),
                              body.get("end_ts"), value, ids, note, "api", code=201)


def _correction_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise ApiError(400, f"correction id must be a whole number, not "
                            f"{request.match_info['id']!r}") from None


async def undo_correction(request: web.Request) -> web.Response:
    from trackdesk.tracks import corrections as corr

    return await _corrections(request, corr.undo, _correction_id(request))


async def redo_correction(request: web.Request) -> web.Response:
    from trackdesk.tracks import corrections as corr

    return await _corrections(request, corr.redo, _correction_id(request))


async def export_corrections(request: web.Request) -> web.Response:
    from trackdesk.tracks import corrections as corr

    return await _corrections(request, corr.export_json)


def _host_is_loopback(host: str) -> bool:
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error in the envelope: ours, aiohttp's (404, 405, 413) and the unexpected."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.code, exc.message, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            message = f"no such endpoint: {request.method} {request.path}"
        elif exc.status == 405:
            allowed = getattr(exc, "allowed_methods", set())
            message = (f"{request.method} is not allowed on {request.path} (allowed: "
                       f"{', '.join(sorted(allowed))})")
        elif exc.status == 413:
            message = (f"request body larger than the {request.app._client_max_size} "
                       "bytes allowed")
        else:
            message = exc.reason
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return error_response(exc.status, message, headers)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as exc:  # noqa: BLE001 - the client gets the envelope, we the trace
        log.exception("API request %s %s failed", request.method, request.path)
        return error_response(500, f"internal error: {type(exc).__name__}: {exc}")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """With a token, every request carries it; without one, only local non-browser use.

    Without a token the server is on loopback, but a web page in the user's browser can
    still reach loopback: a foreign Host header (DNS rebinding) or an Origin header
    (a cross-site fetch or form post) is refused, so only local scripts get through.
    """
    token = request.app[TOKEN_KEY]
    if token:
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode("utf-8", "surrogateescape"), token.encode()):
            raise ApiError(401, "missing or wrong token: send 'Authorization: Bearer TOKEN'",
                           {"WWW-Authenticate": 'Bearer realm="trackdesk"'})
        return await handler(request)
    # No Host header at all (an HTTP/1.0 script) is no browser; aiohttp would put the
    # machine's name in request.host then.
    given_host = request.headers.get("Host")
    host = "" if given_host is None else (
        given_host.split("]")[0] + "]" if given_host.startswith("[")
        else given_host.rsplit(":", 1)[0])
    if given_host is not None and not _host_is_loopback(host):
        raise ApiError(403, f"Host {request.host!r} is not a loopback name; start the API "
                       "with a token to serve other hosts")
    origin = request.headers.get("Origin")
    if origin is not None:
        raise ApiError(403, "requests from web pages are refused without a token")
    return await handler(request)


# ==================================================================== app and server =
def check_bind(host: str, token: str | None) -> None:
    """Refuse a configuration that would expose the engine without a token."""
    if token is not None:
        if not token or any(c.isspace() or not c.isprintable() or ord(c) > 126
                            for c in token):
            raise ApiConfigError("the API token must be printable ASCII without spaces")
    if _host_is_loopback(host):
        return
    if not token:
        raise ApiConfigError(
            f"refusing to serve on {host}, which is not loopback, without a token: pass "
            "--token (or TRACKDESK_API_TOKEN) and send 'Authorization: Bearer TOKEN'")
    if len(token) < MIN_REMOTE_TOKEN_LEN:
        raise ApiConfigError(f"a token for serving beyond loopback needs at least "
                             f"{MIN_REMOTE_TOKEN_LEN} characters (try: python -c "
                             "\"import secrets; print(secrets.token_urlsafe())\")")


def build_app(engine: Engine, token: str | None = None,
              max_body: int = MAX_BODY_BYTES) -> web.Application:
    """The aiohttp application for ``engine`` (not started; see :func:`start_api`)."""
    app = web.Application(middlewares=[error_middleware, auth_middleware],
                          client_max_size=max_body)
    app[ENGINE_KEY] = engine
    app[TOKEN_KEY] = token or ""
    cache = TaskJsonCache()
    hub = EventHub(engine, cache.get)
    app[CACHE_KEY] = cache
    app[HUB_KEY] = hub

    def on_event(event: Event) -> None:
        # One subscriber, in order: the cache forgets first, so the hub never sends a
        # stale task.
        cache.on_event(event)
        hub.on_event(event)

    unsubscribe = engine.events.subscribe(on_event)
    warming: list[asyncio.Task] = []

    async def on_startup(_app: web.Application) -> None:
        warming.append(asyncio.create_task(cache.warm(engine), name="trackdesk-api-warm"))

    async def on_shutdown(_app: web.Application) -> None:
        for task in warming:
            task.cancel()
        unsubscribe()
        hub.close()
        cache.clear()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    p = API_PREFIX
    r = app.router
    r.add_post(f"{p}/tasks", create_task)
    r.add_get(f"{p}/tasks", list_tasks)
    r.add_get(f"{p}/tasks/{{id}}", get_task)
    r.add_delete(f"{p}/tasks/{{id}}", cancel_task)
    r.add_post(f"{p}/tasks/{{id}}/rerun", rerun_task)
    r.add_post(f"{p}/tasks/{{id}}/pause", pause_task)
    r.add_post(f"{p}/tasks/{{id}}/resume", resume_task)
    r.add_post(f"{p}/tasks/{{id}}/priority", set_priority)
    r.add_get(f"{p}/tasks/{{id}}/log", task_log)
    r.add_post(f"{p}/trigger-chain", trigger_chain)
    r.add_post(f"{p}/retry-failed", retry_failed)
    r.add_get(f"{p}/chains", list_chains)
    r.add_get(f"{p}/chains/{{name}}", get_chain)
    r.add_put(f"{p}/chains/{{name}}", put_chain)
    r.add_delete(f"{p}/chains/{{name}}", delete_chain)
    r.add_get(f"{p}/skills", list_skills)
    r.add_get(f"{p}/skills/{{name}}", get_skill)
    r.add_get(f"{p}/corrections", list_corrections)
    r.add_post(f"{p}/corrections", add_correction)
    r.add_get(f"{p}/corrections/export", export_corrections)
    r.add_post(f"{p}/corrections/{{id}}/undo", undo_correction)
    r.add_post(f"{p}/corrections/{{id}}/redo", redo_correction)
    r.add_get(f"{p}/events", events, allow_head=False)
    r.add_get("/api/health", health)
    r.add_get(OPENAPI_PATH, openapi)
    return app


class ApiServer:
    """A running API; ``await stop()`` closes event streams and the socket."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, token: str | None) -> None:
        self._runner = runner
        self.host = host
        self.port = port
        self.token = token

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        # cleanup() runs on_shutdown first (closing event streams), then waits briefly
        # for requests in flight.
        with contextlib.suppress(Exception):
            await self._runner.cleanup()


async def start_api(engine: Engine, host: str = "127.0.0.1", port: int = 8080,
                    token: str | None = None, max_body: int = MAX_BODY_BYTES) -> ApiServer:
    """Serve ``engine`` over HTTP on the running loop; ``port=0`` picks a free port.

    Raises ApiConfigError off loopback without a token, OSError when the port is taken.
    """
    check_bind(host, token)
    app = build_app(engine, token, max_body)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = port
    for addr in runner.addresses:
        if isinstance(addr, tuple) and len(addr) >= 2:
            bound = int(addr[1])
            break
    return ApiServer(runner, host, bound, token)
