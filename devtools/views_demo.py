"""Demo data for the views: a ground-truth history analysed by the real skills.

Used by the screenshots, the views' tests and bench/map. The skills run as worker
processes exactly as the engine starts them (``python -m trackdesk.skills``), so what
the views show is what a user's chain produces.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from trackdesk.skills.groundtruth import generate, insert_points
from trackdesk.skills.registry import DEFAULT_CHAIN
from trackdesk.tracks.db import connect_raw, open_db

STRETCH_DAYS = 35  # ~1M points at 1-4.6 s sampling


def run_skill(skill: str, db: Path, task_type: str = "FULL_RECOMPUTE") -> None:
    """One skill as a worker process; raises with its stderr when it fails."""
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    res = subprocess.run([sys.executable, "-m", "trackdesk.skills", skill, "--task-id", "0",
                          "--db-path", str(db), "--task-type", task_type],
                         capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"{skill} exited {res.returncode}: {res.stderr[-2000:]}")


def add_points(db: Path, days: int, seed: int = 7, day_offset: int = 0,
               sample_s: tuple[float, float] = (2.0, 8.0)) -> int:
    """Insert ``days`` generated days starting ``day_offset`` days after 2026-01-01."""
    truth = generate(days=days, seed=seed, sample_s=sample_s, sparse_stay_prob=0.2)
    truth.ts = truth.ts + day_offset * 86400.0
    conn = connect_raw(db)
    try:
        insert_points(conn, truth)
    finally:
        conn.close()
    return len(truth)


def build(db: Path, days: int = 6, seed: int = 7, chain: bool = True,
          skills: tuple[str, ...] = DEFAULT_CHAIN,
          sample_s: tuple[float, float] = (2.0, 8.0)) -> int:
    """A fresh tracks.db with ``days`` of history in stretches of up to 35 days (each a
    new seed: another workplace), analysed by ``skills``. Returns the number of points."""
    for f in db.parent.glob(db.name + "*"):
        f.unlink()
    db.parent.mkdir(parents=True, exist_ok=True)
    open_db(db).dispose()
    n, done = 0, 0
    while done < days:
        k = min(STRETCH_DAYS, days - done)
        n += add_points(db, k, seed + done, done, sample_s)
        done += k
    if chain:
        for skill in skills:
            run_skill(skill, db)
    return n
