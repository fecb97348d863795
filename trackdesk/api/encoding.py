"""JSON for the API: datetimes as ISO 8601 UTC with a Z, enums by value."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import Enum
from typing import Any


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # the store keeps naive UTC
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def dumps(value: Any) -> str:
    """Compact JSON; non-ASCII kept as is (the responses are UTF-8)."""
    return json.dumps(value, default=json_default, ensure_ascii=False, separators=(",", ":"))
