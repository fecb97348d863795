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

from trackdesk.tracks.import_migration import apply_v2


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

# Migration 2 (import, issue 4): the points dedupe key (ts, lat, lon), the import_files
# log, points.import_file_id, and adopting a legacy 一生足迹 table. Python rather than one
# SQL script: trackdesk/tracks/import_migration.py says why.
MIGRATIONS.append(Migration(2, "import: points dedupe key, import_files, 一生足迹 table",
                            apply_v2))


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
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    # Every step not recorded, in order: a database made while steps landed out of
    # order (a development build) still gets the one it missed.
    for step in sorted(steps, key=lambda m: m.version):
        if step.version in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        # Two processes opening a new tracks.db at once (two `chain run --wait`) both
        # saw the step missing; under the write lock, the one that comes second skips it.
        if conn.execute("SELECT 1 FROM schema_migrations WHERE version = ?",
                        (step.version,)).fetchone():
            conn.execute("COMMIT")
            continue
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


# -- 3: analysis results (issue 3, the nine skills; documented in docs/SKILLS.md) ---------
# Results are range or sparse tables keyed by time, never one row per point: a 1M-point
# chain writes thousands of rows. The point_analysis view joins them back onto points.
#
# point_analysis, one row per point (real or synthetic) with its analysis results. SQLite
# cannot ALTER a view: migration 7 drops and recreates it with a `tz` column, from this
# same text, so the two versions differ only by that column.
_TZ_POINT = """,
       (SELECT z.tz FROM tz_spans z WHERE z.start_ts <= p.ts ORDER BY z.start_ts DESC LIMIT 1)
         AS tz"""
_TZ_SYNTHETIC = """,
       (SELECT z.tz FROM tz_spans z WHERE z.start_ts <= sp.ts ORDER BY z.start_ts DESC LIMIT 1)"""


def _point_analysis_view(with_tz: bool) -> str:
    """The CREATE VIEW point_analysis statement, with the `tz` column from migration 7 on."""
    return """CREATE VIEW point_analysis AS
SELECT p.id AS point_id, p.ts AS ts, p.lat AS lat, p.lon AS lon,
       CASE WHEN o.point_id IS NULL THEN 0 ELSE 1 END AS is_outlier,
       0 AS is_synthetic,
       CASE WHEN o.point_id IS NULL THEN
         (SELECT CASE WHEN m.end_ts >= p.ts THEN m.mode END FROM mode_segments m
          WHERE m.start_ts <= p.ts ORDER BY m.start_ts DESC LIMIT 1) END AS transport_mode,
       CASE WHEN o.point_id IS NULL THEN
         (SELECT CASE WHEN s.end_ts >= p.ts THEN s.id END FROM stay_detections s
          WHERE s.start_ts <= p.ts ORDER BY s.start_ts DESC LIMIT 1) END AS stay_id,
       CASE WHEN o.point_id IS NULL THEN
         (SELECT CASE WHEN t.end_ts > p.ts THEN t.id END FROM trips t
          WHERE t.start_ts < p.ts ORDER BY t.start_ts DESC LIMIT 1) END AS trip_id,
       CASE WHEN o.point_id IS NULL THEN
         (SELECT CAST((p.lat + 90.0) / g.dlat_deg AS INTEGER) * 536870912
                 + MIN(CAST((p.lon + 180.0) / 360.0 * (b.n_cols << g.top_level) AS INTEGER),
                       (b.n_cols << g.top_level) - 1)
          FROM grid_params g JOIN grid_bands b
            ON b.band = (CAST((p.lat + 90.0) / g.dlat_deg AS INTEGER) >> g.top_level)) END
         AS grid_cell{tz_point}
FROM points p LEFT JOIN outlier_flags o ON o.point_id = p.id
UNION ALL
SELECT -sp.id, sp.ts, sp.lat, sp.lon, 0, 1,
       (SELECT CASE WHEN m.end_ts >= sp.ts THEN m.mode END FROM mode_segments m
        WHERE m.start_ts <= sp.ts ORDER BY m.start_ts DESC LIMIT 1),
       NULL,
       (SELECT CASE WHEN t.end_ts > sp.ts THEN t.id END FROM trips t
        WHERE t.start_ts < sp.ts ORDER BY t.start_ts DESC LIMIT 1),
       NULL{tz_synthetic}
FROM synthetic_points sp
""".format(tz_point=_TZ_POINT if with_tz else "",
           tz_synthetic=_TZ_SYNTHETIC if with_tz else "")


V3 = """
CREATE TABLE skill_state (
    skill VARCHAR(100) PRIMARY KEY,
    version VARCHAR(20) NOT NULL,
    params_json TEXT NOT NULL,
    point_watermark INTEGER NOT NULL DEFAULT 0,
    seen_change_id INTEGER NOT NULL DEFAULT 0,
    updated_at FLOAT
);
CREATE TABLE skill_changes (
    id INTEGER PRIMARY KEY,
    skill VARCHAR(100) NOT NULL,
    from_ts FLOAT NOT NULL,
    task_id INTEGER,
    created_at FLOAT
);
CREATE INDEX ix_skill_changes_skill ON skill_changes (skill, id);
CREATE TABLE point_cache (
    chunk INTEGER PRIMARY KEY,
    n INTEGER NOT NULL,
    max_id INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE outlier_flags (
    point_id INTEGER PRIMARY KEY,
    ts FLOAT NOT NULL,
    reasons INTEGER NOT NULL
);
CREATE INDEX ix_outlier_flags_ts ON outlier_flags (ts);
CREATE TABLE synthetic_points (
    id INTEGER PRIMARY KEY,
    ts FLOAT NOT NULL,
    lat FLOAT NOT NULL,
    lon FLOAT NOT NULL,
    prev_point_id INTEGER NOT NULL,
    next_point_id INTEGER NOT NULL
);
CREATE INDEX ix_synthetic_points_ts ON synthetic_points (ts);
CREATE TABLE mode_segments (
    id INTEGER PRIMARY KEY,
    start_ts FLOAT NOT NULL,
    end_ts FLOAT NOT NULL,
    mode VARCHAR(12) NOT NULL,
    n_points INTEGER NOT NULL,
    distance_m FLOAT NOT NULL,
    duration_s FLOAT NOT NULL,
    mean_speed_mps FLOAT NOT NULL,
    p85_speed_mps FLOAT NOT NULL,
    first_point_id INTEGER NOT NULL,
    last_point_id INTEGER NOT NULL
);
CREATE INDEX ix_mode_segments_start ON mode_segments (start_ts);
CREATE TABLE stay_detections (
    id INTEGER PRIMARY KEY,
    start_ts FLOAT NOT NULL,
    end_ts FLOAT NOT NULL,
    left_ts FLOAT,
    lat FLOAT NOT NULL,
    lon FLOAT NOT NULL,
    n_points INTEGER NOT NULL,
    first_point_id INTEGER NOT NULL,
    last_point_id INTEGER NOT NULL,
    radius_m FLOAT NOT NULL,
    is_open INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX ix_stay_detections_start ON stay_detections (start_ts);
CREATE TABLE place_stays (
    stay_id INTEGER PRIMARY KEY,
    place_id INTEGER NOT NULL
);
CREATE INDEX ix_place_stays_place ON place_stays (place_id);
CREATE TABLE places (
    id INTEGER PRIMARY KEY,
    lat FLOAT NOT NULL,
    lon FLOAT NOT NULL,
    n_visits INTEGER NOT NULL,
    total_dwell_s FLOAT NOT NULL,
    label VARCHAR(20),
    first_visit_ts FLOAT NOT NULL,
    last_visit_ts FLOAT NOT NULL,
    night_dwell_s FLOAT NOT NULL DEFAULT 0,
    work_dwell_s FLOAT NOT NULL DEFAULT 0,
    radius_m FLOAT NOT NULL DEFAULT 0
);
CREATE VIEW stays AS
SELECT s.id, s.start_ts, s.end_ts, s.lat, s.lon, s.n_points, ps.place_id,
       s.left_ts, s.first_point_id, s.last_point_id, s.radius_m, s.is_open
FROM stay_detections s LEFT JOIN place_stays ps ON ps.stay_id = s.id;
CREATE TABLE trips (
    id INTEGER PRIMARY KEY,
    start_ts FLOAT NOT NULL,
    end_ts FLOAT NOT NULL,
    origin_stay_id INTEGER,
    destination_stay_id INTEGER,
    distance_m FLOAT NOT NULL,
    main_mode VARCHAR(12),
    duration_s FLOAT NOT NULL,
    n_points INTEGER NOT NULL,
    mode_distances_json TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX ix_trips_start ON trips (start_ts);
CREATE TABLE grid_params (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    cell_size_m FLOAT NOT NULL,
    dlat_deg FLOAT NOT NULL,
    top_level INTEGER NOT NULL
);
CREATE TABLE grid_bands (
    band INTEGER PRIMARY KEY,
    n_cols INTEGER NOT NULL
);
CREATE TABLE grid_cell_days (
    cell_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    level INTEGER NOT NULL,
    n_points INTEGER NOT NULL,
    first_ts FLOAT NOT NULL,
    last_ts FLOAT NOT NULL,
    PRIMARY KEY (cell_id, day)
) WITHOUT ROWID;
CREATE INDEX ix_grid_cell_days_day ON grid_cell_days (day);
CREATE TABLE grid_cells (
    cell_id INTEGER PRIMARY KEY,
    level INTEGER NOT NULL,
    row INTEGER NOT NULL,
    col INTEGER NOT NULL,
    lat FLOAT NOT NULL,
    lon FLOAT NOT NULL,
    n_points INTEGER NOT NULL,
    n_days INTEGER NOT NULL,
    first_ts FLOAT NOT NULL,
    last_ts FLOAT NOT NULL
);
CREATE INDEX ix_grid_cells_level ON grid_cells (level);
CREATE TABLE footprint_days (
    day VARCHAR(10) PRIMARY KEY,
    start_ts FLOAT NOT NULL,
    n_points INTEGER NOT NULL,
    n_cells INTEGER NOT NULL,
    area_km2 FLOAT NOT NULL,
    distance_m FLOAT NOT NULL,
    moving_s FLOAT NOT NULL
);
CREATE TABLE footprint_day_modes (
    day VARCHAR(10) NOT NULL,
    mode VARCHAR(12) NOT NULL,
    distance_m FLOAT NOT NULL,
    duration_s FLOAT NOT NULL,
    PRIMARY KEY (day, mode)
) WITHOUT ROWID;
CREATE TABLE footprint_day_cells (
    day VARCHAR(10) NOT NULL,
    cell_id INTEGER NOT NULL,
    PRIMARY KEY (day, cell_id)
) WITHOUT ROWID;
CREATE TABLE footprint_periods (
    period_type VARCHAR(5) NOT NULL,
    period VARCHAR(10) NOT NULL,
    days_with_data INTEGER NOT NULL,
    n_points INTEGER NOT NULL,
    n_cells INTEGER NOT NULL,
    area_km2 FLOAT NOT NULL,
    distance_m FLOAT NOT NULL,
    moving_s FLOAT NOT NULL,
    PRIMARY KEY (period_type, period)
) WITHOUT ROWID;
CREATE TABLE footprint_period_modes (
    period_type VARCHAR(5) NOT NULL,
    period VARCHAR(10) NOT NULL,
    mode VARCHAR(12) NOT NULL,
    distance_m FLOAT NOT NULL,
    duration_s FLOAT NOT NULL,
    PRIMARY KEY (period_type, period, mode)
) WITHOUT ROWID;
CREATE TABLE footprint_summary (
    key VARCHAR(50) PRIMARY KEY,
    value FLOAT,
    text TEXT
);
CREATE TABLE render_days (
    day INTEGER PRIMARY KEY,
    n_points INTEGER NOT NULL,
    min_lat FLOAT NOT NULL,
    max_lat FLOAT NOT NULL,
    min_lon FLOAT NOT NULL,
    max_lon FLOAT NOT NULL
);
CREATE TABLE render_tracks (
    zoom INTEGER NOT NULL,
    day INTEGER NOT NULL,
    n_points INTEGER NOT NULL,
    coords BLOB NOT NULL,
    PRIMARY KEY (zoom, day)
) WITHOUT ROWID;
CREATE TABLE render_zooms (
    zoom INTEGER PRIMARY KEY,
    grid_level INTEGER NOT NULL,
    tolerance_m FLOAT NOT NULL,
    n_points INTEGER NOT NULL
);
CREATE VIEW render_bounds AS
SELECT MIN(min_lat) AS min_lat, MAX(max_lat) AS max_lat, MIN(min_lon) AS min_lon,
       MAX(max_lon) AS max_lon, SUM(n_points) AS n_points FROM render_days;
""" + _point_analysis_view(with_tz=False)

MIGRATIONS.append(Migration(3, "analysis results: outliers, synthetic points, modes, stays, "
                               "trips, grid, footprint, places, rendering; point_analysis view",
                            _sql(V3)))

V4 = """
ALTER TABLE analysis_tasks ADD COLUMN cpu_percent FLOAT;
ALTER TABLE analysis_tasks ADD COLUMN memory_mb FLOAT;
CREATE TABLE task_archive (
    id INTEGER PRIMARY KEY,
    archived_at DATETIME NOT NULL,
    skill_name VARCHAR(100) NOT NULL,
    status VARCHAR(20) NOT NULL,
    end_time DATETIME,
    task_json TEXT NOT NULL
);
CREATE INDEX ix_analysis_tasks_end_time ON analysis_tasks (end_time)
"""

MIGRATIONS.append(Migration(4, "task resources (cpu, memory), task archive", _sql(V4)))

# The shared annotations table: migrations 5, 6 and 7 each create it IF NOT EXISTS (whichever
# of them runs first on a database), from this one text.
ANNOTATIONS_DDL = """
CREATE TABLE IF NOT EXISTS annotations (
    id INTEGER PRIMARY KEY,
    start_ts REAL NOT NULL, end_ts REAL NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    raw TEXT,
    source TEXT NOT NULL,
    lat REAL, lon REAL, place_id TEXT,
    import_file_id INTEGER,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_annotations_time ON annotations (start_ts, end_ts)
"""

V5 = ANNOTATIONS_DDL

MIGRATIONS.append(Migration(5, "annotations: what the files know (activities, places, "
                               "semantic types) by time range", _sql(V5)))

# Migration 8 (engine, issues 17/18): every attempt of a task (a run of its worker) as it
# ended, retries included. A rerun reuses the task's id; its earlier runs stay here, and a
# rerun cancelled or skipped before it ran puts the completed one back from here.
V8 = """
CREATE TABLE IF NOT EXISTS task_attempts (
    id INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES analysis_tasks(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    task_type VARCHAR(20),
    launcher VARCHAR(20),
    started_at DATETIME,
    ended_at DATETIME NOT NULL,
    outcome VARCHAR(20) NOT NULL,
    exit_reason TEXT,
    error TEXT,
    processed_points INTEGER,
    failed_points INTEGER,
    total_points INTEGER,
    progress_percent FLOAT,
    peak_memory_mb FLOAT,
    cpu_time_s FLOAT,
    result_summary TEXT,
    UNIQUE (task_id, attempt)
)
"""

MIGRATIONS.append(Migration(8, "task_attempts: every run of a task, kept across reruns",
                            _sql(V8)))


# -- 7: place names, countries, time zones (issue 21; docs/VIEWS.md, docs/SKILLS.md) -------
# places gain their name (user's data first, else the gazetteer), locality and ISO alpha-2
# country; tz_spans holds where the IANA zone changes and point_analysis gains `tz` from it
# (spans, not a row per point). annotations is the shared table of the user's own labels.
V7 = """
ALTER TABLE places ADD COLUMN name TEXT;
ALTER TABLE places ADD COLUMN locality TEXT;
ALTER TABLE places ADD COLUMN country_code VARCHAR(2);
""" + ANNOTATIONS_DDL + """;
CREATE TABLE tz_spans (
    start_ts FLOAT PRIMARY KEY,
    tz VARCHAR(64) NOT NULL
);
DROP VIEW point_analysis;
""" + _point_analysis_view(with_tz=True)

MIGRATIONS.append(Migration(7, "place names, locality, country; annotations; tz_spans and "
                               "point_analysis.tz", _sql(V7)))


# Migration 6 (issue 20): the user's corrections, non-destructive and undoable, and the
# shared annotations table (the same DDL as migration 5's, IF NOT EXISTS: whichever runs
# first creates it). skill_inputs remembers, per skill, a fingerprint of the labels and
# corrections its last run used: a change forces that skill's next run to recompute in
# full, so INCREMENTAL still equals FULL_RECOMPUTE after an edit.
V6 = ANNOTATIONS_DDL + """;
CREATE TABLE IF NOT EXISTS corrections (
    id INTEGER PRIMARY KEY,
    created_at REAL NOT NULL,
    author TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_ts REAL,
    end_ts REAL,
    value TEXT,
    target_ids TEXT,
    note TEXT,
    undone_at REAL
);
CREATE INDEX IF NOT EXISTS ix_corrections_kind ON corrections (kind, start_ts);
CREATE TABLE IF NOT EXISTS skill_inputs (
    skill VARCHAR(100) PRIMARY KEY,
    fingerprint TEXT NOT NULL
)
"""

MIGRATIONS.append(Migration(6, "corrections, annotations, skill input fingerprints",
                            _sql(V6)))
