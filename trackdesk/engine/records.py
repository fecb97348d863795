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
        """Build from an ORM object or a mapping with the table's column names."""
        get = row.get if isinstance(row, dict) else (lambda k, d=None: getattr(row, k, d))
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            column = JSON_COLUMNS.get(f.name, f.name)
            value = get(column, None)
            if f.name in JSON_COLUMNS:
                value = _loads(value, None if f.name == "result_summary" else
                               ({} if f.name == "params" else []))
            elif f.name == "status":
                value = Status(value or "pending")
            elif isinstance(value, str) and f.name.endswith(("_time", "_at")) \
                    and f.name != "next_attempt_at":
                value = datetime.fromisoformat(value)
            if isinstance(value, datetime) and value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            if value is None and f.name in ("created_at", "updated_at"):
                value = utcnow()
            if value is None and f.name in ("progress_percent",):
                value = 0.0
            if value is None and f.name in ("total_points", "processed_points",
                                            "failed_points", "attempt", "max_retries"):
                value = 0
            if value is None and f.name == "priority":
                value = 1
            kwargs[f.name] = value
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
    try:
        return json.loads(text)
    except ValueError:
        return default
