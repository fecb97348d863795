"""Map benchmark: frame time when panning and zooming over 10,000,000 points.

1. Once, a tracks.db of ~10M ground-truth points (ten 35-day stretches of one person,
   each with its own workplace) analysed by the default chain, cached in
   ``bench/.work/map/`` (git-ignored); ``--points N`` makes a smaller one for quick checks.
2. The map widget (``trackdesk.ui.views.map_view.MapView``, offscreen, 1280x800) at
   several zoom levels: cold (tiles rendered from the rendering metadata by the background
   loader, measured until the view is complete) and warm frames while panning and zooming,
   each frame a full ``grab()`` of the widget, i.e. a real paint.
3. Results into docs/BENCHMARKS.md between ``<!-- bench:map -->`` markers.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import machine, write_section  # noqa: E402
from trackdesk.skills.groundtruth import generate, insert_points  # noqa: E402
from trackdesk.skills.registry import DEFAULT_CHAIN  # noqa: E402
from trackdesk.tracks.db import connect_raw, open_db  # noqa: E402

WORK = ROOT / "bench" / ".work" / "map"
STRETCH_DAYS = 35  # ~1M points each at 1-4.6 s sampling


def run_skill(skill: str, db: Path) -> float:
    t0 = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-m", "trackdesk.skills", skill, "--task-id", "0",
                          "--db-path", str(db), "--task-type", "FULL_RECOMPUTE"],
                         capture_output=True, text=True, env=env, cwd=str(ROOT))
    if res.returncode != 0:
        raise RuntimeError(f"{skill} exited {res.returncode}: {res.stderr[-2000:]}")
    return time.perf_counter() - t0


def build_db(path: Path, n_target: int) -> dict[str, float]:
    """Generate, insert and analyse; returns seconds per step."""
    for f in path.parent.glob(path.name + "*"):
        f.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    open_db(path).dispose()
    conn = connect_raw(path)
    t0 = time.perf_counter()
    n, k, offset = 0, 0, 0.0
    while n < n_target:
        days = max(1, min(STRETCH_DAYS, round(STRETCH_DAYS * (n_target - n) / 1_000_000)))
        truth = generate(days=days, seed=1000 + k, sample_s=(1.0, 4.6), sparse_stay_prob=0.1)
        truth.ts = truth.ts + offset
        insert_points(conn, truth)
        n += len(truth)
        offset += days * 86400.0
        k += 1
        print(f"  {n:,} points", flush=True)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    times = {"generate_insert": time.perf_counter() - t0}
    for skill in DEFAULT_CHAIN:
        times[skill] = run_skill(skill, path)
        print(f"  {skill}: {times[skill]:.1f} s", flush=True)
    (path.parent / (path.name + ".ready")).write_text(str(n))
    return times


def ensure_db(n_target: int) -> tuple[Path, int]:
    path = WORK / f"map-{n_target}.db"
    ready = path.parent / (path.name + ".ready")
    if not ready.exists():
        print(f"building {path} (once)", flush=True)
        build_db(path, n_target)
    return path, int(ready.read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--prepare-only", action="store_true")
    args = ap.parse_args()
    db, n = ensure_db(args.points)
    if args.prepare_only:
        return
    from bench.map.frames import measure  # Qt only past this point

    body = measure(db, n, machine())
    write_section("map", body)
    print(body)


if __name__ == "__main__":
    main()
