"""Issue 18, "Progress that moves": every built-in skill that runs for more than a
second is seen, by a user polling the CLI, part-way: 0 < processed < total."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.skills.chain import connect, new_db
from trackdesk.skills.groundtruth import generate, insert_points

ENV = {**os.environ, "TRACKDESK_SKILL_MODULES": ""}


POLLER = """
import contextlib, io, sys, time
from pathlib import Path
from trackdesk.cli import main
db, out, stop = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
with out.open("w") as fh:
    while not stop.exists():
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
            try:
                main(["--db", db, "tasks", "list", "--json"])
            except SystemExit:
                pass
        fh.write(buf.getvalue().replace(chr(10), " ") + chr(10))
        fh.flush()
        time.sleep(0.3)
"""


def _cli(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "trackdesk", "--db", str(db), *args]


def _seconds(task: dict) -> float:
    if not task.get("start_time") or not task.get("end_time"):
        return 0.0
    start = datetime.fromisoformat(str(task["start_time"]))
    end = datetime.fromisoformat(str(task["end_time"]))
    return (end - start).total_seconds()


@pytest.mark.slow
def test_every_skill_over_a_second_shows_partial_progress_on_a_million_points(
        tmp_path: Path) -> None:
    truth = generate(days=36, seed=42, sample_s=(1.0, 4.6), sparse_stay_prob=0.1)
    assert len(truth) >= 1_000_000
    db = new_db(tmp_path / "tracks.db")
    conn = connect(db)
    insert_points(conn, truth)
    conn.close()
    chain = subprocess.Popen(_cli(db, "chain", "run", "--type", "FULL_RECOMPUTE", "--wait"),
                             env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    # A poll every 0.3 s of `trackdesk tasks list --json`, run by one long-lived poller
    # process through the CLI's own entry point: a new interpreter per poll costs about
    # half a second on this 2-core machine, and a pile of them starved the very workers
    # they watched and read the database in bursts, leaving whole seconds unobserved.
    seen_file = tmp_path / "polls.jsonl"
    stop_file = tmp_path / "stop"
    poller = subprocess.Popen([sys.executable, "-c", POLLER, str(db), str(seen_file),
                               str(stop_file)], env=ENV, stderr=subprocess.PIPE, text=True)
    try:
        out, err = chain.communicate(timeout=600)
    finally:
        stop_file.touch()
        _, poll_err = poller.communicate(timeout=120)
    assert chain.returncode == 0, err
    assert poller.returncode == 0, poll_err
    seen: dict[str, int] = {}
    polls = 0
    for line in seen_file.read_text().splitlines():
        try:
            tasks = json.loads(line)
        except ValueError:
            continue  # a poll that raced the database's creation of the task rows
        polls += 1
        for t in tasks:
            if t["status"] == "running" and 0 < t["processed_points"] < t["total_points"]:
                seen[t["skill_name"]] = seen.get(t["skill_name"], 0) + 1
    assert polls > 3
    final = json.loads(subprocess.run(_cli(db, "tasks", "list", "--json"), env=ENV,
                                      capture_output=True, text=True, check=True).stdout)
    long_ones = [t["skill_name"] for t in final if _seconds(t) > 1.0]
    assert all(t["status"] == "completed" for t in final), final
    assert long_ones, "no skill ran for more than a second: the test would prove nothing"
    missing = [name for name in long_ones if name not in seen]
    assert not missing, (missing, seen, {t["skill_name"]: _seconds(t) for t in final})
