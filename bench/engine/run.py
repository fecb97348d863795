"""The engine's own cost per task, beyond the bare start of a worker process.

Side by side in one run: the same trivial worker argv started N times directly with
asyncio subprocesses (the reference: what any launcher must pay), then N tasks of that
worker pushed through the engine (queue in tracks.db, scheduling, protocol parsing,
progress and state written to SQLite). Both at concurrency 1 and 2.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = str(ROOT)

from bench.common import machine, write_section  # noqa: E402
from tests.engine.workers import SPECS  # noqa: E402
from trackdesk.engine.engine import Engine, EngineSettings  # noqa: E402
from trackdesk.engine.launchers.local import LocalLauncher  # noqa: E402
from trackdesk.skills.registry import BUILTIN_SPECS, SkillRegistry  # noqa: E402

N = int(os.environ.get("BENCH_ENGINE_TASKS", "1000"))
ARGV = ["-m", "tests.engine.workers", "noop", "--task-id", "0", "--db-path", "/dev/null"]


async def bare(n: int, concurrency: int) -> tuple[float, float]:
    """Start and reap n worker processes, ``concurrency`` at a time; wall and CPU s."""
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            p = await asyncio.create_subprocess_exec(
                sys.executable, *ARGV, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            await p.communicate()

    t0 = time.perf_counter()
    cpu0 = time.process_time()
    await asyncio.gather(*(one() for _ in range(n)))
    return time.perf_counter() - t0, time.process_time() - cpu0


async def through_engine(n: int, concurrency: int, db: Path) -> tuple[float, int, float]:
    registry = SkillRegistry(list(BUILTIN_SPECS) + SPECS)
    engine = Engine(db, registry=registry, launchers={"local": LocalLauncher()},
                    settings=EngineSettings(concurrency=concurrency))
    await engine.start(schedule=False)
    records = [Engine.new_record(registry, "noop") for _ in range(n)]
    await engine.call(engine.store.insert_tasks, records)
    await engine.stop()
    engine = Engine(db, registry=registry, launchers={"local": LocalLauncher()},
                    settings=EngineSettings(concurrency=concurrency))
    t0 = time.perf_counter()
    cpu0 = time.process_time()  # this process only: the engine, its loop and db thread
    await engine.start()
    await engine.wait_idle()
    wall = time.perf_counter() - t0
    done = sum(t.status.value == "completed" for t in engine.tasks.values())
    await engine.stop()
    cpu = time.process_time() - cpu0
    return wall, done, cpu


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for conc in (1, 2):
            bare_wall, bare_cpu = asyncio.run(bare(N, conc))
            eng_wall, done, cpu = asyncio.run(
                through_engine(N, conc, Path(tmp) / f"c{conc}.db"))
            overhead_ms = (eng_wall - bare_wall) / N * 1000 * conc
            cpu_ms = (cpu - bare_cpu) / N * 1000
            rows.append((conc, bare_wall, eng_wall, done, overhead_ms, cpu_ms))
            print(f"concurrency {conc}: bare {bare_wall:.2f} s, engine {eng_wall:.2f} s, "
                  f"{done}/{N} completed, wall overhead {overhead_ms:.2f} ms/task, "
                  f"engine CPU {cpu_ms:.2f} ms/task", flush=True)
    table = "\n".join(
        f"| {c} | {b:.2f} s ({N / b:.1f}/s) | {e:.2f} s ({N / e:.1f}/s) | {d}/{N} | "
        f"{o:.2f} ms | {m:.2f} ms |" for c, b, e, d, o, m in rows)
    write_section("engine", f"""
## Engine: overhead per task beyond the bare process start

{N} tasks of a trivial worker (`tests.engine.workers noop`: imports the worker SDK, reports
one progress line and a result). Reference: the same argv started {N} times with asyncio
subprocesses and nothing else. Through the engine: tasks queued in a fresh tracks.db, then
scheduled, launched, parsed, and their state and logs written to SQLite (WAL). Overhead per
task = (engine wall - bare wall) / tasks x concurrency, i.e. engine time per worker slot;
on a 2-core machine the workers and the engine share the cores, so the wall figure is
noisy (it comes out negative when the machine was slower during the bare run than during
the engine's: a difference within the noise). The engine's CPU per task (CPU time of the engine's process, its loop and its
database thread, without the workers, minus the CPU the bare run's parent spent starting
and reaping the same processes) is the steadier measure of its own cost.
Goal: under 5 ms per task. Machine: {machine()}.

| concurrency | bare process starts | through the engine | completed | wall overhead per task | engine CPU per task |
|---|---|---|---|---|---|
{table}
""")


if __name__ == "__main__":
    main()
