"""TaskRecord: the engine's in-memory view of one analysis_tasks row."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from trackdesk.engine.states import Priority, Status

# Columns whose Python value is a list or dict, stored as JSON text.
JSON_COLUMNS = {
    "params": "params_json",
    "depends_on_task_ids": "depends_on_task_ids",
    "blocks_task_ids": "blocks_task_ids",
    "retry_delays": "retry_delays_json",
    "result_summary": "result_summary",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class TaskRecord:
    id: int
    skill_name: str
    task_type: str = "INCREMENTAL"
    status: Status = Status.PENDING
    progress_percent: float = 0.0
    eta_seconds: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    threshold_profile_id: int | None = None
    total_points: int = 0
    processed_points: int = 0
    failed_points: int = 0
    start_time: datetime | None = None
    end_time: datetime | None = None
    result_summary: dict[str, Any] | None = None
    error_message: str | None = None
    depends_on_task_ids: list[int] = field(default_factory=list)
    blocks_task_ids: list[int] = field(default_factory=list)
    created_by: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    priority: int = 1
    attempt: int = 0
    max_retries: int = 0
    retry_delays: list[float] = field(default_factory=list)
    next_attempt_at: float | None = None
    timeout_s: float | None = None
    launcher: str = "local"
    worker_ref: str | None = None
    heartbeat_at: datetime | None = None
    chain_run_id: str | None = None
    failure_kind: str | None = None
    status_reason: str | None = None
    batch_size: int | None = None
    peak_memory_mb: float | None = None
    cpu_time_s: float | None = None
    cpu_percent: float | None = None
    memory_mb: float | None = None

    @property
    def priority_name(self) -> str:
        return Priority.from_rank(self.priority).value

    @property
    def duration_s(self) -> float | None:
        if self.start_time is None:
            return None
        end = self.end_time or utcnow()
        return max(0.0, (end - self.start_time).total_seconds())

    def to_row(self) -> dict[str, Any]:
        """Column name -> value, ready for the analysis_tasks table."""
        return dict(column_value(f.name, getattr(self, f.name)) for f in fields(self))

    @classmethod
    def from_row(cls, row: Any) -> TaskRecord:
        """Build from an ORM object or a mapping with the table's column names.

        Called for every task when a tracks.db opens (years of history): the per-field
        rules are resolved once, in ``_FIELD_PLAN``, not per row."""
        get = row.get if isinstance(row, dict) else (lambda k, d=None: getattr(row, k, d))
        kwargs: dict[str, Any] = {}
        for name, column, kind, default in _field_plan(cls):
            value = get(column, None)
            if kind == "json":
                value = _loads(value, default() if callable(default) else default)
            elif kind == "status":
                value = Status(value or "pending")
            elif kind == "time":
                if isinstance(value, str):
                    value = datetime.fromisoformat(value)
                if value is not None and value.tzinfo is None:
                    value = value.replace(tzinfo=UTC)
                if value is None and default is not None:
                    value = default()
            elif value is None and default is not None:
                value = default
            kwargs[name] = value
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The task as scripts see it: the original field names, JSON-friendly values."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
            elif isinstance(value, Status):
                value = value.value
            out[f.name] = value
        out["params_json"] = json.dumps(self.params)
        out["priority"] = self.priority_name
        out["duration_seconds"] = self.duration_s
        return out


_PLAN: list[tuple[str, str, str, Any]] | None = None
_NOT_NULL = {"progress_percent": 0.0, "total_points": 0, "processed_points": 0,
             "failed_points": 0, "attempt": 0, "max_retries": 0, "priority": 1}


def _field_plan(cls: type) -> list[tuple[str, str, str, Any]]:
    """(field, column, kind, default) for every TaskRecord field, computed once."""
    global _PLAN
    if _PLAN is None:
        plan = []
        for f in fields(cls):
            column = JSON_COLUMNS.get(f.name, f.name)
            if f.name in JSON_COLUMNS:
                default: Any = (None if f.name == "result_summary" else
                                (dict if f.name == "params" else list))
                plan.append((f.name, column, "json", default))
            elif f.name == "status":
                plan.append((f.name, column, "status", None))
            elif f.name.endswith(("_time", "_at")) and f.name != "next_attempt_at":
                plan.append((f.name, column, "time",
                             utcnow if f.name in ("created_at", "updated_at") else None))
            else:
                plan.append((f.name, column, "plain", _NOT_NULL.get(f.name)))
        _PLAN = plan
    return _PLAN


def column_value(name: str, value: Any) -> tuple[str, Any]:
    """The analysis_tasks column of field ``name`` and ``value`` as stored there."""
    if name in JSON_COLUMNS:
        return JSON_COLUMNS[name], None if value is None else json.dumps(value)
    if isinstance(value, datetime):
        return name, value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, Status):
        return name, value.value
    return name, value


def _loads(text: Any, default: Any) -> Any:
    if text is None or text == "":
        return default
    if not isinstance(text, str):
        return text
    # Most tasks have no dependencies, blockers or retry delays: skip the parser.
    if text == "[]":
        return []
    if text == "{}":
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return default
