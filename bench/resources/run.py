"""The cost of sampling running workers' CPU and memory once a second.

200 real worker processes run through the engine (the `count` test worker, sleeping), and
the engine's sampler (psutil, one oneshot() per worker) is timed over many rounds. The
reference is the engine's own CPU over the same time with sampling switched off.
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

WORKERS = int(os.environ.get("BENCH_SAMPLED_WORKERS", "200"))
ROUNDS = 30


async def main() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        registry = SkillRegistry(list(BUILTIN_SPECS) + SPECS)
        engine = Engine(Path(tmp) / "tracks.db", registry=registry,
                        launchers={"local": LocalLauncher()},
                        settings=EngineSettings(concurrency=WORKERS,
                                                sample_interval_s=3600.0))
        await engine.start()
        for i in range(WORKERS):
            await engine.create_task("count", params={"n": 10, "batch": 1, "sleep_s": 60,
                                                      "key": f"w{i}"})
        deadline = time.monotonic() + 300
        while len(engine.running_handles()) < WORKERS or any(
                h.sample() is None for h in engine.running_handles().values()):
            if time.monotonic() > deadline:
                raise SystemExit("workers did not all start")
            await asyncio.sleep(0.5)
        await asyncio.sleep(2.0)  # let the start-up settle
        # Reference: the engine idle with 200 workers and no sampling, for 5 s.
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(5.0)
        idle_share = (time.process_time() - cpu0) / (time.perf_counter() - t0)
        costs = []
        for _ in range(ROUNDS):
            c0 = time.thread_time()
            engine.sample_once()
            costs.append(time.thread_time() - c0)
            await asyncio.sleep(0.2)
        await engine.stop(running="stop")
    costs.sort()
    per_round = sum(costs) / len(costs)
    return {"per_round_ms": per_round * 1000, "p95_ms": costs[int(0.95 * len(costs))] * 1000,
            "share": per_round / 1.0, "idle_share": idle_share}


if __name__ == "__main__":
    r = asyncio.run(main())
    print(r)
    write_section("resources", f"""
## Resource sampling: {WORKERS} running workers once a second

{WORKERS} real worker processes run through the engine; the engine's sampler reads each
one's CPU share, memory and CPU time with psutil (`oneshot()`), once a second, on the
loop thread. Measured: the CPU time of one sampling round over {ROUNDS} rounds. Reference
in the same run: the engine's whole CPU share with those {WORKERS} workers and sampling
off. Machine: {machine()}.

| | per round (mean) | per round (p95) | CPU share of one core at 1 Hz |
|---|---|---|---|
| sampling {WORKERS} workers | {r['per_round_ms']:.1f} ms | {r['p95_ms']:.1f} ms | {r['share']:.2%} |
| engine without sampling (reference) | | | {r['idle_share']:.2%} |
""")
