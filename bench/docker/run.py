"""bench/docker: what running a skill in a container costs, side by side with a local worker.

1. Time from task start (``launcher.start``) to the worker's first progress message, for a
   real skill (outlier_detection, full recompute, on a small tracks.db), local vs docker,
   alternating, several times; the first docker start is reported apart (cold).
2. The whole default chain on N synthetic points (default 1,000,000) through the engine,
   once with each launcher: wall time per skill and in all, and whether the results are
   identical.

Writes its section of docs/BENCHMARKS.md between the bench:docker markers.
Needs a Docker engine and the skill images: scripts/docker-setup.sh.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.docker.synth import fill_db, result_tables  # noqa: E402
from trackdesk.engine.engine import Engine, EngineSettings  # noqa: E402
from trackdesk.engine.images import ImageManager  # noqa: E402
from trackdesk.engine.launchers.base import Launcher  # noqa: E402
from trackdesk.engine.launchers.docker import DockerLauncher, docker_client  # noqa: E402
from trackdesk.engine.launchers.local import LocalLauncher  # noqa: E402
from trackdesk.engine.states import Status  # noqa: E402
from trackdesk.skills.registry import load_registry  # noqa: E402

WORK = ROOT / "bench" / ".work" / "docker"
DOC = ROOT / "docs" / "BENCHMARKS.md"
START, END = "<!-- bench:docker -->", "<!-- /bench:docker -->"
SKILL = "outlier_detection"


def workspace(name: str, points: int) -> Path:
    folder = WORK / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    db = folder / "tracks.db"
    fill_db(db, points)
    if os.geteuid() == 0:  # like a user's workspace, so the container runs as its owner
        for path in (folder, *folder.iterdir()):
            os.chown(path, 1000, 1000)
    return db


async def first_progress(launcher: Launcher, db: Path, task_id: int) -> float:
    spec = load_registry().get(SKILL)
    argv = ["-m", spec.module, SKILL, "--task-id", str(task_id), "--db-path", str(db),
            "--task-type", "FULL_RECOMPUTE", "--params", "{}"]
    t0 = time.perf_counter()
    handle = await launcher.start(spec, argv, db, task_id, {})
    took = None
    async for stream, line in handle.lines():
        if took is None and stream == "stdout" and '"progress"' in line:
            took = time.perf_counter() - t0
    code = await handle.wait()
    if code != 0 or took is None:
        raise RuntimeError(f"{launcher.name} worker ended with {code} before any progress")
    return took


async def startup(repeats: int, points: int) -> dict[str, Any]:
    db = workspace("startup", points)
    local, docker = LocalLauncher(), DockerLauncher()
    await docker.ensure_available()
    cold = await first_progress(docker, db, 1)
    times: dict[str, list[float]] = {"local": [], "docker": []}
    for i in range(repeats):
        times["local"].append(await first_progress(local, db, 100 + i))
        times["docker"].append(await first_progress(docker, db, 200 + i))
    docker.close()
    return {"cold_docker": cold, **times}


def registry_with_memory(memory_mb: int | None) -> Any:
    """The skills' registry; with ``memory_mb``, every limit raised to at least that."""
    registry = load_registry()
    if memory_mb:
        for spec in registry.specs():
            if spec.memory_mb < memory_mb:
                registry.add(dataclasses.replace(spec, memory_mb=memory_mb))
    return registry


def peak_memory(db: Path, skills: list[str]) -> dict[str, float]:
    """Peak RSS (MB) of each skill's local worker, full recompute on ``db``, one at a time."""
    code = ("import resource, subprocess, sys; "
            "p = subprocess.run([sys.executable, '-m', 'trackdesk.skills', sys.argv[1], "
            "'--task-id', '9999', '--db-path', sys.argv[2], '--task-type', "
            "'FULL_RECOMPUTE'], capture_output=True); "
            "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = {}
    for skill in skills:
        # A fresh parent per skill: RUSAGE_CHILDREN is the peak of that one worker.
        res = subprocess.run([sys.executable, "-c", code, skill, str(db)],
                             capture_output=True, text=True, cwd=ROOT)
        rc, kb = res.stdout.split()
        out[skill] = int(kb) / 1024 if rc == "0" else float("nan")
    return out


async def chain(db: Path, launcher: str, memory_mb: int | None = None
                ) -> tuple[float, list[Any]]:
    engine = Engine(db, registry=registry_with_memory(memory_mb),
                    settings=EngineSettings(poll_interval_s=0.1, flush_interval_s=0.2),
                    launchers={"local": LocalLauncher(), "docker": DockerLauncher()})
    await engine.start()
    try:
        t0 = time.perf_counter()
        records = await engine.run_chain(launcher=launcher)
        ids = [r.id for r in records]
        while not all(engine.tasks[i].status in (Status.COMPLETED, Status.FAILED,
                                                 Status.SKIPPED, Status.CANCELLED)
                      for i in ids):
            await asyncio.sleep(0.1)
        took = time.perf_counter() - t0
        return took, [engine.tasks[i] for i in ids]
    finally:
        await engine.stop()


def seconds_between(rec: Any) -> float | None:
    from datetime import datetime

    def parse(v: Any) -> datetime | None:
        if v is None:
            return None
        if isinstance(v, datetime):
            return v
        return datetime.fromisoformat(str(v))

    a, b = parse(rec.start_time), parse(rec.end_time)
    return (b - a).total_seconds() if a and b else None


def fmt_stats(values: list[float]) -> str:
    return (f"{statistics.median(values):.2f} s (min {min(values):.2f}, "
            f"max {max(values):.2f}, n={len(values)})")


def report(start: dict[str, Any], chains: dict[str, Any] | None, points: int,
           small: int) -> str:
    client = docker_client()
    version = client.version().get("Version", "?")
    client.close()
    med_local = statistics.median(start["local"])
    med_docker = statistics.median(start["docker"])
    lines = [
        "## bench/docker: local vs docker workers",
        "",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Docker engine {version}; `python bench/docker/run.py` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"### Task start to first progress message ({SKILL}, full recompute, "
        f"{small:,} points)",
        "",
        "| launcher | median (min, max) |",
        "|---|---|",
        f"| local | {fmt_stats(start['local'])} |",
        f"| docker | {fmt_stats(start['docker'])} |",
        f"| docker, first container after a build (cold) | {start['cold_docker']:.2f} s |",
        "",
        f"Docker adds **{med_docker - med_local:.2f} s** at the median (goal: 1.5 s or less).",
        "The extra time is container create + start (docker-init, namespaces, cgroup "
        "limits, the bind mount) and importing numpy/pandas from the image's cold page "
        "cache; the worker itself is the same code.",
    ]
    if chains:
        peak = chains.get("peak")
        lines += ["", f"### The default chain on {points:,} synthetic points", ""]
        if chains.get("memory_mb"):
            lines += [f"Memory limits raised to at least {chains['memory_mb']} MB for this "
                      "run (`--memory-mb`): the specs' limits are below the peaks shown.", ""]
        if peak:
            lines += ["| skill | local | docker | peak RSS (local worker) | spec limit |",
                      "|---|---|---|---|---|"]
        else:
            lines += ["| skill | local | docker |", "|---|---|---|"]

        def cell(side: str, skill: str) -> str:
            status = chains[side]["status"].get(skill)
            took = chains[side]["per_skill"].get(skill)
            if status != "completed":
                return str(status)
            return f"{took:.1f} s" if took is not None else "?"

        for skill in chains["skills"]:
            row = f"| {skill} | {cell('local', skill)} | {cell('docker', skill)} |"
            if peak:
                mb = peak.get(skill)
                row += f" {mb:.0f} MB | {chains['limits'].get(skill)} MB |"
            lines.append(row)
        lines += [
            f"| **whole chain (wall)** | **{chains['local']['wall']:.1f} s** | "
            f"**{chains['docker']['wall']:.1f} s** |" + (" | |" if peak else ""),
            "",
            f"Results identical: **{'yes' if chains['identical'] else 'NO'}** (every "
            "analysis table compared row by row, bookkeeping columns aside). "
            "Concurrency 2: footprint_stats and stay_stats run side by side.",
        ]
        for failure in chains.get("failed", []):
            lines.append(f"- failed: {failure}")
    return "\n".join(lines)


def write_section(text: str) -> None:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    body = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = f"{START}\n{text}\n{END}"
    if START in body and END in body:
        head, rest = body.split(START, 1)
        tail = rest.split(END, 1)[1]
        body = head + block + tail
    else:
        body = body.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(body)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=1_000_000, help="points for the chain")
    parser.add_argument("--small", type=int, default=5_000, help="points for the start test")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-chain", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--memory-mb", type=int, default=None,
                        help="raise every skill's memory limit to at least this")
    parser.add_argument("--no-peak", action="store_true", help="skip the peak-memory pass")
    args = parser.parse_args()

    mgr = ImageManager()
    mgr.build(log=lambda m: print(m, file=sys.stderr))  # no-op when up to date

    start = asyncio.run(startup(args.repeats, args.small))
    print(json.dumps(start), file=sys.stderr)
    chains = None
    if not args.no_chain:
        chains = {"skills": [], "failed": [], "memory_mb": args.memory_mb}
        dbs = {name: workspace(f"chain-{name}", args.points) for name in ("local", "docker")}
        for name, db in dbs.items():
            wall, records = asyncio.run(chain(db, name, args.memory_mb))
            chains["skills"] = [r.skill_name for r in records]
            chains[name] = {"wall": wall,
                            "status": {r.skill_name: str(getattr(r.status, "value", r.status))
                                       for r in records},
                            "per_skill": {r.skill_name: seconds_between(r) for r in records}}
            chains["failed"] += [f"{name}:{r.skill_name}: {r.error_message}"
                                 for r in records if r.status != Status.COMPLETED]
            print(f"chain {name}: {wall:.1f} s", file=sys.stderr)
        chains["identical"] = result_tables(dbs["local"]) == result_tables(dbs["docker"])
        if not args.no_peak:
            chains["peak"] = peak_memory(dbs["local"], chains["skills"])
            chains["limits"] = {s.name: s.memory_mb for s in load_registry().specs()}
    text = report(start, chains, args.points, args.small)
    print(text)
    if not args.no_write:
        write_section(text)
    ok = not (chains and (chains["failed"] or not chains["identical"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
