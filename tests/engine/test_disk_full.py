"""The disk fills up during a chain (issue 17 section 4): no traceback, one clear line, and
what tracks.db says at the end is what the terminal said.

A real full file system: a small tmpfs (needs root, as the project's machines and CI run),
filled by another writer while the chain's worker writes.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.test_cli import ENV
from tests.tmpfs import mounted_tmpfs
from trackdesk.engine.store import TaskStore

FILL_CHAIN = {"format": "trackdesk-chain", "version": 1, "name": "fill",
              "nodes": [{"id": "a", "skill": "count",
                         "params": {"n": 2_000_000, "batch": 200, "sleep_s": 0.02,
                                    "key": "fill"}},
                        {"id": "b", "skill": "noop"}, {"id": "c", "skill": "noop"}],
              "links": [["a", "b"], ["b", "c"]]}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with mounted_tmpfs(tmp_path / "small", 8) as mount:
        yield mount


def fill(folder: Path) -> None:
    """Take every free byte, as a download filling the disk would."""
    with open(folder / "ballast", "wb") as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
            os.fsync(fh.fileno())


def test_a_disk_that_fills_during_a_chain_gets_one_line_and_the_db_says_what_was_shown(
        small_disk):
    db = small_disk / "tracks.db"
    store = TaskStore(db)
    store.save_template("fill", FILL_CHAIN)
    store.close()
    proc = subprocess.Popen([sys.executable, "-m", "trackdesk", "--db", str(db), "chain",
                             "run", "fill", "--wait"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the worker is writing: now the disk fills
        conn = sqlite3.connect(db, timeout=30)
        try:
            running = conn.execute("SELECT COUNT(*) FROM analysis_tasks WHERE status = "
                                   "'running' AND processed_points > 0").fetchone()[0]
        finally:
            conn.close()
        if running:
            break
        time.sleep(0.1)
    fill(small_disk)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    # Besides the per-task lines ("task N skill: status", and the reasons at the end),
    # one line says what happened to the db.
    other = [line for line in err.splitlines() if not line.startswith("task ")]
    assert len(other) == 1 and "disk is full" in other[0], err
    # The last thing said of each task is what the db holds.
    said: dict[int, str] = {}
    for line in err.splitlines():  # "task 1 count: failed", "task 1 count failed: why"
        found = re.match(r"task (\d+) (\S+?)(?:: | )(\w+)", line)
        if found:
            said[int(found.group(1))] = found.group(3)
    os.remove(small_disk / "ballast")
    conn = sqlite3.connect(db)
    try:
        held = dict(conn.execute("SELECT id, status FROM analysis_tasks"))
    finally:
        conn.close()
    assert held == said, err
    assert held[min(held)] == "failed"
    assert not {"running", "pending"} & set(held.values())
