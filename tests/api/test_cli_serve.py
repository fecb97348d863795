"""`trackdesk serve`: the engine and the API in one process, stopped cleanly by a signal."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.api.conftest import P
from trackdesk.engine.lock import holder

TOKEN = "cli-token-0123456789abcdef"


def serve(db: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    full_env = {**os.environ, "TRACKDESK_SKILL_MODULES": "tests.engine.workers", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "trackdesk", "--db", str(db), "serve",
                             "--port", "0", *args], stderr=subprocess.PIPE, text=True,
                            env=full_env)


def wait_for_url(proc: subprocess.Popen, timeout: float = 30.0) -> str:
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.2)
        if ready:
            line = proc.stderr.readline()
            seen += line
            match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            if match:
                return match.group(1)
        if proc.poll() is not None:
            break
    raise AssertionError(f"serve did not start: {seen!r}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str, Path]]:
    db = tmp_path / "tracks.db"
    proc = serve(db, env={"TRACKDESK_API_TOKEN": TOKEN})
    try:
        url = wait_for_url(proc)
        yield proc, url, db
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_serve_runs_tasks_and_stops_cleanly_on_sigterm(
        served: tuple[subprocess.Popen, str, Path]) -> None:
    proc, url, db = served
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.get(f"{url}{P}/tasks", timeout=10).status_code == 401  # token from env
    resp = requests.post(f"{url}{P}/tasks", headers=auth, timeout=10,
                         json={"skill_name": "count", "params": {"n": 25, "key": "cli"}})
    assert resp.status_code == 200, resp.text
    tid = resp.json()["data"]["id"]
    deadline = time.monotonic() + 30
    while True:
        task = requests.get(f"{url}{P}/tasks/{tid}", headers=auth, timeout=10).json()["data"]
        if task["status"] == "completed" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert task["status"] == "completed" and task["processed_points"] == 25

    # A second engine on the same tracks.db is refused with a clear message.
    second = serve(db)
    _, err = second.communicate(timeout=30)
    assert second.returncode == 2
    assert "already driving" in err

    assert holder(db.resolve()) is not None
    # An open event stream does not hold the shutdown up; it is ended.
    stream = requests.get(f"{url}{P}/events", headers=auth, stream=True, timeout=10)
    assert stream.status_code == 200
    lines = stream.iter_lines(decode_unicode=True)
    assert next(lines) == "retry: 2000"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert [line for line in lines if line.startswith("event:")] == ["event: ready"]
    stream.close()
    assert holder(db.resolve()) is None  # the engine let go of the database
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/api/health", timeout=2)


def test_serve_stops_on_sigint_with_a_task_running(
        served: tuple[subprocess.Popen, str, Path]) -> None:
    proc, url, db = served
    auth = {"Authorization": f"Bearer {TOKEN}"}
    tid = requests.post(f"{url}{P}/tasks", headers=auth, timeout=10, json={
        "skill_name": "count", "params": {"n": 100000, "batch": 10, "sleep_s": 0.05}},
    ).json()["data"]["id"]
    deadline = time.monotonic() + 20
    while requests.get(f"{url}{P}/tasks/{tid}", headers=auth,
                       timeout=10).json()["data"]["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 0
    # The worker was asked to stop; its task can be resumed later.
    from trackdesk.engine.store import TaskStore

    store = TaskStore(db)
    try:
        assert store.load(tid).status.value == "interrupted"
    finally:
        store.close()


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    proc = serve(tmp_path / "tracks.db", "--host", "0.0.0.0")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "not loopback, without a token" in err
    assert not (tmp_path / "tracks.db").exists()  # refused before touching anything
