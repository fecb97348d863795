"""User skills: scaffold, load (and report the broken ones), run in a chain, incremental.

Every test points TRACKDESK_SKILLS_DIR into its tmp_path: the real home folder is never
touched.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import finished, run
from tests.skills.chain import new_db
from trackdesk.cli import main as cli_main
from trackdesk.engine.chains import Chain
from trackdesk.engine.engine import Engine, EngineSettings
from trackdesk.engine.states import Status
from trackdesk.skills.registry import BUILTIN_SPECS, load_registry
from trackdesk.skills.user import (
    load_skill,
    load_user_skills,
    reload_into,
    scaffold,
    skills_dir,
    table_name,
)
from trackdesk.skills.user_worker import run_skill
from trackdesk.worker import StopRequested, WorkerContext

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
UTC = {"timezone": "UTC"}


@pytest.fixture
def skills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "skills"
    folder.mkdir()
    monkeypatch.setenv("TRACKDESK_SKILLS_DIR", str(folder))
    return folder


def write_skill(folder: Path, name: str, body: str, requirements: str | None = None) -> Path:
    (folder / name).mkdir(parents=True, exist_ok=True)
    path = folder / name / "skill.py"
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    if requirements is not None:
        (folder / name / "requirements.txt").write_text(requirements, encoding="utf-8")
    return path


def make_db(path: Path, hours: int = 48, start: float = T0 + 1800) -> Path:
    """A real tracks.db (migrated) with one point an hour, walking slowly north."""
    new_db(path)
    add_points(path, [start + 3600 * h for h in range(hours)])
    return path


def add_points(path: Path, stamps: list[float]) -> None:
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO points (ts, lat, lon, accuracy, source) VALUES (?, ?, ?, 5.0, 't')",
            [(t, 48.137 + 1e-4 * ((t - T0) / 3600), 11.575) for t in stamps])


def rows(path: Path, name: str = "night_points") -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT * FROM {table_name(name)} ORDER BY point_id").fetchall()


def ctx_for(db: Path, name: str, task_type: str = "INCREMENTAL",
            params: dict[str, Any] | None = None, batch_size: int = 50_000) -> WorkerContext:
    us = load_skill(skills_dir() / name)
    return WorkerContext(name, 1, str(db), task_type, us.spec.validate_params(UTC if params is None else params),
                         batch_size, io.StringIO())


# ===================================================================== scaffold =====
def test_scaffold_writes_a_skill_whose_own_test_passes(skills: Path) -> None:
    assert cli_main(["skills", "new", "night_points"]) == 0
    folder = skills / "night_points"
    assert {p.name for p in folder.iterdir()} >= {"skill.py", "requirements.txt",
                                                   "test_skill.py"}
    # The generated test, as its author runs it: a plain script, and under pytest.
    out = subprocess.run([sys.executable, "test_skill.py"], cwd=folder, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    # Without third-party plugins: some of this venv's take seconds to load.
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "test_skill.py"], cwd=folder, capture_output=True, text=True,
                         timeout=60, env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert out.returncode == 0, out.stdout + out.stderr
    # It is a user skill of the registry: skills list, the API's and the canvas's source.
    spec = load_registry().get("night_points")
    assert spec.kind == "user" and spec.module == "trackdesk.skills.user_worker"
    assert spec.upstream == ("outlier_detection",)
    assert [p.name for p in spec.params] == ["start_hour", "end_hour", "timezone",
                                             "skip_outliers"]
    assert (spec.retries, spec.timeout_s, spec.memory_mb) == (1, 600.0, 256)


def test_scaffold_refuses_bad_names_and_builtins(skills: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["skills", "new", "Night-Points"]) == 2
    assert cli_main(["skills", "new", "stay_detection"]) == 2
    assert "built-in" in capsys.readouterr().err
    assert cli_main(["skills", "new", "ok_one"]) == 0
    assert cli_main(["skills", "new", "ok_one"]) == 2  # exists already


def test_skills_list_and_reload_show_user_skills(skills: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    scaffold("night_points")
    assert cli_main(["skills", "list", "--json"]) == 0
    listed = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert listed["night_points"]["kind"] == "user"
    assert listed["outlier_detection"]["kind"] == "builtin"
    assert cli_main(["skills", "reload"]) == 0
    out = capsys.readouterr().out
    assert "night_points" in out and str(skills) in out


# ================================================================ broken skills =====
GOOD = """
from trackdesk.skills.user import skill

@skill(name="{name}", version="1.0", columns={{"x": int}})
def process(batch):
    return [{{"point_id": p.id, "x": 1}} for p in batch]
"""


def test_broken_skills_are_reported_with_file_line_and_reason(
        skills: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_skill(skills, "good_one", GOOD.format(name="good_one"))
    syntax = write_skill(skills, "syntax_err", """
        from trackdesk.skills.user import skill

        @skill(name="syntax_err", version="1.0")
        def process(batch)
            return []
        """)
    bad_spec = write_skill(skills, "bad_spec", """
        from trackdesk.skills.user import Param, skill

        # a comment
        @skill(name="bad_spec", version="1.0",
               params=[Param("n", "int", 500, 0, 10)])
        def process(batch):
            return []
        """)
    no_fn = write_skill(skills, "no_function", """
        from trackdesk.skills.user import skill

        SPEC = skill(name="no_function", version="1.0")
        """)
    clash = write_skill(skills, "outlier_detection", GOOD.format(name="outlier_detection"))
    crash = write_skill(skills, "crashes", """
        from trackdesk.skills.user import skill
        LIMIT = 1 / 0
        """)
    unknown_up = write_skill(skills, "lonely", """
        from trackdesk.skills.user import skill

        @skill(name="lonely", version="1.0", upstream=("no_such_skill",))
        def process(batch):
            return []
        """)
    renamed = write_skill(skills, "folder_a", GOOD.format(name="skill_b"))

    registry = load_registry()  # never raises
    assert "good_one" in registry and registry.get("good_one").kind == "user"
    assert registry.get("outlier_detection").kind == "builtin"
    found = {p.folder: p for p in registry.problems}
    assert set(found) == {"syntax_err", "bad_spec", "no_function", "outlier_detection",
                          "crashes", "lonely", "folder_a"}
    expect = {
        "syntax_err": (syntax, 4, "syntax error"),
        "bad_spec": (bad_spec, 4, "the default of parameter 'n'"),
        "no_function": (no_fn, None, "no skill declared"),
        "outlier_detection": (clash, 3, "taken by a built-in skill"),
        "crashes": (crash, 2, "ZeroDivisionError"),
        "lonely": (unknown_up, 3, "unknown upstream skill no_such_skill"),
        "folder_a": (renamed, 3, "its folder is 'folder_a'"),
    }
    for folder, (file, line, reason) in expect.items():
        p = found[folder]
        assert p.file == str(file), folder
        assert p.line == line, (folder, p)
        assert reason in p.reason, (folder, p.reason)
        assert p.fatal
    # The CLI says it in one line each, keeps working, and reload's status tells a script.
    assert cli_main(["skills", "list"]) == 0
    err = capsys.readouterr().err
    assert f"{syntax}:4: syntax error" in err
    assert cli_main(["skills", "reload"]) == 1
    captured = capsys.readouterr()
    assert "good_one" in captured.out and f"broken: {bad_spec}:4:" in captured.err


def test_reload_into_swaps_user_skills_in_place(skills: Path) -> None:
    registry = load_registry()
    assert not [s for s in registry.specs() if s.kind == "user"]
    write_skill(skills, "good_one", GOOD.format(name="good_one"))
    report = reload_into(registry)
    assert "good_one" in registry and not report.problems
    (skills / "good_one" / "skill.py").write_text("this is not python", encoding="utf-8")
    report = reload_into(registry)
    assert "good_one" not in registry and registry.problems == report.problems
    assert registry.problems[0].line == 1
    assert len(registry.specs()) == len(BUILTIN_SPECS)


# ============================================================ requirements =====
NEEDS_PACKAGE = """
from trackdesk.skills.user import skill
import tinyreq_not_installed

@skill(name="needs_pkg", version="1.0", upstream=("outlier_detection",),
       columns={"x": "INTEGER"})
def process(batch):
    return [{"point_id": p.id, "x": tinyreq_not_installed.VALUE} for p in batch]
"""


def test_a_missing_requirement_is_a_clear_error_not_a_traceback(
        skills: Path, tmp_path: Path) -> None:
    write_skill(skills, "needs_pkg", NEEDS_PACKAGE, "tinyreq-not-installed==1.0\n")
    registry = load_registry()
    # Listed (its spec is read from the source) so it can still run in its Docker image.
    assert registry.get("needs_pkg").upstream == ("outlier_detection",)
    [note] = registry.problems
    assert not note.fatal and "tinyreq-not-installed" in note.reason
    db = make_db(tmp_path / "tracks.db", hours=3)
    out = subprocess.run(
        [sys.executable, "-m", "trackdesk.skills.user_worker", "needs_pkg", "--task-id", "1",
         "--db-path", str(db)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    [err] = [json.loads(x) for x in out.stdout.splitlines() if '"error"' in x]
    assert "needs package tinyreq" in err["message"]
    assert "pip install tinyreq" in err["message"]
    assert "Traceback" not in out.stderr


# ============================================================ run and results =====
def test_full_incremental_and_upstream_changes(skills: Path, tmp_path: Path) -> None:
    scaffold("night_points")
    db = make_db(tmp_path / "tracks.db", hours=48)
    s = run_skill(ctx_for(db, "night_points"), load_skill(skills / "night_points"))
    assert (s["mode"], s["processed"], s["rows_written"]) == ("full", 48, 48)
    got = rows(db)
    assert [r[2] for r in got] == ([1] * 5 + [0] * 19) * 2  # is_night, 00:30 .. 23:30
    assert [r[1] for r in got[:3]] == [0, 1, 2]             # local_hour
    # Nothing new: a no-op. New points: only they are processed.
    s = run_skill(ctx_for(db, "night_points"), load_skill(skills / "night_points"))
    assert (s["mode"], s["processed"]) == ("noop", 0)
    add_points(db, [T0 + 86400 * 2 + 1800 + 3600 * h for h in range(6)])
    s = run_skill(ctx_for(db, "night_points"), load_skill(skills / "night_points"))
    assert (s["mode"], s["processed"], s["rows_written"]) == ("incremental", 6, 6)
    assert len(rows(db)) == 54
    # outlier_detection flags a point and logs its change: that stretch is redone.
    with sqlite3.connect(db) as conn:
        ts = conn.execute("SELECT ts FROM points WHERE id = 10").fetchone()[0]
        conn.execute("INSERT INTO outlier_flags (point_id, ts, reasons) VALUES (10, ?, 8)",
                     (ts,))
        conn.execute("INSERT INTO skill_changes (skill, from_ts, task_id, created_at) "
                     "VALUES ('outlier_detection', ?, 99, 0)", (ts,))
    s = run_skill(ctx_for(db, "night_points"), load_skill(skills / "night_points"))
    assert s["mode"] == "incremental" and s["processed"] == 54 - 9
    assert 10 not in {r[0] for r in rows(db)} and len(rows(db)) == 53
    # Changed parameters mean a full recompute by themselves; FULL_RECOMPUTE clears first.
    s = run_skill(ctx_for(db, "night_points", params={"timezone": "UTC", "end_hour": 3}),
                  load_skill(skills / "night_points"))
    assert (s["mode"], s["processed"]) == ("full", 54)
    assert sum(r[2] for r in rows(db)) == 3 * 2 + 3 - 0  # 00:30, 01:30, 02:30 each day
    with sqlite3.connect(db) as conn:
        conn.execute(f"INSERT INTO {table_name('night_points')} VALUES (999999, 1, 1)")
    s = run_skill(ctx_for(db, "night_points", "FULL_RECOMPUTE",
                          {"timezone": "UTC", "end_hour": 3}),
                  load_skill(skills / "night_points"))
    assert (s["mode"], s["processed"]) == ("full", 54)
    assert 999999 not in {r[0] for r in rows(db)}


def test_stop_between_batches_keeps_finished_batches(skills: Path, tmp_path: Path) -> None:
    scaffold("night_points")
    db = make_db(tmp_path / "tracks.db", hours=30)
    us = load_skill(skills / "night_points")
    ctx = ctx_for(db, "night_points", batch_size=10)
    calls = []

    def stop_after_two(batch: Any) -> Any:
        calls.append(len(batch))
        if len(calls) == 2:
            ctx.request_stop()  # as SIGTERM does
        return us.process(batch)  # type: ignore[misc]

    with pytest.raises(StopRequested):
        run_skill(ctx, type(us)(us.spec, stop_after_two, us.columns, us.folder, us.line))
    assert len(rows(db)) == 20  # two whole batches, committed with the watermark
    s = run_skill(ctx_for(db, "night_points", batch_size=10), us)
    assert (s["mode"], s["processed"]) == ("incremental", 10)
    assert len(rows(db)) == 30


def test_failed_points_and_bad_rows(skills: Path, tmp_path: Path) -> None:
    write_skill(skills, "picky", """
        from trackdesk.skills.user import skill

        @skill(name="picky", version="1.0", columns={"x": int})
        def process(batch):
            out = []
            for p in batch:
                if p.id % 4 == 0:
                    batch.fail(p, "divisible by four")
                else:
                    out.append({"point_id": p.id, "x": p.id})
            return out
        """)
    db = make_db(tmp_path / "tracks.db", hours=12)
    s = run_skill(ctx_for(db, "picky", params={}), load_skill(skills / "picky"))
    assert (s["processed"], s["failed"], s["rows_written"]) == (12, 3, 9)
    write_skill(skills, "buggy", """
        from trackdesk.skills.user import skill

        @skill(name="buggy", version="1.0", columns={"x": int})
        def process(batch):
            return [{"point_id": p.id, "y": 1} for p in batch]
        """)
    from trackdesk.worker import SkillError

    with pytest.raises(SkillError, match="unknown column"):
        run_skill(ctx_for(db, "buggy", params={}), load_skill(skills / "buggy"))
    write_skill(skills, "raises", """
        from trackdesk.skills.user import skill

        @skill(name="raises", version="1.0")
        def process(batch):
            return {}[1]
        """)
    with pytest.raises(SkillError, match=r"KeyError: 1 \(.*raises/skill.py:5\)"):
        run_skill(ctx_for(db, "raises", params={}), load_skill(skills / "raises"))


# ================================================= a chain, with a real engine =====
def engine_for(db: Path) -> Engine:
    return Engine(db, registry=load_registry(), settings=EngineSettings(
        poll_interval_s=0.1, flush_interval_s=0.1, cancel_grace_s=1.0))


def night_chain() -> Chain:
    chain = Chain("with night points")
    chain.add_node("outlier_detection", node_id="outliers")
    chain.add_node("night_points", node_id="night", params=UTC)
    chain.add_link("outliers", "night")
    return chain


def run_chain(db: Path, task_type: str = "INCREMENTAL", launcher: str = "local") -> list:
    async def scenario() -> list:
        engine = engine_for(db)
        await engine.start()
        try:
            recs = await engine.run_chain(chain=night_chain(), task_type=task_type,
                                          launcher=launcher)
            await finished(engine, *(r.id for r in recs), timeout=90)
            return [engine.tasks[r.id] for r in recs]
        finally:
            await engine.stop()

    return run(scenario(), timeout=120)


def test_chain_after_a_builtin_skill_with_the_local_launcher(skills: Path,
                                                             tmp_path: Path) -> None:
    scaffold("night_points")
    db = make_db(tmp_path / "tracks.db", hours=48)
    outliers, night = run_chain(db)
    assert outliers.skill_name == "outlier_detection"
    assert night.depends_on_task_ids == [outliers.id]
    assert night.status == Status.COMPLETED, night.error_message
    assert night.launcher == "local"
    assert night.processed_points == night.total_points == 48
    assert night.result_summary["table"] == "user_night_points"
    assert night.max_retries == 1  # from the spec
    assert [r[2] for r in rows(db)] == ([1] * 5 + [0] * 19) * 2
    add_points(db, [T0 + 86400 * 2 + 1800 + 3600 * h for h in range(3)])
    _, night = run_chain(db)
    assert night.status == Status.COMPLETED
    # The 3 new points, plus the few before them that outlier_detection's own incremental
    # run re-examined (its logged change starts there): never the whole history.
    assert night.result_summary["mode"] == "incremental"
    assert 3 <= night.processed_points <= 6
    incremental = rows(db)
    _, night = run_chain(db, "FULL_RECOMPUTE")
    assert (night.processed_points, night.result_summary["mode"]) == (51, "full")
    assert rows(db) == incremental and len(incremental) == 51


def test_the_worker_does_not_import_the_engine_qt_or_sqlalchemy() -> None:
    code = ("import sys, trackdesk.skills.user_worker, trackdesk.skills.user; "
            "print([m for m in sys.modules if m.split('.')[0] in "
            "('sqlalchemy', 'PySide6', 'qasync', 'docker')"
            " or m.startswith(('trackdesk.engine', 'trackdesk.ui'))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_user_skills_folder_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TRACKDESK_SKILLS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert skills_dir() == tmp_path / "data" / "trackdesk" / "skills"
    assert load_user_skills().skills == []  # no folder: nothing, no error


def test_a_running_engine_reloads_on_request(skills: Path, tmp_path: Path) -> None:
    """`trackdesk skills reload` asks a running engine through task_requests."""
    db = make_db(tmp_path / "tracks.db", hours=1)

    async def scenario() -> tuple[bool, dict]:
        engine = engine_for(db)
        await engine.start()
        try:
            before = "good_one" in engine.registry
            write_skill(skills, "good_one", GOOD.format(name="good_one"))
            outcome = await engine.handle_request("reload_skills", None, {})
            assert engine.registry.get("good_one").kind == "user"
            rec = await engine.create_task("good_one", launcher="local")
            await finished(engine, rec.id)
            assert engine.tasks[rec.id].status == Status.COMPLETED
            return before, outcome
        finally:
            await engine.stop()

    before, outcome = run(scenario())
    assert not before and outcome["ok"]
    assert [s["name"] for s in outcome["result"]["skills"]] == ["good_one"]
    assert rows(db, "good_one") == [(1, 1)]


def test_the_guide_s_example_is_a_working_skill(skills: Path, tmp_path: Path) -> None:
    """docs/USER_SKILLS.md's night points example, run as written."""
    import re

    guide = (ROOT / "docs" / "USER_SKILLS.md").read_text(encoding="utf-8")
    [code] = [b for b in re.findall(r"```python\n(.*?)```", guide, re.S) if "@skill(" in b]
    write_skill(skills, "night_points", code)
    us = load_skill(skills / "night_points")
    assert us.spec.kind == "user" and us.spec.upstream == ("outlier_detection",)
    db = make_db(tmp_path / "tracks.db", hours=24)
    s = run_skill(ctx_for(db, "night_points", params={"timezone": "UTC"}), us)
    assert s["processed"] == 24
    assert [r[2] for r in rows(db)] == [1] * 5 + [0] * 19
    # The scaffold writes the same skill (its docstrings aside).
    scaffold("night_points", tmp_path / "scaffolded")
    spec = load_skill(tmp_path / "scaffolded" / "night_points").spec
    assert spec.to_dict() == us.spec.to_dict()


def test_the_rest_api_lists_user_skills(skills: Path, tmp_path: Path) -> None:
    import aiohttp

    from trackdesk.api.server import start_api

    scaffold("night_points")
    db = make_db(tmp_path / "tracks.db", hours=1)

    async def scenario() -> tuple[list, dict]:
        engine = engine_for(db)
        await engine.start()
        server = await start_api(engine, "127.0.0.1", 0, None)
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{server.url}/api/admin/analysis/skills") as r:
                    listing = (await r.json())["data"]
                async with http.get(f"{server.url}/api/admin/analysis/skills/night_points"
                                    ) as r:
                    one = (await r.json())["data"]
            return listing, one
        finally:
            await server.stop()
            await engine.stop()

    listing, one = run(scenario())
    assert {s["name"]: s["kind"] for s in listing}["night_points"] == "user"
    assert one["upstream"] == ["outlier_detection"] and one["memory_mb"] == 256


def test_the_class_attribute_form(skills: Path, tmp_path: Path) -> None:
    write_skill(skills, "class_form", """
        from trackdesk.skills.user import Param, declare


        class Doubler:
            spec = declare(name="class_form", version="2.0", upstream=("outlier_detection",),
                           params=[Param("factor", "int", 2, 1, 10)],
                           columns={"scaled": int}, retries=2, memory_mb=128)

            def process(self, batch):
                k = batch.params["factor"]
                return {p.id: {"scaled": p.id * k} for p in batch}
        """)
    no_fn = write_skill(skills, "class_no_fn", """
        from trackdesk.skills.user import declare


        class Nothing:
            spec = declare(name="class_no_fn", version="1.0")
        """)
    registry = load_registry()
    spec = registry.get("class_form")
    assert (spec.kind, spec.version, spec.retries, spec.memory_mb) == ("user", "2.0", 2, 128)
    [problem] = registry.problems
    assert (problem.file, problem.line) == (str(no_fn), 5)
    assert "no batch function" in problem.reason
    db = make_db(tmp_path / "tracks.db", hours=4)
    s = run_skill(ctx_for(db, "class_form", params={"factor": 3}),
                  load_skill(skills / "class_form"))
    assert s["rows_written"] == 4
    assert rows(db, "class_form") == [(i, 3 * i) for i in range(1, 5)]


@pytest.mark.parametrize("seed", range(4))
def test_incremental_equals_full_recompute(skills: Path, tmp_path: Path, seed: int) -> None:
    """Points arrive in random chunks (older ones too), outlier flags change between runs:
    after each INCREMENTAL run the table equals a FULL_RECOMPUTE's."""
    import random

    rnd = random.Random(seed)
    scaffold("night_points")
    us = load_skill(skills / "night_points")
    stamps = [T0 + rnd.uniform(0, 5 * 86400) for _ in range(300)]
    db = make_db(tmp_path / "tracks.db", hours=0)
    cuts = sorted(rnd.sample(range(1, 300), 3))
    for lo, hi in zip([0, *cuts], [*cuts, 300], strict=True):
        add_points(db, stamps[lo:hi])
        with sqlite3.connect(db) as conn:  # outlier_detection flags some, logs its change
            ids = [r[0] for r in conn.execute("SELECT id, ts FROM points")]
            before = [r[0] for r in conn.execute("SELECT point_id FROM outlier_flags")]
            flagged = rnd.sample(ids, 3)
            changed = before + flagged  # unflagged and newly flagged points both changed
            conn.execute("DELETE FROM outlier_flags")
            conn.executemany("INSERT INTO outlier_flags (point_id, ts, reasons) SELECT id, ts,"
                             " 8 FROM points WHERE id = ?", [(i,) for i in flagged])
            first = conn.execute(f"SELECT MIN(ts) FROM points WHERE id IN "
                                 f"({','.join(map(str, changed))})").fetchone()[0]
            conn.execute("INSERT INTO skill_changes (skill, from_ts, task_id, created_at) "
                         "VALUES ('outlier_detection', ?, 0, 0)", (first,))
        run_skill(ctx_for(db, "night_points", batch_size=rnd.choice([7, 50, 1000])), us)
        incremental = rows(db)
        full_db = tmp_path / f"full{lo}.db"
        with sqlite3.connect(db) as src, sqlite3.connect(full_db) as dst:
            src.backup(dst)  # the WAL's content too, unlike a file copy
        run_skill(ctx_for(full_db, "night_points", "FULL_RECOMPUTE"), us)
        assert incremental == rows(full_db)


def test_python_m_trackdesk_skills_runs_a_user_skill_too(skills: Path, tmp_path: Path) -> None:
    scaffold("night_points")
    db = make_db(tmp_path / "tracks.db", hours=5)
    out = subprocess.run(
        [sys.executable, "-m", "trackdesk.skills", "night_points", "--task-id", "1",
         "--db-path", str(db), "--params", json.dumps(UTC)],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    [result] = [json.loads(x) for x in out.stdout.splitlines() if '"result"' in x]
    assert result["summary"]["processed"] == 5


def test_values_of_other_types_are_stored(skills: Path, tmp_path: Path) -> None:
    write_skill(skills, "typed", """
        import numpy as np
        from trackdesk.skills.user import skill

        @skill(name="typed", version="1.0",
               columns={"n": int, "x": float, "flag": bool, "tags": str})
        def process(batch):
            return [{"point_id": p.id, "n": np.int64(p.id), "x": np.float64(0.5),
                     "flag": True, "tags": ["a", p.id]} for p in batch]
        """)
    db = make_db(tmp_path / "tracks.db", hours=2)
    run_skill(ctx_for(db, "typed", params={}), load_skill(skills / "typed"))
    assert rows(db, "typed") == [(1, 1, 0.5, 1, '["a", 1]'), (2, 2, 0.5, 1, '["a", 2]')]


def test_a_user_skill_written_against_the_old_sdk_module_still_runs(
        skills: Path, tmp_path: Path) -> None:
    # The runtime moved to trackdesk.worker (issue 22); users' skills that import
    # trackdesk.skills.sdk / .spec keep running as workers, and a SkillError of the old
    # name is the runtime's own: its message becomes the task's error word for word
    # (another exception class would be reported as a bug, with its type and line).
    write_skill(skills, "legacy", """
        from trackdesk.skills.sdk import EXIT_STOPPED, SkillError, WorkerContext
        from trackdesk.skills.spec import ParamError
        from trackdesk.skills.user import Param, skill

        assert EXIT_STOPPED == 3 and issubclass(ParamError, ValueError)
        assert WorkerContext.__module__ == "trackdesk.worker.runtime"

        @skill(name="legacy", version="1.0", columns={"x": int},
               params=[Param("give_up", "bool", False)])
        def process(batch):
            if batch.params["give_up"]:
                raise SkillError("no fix in this batch")
            return [{"point_id": p.id, "x": 2 * p.id} for p in batch]
        """)
    db = make_db(tmp_path / "tracks.db", hours=3)

    def worker(params: dict) -> tuple[int, list[dict]]:
        out = subprocess.run(
            [sys.executable, "-m", "trackdesk.skills.user_worker", "legacy", "--task-id", "1",
             "--db-path", str(db), "--params", json.dumps(params),
             "--task-type", "FULL_RECOMPUTE"],
            capture_output=True, text=True, timeout=60)
        return out.returncode, [json.loads(x) for x in out.stdout.splitlines()]

    code, msgs = worker({})
    assert code == 0, msgs
    assert msgs[-1]["type"] == "result" and msgs[-1]["summary"]["rows_written"] == 3
    assert rows(db, "legacy") == [(1, 2), (2, 4), (3, 6)]
    code, msgs = worker({"give_up": True})
    assert code == 1
    assert [m["message"] for m in msgs if m["type"] == "error"] == ["no fix in this batch"]
