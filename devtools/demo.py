"""A demo tracks.db for screenshots and for trying the window: a history of chain runs in
every state, and stand-in workers that count points slowly under the real skill names.

Run as a worker: ``python -m devtools.demo SKILL --task-id N --db-path PATH ...``
(no Qt is imported here; it is a worker like any other, it only pretends to analyse).
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from trackdesk.skills.registry import BUILTIN_SPECS, DEFAULT_CHAIN, SkillRegistry
from trackdesk.skills.sdk import WorkerContext, run_worker

MODULE = "devtools.demo"
DEMO_SPECS = [replace(s, module=MODULE, docker=False, kind="demo", retries=0)
              for s in BUILTIN_SPECS]

_NOTES = {
    "import": "read {n:,} points from Takeout/Records.json",
    "outlier_detection": "flagged {k:,} outliers so far (speed > 300 m/s, spikes)",
    "trajectory_completion": "filled {k:,} gaps shorter than 10 min",
    "transport_mode": "classified {k:,} segments (walk, bike, car, train)",
    "stay_detection": "found {k:,} stays so far",
    "trip_construction": "built {k:,} trips",
    "grid_system": "assigned {n:,} points to 250 m cells",
    "footprint_stats": "{k:,} cells visited",
    "stay_stats": "{k:,} places summarised",
    "rendering_metadata": "tiles for zoom 4-16",
}


def demo_registry() -> SkillRegistry:
    return SkillRegistry(DEMO_SPECS)


def run_demo(ctx: WorkerContext) -> dict:
    """Count to a plausible number of points at a plausible pace, with log lines."""
    rnd = random.Random(ctx.task_id)
    skill = sys.argv[1]
    total = rnd.choice([480_000, 1_250_000, 2_730_000, 3_912_455])
    seconds = rnd.uniform(40, 120)
    steps = 400
    note = _NOTES.get(skill, "{n:,} points")
    ctx.progress(0, total, 0, force=True)
    print(f"{skill}: {total:,} points to analyse", file=sys.stderr, flush=True)
    failed = 0
    for i in range(1, steps + 1):
        ctx.check_stop()
        time.sleep(seconds / steps)
        n = total * i // steps
        failed += rnd.random() < 0.05
        ctx.progress(n, total, failed)
        if i % 25 == 0:
            ctx.log(note.format(n=n, k=n // rnd.randint(40, 400)))
    return {"points": total, "failed_points": failed}


def fill_demo_db(path: Path, now: datetime | None = None) -> None:
    """Write a history of finished work into ``path`` (a new tracks.db)."""
    from trackdesk.engine.records import TaskRecord
    from trackdesk.engine.states import Status
    from trackdesk.engine.store import TaskStore

    now = now or datetime.now(UTC)
    rnd = random.Random(42)
    store = TaskStore(path)
    try:
        def run_chain(run_id: str, start: datetime, fail_at: str | None = None,
                      cancel_at: str | None = None, interrupt_at: str | None = None,
                      task_type: str = "INCREMENTAL") -> None:
            recs, deps, t = [], [], start
            names = list(DEFAULT_CHAIN)
            index = {n: i for i, n in enumerate(names)}
            broken: str | None = None
            for name in names:
                spec = demo_registry().get(name)
                total = rnd.choice([1_250_000, 2_730_000, 3_912_455])
                dur = timedelta(seconds=rnd.uniform(20, 400))
                rec = TaskRecord(id=0, skill_name=name, task_type=task_type,
                                 chain_run_id=run_id, created_by="app",
                                 total_points=total, params=spec.validate_params({}),
                                 created_at=start, priority=1)
                if broken is not None:
                    rec.total_points = 0  # never ran: nothing counted
                    rec.status = Status.SKIPPED
                    rec.status_reason = f"upstream task ({broken}) did not complete"
                    rec.end_time = t
                elif name == fail_at:
                    rec.status, rec.start_time, rec.end_time = Status.FAILED, t, t + dur / 3
                    rec.processed_points = total // 3
                    rec.progress_percent = round(100 * rec.processed_points / total, 2)
                    rec.failed_points = 17
                    rec.failure_kind = "skill"
                    rec.attempt = 1
                    rec.error_message = ("no transport mode for 17 segments: speed profile "
                                         "missing (points without timestamps?)")
                    broken = name
                elif name == cancel_at:
                    rec.status, rec.start_time, rec.end_time = Status.CANCELLED, t, t + dur / 2
                    rec.processed_points = total // 2
                    rec.progress_percent = 50.0
                    rec.status_reason = "cancelled by the user"
                    broken = name
                elif name == interrupt_at:
                    rec.status, rec.start_time, rec.end_time = (Status.INTERRUPTED, t,
                                                                t + dur / 4)
                    rec.processed_points = total // 4
                    rec.progress_percent = 25.0
                    rec.status_reason = "the app stopped while this task ran; resume it " \
                        "to continue"
                    broken = name
                else:
                    rec.status, rec.start_time, rec.end_time = Status.COMPLETED, t, t + dur
                    rec.processed_points = total
                    rec.progress_percent = 100.0
                    rec.failed_points = rnd.choice([0, 0, 3, 12])
                    rec.attempt = 1
                    rec.result_summary = {"points": total, "rows_written": total // 37}
                    t = t + dur
                recs.append(rec)
                spec_up = demo_registry().get(name).upstream
                deps.append([index[u] for u in spec_up if u in index])
            store.insert_tasks(recs, deps)

        imp = TaskRecord(id=0, skill_name="import", status=Status.COMPLETED,
                         created_by="app", priority=2, total_points=3_912_455,
                         processed_points=3_912_455, progress_percent=100.0,
                         start_time=now - timedelta(days=3, hours=2),
                         end_time=now - timedelta(days=3, hours=1, minutes=52),
                         params={"paths": '["/home/me/Takeout/Location History"]',
                                 "gcj02": False},
                         result_summary={"files": 212, "points": 3_912_455,
                                         "duplicates": 18_220})
        store.insert_tasks([imp])
        run_chain("a41c9e07d2b3", now - timedelta(days=3, hours=1))
        run_chain("7f03b6a1c9e4", now - timedelta(days=2), fail_at="transport_mode")
        run_chain("c2d8e5f4a013", now - timedelta(days=1, hours=5), cancel_at="grid_system")
        run_chain("e9b1f7a2c6d5", now - timedelta(hours=20), interrupt_at="stay_detection",
                  task_type="FULL_RECOMPUTE")
        held = TaskRecord(id=0, skill_name="footprint_stats", status=Status.PAUSED,
                          status_reason="held by the user", created_by="cli", priority=0,
                          params=demo_registry().get("footprint_stats").validate_params({}))
        store.insert_tasks([held])
    finally:
        store.close()
    # The store stamps rows with the insert time; a history reads better created when run.
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE analysis_tasks SET created_at = start_time "
                     "WHERE start_time IS NOT NULL")


if __name__ == "__main__":
    name = sys.argv[1]
    spec = {s.name: s for s in DEMO_SPECS}[name]
    run_worker(spec, run_demo)
