"""The skills as the engine runs them: worker processes speaking the protocol."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.skills.chain import SPECS, connect, new_db, run_skill
from tests.skills.helpers import T0, cat, insert, line, stay
from trackdesk.skills import stay_detection
from trackdesk.worker import EXIT_COMPLETED, EXIT_USAGE, StopRequested, WorkerContext

ROOT = Path(__file__).resolve().parents[2]


def _db(tmp_path: Path) -> Path:
    path = new_db(tmp_path / "tracks.db")
    conn = connect(path)
    insert(conn, *cat(stay(T0, 1200, 3), line(T0 + 1200, 600, 2, 1.4),
                      stay(T0 + 1800, 1200, 3, east=840)))
    conn.close()
    return path


def _worker(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "trackdesk.skills", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_a_skill_runs_as_a_worker_and_reports_progress_and_result(tmp_path: Path) -> None:
    path = _db(tmp_path)
    res = _worker("outlier_detection", "--task-id", "7", "--db-path", str(path),
                  "--task-type", "FULL_RECOMPUTE")
    assert res.returncode == EXIT_COMPLETED, res.stderr
    msgs = [json.loads(x) for x in res.stdout.splitlines()]
    assert msgs[-1]["type"] == "result" and msgs[-1]["summary"]["mode"] == "full"
    progress = [m for m in msgs if m["type"] == "progress"]
    assert progress[-1]["processed"] == progress[-1]["total"] == 1200 // 3 + 300 + 400
    res = _worker("stay_detection", "--task-id", "8", "--db-path", str(path),
                  "--params", json.dumps({"dist_threshold_m": 80}))
    assert res.returncode == EXIT_COMPLETED, res.stderr


def test_bad_parameters_are_refused_before_anything_runs(tmp_path: Path) -> None:
    path = _db(tmp_path)
    res = _worker("stay_detection", "--task-id", "1", "--db-path", str(path),
                  "--params", json.dumps({"dist_threshold_m": -5}))
    assert res.returncode == EXIT_USAGE
    assert "below its minimum" in res.stdout


def test_a_stop_request_rolls_the_run_back_whole(tmp_path: Path) -> None:
    path = _db(tmp_path)
    run_skill(path, "outlier_detection")
    ctx = WorkerContext("stay_detection", 1, str(path), "FULL_RECOMPUTE",
                        SPECS["stay_detection"].validate_params({}), out=io.StringIO())
    ctx.request_stop()
    with pytest.raises(StopRequested):
        stay_detection.run(ctx)
    conn = connect(path)
    assert conn.execute("SELECT COUNT(*) FROM stay_detections").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM skill_state WHERE skill = 'stay_detection'"
                        ).fetchone()[0] == 0
    conn.close()
    # The next run starts from scratch and completes.
    assert run_skill(path, "stay_detection")["stays"] == 2


def test_changed_parameters_make_an_incremental_run_a_full_one(tmp_path: Path) -> None:
    path = _db(tmp_path)
    for name in ("outlier_detection", "trajectory_completion", "transport_mode"):
        run_skill(path, name)
    run_skill(path, "stay_detection")
    out = run_skill(path, "stay_detection", "INCREMENTAL", {"dist_threshold_m": 90.0})
    assert out["mode"] == "full" and "parameters" in out["reason"]
