"""Workers for the docker tests: they probe the container they run in.

Run as ``python -m tests.docker.workers SKILL --task-id N --db-path PATH ...``, locally
(the repo is on PYTHONPATH) or in the test image ``trackdesk-test-workers``, which is
a skill image plus this file (see tests/docker/conftest.py: the test image is built FROM
a worker image, so the launcher mounts nothing but the workspace, exactly as in use).

Only the standard library and the worker SDK, like a real skill.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

from trackdesk.worker import WorkerContext, run_worker
from trackdesk.worker.spec import Param, SkillSpec

MODULE = "tests.docker.workers"
VERSION = "1.0"

SPECS = [
    SkillSpec("dt_sleep", VERSION, "Sleep and report", module=MODULE, kind="test",
              params=(Param("seconds", "float", 30.0, 0.0, 3600.0, "s"),
                      Param("ignore_term", "bool", False),
                      Param("quiet_s", "float", 0.0, 0.0, 3600.0, "s")),
              memory_mb=128, cpu=0.5),
    SkillSpec("dt_memhog", VERSION, "Allocate memory", module=MODULE, kind="test",
              params=(Param("mb", "int", 256, 1, 8192, "MB"),), memory_mb=64),
    SkillSpec("dt_probe", VERSION, "Probe the sandbox", module=MODULE, kind="test",
              params=(Param("secret", "str", ""),), memory_mb=256),
]


def run_sleep(ctx: WorkerContext) -> dict:
    if ctx.params["ignore_term"]:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if ctx.params["quiet_s"]:
        # Silent for longer than the client's call timeout: the output stream must hold.
        time.sleep(ctx.params["quiet_s"])
    seconds = ctx.params["seconds"]
    steps = max(1, int(seconds / 0.05))
    ctx.log(f"sleeping {seconds:g} s")
    ctx.progress(0, steps, 0, force=True)
    for i in range(steps):
        if not ctx.params["ignore_term"]:
            ctx.check_stop()
        time.sleep(0.05)
        ctx.progress(i + 1, steps, 0, force=True)
    print("slept well", file=sys.stderr, flush=True)
    return {"steps": steps}


def run_memhog(ctx: WorkerContext) -> dict:
    chunks = []
    ctx.progress(0, ctx.params["mb"], 0, force=True)
    for i in range(ctx.params["mb"]):
        block = bytearray(2**20)
        block[::4096] = b"x" * len(block[::4096])  # touch every page: really resident
        chunks.append(block)
        ctx.progress(i + 1, None, 0)
    return {"allocated_mb": len(chunks)}


def _network() -> dict:
    """Can this process reach anything? Tries a few addresses without DNS, then DNS."""
    attempts = {}
    for host, port in (("1.1.1.1", 53), ("8.8.8.8", 443), ("172.17.0.1", 2375),
                       ("10.0.2.2", 80)):
        try:
            with socket.create_connection((host, port), timeout=2):
                attempts[f"{host}:{port}"] = "connected"
        except OSError as exc:
            attempts[f"{host}:{port}"] = f"{type(exc).__name__}: {exc}"
    try:
        socket.getaddrinfo("pypi.org", 443)
        attempts["dns"] = "resolved"
    except OSError as exc:
        attempts["dns"] = f"{type(exc).__name__}: {exc}"
    try:
        interfaces = sorted(os.listdir("/sys/class/net"))
    except OSError:
        interfaces = []
    reachable = any(v in ("connected", "resolved") for v in attempts.values())
    return {"reachable": reachable, "attempts": attempts, "interfaces": interfaces}


def _find(secret: str) -> list[str]:
    """Every path whose name contains ``secret``, walking the whole visible file system."""
    hits = []
    for top, dirs, files in os.walk("/", onerror=lambda e: None):
        if top in ("/proc", "/sys", "/dev"):
            dirs[:] = []
            continue
        hits += [os.path.join(top, f) for f in files + dirs if secret in f]
    return hits


def _writable(path: str) -> bool:
    probe = os.path.join(path, f".probe-{os.getpid()}")
    try:
        with open(probe, "w") as fh:
            fh.write("x")
        os.unlink(probe)
        return True
    except OSError:
        return False


def run_probe(ctx: WorkerContext) -> dict:
    ctx.progress(0, 1, 0, force=True)
    db_dir = os.path.dirname(os.path.abspath(ctx.db_path))
    conn = ctx.connect()
    conn.execute("CREATE TABLE IF NOT EXISTS dt_probe (task_id INTEGER, uid INTEGER)")
    conn.execute("INSERT INTO dt_probe VALUES (?, ?)", (ctx.task_id, os.getuid()))
    conn.close()
    secret = ctx.params["secret"]
    summary = {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "db_path": ctx.db_path,
        "db_dir_listing": sorted(os.listdir(db_dir)),
        "db_dir_writable": _writable(db_dir),
        "root_writable": _writable("/") or _writable("/opt"),
        "tmp_writable": _writable("/tmp"),
        "secret_hits": _find(secret) if secret else [],
        "network": _network(),
        "env_task": os.environ.get("TRACKDESK_TASK_ID"),
        "tz": os.environ.get("TZ"),
        "gmtoff_2020_09": time.localtime(1_600_000_000).tm_gmtoff,
    }
    ctx.progress(1, 1, 0, force=True)
    return summary


RUNS = {"dt_sleep": run_sleep, "dt_memhog": run_memhog, "dt_probe": run_probe}


def main() -> None:
    name = sys.argv[1]
    spec = next(s for s in SPECS if s.name == name)
    run_worker(spec, RUNS[name])


if __name__ == "__main__":
    main()
