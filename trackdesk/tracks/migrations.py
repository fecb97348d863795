"""Versioned schema migrations of tracks.db.

Each step is plain SQL run once, in order, inside one transaction, and recorded in
``schema_migrations``. Steps are never edited after they ship: a change is a new step,
so a tracks.db made by any older trackdesk opens with nothing lost.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sqlite3.Connection], None]


def _sql(script: str) -> Callable[[sqlite3.Connection], None]:
    def apply(conn: sqlite3.Connection) -> None:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)

    return apply


V1 = """
CREATE TABLE analysis_tasks (
    id INTEGER PRIMARY KEY,
    skill_name VARCHAR(100) NOT NULL,
    task_type VARCHAR(20) NOT NULL DEFAULT 'INCREMENTAL',
    status VARCHAR(20) NOT NULL DEFAULT 'pending',
    progress_percent FLOAT NOT NULL DEFAULT 0,
    eta_seconds FLOAT,
    params_json TEXT NOT NULL DEFAULT '{}',
    threshold_profile_id INTEGER,
    total_points INTEGER NOT NULL DEFAULT 0,
    processed_points INTEGER NOT NULL DEFAULT 0,
    failed_points INTEGER NOT NULL DEFAULT 0,
    start_time DATETIME,
    end_time DATETIME,
    result_summary TEXT,
    error_message TEXT,
    depends_on_task_ids TEXT NOT NULL DEFAULT '[]',
    blocks_task_ids TEXT NOT NULL DEFAULT '[]',
    created_by VARCHAR(100),
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    priority INTEGER NOT NULL DEFAULT 1,
    attempt INTEGER NOT NULL DEFAULT 0,
    max_retries INTEGER NOT NULL DEFAULT 0,
    retry_delays_json TEXT NOT NULL DEFAULT '[]',
    next_attempt_at FLOAT,
    timeout_s FLOAT,
    launcher VARCHAR(20) NOT NULL DEFAULT 'local',
    worker_ref TEXT,
    heartbeat_at DATETIME,
    chain_run_id VARCHAR(64),
    failure_kind VARCHAR(20),
    status_reason TEXT,
    batch_size INTEGER,
    peak_memory_mb FLOAT,
    cpu_time_s FLOAT
);
CREATE INDEX ix_analysis_tasks_status ON analysis_tasks (status);
CREATE INDEX ix_analysis_tasks_chain_run ON analysis_tasks (chain_run_id);
CREATE TABLE task_logs (
    id INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES analysis_tasks(id) ON DELETE CASCADE,
    ts FLOAT NOT NULL,
    stream VARCHAR(10) NOT NULL,
    level VARCHAR(10) NOT NULL DEFAULT 'info',
    message TEXT NOT NULL
);
CREATE INDEX ix_task_logs_task ON task_logs (task_id, id);
CREATE TABLE task_requests (
    id INTEGER PRIMARY KEY,
    task_id INTEGER,
    action VARCHAR(30) NOT NULL,
    payload_json TEXT NOT NULL DEFAULT '{}',
    created_at DATETIME NOT NULL,
    handled_at DATETIME,
    outcome TEXT
);
CREATE INDEX ix_task_requests_open ON task_requests (handled_at);
CREATE TABLE chain_templates (
    id INTEGER PRIMARY KEY,
    name VARCHAR(200) NOT NULL UNIQUE,
    version INTEGER NOT NULL DEFAULT 1,
    document TEXT NOT NULL,
    read_only BOOLEAN NOT NULL DEFAULT 0,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE TABLE threshold_profiles (
    id INTEGER PRIMARY KEY,
    skill_name VARCHAR(100) NOT NULL,
    name VARCHAR(200) NOT NULL,
    params_json TEXT NOT NULL DEFAULT '{}',
    created_at DATETIME NOT NULL,
    UNIQUE (skill_name, name)
);
CREATE TABLE points (
    id INTEGER PRIMARY KEY,
    ts FLOAT NOT NULL,
    lat FLOAT NOT NULL,
    lon FLOAT NOT NULL,
    altitude FLOAT,
    speed FLOAT,
    accuracy FLOAT,
    heading FLOAT,
    source TEXT
);
CREATE INDEX ix_points_ts ON points (ts)
"""

MIGRATIONS: list[Migration] = [
    Migration(1, "tasks, logs, requests, chain templates, profiles, points", _sql(V1)),
]


class NotATracksDb(Exception):
    """The file exists but is not an SQLite database trackdesk can use."""


def current_version(conn: sqlite3.Connection) -> int:
    row = conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
    ).fetchone()
    if row is None:
        return 0
    return int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
               .fetchone()[0])


def migrate(conn: sqlite3.Connection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply every pending step; returns the versions applied. Each step is atomic."""
    steps = MIGRATIONS if migrations is None else migrations
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
                     "applied_at DATETIME NOT NULL)")
    except sqlite3.DatabaseError as exc:
        raise NotATracksDb(str(exc)) from exc
    applied: list[int] = []
    have = current_version(conn)
    newest = max((m.version for m in steps), default=0)
    if have > newest:
        raise NotATracksDb(
            f"this tracks.db has schema version {have}, newer than this trackdesk knows "
            f"({newest}); update trackdesk to open it")
    for step in sorted(steps, key=lambda m: m.version):
        if step.version <= have:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            step.apply(conn)
            conn.execute(
                "INSERT INTO schema_migrations (version, description, applied_at) "
                "VALUES (?, ?, ?)",
                (step.version, step.description,
                 datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(step.version)
    return applied
