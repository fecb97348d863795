"""SQLAlchemy 2.x models of the tracks.db tables the engine and the app read and write.

The tables themselves are made by :mod:`trackdesk.tracks.migrations` (versioned SQL), so
an old tracks.db is upgraded in place; a test checks these models match what the
migrations build.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class AnalysisTask(Base):
    """One analysis task: every column of the original schema, plus the engine's own."""

    __tablename__ = "analysis_tasks"

    # -- the original schema, names unchanged --
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    skill_name: Mapped[str] = mapped_column(String(100))
    task_type: Mapped[str] = mapped_column(String(20), default="INCREMENTAL")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    progress_percent: Mapped[float] = mapped_column(Float, default=0.0)
    eta_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    params_json: Mapped[str] = mapped_column(Text, default="{}")
    threshold_profile_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    total_points: Mapped[int] = mapped_column(Integer, default=0)
    processed_points: Mapped[int] = mapped_column(Integer, default=0)
    failed_points: Mapped[int] = mapped_column(Integer, default=0)
    start_time: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    result_summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    depends_on_task_ids: Mapped[str] = mapped_column(Text, default="[]")
    blocks_task_ids: Mapped[str] = mapped_column(Text, default="[]")
    created_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    # -- what the engine needs --
    priority: Mapped[int] = mapped_column(Integer, default=1)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_retries: Mapped[int] = mapped_column(Integer, default=0)
    retry_delays_json: Mapped[str] = mapped_column(Text, default="[]")
    next_attempt_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    timeout_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    launcher: Mapped[str] = mapped_column(String(20), default="local")
    worker_ref: Mapped[str | None] = mapped_column(Text, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    chain_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    failure_kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    batch_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    peak_memory_mb: Mapped[float | None] = mapped_column(Float, nullable=True)
    cpu_time_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Live resource use of the worker, sampled about once a second while it runs.
    cpu_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    memory_mb: Mapped[float | None] = mapped_column(Float, nullable=True)


class TaskArchive(Base):
    """Finished tasks moved out of analysis_tasks to keep the live table small."""

    __tablename__ = "task_archive"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    archived_at: Mapped[datetime] = mapped_column(DateTime)
    skill_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    end_time: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    task_json: Mapped[str] = mapped_column(Text)


class TaskLog(Base):
    """Log lines of a task: its worker's stderr and log messages, and engine notes."""

    __tablename__ = "task_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("analysis_tasks.id", ondelete="CASCADE"))
    ts: Mapped[float] = mapped_column(Float)
    stream: Mapped[str] = mapped_column(String(10))
    level: Mapped[str] = mapped_column(String(10), default="info")
    message: Mapped[str] = mapped_column(Text)


class TaskRequest(Base):
    """A request from another process (CLI, REST) for the engine that drives this db."""

    __tablename__ = "task_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(30))
    payload_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    handled_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    outcome: Mapped[str | None] = mapped_column(Text, nullable=True)


class ChainTemplate(Base):
    __tablename__ = "chain_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    document: Mapped[str] = mapped_column(Text)
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class ThresholdProfile(Base):
    __tablename__ = "threshold_profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    skill_name: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    params_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Point(Base):
    """A recorded location. Timestamps are UTC epoch seconds."""

    __tablename__ = "points"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    altitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    speed: Mapped[float | None] = mapped_column(Float, nullable=True)
    accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    heading: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str | None] = mapped_column(Text, nullable=True)
