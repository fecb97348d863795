"""Workers for the engine's tests: they count, sleep, fail or crash on command.

Run as ``python -m tests.engine.workers SKILL --task-id N --db-path PATH ...``. They
write rows into their own table so a test can check what a run really did.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from trackdesk.worker import SkillError, WorkerContext, run_worker
from trackdesk.worker.spec import Param, SkillSpec

MODULE = "tests.engine.workers"

COUNT_PARAMS = (
    Param("n", "int", 100, 0, 10_000_000),
    Param("batch", "int", 10, 1, 1_000_000),
    Param("sleep_s", "float", 0.0, 0.0, 60.0, "s"),
    Param("key", "str", "default"),
    Param("fail_at", "int", -1, -1, 10_000_000, help="raise a skill error at this count"),
    Param("crash_at", "int", -1, -1, 10_000_000, help="SIGKILL itself at this count"),
    Param("fail_attempts", "int", 0, 0, 100, help="fail this many first attempts"),
    Param("ignore_term", "bool", False),
    Param("alloc_mb", "int", 0, 0, 4096),
)

SPECS = [
    SkillSpec("count", "1.0", "Count", upstream=(), params=COUNT_PARAMS, module=MODULE,
              kind="test", retries=0, retry_delays=(0.2, 0.4)),
    SkillSpec("count_retry", "1.0", "Count with retries", params=COUNT_PARAMS, module=MODULE,
              kind="test", retries=2, retry_delays=(0.3, 0.6)),
    SkillSpec("count_limited", "1.0", "Count, one at a time", params=COUNT_PARAMS,
              module=MODULE, kind="test", max_concurrency=1),
    SkillSpec("count_silent", "1.0", "Count, flagged stuck after 1 s of silence",
              params=COUNT_PARAMS, module=MODULE, kind="test", stuck_after_s=1.0),
    SkillSpec("noop", "1.0", "Do nothing", module=MODULE, kind="test"),
]


def run_count(ctx: WorkerContext) -> dict:
    p = ctx.params
    if p["ignore_term"]:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ballast = bytearray(p["alloc_mb"] * 2**20) if p["alloc_mb"] else None
    if ballast is not None:
        ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page
    conn = ctx.connect()
    conn.execute("CREATE TABLE IF NOT EXISTS test_counts (key TEXT, i INTEGER, task_id INTEGER,"
                 " PRIMARY KEY (key, i))")
    conn.execute("CREATE TABLE IF NOT EXISTS test_attempts (task_id INTEGER, ts FLOAT)")
    conn.execute("INSERT INTO test_attempts VALUES (?, ?)", (ctx.task_id, time.time()))
    attempts = conn.execute("SELECT COUNT(*) FROM test_attempts WHERE task_id = ?",
                            (ctx.task_id,)).fetchone()[0]
    if attempts <= p["fail_attempts"]:
        raise SkillError(f"failing attempt {attempts} on purpose")
    if ctx.full_recompute:
        conn.execute("DELETE FROM test_counts WHERE key = ?", (p["key"],))
    done = conn.execute("SELECT COUNT(*) FROM test_counts WHERE key = ?",
                        (p["key"],)).fetchone()[0]
    n = p["n"]
    ctx.progress(done, n, 0, force=True)
    print(f"starting at {done} of {n}", file=sys.stderr, flush=True)
    i = done
    while i < n:
        if not p["ignore_term"]:
            ctx.check_stop()
        stop = min(n, i + p["batch"])
        if p["crash_at"] >= 0 and i <= p["crash_at"] < stop:
            print(f"about to crash at {p['crash_at']}", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        if p["fail_at"] >= 0 and i <= p["fail_at"] < stop:
            raise SkillError(f"bad point at {p['fail_at']}")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO test_counts VALUES (?, ?, ?)",
                         [(p["key"], j, ctx.task_id) for j in range(i, stop)])
        conn.execute("COMMIT")
        i = stop
        ctx.progress(i, n, 0)
        if p["sleep_s"]:
            time.sleep(p["sleep_s"])
    return {"counted": n, "started_at": done}


def run_noop(ctx: WorkerContext) -> dict:
    ctx.progress(1, 1, 0, force=True)
    return {}


if __name__ == "__main__":
    name = sys.argv[1]
    spec = {s.name: s for s in SPECS}[name]
    run_worker(spec, run_noop if name == "noop" else run_count)
