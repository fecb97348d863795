"""tracks.db: migrations, models, and files that are not a tracks.db."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import inspect

from tests.engine.conftest import worker_registry
from trackdesk.engine.engine import Engine
from trackdesk.engine.store import TaskStore
from trackdesk.tracks.db import NotATracksDb, open_db
from trackdesk.tracks.migrations import MIGRATIONS, Migration, migrate
from trackdesk.tracks.schema import Base

ORIGINAL_COLUMNS = {
    "id", "skill_name", "task_type", "status", "progress_percent", "eta_seconds",
    "params_json", "threshold_profile_id", "total_points", "processed_points",
    "failed_points", "start_time", "end_time", "result_summary", "error_message",
    "depends_on_task_ids", "blocks_task_ids", "created_by", "created_at", "updated_at",
}


def test_migrations_build_every_column_the_models_use(tmp_path):
    engine = open_db(tmp_path / "tracks.db")
    insp = inspect(engine)
    for table in Base.metadata.sorted_tables:
        have = {c["name"] for c in insp.get_columns(table.name)}
        want = {c.name for c in table.columns}
        assert want <= have, f"{table.name} lacks {want - have}"


def test_analysis_tasks_keeps_every_original_column_name(tmp_path):
    engine = open_db(tmp_path / "tracks.db")
    have = {c["name"] for c in inspect(engine).get_columns("analysis_tasks")}
    assert ORIGINAL_COLUMNS <= have


def test_points_table_has_the_minimal_columns(tmp_path):
    engine = open_db(tmp_path / "tracks.db")
    have = {c["name"] for c in inspect(engine).get_columns("points")}
    assert {"id", "ts", "lat", "lon", "altitude", "speed", "accuracy", "heading",
            "source"} <= have


def test_an_old_tracks_db_is_upgraded_in_place_with_nothing_lost(tmp_path):
    path = tmp_path / "tracks.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:1])
    conn.execute("INSERT INTO points (ts, lat, lon) VALUES (1.5, 46.0, 14.5)")
    conn.close()
    extra = Migration(max(m.version for m in MIGRATIONS) + 1, "test step",
                      lambda c: c.execute("CREATE TABLE later_step (x INTEGER)"))
    conn = sqlite3.connect(path, isolation_level=None)
    applied = migrate(conn, [*MIGRATIONS, extra])
    assert applied[-1] == extra.version
    assert conn.execute("SELECT ts, lat, lon FROM points").fetchall() == [(1.5, 46.0, 14.5)]
    assert migrate(conn, [*MIGRATIONS, extra]) == []  # idempotent


def test_a_failed_migration_step_leaves_the_database_as_it_was(tmp_path):
    path = tmp_path / "tracks.db"
    open_db(path).dispose()

    def broken(c):
        c.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("boom")

    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(RuntimeError):
        migrate(conn, [*MIGRATIONS, Migration(999, "broken", broken)])
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "half_done" not in tables


def test_a_file_that_is_not_a_tracks_db_is_refused_unchanged(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a database\n" * 20)
    before = path.read_bytes()
    with pytest.raises(NotATracksDb, match="not a tracks.db"):
        TaskStore(path)
    assert path.read_bytes() == before


def test_a_newer_schema_than_this_trackdesk_knows_is_refused(tmp_path):
    path = tmp_path / "tracks.db"
    open_db(path).dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO schema_migrations VALUES (9999, 'future', '2030-01-01')")
    conn.close()
    with pytest.raises(NotATracksDb, match="newer than this trackdesk knows"):
        open_db(path)


def test_a_failed_progress_write_leaves_nothing_half_written(tmp_path):
    store = TaskStore(tmp_path / "tracks.db")
    try:
        [rec] = store.insert_tasks([Engine.new_record(worker_registry(), "noop")])
        # The log line names a task that does not exist: the whole batch must fail.
        with pytest.raises(sqlite3.IntegrityError):
            store.write_batch({rec.id: {"processed_points": 5}},
                              [(rec.id + 1000, 1.0, "engine", "info", "orphan")])
        assert store.load(rec.id).processed_points == 0
        assert store.read_log(rec.id) == []
        # ...and the next write goes through: no transaction was left open.
        store.write_batch({rec.id: {"processed_points": 7}},
                          [(rec.id, 2.0, "engine", "info", "hello")])
        assert store.load(rec.id).processed_points == 7
        assert [r.message for r in store.read_log(rec.id)] == ["hello"]
    finally:
        store.close()


def test_every_field_of_a_task_comes_back_as_written_when_the_db_opens(tmp_path):
    from datetime import UTC, datetime

    from trackdesk.engine.states import Status

    store = TaskStore(tmp_path / "tracks.db")
    try:
        [up] = store.insert_tasks([Engine.new_record(worker_registry(), "noop")])
        rec = Engine.new_record(worker_registry(), "count", params={"n": 5, "key": "é"})
        rec.depends_on_task_ids = [up.id]
        rec.retry_delays = [1.5, 30.0]
        rec.max_retries, rec.timeout_s, rec.priority = 2, 90.0, 3
        [saved] = store.insert_tasks([rec])
        t0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
        store.update_many({saved.id: {
            "status": Status.FAILED.value, "start_time": t0.replace(tzinfo=None),
            "end_time": t0.replace(tzinfo=None, second=7), "processed_points": 4,
            "failed_points": 1, "result_summary": '{"stays": 3}', "error_message": "boom",
            "heartbeat_at": t0.replace(tzinfo=None), "next_attempt_at": 1.7e9,
            "peak_memory_mb": 12.5, "chain_run_id": "run-1", "failure_kind": "skill"}})
        by_orm = store.load(saved.id)  # one task read on its own
        opened = {t.id: t for t in store.load_all()}
        assert opened[saved.id] == by_orm
        assert opened[up.id].blocks_task_ids == [saved.id]
        got = opened[saved.id]
        assert (got.status, got.start_time, got.result_summary, got.params["key"],
                got.retry_delays) == (Status.FAILED, t0, {"stays": 3}, "é", [1.5, 30.0])
        assert store.load_after(up.id) == [by_orm]
    finally:
        store.close()
