"""REST API: task listing throughput with 10,000 tasks, and event-stream latency.

The server is the real thing: `trackdesk serve` in its own process (engine and API on one
loop) on a fresh tracks.db holding 10,000 finished tasks. The client runs here, with
aiohttp, over 127.0.0.1 only. Requests are bounded in count and time.

Event latency: a task change is made through the API (a priority change of a held task);
the client times (a) from sending that request to receiving the task_changed event, and
(b) from the change itself (the task's updated_at, stamped by the engine) to receiving the
event; both clocks are this machine's wall clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import machine, write_section  # noqa: E402
from trackdesk.engine.records import TaskRecord  # noqa: E402
from trackdesk.engine.states import Status  # noqa: E402
from trackdesk.engine.store import TaskStore  # noqa: E402
from trackdesk.skills.registry import DEFAULT_CHAIN  # noqa: E402

P = "/api/admin/analysis"
TASKS = int(os.environ.get("BENCH_API_TASKS", "10000"))
HELD = 20
SECONDS = float(os.environ.get("BENCH_API_SECONDS", "8"))
EVENTS = int(os.environ.get("BENCH_API_EVENTS", "300"))
MAX_REQUESTS = 100_000  # a hard bound on any one load loop
LEVEL: dict[int, str] = {}  # the held tasks' current priority


def populate(db: Path) -> list[int]:
    """10,000 finished tasks as a long-used workspace has them, plus a few held ones."""
    store = TaskStore(db)
    try:
        now = datetime.now(UTC)
        records = []
        for i in range(TASKS):
            skill = DEFAULT_CHAIN[i % len(DEFAULT_CHAIN)]
            start = now - timedelta(minutes=TASKS - i)
            records.append(TaskRecord(
                id=0, skill_name=skill, status=Status.COMPLETED, progress_percent=100.0,
                total_points=100_000 + i, processed_points=100_000 + i, failed_points=i % 7,
                start_time=start, end_time=start + timedelta(seconds=30),
                result_summary={"points": 100_000 + i, "note": "bench"},
                params={"example": i}, created_by="bench", attempt=1,
                chain_run_id=f"run{i // len(DEFAULT_CHAIN):06d}"))
        for _ in range(HELD):
            records.append(TaskRecord(id=0, skill_name="outlier_detection",
                                      status=Status.PAUSED, status_reason="held by bench",
                                      created_by="bench"))
        saved = []
        for k in range(0, len(records), 2000):
            saved += store.insert_tasks(records[k:k + 2000])
        return [t.id for t in saved if t.status == Status.PAUSED]
    finally:
        store.close()


def start_server(db: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "trackdesk", "--db", str(db), "serve",
                             "--port", "0"], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if select.select([proc.stderr], [], [], 0.2)[0]:
            line = proc.stderr.readline()
            match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            if match:
                return proc, match.group(1)
        if proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("trackdesk serve did not start")


async def load(http: aiohttp.ClientSession, path: str, concurrency: int,
               seconds: float) -> dict[str, float]:
    """Requests/s of GET ``path`` from ``concurrency`` clients for ``seconds``."""
    latencies: list[float] = []
    size = 0
    stop_at = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal size
        while time.perf_counter() < stop_at and len(latencies) < MAX_REQUESTS:
            t0 = time.perf_counter()
            async with http.get(path) as resp:
                body = await resp.read()
                assert resp.status == 200, resp.status
            latencies.append(time.perf_counter() - t0)
            size = len(body)

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    latencies.sort()
    return {"rps": len(latencies) / wall, "n": len(latencies), "size": size,
            "p50": latencies[len(latencies) // 2] * 1000,
            "p95": latencies[int(len(latencies) * 0.95)] * 1000}


async def sse_latency(http: aiohttp.ClientSession, held: list[int], n: int,
                      background: str | None = None) -> dict[str, float]:
    """Latency from a task change to the event on an open stream."""
    from_request: list[float] = []
    from_change: list[float] = []
    stop_bg = threading.Event()

    def noise() -> None:
        """Another client listing all tasks non-stop, on a loop (and thread) of its own so
        that its reading does not delay this client's reading of the event stream."""
        async def lister() -> None:
            async with aiohttp.ClientSession(base_url=str(http._base_url)) as other:
                count = 0
                while not stop_bg.is_set() and count < MAX_REQUESTS:
                    async with other.get(background or "") as resp:
                        await resp.read()
                    count += 1

        asyncio.run(lister())

    async with http.get(f"{P}/events", timeout=aiohttp.ClientTimeout(total=None)) as stream:
        lines = stream.content

        async def next_event() -> tuple[str, dict]:
            kind, data = "", ""
            while True:
                raw = (await lines.readline()).decode()
                if raw in ("\n", ""):
                    if data:
                        return kind, json.loads(data)
                    continue
                if raw.startswith("event:"):
                    kind = raw[6:].strip()
                elif raw.startswith("data:"):
                    data = raw[5:].strip()

        kind, _ = await next_event()
        assert kind == "ready"
        bg = threading.Thread(target=noise) if background else None
        if bg is not None:
            bg.start()
            await asyncio.sleep(0.5)
        for i in range(n):
            tid = held[i % len(held)]
            # Always a real change (an unchanged priority sends no event).
            level = LEVEL[tid] = "high" if LEVEL.get(tid) == "low" else "low"
            sent = time.time()
            async with http.post(f"{P}/tasks/{tid}/priority",
                                 json={"priority": level}) as resp:
                assert resp.status == 200, await resp.text()
            while True:
                kind, data = await asyncio.wait_for(next_event(), 10)
                if kind == "task_changed" and data["task_id"] == tid and \
                        data["changes"].get("priority") == level:
                    break
            got = time.time()
            changed = datetime.fromisoformat(
                data["changes"]["updated_at"].replace("Z", "+00:00")
                if "updated_at" in data["changes"] else
                data["task"]["updated_at"].replace("Z", "+00:00")).timestamp()
            from_request.append((got - sent) * 1000)
            from_change.append((got - changed) * 1000)
        stop_bg.set()
        if bg is not None:
            await asyncio.to_thread(bg.join, 60)

    def pct(xs: list[float], q: float) -> float:
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(len(xs) * q))]

    return {"n": n, "req_p50": statistics.median(from_request),
            "req_p95": pct(from_request, 0.95), "chg_p50": statistics.median(from_change),
            "chg_p95": pct(from_change, 0.95), "chg_p99": pct(from_change, 0.99),
            "chg_max": max(from_change)}


async def bench(url: str, held: list[int]) -> tuple[list[tuple[str, int, dict]], dict,
                                                    dict, float]:
    async with aiohttp.ClientSession(base_url=url) as http:
        t0 = time.perf_counter()
        async with http.get(f"{P}/tasks") as resp:
            body = await resp.json()
        cold = (time.perf_counter() - t0) * 1000
        assert len(body["data"]) == TASKS + HELD, len(body["data"])
        rows = []
        for path in (f"{P}/tasks", f"{P}/tasks?status=paused", f"{P}/tasks/{held[0]}"):
            for conc in (1, 4):
                rows.append((path, conc, await load(http, path, conc, SECONDS)))
        quiet = await sse_latency(http, held, EVENTS)
        busy = await sse_latency(http, held, max(50, EVENTS // 3), f"{P}/tasks")
        return rows, quiet, busy, cold


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="trackdesk-bench-api-") as tmp:
        db = Path(tmp) / "tracks.db"
        t0 = time.perf_counter()
        held = populate(db)
        fill = time.perf_counter() - t0
        proc, url = start_server(db)
        load_before = os.getloadavg()[0]
        try:
            rows, quiet, busy, cold = asyncio.run(bench(url, held))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    table = "\n".join(
        f"| `GET {path.replace(P, '…')}` | {conc} | {r['rps']:.1f} | {r['p50']:.1f} ms | "
        f"{r['p95']:.1f} ms | {r['size'] / 1e6:.2f} MB |" if r["size"] > 100_000 else
        f"| `GET {path.replace(P, '…')}` | {conc} | {r['rps']:.0f} | {r['p50']:.1f} ms | "
        f"{r['p95']:.1f} ms | {r['size'] / 1e3:.1f} kB |"
        for path, conc, r in rows)
    body = f"""## REST API: task listing with {TASKS:,} tasks, event-stream latency

`trackdesk serve` in its own process (the engine and the API on one asyncio loop) on a
tracks.db holding {TASKS:,} finished tasks and {HELD} held ones (filled in {fill:.1f} s);
an aiohttp client in this process over 127.0.0.1, each load for {SECONDS:g} s.
The listing joins per-task JSON cached until the task changes; the first (cold) listing
took {cold:.0f} ms. Machine: {machine()}; load average {load_before:.1f} before and
{os.getloadavg()[0]:.1f} after the run (other work on the machine shares its 2 cores).

| request | clients | requests/s | p50 | p95 | response |
|---|---|---|---|---|---|
{table}

Event stream: a priority change through the API, then the `task_changed` event on an open
`GET …/events` stream ({quiet['n']} changes; "from the change" is measured from the task's
`updated_at`, stamped by the engine when it made the change).

| load | from request to event, p50 / p95 | from the change to event, p50 / p95 / p99 / max |
|---|---|---|
| idle | {quiet['req_p50']:.1f} / {quiet['req_p95']:.1f} ms | {quiet['chg_p50']:.1f} / {quiet['chg_p95']:.1f} / {quiet['chg_p99']:.1f} / {quiet['chg_max']:.1f} ms |
| while another client (own thread) lists all {TASKS:,} tasks non-stop | {busy['req_p50']:.1f} / {busy['req_p95']:.1f} ms | {busy['chg_p50']:.1f} / {busy['chg_p95']:.1f} / {busy['chg_p99']:.1f} / {busy['chg_max']:.1f} ms |
"""
    print(body)
    write_section("api", body)


if __name__ == "__main__":
    main()
