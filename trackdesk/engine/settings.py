"""The engine's settings (the window's settings dialog changes them while it runs)."""

from __future__ import annotations

from dataclasses import dataclass, field


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
