"""The OpenAPI 3 document of the REST API, built from the live skill registry.

Served at ``/api/openapi.json``; the schema-driven fuzz test (tests/api) reads it, so it
must say exactly what the server accepts and answers.
"""

from __future__ import annotations

from typing import Any

from trackdesk.engine.states import Priority, Status, TaskType

PREFIX = "/api/admin/analysis"

STATUSES = [s.value for s in Status]
PRIORITIES = [p.value for p in Priority]
TASK_TYPES = [t.value for t in TaskType]


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(data_schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {
        "type": "object", "required": ["code", "data"],
        "properties": {"code": {"type": "integer", "enum": [200]}, "data": data_schema}}}}}


ERROR = {"description": "An error in the envelope: `code` is the HTTP status, `message` "
         "says what is wrong", "content": {"application/json": {"schema": _ref("Error")}}}


def _op(summary: str, ok: dict[str, Any], *, params: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None, body_required: bool = True,
        tag: str = "tasks") -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag],
                          "responses": {"200": ok, "default": ERROR}}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": body_required,
                             "content": {"application/json": {"schema": body}}}
    return op


TASK_ID = {"name": "id", "in": "path", "required": True,
           "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}}
NAME = {"name": "name", "in": "path", "required": True,
        "schema": {"type": "string", "pattern": r"^[\w .()+-]{1,100}$"}}
NO_BODY = {"type": "object", "additionalProperties": False, "properties": {}}


def _task_schema() -> dict[str, Any]:
    i = {"type": "integer"}
    n = {"type": "number"}
    s = {"type": "string"}
    t = {"type": "string", "format": "date-time"}
    ids = {"type": "array", "items": i}
    props: dict[str, Any] = {
        "id": i, "skill_name": s, "task_type": {"type": "string", "enum": TASK_TYPES},
        "status": {"type": "string", "enum": STATUSES}, "progress_percent": n,
        "eta_seconds": _nullable(n), "params": {"type": "object"},
        "params_json": s, "threshold_profile_id": _nullable(i), "total_points": i,
        "processed_points": i, "failed_points": i, "start_time": _nullable(t),
        "end_time": _nullable(t), "result_summary": _nullable({"type": "object"}),
        "error_message": _nullable(s), "depends_on_task_ids": ids, "blocks_task_ids": ids,
        "created_by": _nullable(s), "created_at": t, "updated_at": t,
        "priority": {"type": "string", "enum": PRIORITIES}, "attempt": i, "max_retries": i,
        "retry_delays": {"type": "array", "items": n}, "next_attempt_at": _nullable(n),
        "timeout_s": _nullable(n), "launcher": s, "worker_ref": _nullable(s),
        "heartbeat_at": _nullable(t), "chain_run_id": _nullable(s),
        "failure_kind": _nullable(s), "status_reason": _nullable(s),
        "batch_size": _nullable(i), "peak_memory_mb": _nullable(n),
        "cpu_time_s": _nullable(n), "duration_seconds": _nullable(n),
        # GET /tasks/{id} only: every ended run of the task, oldest first.
        "attempts": {"type": "array", "items": {"type": "object", "properties": {
            "attempt": i, "task_type": s, "launcher": _nullable(s),
            "started_at": _nullable(s), "ended_at": s, "outcome": s,
            "exit_reason": _nullable(s), "error": _nullable(s),
            "processed_points": _nullable(i), "failed_points": _nullable(i),
            "total_points": _nullable(i), "peak_memory_mb": _nullable(n),
            "cpu_time_s": _nullable(n)}}},
    }
    required = ["id", "skill_name", "task_type", "status", "progress_percent", "eta_seconds",
                "processed_points", "total_points", "failed_points", "start_time",
                "updated_at", "created_at", "params_json", "depends_on_task_ids",
                "blocks_task_ids", "priority"]
    return {"type": "object", "required": required, "properties": props}


def build_openapi(skills: list[str], token: bool = False) -> dict[str, Any]:
    """The document; ``skills`` become the enum of ``skill_name``."""
    from trackdesk import __version__

    task = _ref("Task")
    ids_result = {"type": "object", "required": ["message", "task_ids"], "properties": {
        "message": {"type": "string"}, "task_ids": {"type": "array",
                                                    "items": {"type": "integer"}},
        "chain_run_id": _nullable({"type": "string"})}}
    create = {
        "type": "object", "required": ["skill_name"], "additionalProperties": False,
        "properties": {
            "skill_name": {"type": "string", "enum": skills},
            "task_type": _nullable({"type": "string", "enum": [*TASK_TYPES, None],
                                    "default": "INCREMENTAL"}),
            "params": {"type": "object", "nullable": True, "description": "Skill parameters (see the skill's "
                       "spec); unknown names and out-of-bound values are refused",
                       "additionalProperties": True},
            "priority": {"oneOf": [{"type": "string", "enum": PRIORITIES},
                                   {"type": "integer", "minimum": 0, "maximum": 4}]},
            "depends_on_task_ids": {"type": "array", "nullable": True,
                                    "items": {"type": "integer", "minimum": 0}},
            "launcher": _nullable({"type": "string", "enum": ["local", "docker", None]}),
            "threshold_profile_id": _nullable({"type": "integer", "minimum": 0,
                                               "maximum": 2**63 - 1}),
            "timeout_s": _nullable({"type": "number", "exclusiveMinimum": True,
                                    "minimum": 0}),
            "max_retries": _nullable({"type": "integer", "minimum": 0, "maximum": 100}),
            "created_by": _nullable({"type": "string", "maxLength": 100}),
        }}
    trigger = {"type": "object", "additionalProperties": False, "properties": {
        "task_type": _nullable({"type": "string", "enum": [*TASK_TYPES, None],
                                "default": "INCREMENTAL"}),
        "name": _nullable({"type": "string",
                           "description": "chain template (default: 'default')"}),
        "launcher": _nullable({"type": "string", "enum": ["local", "docker", None]})}}
    rerun = {"type": "object", "additionalProperties": False, "properties": {
        "full": {"type": "boolean", "description": "as a full recompute"},
        "downstream": {"type": "boolean", "description": "and every task after it"}}}
    priority = {"type": "object", "required": ["priority"], "additionalProperties": False,
                "properties": {"priority": {"oneOf": [
                    {"type": "string", "enum": PRIORITIES},
                    {"type": "integer", "minimum": 0, "maximum": 4}]}}}
    template = {"type": "object", "required": ["id", "name", "version", "document",
                                               "read_only"], "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"},
        "version": {"type": "integer"}, "document": _ref("ChainDocument"),
        "read_only": {"type": "boolean"}}}
    chain_doc = {"type": "object", "required": ["nodes"], "properties": {
        "format": {"type": "string"}, "version": {"type": "integer"},
        "name": {"type": "string"},
        "nodes": {"type": "array", "items": {
            "type": "object", "required": ["id", "skill"], "properties": {
                "id": {"type": "string"}, "skill": {"type": "string"},
                "params": {"type": "object"},
                "launcher": _nullable({"type": "string"}),
                "x": {"type": "number"}, "y": {"type": "number"}}}},
        "links": {"type": "array", "items": {"type": "array", "items": {"type": "string"},
                                             "minItems": 2, "maxItems": 2}}}}
    status_q = {"name": "status", "in": "query", "required": False,
                "description": "one status or several, comma separated: "
                + ", ".join(STATUSES),
                "schema": {"type": "string"}}
    paging = [
        {"name": "skill_name", "in": "query", "required": False, "schema": {"type": "string"}},
        {"name": "chain_run_id", "in": "query", "required": False,
         "schema": {"type": "string"}},
        {"name": "offset", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}},
        {"name": "limit", "in": "query", "required": False,
         "description": "0 or absent: all",
         "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}}]
    log_line = {"type": "object", "required": ["id", "task_id", "ts", "stream", "level",
                                               "message"], "properties": {
        "id": {"type": "integer"}, "task_id": {"type": "integer"}, "ts": {"type": "number"},
        "stream": {"type": "string"}, "level": {"type": "string"},
        "message": {"type": "string"}}}
    p = PREFIX
    paths: dict[str, Any] = {
        f"{p}/tasks": {
            "post": _op("Queue a task", _ok(task, "The queued task"), body=_ref("CreateTask")),
            "get": _op("List tasks", _ok({"type": "array", "items": task}, "Tasks by id"),
                       params=[status_q, *paging]),
        },
        f"{p}/tasks/{{id}}": {
            "get": _op("One task with its progress", _ok(task, "The task"), params=[TASK_ID]),
            "delete": _op("Cancel a task (the worker is asked to stop, then killed)",
                          _ok(task, "The task; a running one turns cancelled once its "
                              "worker has stopped"), params=[TASK_ID]),
        },
        f"{p}/tasks/{{id}}/rerun": {"post": _op(
            "Queue a finished task again", _ok(ids_result, "The queued task ids"),
            params=[TASK_ID], body=_ref("Rerun"), body_required=False)},
        f"{p}/tasks/{{id}}/pause": {"post": _op(
            "Pause a running task or hold a pending one", _ok(task, "The task"),
            params=[TASK_ID], body=NO_BODY, body_required=False)},
        f"{p}/tasks/{{id}}/resume": {"post": _op(
            "Resume a paused task or restart an interrupted one", _ok(task, "The task"),
            params=[TASK_ID], body=NO_BODY, body_required=False)},
        f"{p}/tasks/{{id}}/priority": {"post": _op(
            "Change a task's priority", _ok(task, "The task"), params=[TASK_ID],
            body=_ref("SetPriority"))},
        f"{p}/tasks/{{id}}/log": {"get": _op(
            "The task's log (engine notes, worker log lines, stderr)",
            _ok({"type": "array", "items": _ref("LogLine")}, "Log lines, oldest first"),
            params=[TASK_ID,
                    {"name": "after_id", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}},
                    {"name": "limit", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": 10000}},
                    {"name": "tail", "in": "query", "required": False,
                     "description": "the last `limit` lines instead of the first",
                     "schema": {"type": "boolean"}}])},
        f"{p}/trigger-chain": {"post": _op(
            "Run a chain template (the default chain without a name)",
            _ok(ids_result, "One task per node, dependencies set"), body=_ref("TriggerChain"),
            body_required=False, tag="chains")},
        f"{p}/retry-failed": {"post": _op(
            "Rerun the failed tasks of a chain run", _ok(ids_result, "The queued task ids"),
            body={"type": "object", "required": ["chain_run_id"],
                  "additionalProperties": False,
                  "properties": {"chain_run_id": {"type": "string"}}}, tag="chains")},
        f"{p}/chains": {"get": _op("Chain templates", _ok(
            {"type": "array", "items": _ref("ChainTemplate")}, "Templates by name"),
            tag="chains")},
        f"{p}/chains/{{name}}": {
            "get": _op("One chain template", _ok(_ref("ChainTemplate"), "The template"),
                       params=[NAME], tag="chains"),
            "put": _op("Create or replace a chain template (checked like a run)",
                       _ok(_ref("ChainTemplate"), "The saved template"), params=[NAME],
                       body={"type": "object", "required": ["document"],
                             "additionalProperties": False,
                             "properties": {"document": _ref("ChainDocument")}},
                       tag="chains"),
            "delete": _op("Delete a chain template (not a read-only one)", _ok(
                {"type": "object", "required": ["message", "name"], "properties": {
                    "message": {"type": "string"}, "name": {"type": "string"}}},
                "Deleted"), params=[NAME], tag="chains"),
        },
        f"{p}/skills": {"get": _op("The skills and their parameters", _ok(
            {"type": "array", "items": _ref("Skill")}, "Skill specs"), tag="skills")},
        f"{p}/skills/{{name}}": {"get": _op(
            "One skill", _ok(_ref("Skill"), "The skill's spec"),
            params=[{"name": "name", "in": "path", "required": True,
                     "schema": {"type": "string"}}], tag="skills")},
        f"{p}/events": {"get": {
            "summary": "Server-sent events: task_added, task_changed, task_removed (and log "
            "with logs=true); ready first, reset when the client must list again",
            "tags": ["events"],
            "parameters": [
                {"name": "logs", "in": "query", "required": False,
                 "schema": {"type": "boolean"}},
                {"name": "task_id", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 0}},
                {"name": "Last-Event-ID", "in": "header", "required": False,
                 "schema": {"type": "string"}}],
            "responses": {"200": {"description": "An endless text/event-stream",
                                  "content": {"text/event-stream": {
                                      "schema": {"type": "string"}}}},
                          "default": ERROR}}},
        "/api/health": {"get": _op("Version, engine state and task counts", _ok(
            {"type": "object", "required": ["version", "engine_running", "tasks"],
             "properties": {"version": {"type": "string"},
                            "engine_running": {"type": "boolean"},
                            "tasks": {"type": "object",
                                      "additionalProperties": {"type": "integer"}}}},
            "Health"), tag="meta")},
        "/api/openapi.json": {"get": {
            "summary": "This document", "tags": ["meta"],
            "responses": {"200": {"description": "OpenAPI 3 document", "content": {
                "application/json": {"schema": {"type": "object"}}}},
                "default": ERROR}}},
    }
    skill = {"type": "object", "required": ["name", "version", "params"], "properties": {
        "name": {"type": "string"}, "version": {"type": "string"},
        "title": {"type": "string"}, "description": {"type": "string"},
        "upstream": {"type": "array", "items": {"type": "string"}},
        "params": {"type": "array", "items": {"type": "object"}}}}
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "trackdesk analysis API", "version": __version__,
                 "description": "The original /api/admin/analysis endpoints, served by the "
                 "trackdesk engine. Every answer is {\"code\", \"data\"} (errors add "
                 "\"message\"); code equals the HTTP status."},
        "paths": paths,
        "components": {"schemas": {
            "Task": _task_schema(), "CreateTask": create, "TriggerChain": trigger,
            "Rerun": rerun, "SetPriority": priority, "ChainTemplate": template,
            "ChainDocument": chain_doc, "Skill": skill, "LogLine": log_line,
            "Error": {"type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "integer", "minimum": 400, "maximum": 599},
                "message": {"type": "string"}, "data": {"nullable": True}}},
        }},
    }
    if token:
        doc["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc
