"""Idempotent, atomic, reported: the import task's promises, and migration 2."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.tracks.conftest import CORPUS, count, new_db, points, run_import
from tests.tracks.test_formats import LIFETIME, T0, gpx, trkpts
from trackdesk.tracks.migrations import migrate

ROOT = Path(__file__).resolve().parents[2]


def test_importing_twice_adds_nothing(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "a.gpx"
    f.write_text(gpx(f"<trk><trkseg>{trkpts(50)}</trkseg></trk>"))
    first = run_import(db, [f])
    before = points(db)
    second = run_import(db, [f])
    assert first.summary["new"] == 50 and first.summary["duplicates"] == 0
    assert second.summary["new"] == 0 and second.summary["duplicates"] == 50
    assert points(db) == before


def test_overlapping_files_and_formats_add_each_point_once(db: Path, tmp_path: Path) -> None:
    a = tmp_path / "a.gpx"
    a.write_text(gpx(f"<trk><trkseg>{trkpts(30)}</trkseg></trk>"))
    b = tmp_path / "b.gpx"
    b.write_text(gpx(f"<trk><trkseg>{trkpts(30)[len(trkpts(10)):]}{trkpts(5, lat=47)}"
                     "</trkseg></trk>"))
    # The same first ten points again, as a CSV with epoch milliseconds.
    c = tmp_path / "c.csv"
    c.write_text("lat,lon,time\n" + "".join(
        f"{46.0 + i * 1e-4:.7f},14.5,{(T0 + i) * 1000}\n" for i in range(10)))
    out = run_import(db, [a, b, c])
    assert out.ok, out.error
    assert count(db) == 35
    assert out.summary["new"] == 35 and out.summary["duplicates"] == 30


def test_broken_file_leaves_nothing_and_the_good_ones_stay(db: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.gpx"
    good.write_text(gpx(f"<trk><trkseg>{trkpts(20)}</trkseg></trk>"))
    broken = tmp_path / "broken.gpx"
    text = gpx(f"<trk><trkseg>{trkpts(20, lat=47)}</trkseg></trk>")
    broken.write_text(text[: len(text) * 2 // 3])  # cut off part-way
    out = run_import(db, [broken, good], batch_size=5)
    # Partly failed: completed, and says so (issue 18); the broken file is listed.
    assert out.ok
    assert out.summary["status_reason"].startswith("completed with 1 of 2 file(s) not "
                                                   "imported")
    bad = out.summary["per_file"][0]
    assert bad["status"] == "failed" and "broken.gpx" in bad["error"]
    assert "line 2" in bad["error"] and "not well-formed GPX" in bad["error"]
    assert out.summary["new"] == 20  # what the good file brought is said too
    assert count(db) == 20 and all(r[1] < 47 for r in points(db))
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT path, status, error FROM import_files ORDER BY id").fetchall()
    assert [(Path(p).name, s) for p, s, _ in rows] == [("broken.gpx", "failed"),
                                                      ("good.gpx", "imported")]


def test_a_file_broken_after_many_batches_is_rolled_back(db: Path, tmp_path: Path) -> None:
    from trackdesk.tracks import worker
    from trackdesk.worker import WorkerContext

    f = tmp_path / "long.csv"
    rows = "".join(f"{46 + i * 1e-5:.7f},14,{T0 + i}\n" for i in range(5000))
    f.write_text("lat,lon,time\n" + rows + '46,"14,' + "x" * 10 + "\n")
    # csv reports the unterminated quote at the end: after 50 flushed batches of 100.
    import io

    buf = io.StringIO()
    ctx = WorkerContext("import", 1, str(db), params={"paths": json.dumps([str(f)]),
                                                      "gcj02": False},
                        batch_size=100, out=buf)
    try:
        worker.run(ctx)
        raise AssertionError("should fail")
    except Exception as exc:  # noqa: BLE001 - SkillError expected
        assert type(exc).__name__ == "SkillError"
        assert "long.csv" in str(exc) and "line 5002" in str(exc)
    assert count(db) == 0
    progress = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert any(m["type"] == "progress" for m in progress)


def test_summary_and_progress_messages(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_text(LIFETIME + f"{T0},1,14,46,-1,5,1,0,0,0,1\n-1,1,14,46,-1,5,1,0,0,0,1\n")
    out = run_import(db, [f, f])
    assert out.ok
    s = out.summary
    assert (s["new"], s["duplicates"], s["rejected"]) == (1, 0, 1)
    assert s["rejected_reasons"] == {"unknown time (dataTime -1)": 1}
    assert s["per_file"][0]["name"].endswith("a.csv")
    last = [m for m in out.messages if m["type"] == "progress"][-1]
    assert (last["processed"], last["total"], last["failed"]) == (2, 2, 1)


def test_worker_process_protocol(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "a.gpx"
    f.write_text(gpx(f"<trk><trkseg>{trkpts(3)}</trkseg></trk>"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    params = json.dumps({"paths": json.dumps([str(f)]), "gcj02": False})
    proc = subprocess.run(
        [sys.executable, "-m", "trackdesk.tracks.worker", "import", "--task-id", "7",
         "--db-path", str(db), "--params", params],
        capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    msgs = [json.loads(line) for line in proc.stdout.splitlines()]
    result = [m for m in msgs if m["type"] == "result"][0]["summary"]
    assert result["new"] == 3
    bad = subprocess.run(
        [sys.executable, "-m", "trackdesk.tracks.worker", "import", "--task-id", "8",
         "--db-path", str(db), "--params", json.dumps({"paths": json.dumps(["/nope.gpx"])})],
        capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 1
    err = [json.loads(line) for line in bad.stdout.splitlines()][-1]
    assert err == {"type": "error",
                   "message": "nothing to import: /nope.gpx: no such file or folder"}
    assert "Traceback" not in bad.stderr


def test_bad_paths_parameter_is_a_clear_error(db: Path) -> None:
    out = run_import(db, [])
    assert out.error == "nothing to import: no file or folder given"


def test_legacy_lifetime_table_becomes_points_and_stays_untouched(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute('CREATE TABLE "一生足迹" (dataTime INTEGER, locType INTEGER, '
                 "longitude REAL, latitude REAL, heading REAL, accuracy REAL, speed REAL, "
                 "distance REAL, isBackForeground INTEGER, stepType INTEGER, altitude REAL)")
    rows = [(T0 + i, 1, 116.39 + i * 1e-4, 39.9, -1, 10, 1.2, 0, 0, 0, 50)
            for i in range(100)] + [(-1, 1, 116, 39, -1, 10, 1, 0, 0, 0, 50),
                                    (T0, 1, 116.39, 39.9, -1, 10, 1.2, 0, 0, 0, 50)]
    conn.executemany('INSERT INTO "一生足迹" VALUES (?,?,?,?,?,?,?,?,?,?,?)', rows)
    conn.commit()
    original = conn.execute('SELECT * FROM "一生足迹" ORDER BY rowid').fetchall()
    conn.close()
    # Opened by trackdesk: the migrations run.
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    assert conn.execute('SELECT * FROM "一生足迹" ORDER BY rowid').fetchall() == original
    assert conn.execute("SELECT COUNT(*) FROM points").fetchone()[0] == 100
    rec = conn.execute("SELECT format, points_new, points_duplicate, points_rejected "
                       "FROM import_files").fetchone()
    assert rec == ("lifetime-footprint-table", 100, 1, 1)
    conn.close()
    # The same data exported to CSV and imported later adds nothing.
    f = tmp_path / "export.csv"
    f.write_text(LIFETIME + "".join(",".join(map(str, r)) + "\n" for r in rows[:100]))
    out = run_import(path, [f])
    assert out.ok and out.summary["new"] == 0 and out.summary["duplicates"] == 100


def test_migration_2_keeps_points_imported_before_it(tmp_path: Path) -> None:
    from trackdesk.tracks.migrations import MIGRATIONS

    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, [m for m in MIGRATIONS if m.version == 1])
    conn.executemany("INSERT INTO points (ts, lat, lon, source) VALUES (?, ?, ?, 'x')",
                     [(T0, 46, 14), (T0, 46, 14), (T0 + 1, 46, 14)])
    migrate(conn)
    assert conn.execute("SELECT COUNT(*) FROM points").fetchone()[0] == 2
    assert conn.execute("SELECT COUNT(*) FROM points_set_aside").fetchone()[0] == 1
    conn.close()


def test_every_corpus_file_imports_or_is_refused_clearly(tmp_path: Path) -> None:
    files = sorted(p for p in CORPUS.iterdir() if p.suffix == ".gpx")
    assert len(files) >= 25, f"corpus not found at {CORPUS}"
    for f in files:
        db = new_db(tmp_path / f"{f.stem}.db")
        out = run_import(db, [f])
        if out.ok:
            s = out.summary
            assert s["new"] + s["duplicates"] + s["rejected"] == s["points_read"], f.name
            assert count(db) == s["new"], f.name
        else:
            assert f.name in out.error and count(db) == 0, out.error
    # Files whose every point is refused say why: a reset clock, no times at all. Issue
    # 19: such a file keeps nothing, so it is not imported (it used to "complete" with 0
    # new points, which the CLI printed as a plain "completed").
    db = new_db(tmp_path / "m.db")
    out = run_import(db, [CORPUS / "Mojstrovka.gpx"])
    assert not out.ok
    assert ("all 184 points rejected — timestamp before 1980 or after 2200 (a reset "
            "clock): 184") in out.error


def test_stop_request_rolls_the_file_in_progress_back(db: Path, tmp_path: Path) -> None:
    import io

    import pytest

    from trackdesk.tracks import worker
    from trackdesk.worker import StopRequested, WorkerContext

    done = tmp_path / "a.gpx"
    done.write_text(gpx(f"<trk><trkseg>{trkpts(10)}</trkseg></trk>"))
    f = tmp_path / "b.csv"
    f.write_text("lat,lon,time\n" + "".join(f"47.{i:04d},14,{T0 + i}\n" for i in range(300)))
    buf = io.StringIO()
    ctx = WorkerContext("import", 1, str(db), params={
        "paths": json.dumps([str(done), str(f)]), "gcj02": False}, batch_size=50, out=buf)
    calls = {"n": 0}
    original = ctx.check_stop

    def stop_later() -> None:
        calls["n"] += 1
        if calls["n"] == 4:  # a.gpx committed; b.csv at its first batch
            ctx.request_stop()
        original()

    ctx.check_stop = stop_later  # type: ignore[method-assign]
    with pytest.raises(StopRequested):
        worker.run(ctx)
    assert count(db) == 10  # a.gpx committed, nothing of b.csv


def test_a_file_that_is_not_a_tracks_db_is_one_message(tmp_path: Path) -> None:
    bad = tmp_path / "tracks.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    f = tmp_path / "a.gpx"
    f.write_text(gpx(f"<trk><trkseg>{trkpts(3)}</trkseg></trk>"))
    out = run_import(bad, [f])
    assert not out.ok and out.error.startswith(f"cannot open tracks.db {bad}")
