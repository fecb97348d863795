"""The CLI contract: spelling, JSON field names, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from trackdesk.engine.store import TaskStore

ENV = {**os.environ, "TRACKDESK_SKILL_MODULES": "tests.engine.workers"}


def cli(*args: str, db=None, check: bool = False) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "trackdesk"]
    if db is not None:
        argv += ["--db", str(db)]
    out = subprocess.run([*argv, *args], capture_output=True, text=True, env=ENV, timeout=120)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def one_clear_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_create_list_and_show_use_the_original_field_names(tmp_path):
    db = tmp_path / "tracks.db"
    made = json.loads(cli("tasks", "create", "count", "--param", "n=5", "--priority", "high",
                          "--json", db=db, check=True).stdout)
    for key in ("id", "skill_name", "task_type", "status", "progress_percent",
                "processed_points", "total_points", "failed_points", "eta_seconds",
                "error_message", "result_summary", "depends_on_task_ids", "params_json",
                "start_time", "created_at", "updated_at"):
        assert key in made
    assert made["status"] == "pending" and made["priority"] == "high"
    assert json.loads(made["params_json"])["n"] == 5
    second = json.loads(cli("tasks", "create", "count", "--depends-on", str(made["id"]),
                            "--json", db=db, check=True).stdout)
    listed = json.loads(cli("tasks", "list", "--json", db=db, check=True).stdout)
    assert [t["id"] for t in listed] == [made["id"], second["id"]]
    assert listed[0]["blocks_task_ids"] == [second["id"]]
    shown = json.loads(cli("tasks", "show", str(second["id"]), "--json", db=db,
                           check=True).stdout)
    assert shown["depends_on_task_ids"] == [made["id"]]
    assert json.loads(cli("tasks", "list", "--status", "failed", "--json", db=db,
                          check=True).stdout) == []


@pytest.mark.parametrize("args,message", [
    (("tasks", "create", "no_such_skill"), "unknown skill 'no_such_skill'"),
    (("tasks", "create", "count", "--param", "n=-4"), "below its minimum"),
    (("tasks", "create", "count", "--param", "n=lots"), "must be a whole number"),
    (("tasks", "create", "count", "--param", "nope=1"), "has no parameter 'nope'"),
    (("tasks", "create", "count", "--depends-on", "999"), "no task with id 999"),
    (("tasks", "show", "999"), "no task with id 999"),
    (("tasks", "cancel", "999"), "no task with id 999"),
    (("chain", "run", "nope"), "no chain template named 'nope'"),
])
def test_bad_input_gets_one_clear_line_exit_2_and_changes_nothing(tmp_path, args, message):
    db = tmp_path / "tracks.db"
    TaskStore(db).close()  # an existing, empty tracks.db (a read command creates none)
    before = TaskStore(db).load_all()
    out = cli(*args, db=db)
    assert out.returncode == 2
    assert message in one_clear_line(out.stderr)
    assert TaskStore(db).load_all() == before


def test_a_file_that_is_not_a_tracks_db_gets_one_line(tmp_path):
    bogus = tmp_path / "photo.jpg"
    bogus.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 2000)
    out = cli("tasks", "list", db=bogus)
    assert out.returncode == 2
    assert "not a tracks.db" in one_clear_line(out.stderr)
    assert bogus.read_bytes() == b"\xff\xd8\xff\xe0" + b"\x00" * 2000


def test_usage_errors_exit_2():
    assert cli("tasks", "frobnicate").returncode == 2
    assert cli("tasks", "create", "count", "--type", "SOMETIMES").returncode == 2


def _chain(db, name, fail=False):
    from trackdesk.engine.chains import Chain, Node

    chain = Chain(name, [Node("a", "count", {"n": 5, "key": f"{name}a"}),
                         Node("b", "count", {"n": 5, "key": f"{name}b",
                                             "fail_at": 2 if fail else -1}),
                         Node("c", "count", {"n": 5, "key": f"{name}c"})],
                  [("a", "b"), ("b", "c")])
    store = TaskStore(db)
    store.save_template(name, chain.to_document())
    store.close()


def test_chain_run_wait_exits_0_when_everything_completed(tmp_path):
    db = tmp_path / "tracks.db"
    _chain(db, "ok")
    out = cli("chain", "run", "ok", "--wait", db=db)
    assert out.returncode == 0, out.stderr
    tasks = TaskStore(db).load_all()
    assert [t.status.value for t in tasks] == ["completed"] * 3
    assert len({t.chain_run_id for t in tasks}) == 1
    assert tasks[1].depends_on_task_ids == [tasks[0].id]


def test_chain_run_wait_exits_1_when_a_task_failed_or_was_skipped(tmp_path):
    db = tmp_path / "tracks.db"
    _chain(db, "bad", fail=True)
    out = cli("chain", "run", "bad", "--wait", db=db)
    assert out.returncode == 1
    assert [t.status.value for t in TaskStore(db).load_all()] == [
        "completed", "failed", "skipped"]
    assert "bad point at 2" in out.stderr


def test_queued_tasks_run_with_run_until_idle_and_controls_act_without_an_app(tmp_path):
    db = tmp_path / "tracks.db"
    a = json.loads(cli("tasks", "create", "count", "--param", "n=3", "--json", db=db,
                       check=True).stdout)["id"]
    b = json.loads(cli("tasks", "create", "count", "--param", "n=3", "--param", "key=z",
                       "--json", db=db, check=True).stdout)["id"]
    cli("tasks", "pause", str(b), db=db, check=True)
    cli("run", "--until-idle", db=db, check=True)
    tasks = {t.id: t for t in TaskStore(db).load_all()}
    assert tasks[a].status.value == "completed" and tasks[b].status.value == "paused"
    cli("tasks", "cancel", str(b), db=db, check=True)
    assert TaskStore(db).load(b).status.value == "cancelled"
    cli("tasks", "rerun", str(b), "--full", db=db, check=True)
    rerun = TaskStore(db).load(b)
    assert rerun.status.value == "pending" and rerun.task_type == "FULL_RECOMPUTE"


def test_controls_reach_a_running_engine_through_the_database(tmp_path):
    db = tmp_path / "tracks.db"
    t = json.loads(cli("tasks", "create", "count", "--param", "n=100000", "--param",
                       "batch=1", "--param", "sleep_s=0.02", "--json", db=db,
                       check=True).stdout)["id"]
    engine = subprocess.Popen([sys.executable, "-m", "trackdesk", "--db", str(db), "run"],
                              env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        import time

        deadline = time.monotonic() + 30
        while TaskStore(db).load(t).status.value != "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        out = cli("tasks", "cancel", str(t), db=db)
        assert out.returncode == 0, out.stderr
        deadline = time.monotonic() + 15
        while TaskStore(db).load(t).status.value != "cancelled":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        second = cli("run", db=db)
        assert second.returncode == 2
        assert "already driving" in one_clear_line(second.stderr)
    finally:
        engine.terminate()
        engine.wait(15)


def test_skills_list_shows_specs_with_bounds(tmp_path):
    out = cli("skills", "list", "--json", check=True)
    specs = {s["name"]: s for s in json.loads(out.stdout)}
    assert "stay_detection" in specs and "count" in specs
    dist = {p["name"]: p for p in specs["stay_detection"]["params"]}
    assert dist["dist_threshold_m"]["unit"] == "m"


def test_the_queued_line_counts_right_one_task_or_many(tmp_path):
    """Issue 18: `import` of one file said "queued tasks 2"."""
    db = tmp_path / "tracks.db"
    track = tmp_path / "walk.gpx"
    track.write_text('<?xml version="1.0"?><gpx version="1.1" '
                     'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
                     '<trkpt lat="48.1" lon="11.5"><time>2024-05-01T10:00:00Z</time></trkpt>'
                     '</trkseg></trk></gpx>')
    one = cli("import", str(track), db=db, check=True)
    assert one_clear_line(one.stderr) == "queued task 1 (import)"
    many = cli("chain", "run", db=db, check=True)
    line = one_clear_line(many.stderr)
    assert line == "queued 9 tasks: " + ", ".join(str(i) for i in range(2, 11))
