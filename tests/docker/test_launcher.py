"""The docker launcher against a real engine: isolation, limits, cancel, pause, recovery."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.docker.conftest import (
    ROOT,
    TEST_IMAGE,
    WS_UID,
    Outcome,
    containers_of,
    dt_spec,
    follow,
    run,
    worker_argv,
)
from trackdesk.engine.launchers.base import LauncherUnavailable
from trackdesk.engine.launchers.docker import (
    DockerLauncher,
    docker_client,
    rewrite_db_path,
    wait_for_removal,
)

pytestmark = pytest.mark.docker


def test_container_settings_and_protocol(launcher: DockerLauncher, workspace: Path,
                                         docker_engine: Any) -> None:
    """Labels, limits, read-only root, no network, non-root user: as the container runs."""
    spec = dt_spec("dt_sleep")

    async def scenario() -> tuple[Outcome, dict[str, Any]]:
        handle = await launcher.start(spec, worker_argv(spec, 7, workspace, {"seconds": 1.0}),
                                      workspace, 7, {"TRACKDESK_TASK_ID": "7"})
        assert handle.ref.startswith("docker:")
        attrs = await asyncio.to_thread(docker_engine.api.inspect_container, handle.id)
        return await follow(handle), attrs

    outcome, attrs = run(scenario())
    assert outcome.code == 0, outcome.stderr
    assert outcome.result == {"steps": 20}
    assert "slept well" in outcome.stderr  # stderr kept apart from the protocol
    progress = outcome.messages("progress")
    assert progress[-1]["processed"] == 20 and progress[-1]["total"] == 20
    labels = attrs["Config"]["Labels"]
    assert labels["trackdesk.task_id"] == "7"
    assert labels["trackdesk.workspace"] == str(workspace.resolve())
    host = attrs["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["Memory"] == spec.memory_mb * 2**20
    assert host["NanoCpus"] == int(spec.cpu * 1e9)
    assert host["CapDrop"] == ["ALL"]
    assert attrs["Config"]["User"] == f"{WS_UID}:{WS_UID}"
    assert [m["Source"] for m in attrs["Mounts"] if m["Type"] == "bind"] == [
        str(workspace.parent.resolve())]
    # The container is removed once it ended.
    assert wait_for_removal(docker_engine, attrs["Id"], timeout=10)


def test_sandbox_no_network_no_host_files(launcher: DockerLauncher, tmp_path: Path,
                                          workspace: Path) -> None:
    """The worker writes the db as a non-root user, sees no network and no host file
    outside the tracks.db folder."""
    secret = f"trackdesk-secret-{os.getpid()}-{time.time_ns()}"
    (tmp_path / f"{secret}-beside-the-workspace.txt").write_text("private")
    (Path.home() / f".{secret}-in-home").write_text("private")
    (workspace.parent / f"{secret}-inside-workspace.txt").write_text("shared")
    spec = dt_spec("dt_probe")
    try:
        async def scenario() -> Outcome:
            handle = await launcher.start(
                spec, worker_argv(spec, 8, workspace, {"secret": secret}), workspace, 8,
                {"TRACKDESK_TASK_ID": "8"})
            return await follow(handle)

        outcome = run(scenario())
    finally:
        (Path.home() / f".{secret}-in-home").unlink()
    assert outcome.code == 0, outcome.stderr
    probe = outcome.result
    assert probe is not None
    assert probe["uid"] == WS_UID and probe["uid"] != 0
    assert probe["db_path"] == "/workspace/tracks.db"
    assert probe["db_dir_writable"] and probe["tmp_writable"]
    assert not probe["root_writable"]
    # Only the workspace's own file is visible; the one beside it and the home's are not.
    assert probe["secret_hits"] == [f"/workspace/{secret}-inside-workspace.txt"]
    net = probe["network"]
    assert net["reachable"] is False, net
    assert net["interfaces"] == ["lo"]
    assert probe["env_task"] == "8"
    # It really wrote into the tracks.db, as its owner.
    import sqlite3

    conn = sqlite3.connect(workspace)
    assert conn.execute("SELECT task_id, uid FROM dt_probe").fetchall() == [(8, WS_UID)]
    conn.close()


def test_cancel_stops_the_container_within_5s(launcher: DockerLauncher, workspace: Path,
                                              docker_engine: Any) -> None:
    spec = dt_spec("dt_sleep")

    async def scenario() -> tuple[Outcome, float, str]:
        handle = await launcher.start(spec, worker_argv(spec, 9, workspace, {"seconds": 60}),
                                      workspace, 9, {})
        outcome = Outcome()
        stopped_at: list[float] = []

        async def on_line(stream: str, line: str) -> None:
            if '"progress"' in line and not stopped_at:
                stopped_at.append(time.monotonic())
                await handle.terminate()

        await follow(handle, outcome, on_line)
        return outcome, time.monotonic() - stopped_at[0], handle.id

    outcome, took, cid = run(scenario())
    assert outcome.code == 3  # stopped on request: the worker ended its batch
    assert took < 5.0, f"the container took {took:.1f} s to stop"
    assert wait_for_removal(docker_engine, cid, timeout=5)


def test_cancel_kills_a_worker_that_ignores_sigterm(launcher: DockerLauncher,
                                                    workspace: Path) -> None:
    spec = dt_spec("dt_sleep")  # the launcher's grace here is 2 s

    async def scenario() -> tuple[Outcome, float]:
        handle = await launcher.start(
            spec, worker_argv(spec, 10, workspace, {"seconds": 60, "ignore_term": True}),
            workspace, 10, {})
        outcome = Outcome()
        t0: list[float] = []

        async def on_line(stream: str, line: str) -> None:
            if '"progress"' in line and not t0:
                t0.append(time.monotonic())
                await handle.terminate()

        await follow(handle, outcome, on_line)
        return outcome, time.monotonic() - t0[0]

    outcome, took = run(scenario())
    assert outcome.code == -signal.SIGKILL
    assert took < 5.0


def test_memory_limit_exceeded_is_reported(launcher: DockerLauncher, workspace: Path) -> None:
    spec = dt_spec("dt_memhog")  # limit 64 MB, allocates 256 MB

    async def scenario() -> tuple[Outcome, str | None, bool]:
        handle = await launcher.start(spec, worker_argv(spec, 11, workspace), workspace, 11, {})
        outcome = await follow(handle)
        return outcome, handle.exit_reason(), handle.oom_killed

    outcome, reason, oom = run(scenario())
    assert outcome.code == -signal.SIGKILL
    assert oom
    assert reason is not None and "memory limit of 64 MB" in reason, reason


def test_pause_and_resume(launcher: DockerLauncher, workspace: Path) -> None:
    spec = dt_spec("dt_sleep")

    async def scenario() -> tuple[int, int, Outcome]:
        handle = await launcher.start(spec, worker_argv(spec, 12, workspace, {"seconds": 3}),
                                      workspace, 12, {})
        outcome = Outcome()
        reader = asyncio.create_task(follow(handle, outcome))
        while not outcome.stdout:
            await asyncio.sleep(0.05)
        await handle.pause()
        await asyncio.sleep(0.5)  # lines already in flight arrive
        frozen = len(outcome.stdout)
        await asyncio.sleep(1.0)
        during = len(outcome.stdout) - frozen
        await handle.resume()
        await asyncio.sleep(0.5)
        after = len(outcome.stdout) - frozen
        await reader
        return during, after, outcome

    during, after, outcome = run(scenario())
    assert during == 0
    assert after > 0
    assert outcome.code == 0


def test_silent_worker_keeps_its_stream(launcher: DockerLauncher, workspace: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker silent for longer than the client's call timeout is still followed."""
    import trackdesk.engine.launchers.docker as mod

    monkeypatch.setattr(mod, "CALL_TIMEOUT_S", 2.0)
    fresh = DockerLauncher(image_for=launcher._image_for, grace_s=2.0)
    spec = dt_spec("dt_sleep")

    async def scenario() -> Outcome:
        handle = await fresh.start(
            spec, worker_argv(spec, 13, workspace, {"seconds": 0.2, "quiet_s": 3.5}),
            workspace, 13, {})
        return await follow(handle)

    try:
        outcome = run(scenario())
    finally:
        fresh.close()
    assert outcome.code == 0 and outcome.result == {"steps": 4}


def test_missing_image_fails_with_a_clear_message(workspace: Path, test_image: str) -> None:
    launcher = DockerLauncher(image_for=lambda spec: "trackdesk-worker-nothing:0.0")
    spec = dt_spec("dt_sleep")
    try:
        with pytest.raises(LauncherUnavailable, match="is not built"):
            run(launcher.start(spec, worker_argv(spec, 14, workspace), workspace, 14, {}))
    finally:
        launcher.close()


# -- recovery after the app died --------------------------------------------------------
DEAD_APP = """
import asyncio, json, sys
from pathlib import Path
from tests.docker.conftest import dt_image_for, dt_spec, worker_argv
from trackdesk.engine.launchers.docker import DockerLauncher

async def main():
    db, task_id, seconds = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    spec = dt_spec("dt_sleep")
    launcher = DockerLauncher(image_for=dt_image_for)
    handle = await launcher.start(spec, worker_argv(spec, task_id, db, {"seconds": seconds}),
                                  db, task_id, {})
    print(handle.ref, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def start_and_die(db: Path, task_id: int, seconds: float) -> str:
    """A separate 'app' starts a worker, then is SIGKILLed: the container stays behind."""
    proc = subprocess.Popen([sys.executable, "-c", DEAD_APP, str(db), str(task_id),
                             str(seconds)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    ref = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ref.startswith("docker:"), ref
    return ref


def test_recover_follows_a_container_to_its_end(test_image: str, workspace: Path,
                                                docker_engine: Any) -> None:
    ref = start_and_die(workspace, 21, 2.0)
    launcher = DockerLauncher(image_for=lambda s: TEST_IMAGE)
    try:
        async def scenario() -> tuple[list[Any], Outcome]:
            found = await launcher.recover(workspace)
            assert [w.task_id for w in found] == [21]
            assert found[0].handle.ref == ref
            return found, await follow(found[0].handle)

        found, outcome = run(scenario())
    finally:
        launcher.close()
    assert found[0].handle.found_state == "running"
    assert outcome.code == 0
    assert outcome.result == {"steps": 40}
    # Replayed from the start: the first progress message is there.
    assert outcome.messages("progress")[0]["processed"] == 0
    deadline = time.monotonic() + 10
    while containers_of(docker_engine, workspace) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert containers_of(docker_engine, workspace) == []


def test_recover_a_container_that_ended_while_no_app_ran(test_image: str,
                                                         workspace: Path) -> None:
    start_and_die(workspace, 22, 0.2)
    time.sleep(2.5)  # it ends while no app follows it
    launcher = DockerLauncher(image_for=lambda s: TEST_IMAGE)
    try:
        async def scenario() -> tuple[str, Outcome]:
            found = await launcher.recover(workspace)
            assert [w.task_id for w in found] == [22]
            return found[0].handle.found_state, await follow(found[0].handle)

        state, outcome = run(scenario())
    finally:
        launcher.close()
    assert state == "exited"
    assert outcome.code == 0 and outcome.result == {"steps": 4}


def test_recover_then_stop(test_image: str, workspace: Path, tmp_path: Path) -> None:
    other = tmp_path / "other" / "tracks.db"
    from tests.docker.conftest import make_workspace

    make_workspace(other.parent)
    start_and_die(workspace, 23, 60.0)
    launcher = DockerLauncher(image_for=lambda s: TEST_IMAGE, grace_s=2.0)
    try:
        async def scenario() -> tuple[int, float, list[Any]]:
            assert await launcher.recover(other) == []  # another workspace's: not ours
            found = await launcher.recover(workspace)
            assert [w.task_id for w in found] == [23]
            handle = found[0].handle
            t0: list[float] = []

            async def on_line(stream: str, line: str) -> None:
                if '"progress"' in line and not t0:  # the worker is up: stop it
                    t0.append(time.monotonic())
                    await handle.terminate()

            out = await follow(handle, None, on_line)
            return out.code or 0, time.monotonic() - t0[0], found

        code, took, _ = run(scenario())
    finally:
        launcher.close()
    assert code == 3 and took < 5.0


# -- no engine --------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["unix:///nonexistent/docker.sock", "tcp://127.0.0.1:9"])
def test_unreachable_engine_is_one_clear_sentence(host: str, monkeypatch: pytest.MonkeyPatch,
                                                  workspace: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", host)
    t0 = time.monotonic()
    with pytest.raises(LauncherUnavailable) as info:
        docker_client()
    launcher = DockerLauncher()
    spec = dt_spec("dt_sleep")
    with pytest.raises(LauncherUnavailable):
        run(launcher.start(spec, worker_argv(spec, 1, workspace), workspace, 1, {}))
    assert run(launcher.recover(workspace)) == []
    launcher.close()
    assert time.monotonic() - t0 < 15
    message = str(info.value)
    assert "Docker" in message and host in message and "local launcher" in message
    assert message.count(". ") == 0  # one sentence


def test_rewrite_db_path() -> None:
    argv = ["-m", "x", "s", "--task-id", "1", "--db-path", "/home/u/tracks.db", "--params", "{}"]
    assert rewrite_db_path(argv, "/workspace/tracks.db")[6] == "/workspace/tracks.db"
    assert rewrite_db_path(["--db-path=/a/b.db"], "/workspace/b.db") == [
        "--db-path=/workspace/b.db"]


def test_sample_reads_the_container_stats(launcher: DockerLauncher, workspace: Path) -> None:
    spec = dt_spec("dt_sleep")

    async def scenario() -> Any:
        handle = await launcher.start(spec, worker_argv(spec, 15, workspace, {"seconds": 15}),
                                      workspace, 15, {})
        reader = asyncio.create_task(follow(handle))
        assert handle.sample() is None  # the first call starts the stats stream
        sample = None
        for _ in range(120):  # Docker's first stats take a second or two (more when busy)
            await asyncio.sleep(0.1)
            sample = handle.sample()
            if sample is not None:
                break
        await handle.terminate()
        await reader
        return sample

    sample = run(scenario())
    assert sample is not None
    assert 1 < sample.rss_mb < 128
    assert sample.cpu_time_s is not None and sample.cpu_time_s > 0


def test_container_sees_the_hosts_time_zone(launcher: DockerLauncher, workspace: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """'local' days in a container are the host's local days, not UTC's."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    spec = dt_spec("dt_probe")

    async def scenario() -> Outcome:
        handle = await launcher.start(spec, worker_argv(spec, 16, workspace), workspace, 16, {})
        return await follow(handle)

    outcome = run(scenario())
    assert outcome.code == 0, outcome.stderr
    assert outcome.result is not None
    assert outcome.result["tz"] == "Europe/Berlin"
    assert outcome.result["gmtoff_2020_09"] == 7200  # CEST


def test_config_for_rootless_and_selinux_engines(workspace: Path) -> None:
    """Rootless: the container's root is the engine's user; SELinux: a labelled mount."""
    launcher = DockerLauncher()
    spec = dt_spec("dt_sleep")
    argv = worker_argv(spec, 1, workspace)
    plain = launcher.container_config(spec, argv, workspace, 1, {})
    assert plain["user"] == f"{WS_UID}:{WS_UID}"
    assert plain["volumes"][str(workspace.parent)]["mode"] == "rw"
    launcher._security = {"rootless", "selinux", "seccomp"}
    special = launcher.container_config(spec, argv, workspace, 1, {})
    assert special["user"] == "0:0"
    assert special["volumes"][str(workspace.parent)]["mode"] == "rw,z"
    launcher.close()


def test_docker_host_is_honoured(test_image: str, workspace: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Any endpoint works: the same engine reached through another socket path."""
    import docker

    default = docker.from_env().api.base_url  # the socket the engine listens on
    sock = Path("/var/run/docker.sock")
    if "localhost" not in default or not sock.exists():
        pytest.skip("the engine is not on the default unix socket here")  # fails in CI
    link = tmp_path / "elsewhere.sock"
    link.symlink_to(sock)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{link}")
    launcher = DockerLauncher(image_for=lambda s: TEST_IMAGE)
    spec = dt_spec("dt_sleep")

    async def scenario() -> Outcome:
        handle = await launcher.start(spec, worker_argv(spec, 17, workspace, {"seconds": 0.1}),
                                      workspace, 17, {})
        return await follow(handle)

    try:
        outcome = run(scenario())
        used = launcher.api._custom_adapter.socket_path
    finally:
        launcher.close()
    assert outcome.code == 0 and outcome.result == {"steps": 2}
    assert used == str(link)


def test_a_stale_image_says_so_in_the_log(worker_images: Any, tmp_path: Path) -> None:
    """A built-in skill's image from other code still runs, with a line telling to rebuild."""
    from tests.docker.synth import fill_db
    from trackdesk.skills.registry import load_registry

    folder = tmp_path / "ws"
    folder.mkdir()
    db = folder / "tracks.db"
    fill_db(db, 200)
    for path in (folder, *folder.iterdir()) if os.geteuid() == 0 else ():
        os.chown(path, WS_UID, WS_UID)
    spec = load_registry().get("outlier_detection")
    argv = ["-m", spec.module, spec.name, "--task-id", "18", "--db-path", str(db)]

    async def scenario(launcher: DockerLauncher) -> Outcome:
        return await follow(await launcher.start(spec, argv, db, 18, {}))

    fresh, stale = DockerLauncher(), DockerLauncher()
    stale._code_digest = "0123456789abcdef"  # as if this app's skills were newer
    try:
        current = run(scenario(fresh))
        old = run(scenario(stale))
    finally:
        fresh.close()
        stale.close()
    assert current.code == old.code == 0, current.stderr + old.stderr
    assert not any("[trackdesk] the image" in line for line in current.stderr)
    assert old.stderr[0].startswith(
        f"[trackdesk] the image trackdesk-worker-outlier_detection:{spec.version} was built "
        "from other")
