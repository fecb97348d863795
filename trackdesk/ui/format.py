"""How task values read in the window: plain functions, no Qt, easy to test."""

from __future__ import annotations

from datetime import datetime

from trackdesk.engine.states import Status

STATUS_COLOURS: dict[Status, str] = {
    Status.PENDING: "#6b7280",
    Status.RUNNING: "#2563eb",
    Status.PAUSED: "#d97706",
    Status.COMPLETED: "#16a34a",
    Status.FAILED: "#dc2626",
    Status.CANCELLED: "#4b5563",
    Status.SKIPPED: "#8b5cf6",
    Status.INTERRUPTED: "#ea580c",
}

TASK_TYPE_LABELS = {"INCREMENTAL": "incremental", "FULL_RECOMPUTE": "full recompute"}


def count(n: int | None) -> str:
    """12345 -> '12,345' (thin grouping keeps long point counts readable)."""
    return "" if n is None else f"{n:,}"


def points(processed: int, total: int) -> str:
    if total:
        return f"{processed:,} / {total:,}"
    return f"{processed:,}" if processed else ""


def seconds(value: float | None) -> str:
    """A span as a person says it: '42 s', '3 min 05 s', '2 h 07 min', '3 d 4 h'."""
    if value is None:
        return ""
    s = int(round(value))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m:02d} min"
    d, h = divmod(h, 24)
    return f"{d} d {h} h"


def cpu_time(value: float) -> str:
    """CPU seconds: tenths below a second (most small tasks), else like ``seconds``."""
    return f"{value:.1f} s" if value < 1 else seconds(value)


def eta(status: Status, eta_seconds: float | None) -> str:
    """Only a running task has an ETA; until the engine trusts its rate, say so."""
    if status != Status.RUNNING:
        return ""
    return "estimating…" if eta_seconds is None else seconds(eta_seconds)


def local_time(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def short_time(value: datetime, now: datetime | None = None) -> str:
    """Local time, as short as it can be unambiguous: '14:02:07' today, 'Nov 21 14:02'
    this year, '2025-11-21' before."""
    local = value.astimezone()
    today = (now or datetime.now()).astimezone()
    if local.date() == today.date():
        return local.strftime("%H:%M:%S")
    if local.year == today.year:
        return local.strftime("%b %d %H:%M")
    return local.strftime("%Y-%m-%d")


def rate(points_per_second: float) -> str:
    if points_per_second >= 10_000:
        return f"{points_per_second / 1000:,.0f}k points/s"
    return f"{points_per_second:,.0f} points/s"
