"""Several processes on one tracks.db (issue 17 sections 2 and 3): real CLI processes, a
real `trackdesk serve` taking REST POSTs, and the engine inside it, all writing at once.

Every task any of them queues is adopted and ends; nothing stays pending; a `--wait`
whose engine dies returns with one clear line instead of polling forever.

TRACKDESK_RACE_SECONDS (default 5) sets how long the writers race: the CI run is short,
`TRACKDESK_RACE_SECONDS=300` races for five minutes (figures in docs/ENGINE.md).
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from trackdesk.engine.lock import holder
from trackdesk.engine.store import TaskStore

ENV = {**os.environ, "TRACKDESK_SKILL_MODULES": "tests.engine.workers"}
API = "/api/admin/analysis"
TOKEN = "race-token-0123456789abcdef"
RACE_S = float(os.environ.get("TRACKDESK_RACE_SECONDS", "5"))

# A small chain of the test workers: three quick counts, the last two after the first.
QUICK_CHAIN = {"format": "trackdesk-chain", "version": 1, "name": "quick",
               "nodes": [{"id": "a", "skill": "noop"}, {"id": "b", "skill": "noop"},
                         {"id": "c", "skill": "noop"}],
               "links": [["a", "b"], ["a", "c"]]}
# One long count, then one after it: something still runs when the engine is killed.
SLOW_CHAIN = {"format": "trackdesk-chain", "version": 1, "name": "slow",
              "nodes": [{"id": "a", "skill": "count",
                         "params": {"n": 100000, "batch": 10, "sleep_s": 0.05,
                                    "key": "slow"}},
                        {"id": "b", "skill": "noop"}],
              "links": [["a", "b"]]}

GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="trackdesk tests" xmlns="http://www.topografix.com/GPX/1/1">
<trk><trkseg>
<trkpt lat="48.1351" lon="11.5820"><time>2024-05-01T10:00:{s:02d}Z</time></trkpt>
<trkpt lat="48.1352" lon="11.5821"><time>2024-05-01T10:01:{s:02d}Z</time></trkpt>
<trkpt lat="48.1353" lon="11.5822"><time>2024-05-01T10:02:{s:02d}Z</time></trkpt>
</trkseg></trk></gpx>
"""


def cli(db: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trackdesk", "--db", str(db), *args],
                          capture_output=True, text=True, env=ENV, timeout=timeout)


def spawn(db: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "trackdesk", "--db", str(db), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV)


def statuses(db: Path) -> dict[int, str]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return dict(conn.execute("SELECT id, status FROM analysis_tasks"))
    finally:
        conn.close()


def save_chain(db: Path, doc: dict) -> None:
    store = TaskStore(db)
    try:
        store.save_template(doc["name"], doc)
    finally:
        store.close()


def wait_db(db: Path, predicate, timeout: float, what: str) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        now = statuses(db)
        if predicate(now):
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {now}")
        time.sleep(0.1)


def wait_engine(db: Path, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        who = holder(db.resolve())
        if who and who.get("pid"):
            return int(who["pid"])
        time.sleep(0.05)
    raise AssertionError("no engine took the db")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str, Path]]:
    db = tmp_path / "tracks.db"
    save_chain(db, QUICK_CHAIN)
    proc = subprocess.Popen([sys.executable, "-m", "trackdesk", "--db", str(db), "serve",
                             "--port", "0"], stderr=subprocess.PIPE, text=True,
                            env={**ENV, "TRACKDESK_API_TOKEN": TOKEN,
                                 "TRACKDESK_CONCURRENCY": "3"})
    try:
        assert proc.stderr is not None
        url, seen, deadline = None, "", time.monotonic() + 60
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            if select.select([proc.stderr], [], [], 0.2)[0]:
                line = proc.stderr.readline()
                seen += line
                found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
                url = found.group(1) if found else None
        assert url, f"serve did not start: {seen!r}"
        yield proc, url, db
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


OPEN_AT = """
import sys, time
from trackdesk.tracks.db import open_db
start = float(sys.argv[2])
while time.time() < start:  # every process reaches SQLite in the same millisecond
    pass
open_db(sys.argv[1]).dispose()
"""


def test_processes_creating_one_tracks_db_at_the_same_moment_all_open_it(tmp_path):
    """CI saw `chain run --wait` fail with "cannot open ... as a tracks.db: database is
    locked": SQLite refuses a second simultaneous switch of a new file to WAL at once,
    without waiting. Four processes, started together on a new file, eight times."""
    for round_no in range(8):
        db = tmp_path / f"round{round_no}" / "tracks.db"
        db.parent.mkdir()
        start = time.time() + 1.0
        procs = [subprocess.Popen([sys.executable, "-c", OPEN_AT, str(db), str(start)],
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_two_chain_runs_with_wait_at_once_both_return_0_and_leave_nothing_pending(tmp_path):
    """Issue 17: one exited 0, the other never returned and 9 tasks stayed pending.
    A fresh tracks.db each round: the two also race to create it."""
    for round_no in range(2):
        db = tmp_path / f"round{round_no}" / "tracks.db"
        db.parent.mkdir()
        procs = [spawn(db, "chain", "run", "--wait") for _ in range(2)]
        for p in procs:
            try:
                out, err = p.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                raise AssertionError(f"a `chain run --wait` never returned: "
                                     f"{statuses(db)}") from None
            assert p.returncode == 0, err
            assert "Traceback" not in err
        final = statuses(db)
        assert len(final) == 18
        assert set(final.values()) == {"completed"}, final


def test_every_task_any_process_queues_is_adopted_and_ends(serve):
    """CLI `tasks create`, `chain run` and `import`, and REST POSTs to a running `serve`,
    all at once. The engine inserting its own (API) rows used to move its watermark past
    rows the CLI had just inserted: those stayed pending for ever."""
    proc, url, db = serve
    folder = db.parent / "gpx"
    folder.mkdir()
    created: dict[str, list[int]] = {"api": [], "cli": [], "chain": [], "import": []}
    errors: list[str] = []
    stop = time.monotonic() + RACE_S
    lock = threading.Lock()

    def api_writer() -> None:
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {TOKEN}"
        while time.monotonic() < stop:
            r = s.post(f"{url}{API}/tasks", json={"skill_name": "noop"}, timeout=30)
            if r.status_code != 201 and r.status_code != 200:
                errors.append(f"POST {r.status_code} {r.text}")
                return
            with lock:
                created["api"].append(r.json()["data"]["id"])
            time.sleep(0.25)

    def cli_writer(kind: str) -> None:
        n = 0
        while time.monotonic() < stop:
            n += 1
            if kind == "cli":
                out = cli(db, "tasks", "create", "noop", "--json")
                ids = [json.loads(out.stdout)["id"]] if out.returncode == 0 else []
            elif kind == "chain":
                out = cli(db, "chain", "run", "quick")
                ids = [int(i) for i in re.findall(r"\d+", out.stderr.split(":", 1)[-1])]
            else:
                f = folder / f"walk{threading.get_ident()}_{n}.gpx"
                f.write_text(GPX.format(s=n % 60))
                out = cli(db, "import", str(f))
                ids = [int(i) for i in re.findall(r"queued tasks? (\d+)", out.stderr)]
            if out.returncode != 0 or not ids:
                errors.append(f"{kind}: {out.returncode} {out.stderr.strip()}")
                return
            with lock:
                created[kind] += ids

    writers = [threading.Thread(target=api_writer)] + [
        threading.Thread(target=cli_writer, args=(k,)) for k in ("cli", "cli", "chain",
                                                                  "import")]
    started = time.monotonic()
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    assert not errors, errors
    everyone = sorted(i for ids in created.values() for i in ids)
    assert all(created.values()), created  # every kind of writer got tasks in
    final = wait_db(db, lambda s: all(v not in ("pending", "running") for v in s.values())
                    and set(everyone) <= set(s), 60 + len(everyone),
                    f"{len(everyone)} tasks to end")
    assert {i: final[i] for i in everyone if final[i] != "completed"} == {}
    assert proc.poll() is None  # the engine survived it
    print(f"race {RACE_S:g} s: {len(everyone)} tasks ({', '.join(f'{k} {len(v)}' for k, v in created.items())}) "
          f"all completed {time.monotonic() - started:.1f} s after the start")


def test_a_task_queued_from_the_cli_is_known_to_the_api_and_cancellable_at_once(serve):
    """GET /tasks/ID answered 404 and `tasks cancel ID` "no task" until a restart, when the
    API created a task right after the CLI had queued one."""
    _proc, url, db = serve
    headers = {"Authorization": f"Bearer {TOKEN}"}
    slow = json.dumps({"n": 100000, "batch": 10, "sleep_s": 0.05})
    for _ in range(3):
        out = cli(db, "tasks", "create", "count", "--json",
                  *[f"--param={k}={v}" for k, v in json.loads(slow).items()])
        assert out.returncode == 0, out.stderr
        task_id = json.loads(out.stdout)["id"]
        after = requests.post(f"{url}{API}/tasks", json={"skill_name": "noop"},
                              headers=headers, timeout=30)
        assert after.status_code in (200, 201)
        got = requests.get(f"{url}{API}/tasks/{task_id}", headers=headers, timeout=30)
        assert got.status_code == 200, got.text
        assert got.json()["data"]["id"] == task_id
        cancelled = cli(db, "tasks", "cancel", str(task_id))
        assert cancelled.returncode == 0, cancelled.stderr
        assert f"task {task_id}: cancel done" in cancelled.stdout
        wait_db(db, lambda s, i=task_id: s.get(i) == "cancelled", 30, "the cancel")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_follower_returns_when_the_engine_it_follows_is_killed(tmp_path, sig):
    """`run &`, `chain run --wait &`, kill the `run`: the follower polled for ever."""
    db = tmp_path / "tracks.db"
    save_chain(db, SLOW_CHAIN)
    engine = spawn(db, "run")
    follower = None
    try:
        wait_engine(db)
        follower = spawn(db, "chain", "run", "slow", "--wait")
        wait_db(db, lambda s: "running" in s.values(), 60, "the slow task to run")
        engine.send_signal(sig)
        engine.wait(30)
        try:
            _out, err = follower.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            raise AssertionError("the follower still waits on a dead engine") from None
        assert follower.returncode == 1, err
        assert "Traceback" not in err
        said = [line for line in err.splitlines() if line.startswith("trackdesk:")]
        assert len(said) == 1 and "trackdesk tasks resume" in said[0], err
        final = statuses(db)
        # What the db says is what was said: the slow task interrupted, not running.
        first = min(final)
        assert final[first] == "interrupted", final
        assert f"task(s) {first} finished" in said[0]
        assert "running" not in final.values()
    finally:
        for p in (engine, follower):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)


def test_status_flags_a_running_task_whose_engine_was_killed_at_once(tmp_path):
    """`status` said "healthy" for 300 s after the engine was SIGKILLed mid-task."""
    db = tmp_path / "tracks.db"
    engine = spawn(db, "run")
    try:
        wait_engine(db)
        out = cli(db, "tasks", "create", "count", "--json", "--param", "n=100000",
                  "--param", "sleep_s=0.05")
        task_id = json.loads(out.stdout)["id"]
        wait_db(db, lambda s: s.get(task_id) == "running", 60, "the task to run")
        engine.kill()
        engine.wait(30)
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait(10)
    out = cli(db, "status", "--json")
    h = json.loads(out.stdout)
    assert h["healthy"] is False
    assert h["tasks"]["orphaned"] == [task_id]
    assert any("no engine runs them" in p and str(task_id) in p for p in h["problems"])
    text = cli(db, "status").stdout.splitlines()[0]
    assert text.startswith("needs attention") and str(task_id) in text
