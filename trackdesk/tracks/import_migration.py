"""Migration 2 (import): the dedupe key, the import log, and adopting a 一生足迹 table.

Kept apart from :mod:`trackdesk.tracks.migrations` because it is Python, not one SQL
script: the legacy rows go through the very same normalisation as a CSV import of the same
export, so importing that export later finds every point already there.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter

LEGACY_TABLE = "一生足迹"
LEGACY_COLUMNS = ("dataTime", "locType", "longitude", "latitude", "heading", "accuracy",
                  "speed", "distance", "isBackForeground", "stepType", "altitude")
LEGACY_FORMAT = "lifetime-footprint-table"

V2_SQL = (
    """CREATE TABLE import_files (
        id INTEGER PRIMARY KEY,
        task_id INTEGER,
        path TEXT NOT NULL,
        member TEXT NOT NULL DEFAULT '',
        format VARCHAR(40) NOT NULL,
        size INTEGER,
        mtime FLOAT,
        status VARCHAR(20) NOT NULL,
        points_read INTEGER NOT NULL DEFAULT 0,
        points_new INTEGER NOT NULL DEFAULT 0,
        points_duplicate INTEGER NOT NULL DEFAULT 0,
        points_rejected INTEGER NOT NULL DEFAULT 0,
        rejected_json TEXT NOT NULL DEFAULT '{}',
        error TEXT,
        first_ts FLOAT,
        last_ts FLOAT,
        started_at FLOAT NOT NULL,
        finished_at FLOAT
    )""",
    "CREATE INDEX ix_import_files_path ON import_files (path, member)",
    # Provenance of each point: the import that first brought it in.
    "ALTER TABLE points ADD COLUMN import_file_id INTEGER",
    # Rows a unique key would refuse, set aside (never deleted) before the key is built.
    """CREATE TABLE points_set_aside (
        id INTEGER PRIMARY KEY, ts FLOAT, lat FLOAT, lon FLOAT, altitude FLOAT, speed FLOAT,
        accuracy FLOAT, heading FLOAT, source TEXT, reason TEXT NOT NULL)""",
)


def apply_v2(conn: sqlite3.Connection) -> None:
    for statement in V2_SQL:
        conn.execute(statement)
    # Points imported before this step may repeat; the copies (never the first one) move
    # to points_set_aside so the unique key can be built and nothing is lost.
    conn.execute(
        "INSERT INTO points_set_aside (id, ts, lat, lon, altitude, speed, accuracy, heading, "
        "source, reason) SELECT id, ts, lat, lon, altitude, speed, accuracy, heading, source, "
        "'duplicate found by migration 2' FROM points WHERE id NOT IN "
        "(SELECT MIN(id) FROM points GROUP BY ts, lat, lon)")
    conn.execute("DELETE FROM points WHERE id IN (SELECT id FROM points_set_aside)")
    # The dedupe key. Its leading column is ts, so it also serves every time-range query
    # and the old ts index only cost a second index update per inserted point: dropped.
    conn.execute("CREATE UNIQUE INDEX ux_points_key ON points (ts, lat, lon)")
    conn.execute("DROP INDEX IF EXISTS ix_points_ts")
    adopt_legacy_table(conn)


def _legacy_columns(conn: sqlite3.Connection) -> dict[str, str] | None:
    row = conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name=?",
                       (LEGACY_TABLE,)).fetchone()
    if row is None:
        return None
    cols = {r[1].lower(): r[1] for r in conn.execute(f'PRAGMA table_info("{LEGACY_TABLE}")')}
    if not all(c.lower() in cols for c in ("dataTime", "longitude", "latitude")):
        return None
    return cols


def adopt_legacy_table(conn: sqlite3.Connection, task_id: int | None = None) -> dict | None:
    """Copy the rows of a ``一生足迹`` table into ``points`` (the table is only read).

    Returns the counts, or None when there is no such table. Safe to run again: the
    dedupe key makes a second pass add nothing.
    """
    # Imported lazily: base pulls in nothing heavy, but migrations run in every process.
    from trackdesk.tracks.lifetime import legacy_point

    cols = _legacy_columns(conn)
    if cols is None:
        return None
    wanted = [cols.get(c.lower()) for c in ("dataTime", "latitude", "longitude", "altitude",
                                            "speed", "accuracy", "heading")]
    select = ", ".join(f'"{c}"' if c else "NULL" for c in wanted)
    started = time.time()
    cur = conn.execute(
        "INSERT INTO import_files (task_id, path, member, format, status, started_at) "
        "VALUES (?, ?, '', ?, 'importing', ?)",
        (task_id, f"table {LEGACY_TABLE}", LEGACY_FORMAT, started))
    file_id = cur.lastrowid
    rejected: Counter[str] = Counter()
    read = new = 0
    first = last = None
    sql = ("INSERT OR IGNORE INTO points (ts, lat, lon, altitude, speed, accuracy, heading, "
           "source, import_file_id) VALUES (?, ?, ?, ?, ?, ?, ?, 'lifetime-footprint', ?)")
    rows = conn.execute(f'SELECT {select} FROM "{LEGACY_TABLE}" ORDER BY rowid')
    while True:
        chunk = rows.fetchmany(20_000)
        if not chunk:
            break
        batch = []
        for raw in chunk:
            read += 1
            point, reason = legacy_point(raw)
            if point is None:
                rejected[reason] += 1
                continue
            batch.append((*point, file_id))
            ts = point[0]
            first = ts if first is None or ts < first else first
            last = ts if last is None or ts > last else last
        before = conn.total_changes
        # A second cursor: the SELECT above is still being stepped.
        conn.cursor().executemany(sql, batch)
        new += conn.total_changes - before
    n_rejected = sum(rejected.values())
    conn.execute(
        "UPDATE import_files SET status='imported', points_read=?, points_new=?, "
        "points_duplicate=?, points_rejected=?, rejected_json=?, first_ts=?, last_ts=?, "
        "finished_at=? WHERE id=?",
        (read, new, read - new - n_rejected, n_rejected, json.dumps(dict(rejected)),
         first, last, time.time(), file_id))
    return {"read": read, "new": new, "duplicates": read - new - n_rejected,
            "rejected": dict(rejected)}
