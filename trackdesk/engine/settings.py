"""The engine's settings (the window's settings dialog changes them while it runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EngineSettings:
    concurrency: int = 2
    per_skill_limits: dict[str, int] = field(default_factory=dict)
    poll_interval_s: float = 0.5
    flush_interval_s: float = 0.5
    cancel_grace_s: float = 3.0
    default_launcher: str = "local"
    batch_size: int = 50_000
    sample_interval_s: float = 1.0
    created_by: str = "app"
    # Parameters a new task of a skill gets unless its chain node or caller sets them (the
    # app's Settings → "A day starts at" for footprint_stats, issue 21).
    skill_params: dict[str, dict[str, Any]] = field(default_factory=dict)
