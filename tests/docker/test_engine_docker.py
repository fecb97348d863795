"""The engine with the docker launcher: a task's whole life, OOM, cancel, recovery."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.docker.conftest import ROOT, containers_of, dt_image_for, dt_registry, run
from tests.engine.conftest import finished, wait_until
from trackdesk.engine.engine import Engine, EngineSettings
from trackdesk.engine.launchers.docker import DockerLauncher
from trackdesk.engine.launchers.local import LocalLauncher
from trackdesk.engine.states import Status

pytestmark = pytest.mark.docker

# Keys of a result summary that measure the run rather than report what it found.
MEASUREMENTS = {"seconds", "peak_rss_mb", "cpu_seconds", "cpu_time_s"}
SETTINGS = {"poll_interval_s": 0.1, "flush_interval_s": 0.1, "cancel_grace_s": 2.0}


def make_engine(db: Path, **settings: Any) -> Engine:
    return Engine(db, registry=dt_registry(),
                  settings=EngineSettings(**{**SETTINGS, **settings}),
                  launchers={"local": LocalLauncher(),
                             "docker": DockerLauncher(image_for=dt_image_for, grace_s=2.0)})


def one_task(db: Path, skill: str, params: dict[str, Any] | None = None,
             **settings: Any) -> Any:
    """Run one task of ``skill`` in Docker through a fresh engine; its final record."""
    async def scenario() -> Any:
        engine = make_engine(db, **settings)
        await engine.start()
        try:
            rec = await engine.create_task(skill, params=params, launcher="docker")
            await finished(engine, rec.id)
            return engine.tasks[rec.id]
        finally:
            await engine.stop()

    return run(scenario())


def test_task_runs_in_docker(test_image: str, workspace: Path) -> None:
    rec = one_task(workspace, "dt_sleep", {"seconds": 0.5})
    assert rec.status == Status.COMPLETED, rec.error_message
    assert rec.launcher == "docker"
    assert rec.result_summary == {"steps": 10}
    assert rec.processed_points == rec.total_points == 10


def test_memory_limit_message_reaches_the_task(test_image: str, workspace: Path) -> None:
    rec = one_task(workspace, "dt_memhog")
    assert rec.status == Status.FAILED
    assert "exceeded its memory limit of 64 MB" in rec.error_message


def test_cancel_through_the_engine(test_image: str, workspace: Path,
                                   docker_engine: Any) -> None:
    async def scenario() -> tuple[Any, float]:
        engine = make_engine(workspace)
        await engine.start()
        try:
            rec = await engine.create_task("dt_sleep", params={"seconds": 60},
                                           launcher="docker")
            await wait_until(lambda: engine.tasks[rec.id].processed_points > 0, 30)
            t0 = time.monotonic()
            await engine.cancel(rec.id)
            await finished(engine, rec.id, timeout=10)
            return engine.tasks[rec.id], time.monotonic() - t0
        finally:
            await engine.stop()

    rec, took = run(scenario())
    assert rec.status == Status.CANCELLED
    assert took < 5.0
    deadline = time.monotonic() + 5
    while containers_of(docker_engine, workspace) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert containers_of(docker_engine, workspace) == []


def test_docker_unavailable_fails_the_task_with_one_sentence(
        workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")

    async def scenario() -> Any:
        engine = make_engine(workspace)
        await engine.start()
        try:
            rec = await engine.create_task("dt_sleep", params={"seconds": 0.1},
                                           launcher="docker")
            await finished(engine, rec.id, timeout=20)
            return engine.tasks[rec.id]
        finally:
            await engine.stop()

    t0 = time.monotonic()
    rec = run(scenario())
    assert time.monotonic() - t0 < 20
    assert rec.status == Status.FAILED
    assert rec.error_message.startswith("Docker is not reachable")
    assert "local launcher" in rec.error_message


DEAD_ENGINE = """
import asyncio, sys
from pathlib import Path
from tests.docker.test_engine_docker import make_engine

async def main():
    engine = make_engine(Path(sys.argv[1]))
    await engine.start()
    rec = await engine.create_task("dt_sleep", params={"seconds": float(sys.argv[2])},
                                   launcher="docker")
    while engine.tasks[rec.id].processed_points < 1:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # flushed to tracks.db: running, with its worker_ref
    print(rec.id, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def kill_engine_mid_run(db: Path, seconds: float) -> int:
    proc = subprocess.Popen([sys.executable, "-c", DEAD_ENGINE, str(db), str(seconds)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGKILL)  # the app dies: no clean-up of any kind
    proc.wait()
    return int(line)


@pytest.mark.parametrize("ends_before_restart", [False, True])
def test_recovery_after_the_app_was_killed(test_image: str, workspace: Path,
                                           ends_before_restart: bool,
                                           docker_engine: Any) -> None:
    task_id = kill_engine_mid_run(workspace, 3.0)
    assert len(containers_of(docker_engine, workspace)) == 1  # still working, unwatched
    if ends_before_restart:
        time.sleep(3.5)

    async def scenario() -> Any:
        engine = make_engine(workspace)
        await engine.start()
        try:
            assert engine.tasks[task_id].status == Status.RUNNING  # followed, not interrupted
            await finished(engine, task_id, timeout=30)
            log = await engine.read_log(task_id)
            return engine.tasks[task_id], log
        finally:
            await engine.stop()

    rec, log = run(scenario())
    assert rec.status == Status.COMPLETED, rec.error_message
    assert rec.result_summary == {"steps": 60}
    assert any("left by the previous app" in (getattr(entry, "message", "") or "")
               for entry in log)
    # The container's output is replayed from its start when attached anew: what the
    # dead app had stored already is not stored twice.
    messages = [entry.message for entry in log]
    assert messages.count("sleeping 3 s") == 1, messages
    assert messages.count("slept well") == 1, messages
    deadline = time.monotonic() + 5
    while containers_of(docker_engine, workspace) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert containers_of(docker_engine, workspace) == []


@pytest.mark.parametrize("ends_before_restart", [False, True])
def test_engine_stop_leave_then_recover(test_image: str, workspace: Path,
                                        ends_before_restart: bool) -> None:
    """stop(running="leave") leaves the container, even when it ends before the next app
    starts (the abandoned handle does not remove it); the next engine gets its result."""
    async def scenario() -> Any:
        engine = make_engine(workspace)
        await engine.start()
        rec = await engine.create_task("dt_sleep", params={"seconds": 2.0}, launcher="docker")
        await wait_until(lambda: engine.tasks[rec.id].processed_points > 0, 30)
        await engine.stop(running="leave")
        await asyncio.sleep(3.0 if ends_before_restart else 0.2)
        again = make_engine(workspace)
        await again.start()
        try:
            await finished(again, rec.id, timeout=30)
            return again.tasks[rec.id]
        finally:
            await again.stop()

    rec = run(scenario())
    assert rec.status == Status.COMPLETED, rec.error_message
    assert rec.result_summary == {"steps": 40}


def test_chain_in_docker_gives_exactly_the_local_results(worker_images: Any,
                                                        tmp_path: Path) -> None:
    """The default chain on the same synthetic history, once per launcher: equal results."""
    import os

    from tests.docker.synth import fill_db, result_tables
    from trackdesk.skills.registry import load_registry

    dbs = {}
    for launcher in ("local", "docker"):
        folder = tmp_path / launcher
        folder.mkdir()
        db = folder / "tracks.db"
        fill_db(db, 30_000)
        if os.geteuid() == 0:  # as a user's workspace: not root's
            for path in (folder, *folder.iterdir()):
                os.chown(path, 1000, 1000)
        dbs[launcher] = db

    async def chain(db: Path, launcher: str) -> list[Any]:
        engine = Engine(db, registry=load_registry(),
                        settings=EngineSettings(**SETTINGS, concurrency=2),
                        launchers={"local": LocalLauncher(), "docker": DockerLauncher()})
        await engine.start()
        try:
            records = await engine.run_chain(launcher=launcher)
            await finished(engine, *[r.id for r in records], timeout=240)
            return [engine.tasks[r.id] for r in records]
        finally:
            await engine.stop()

    results = {}
    for launcher, db in dbs.items():
        records = run(chain(db, launcher), timeout=300)
        bad = [(r.skill_name, r.status, r.error_message) for r in records
               if r.status != Status.COMPLETED]
        assert not bad, f"{launcher}: {bad}"
        assert {r.launcher for r in records} == {launcher}
        results[launcher] = (result_tables(db),
                             # how long a run took and its peak memory are not what it found
                             {r.skill_name: {k: v for k, v in (r.result_summary or {}).items()
                                             if k not in MEASUREMENTS} for r in records})
    from trackdesk.engine.images import code_digest

    built = {i.digest for s in worker_images.sync().skills for i in s.images
             if i.tag == s.image}
    assert built == {code_digest()}, (
        "the skills' code changed while the test ran: the images are not the local code")
    local_tables, local_summaries = results["local"]
    docker_tables, docker_summaries = results["docker"]
    assert sorted(local_tables) == sorted(docker_tables)
    assert sum(len(rows) for rows in local_tables.values()) > 0
    for name in local_tables:
        assert local_tables[name] == docker_tables[name], f"table {name} differs"
    assert local_summaries == docker_summaries


def test_peak_memory_of_a_container_worker_is_what_it_allocated(test_image: str,
                                                               workspace: Path) -> None:
    rec = one_task(workspace, "dt_memhog", {"mb": 40}, sample_interval_s=0.2)
    assert rec.status == Status.COMPLETED, rec.error_message
    # 40 MB allocated plus the interpreter (about 10 MB), under the 64 MB limit: measured
    # inside the container, not the app's own size.
    assert 40 <= rec.peak_memory_mb <= 40 * 1.2 + 12
    assert rec.cpu_time_s is not None and rec.cpu_time_s > 0
