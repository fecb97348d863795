"""Engine metrics computed from the task history: throughput, durations, failures."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from trackdesk.engine.records import TaskRecord, utcnow
from trackdesk.engine.states import Status

FINISHED = (Status.COMPLETED, Status.FAILED)


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` percentile (0-100) by the nearest-rank method; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def compute_metrics(tasks: Iterable[TaskRecord], hours: float = 24.0,
                    now: datetime | None = None, bucket_minutes: int = 10) -> dict[str, Any]:
    """Queue lengths now, and what finished in the last ``hours``: tasks per minute,
    average and p95 duration and points per second per skill, failure rates, and a
    per-bucket series for charts."""
    now = now or utcnow()
    since = now - timedelta(hours=hours)
    tasks = list(tasks)
    queue = Counter(t.status.value for t in tasks)
    finished = [t for t in tasks if t.status in FINISHED and t.end_time is not None
                and t.end_time >= since and t.start_time is not None]
    per_skill: dict[str, dict[str, Any]] = {}
    by_skill: dict[str, list[TaskRecord]] = defaultdict(list)
    for t in finished:
        by_skill[t.skill_name].append(t)
    for skill, items in sorted(by_skill.items()):
        durations = [t.duration_s or 0.0 for t in items]
        done = [t for t in items if t.status == Status.COMPLETED]
        busy = sum(t.duration_s or 0.0 for t in done)
        points = sum(t.processed_points for t in done)
        failed = sum(t.status == Status.FAILED for t in items)
        per_skill[skill] = {
            "finished": len(items),
            "completed": len(done),
            "failed": failed,
            "failure_rate": round(failed / len(items), 4),
            "avg_duration_s": round(sum(durations) / len(durations), 3),
            "p95_duration_s": round(percentile(durations, 95) or 0.0, 3),
            "points_per_second": round(points / busy, 1) if busy > 0 else None,
            "peak_memory_mb": max((t.peak_memory_mb or 0.0 for t in items), default=None),
        }
    failed_total = sum(t.status == Status.FAILED for t in finished)
    buckets: dict[str, dict[str, int]] = {}
    span = timedelta(minutes=bucket_minutes)
    for t in finished:
        assert t.end_time is not None
        offset = (t.end_time - since) // span
        key = (since + offset * span).isoformat().replace("+00:00", "Z")
        b = buckets.setdefault(key, {"completed": 0, "failed": 0, "points": 0})
        b["completed" if t.status == Status.COMPLETED else "failed"] += 1
        b["points"] += t.processed_points
    return {
        "window_hours": hours,
        "queue": {s.value: queue.get(s.value, 0) for s in Status},
        "finished": len(finished),
        "tasks_per_minute": round(len(finished) / (hours * 60), 4),
        "failure_rate": round(failed_total / len(finished), 4) if finished else 0.0,
        "per_skill": per_skill,
        "series": [{"start": k, **v} for k, v in sorted(buckets.items())],
    }


def format_metrics(m: dict[str, Any]) -> str:
    q = m["queue"]
    lines = [
        f"queue: {q['pending']} pending, {q['running']} running, {q['paused']} paused, "
        f"{q['failed']} failed, {q['interrupted']} interrupted",
        f"last {m['window_hours']:g} h: {m['finished']} finished, "
        f"{m['tasks_per_minute']:.3f} tasks/min, failure rate {m['failure_rate']:.1%}",
        f"{'SKILL':<22}{'DONE':>6}{'FAILED':>8}{'AVG s':>9}{'P95 s':>9}{'POINTS/s':>12}",
    ]
    for skill, s in m["per_skill"].items():
        pps = f"{s['points_per_second']:,.0f}" if s["points_per_second"] else "-"
        lines.append(f"{skill:<22}{s['completed']:>6}{s['failed']:>8}"
                     f"{s['avg_duration_s']:>9.2f}{s['p95_duration_s']:>9.2f}{pps:>12}")
    return "\n".join(lines)
