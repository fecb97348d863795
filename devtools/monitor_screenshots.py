"""Screenshots of the metrics panel and the health view (docs/screenshots).

``xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python -m devtools.monitor_screenshots
docs/screenshots``. The demo tracks.db of ``devtools.screenshots`` plus a day of
finished tasks (so the charts have bars); three demo workers run, and one of them is
frozen with SIGSTOP so that it really goes silent and the engine flags it stuck.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devtools.shots import (
    check_saved,
    demo_workspace,
    run_qt,
    saver,
    shot_app,
    shot_desktop,
    wait_for,
)

SHOTS = ("metrics.png", "health.png")
STUCK_SKILL = "trip_construction"


def add_recent_history(db: Path, now: datetime | None = None) -> None:
    """Finished tasks spread over the last 24 h, a few of them failed."""
    from trackdesk.engine.records import TaskRecord
    from trackdesk.engine.states import Status
    from trackdesk.engine.store import TaskStore

    now = now or datetime.now(UTC)
    rnd = random.Random(11)
    # Points per second of each skill: durations follow from the points.
    skills = {"import": 180_000, "outlier_detection": 420_000, "stay_detection": 95_000,
              "transport_mode": 60_000, "grid_system": 900_000}
    recs = []
    for _ in range(160):
        skill = rnd.choice(list(skills))
        end = now - timedelta(minutes=rnd.uniform(2, 24 * 60))
        total = rnd.choice([150_000, 400_000, 1_250_000])
        failed = rnd.random() < 0.08
        done = total // 3 if failed else total
        dur = done / skills[skill] * rnd.uniform(0.8, 1.25)  # about the skill's pace
        recs.append(TaskRecord(
            id=0, skill_name=skill, status=Status.FAILED if failed else Status.COMPLETED,
            start_time=end - timedelta(seconds=dur), end_time=end, total_points=total,
            processed_points=done, progress_percent=100.0 * done / total,
            created_by="app", attempt=1,
            peak_memory_mb=round(rnd.uniform(80, 420), 1),
            cpu_time_s=round(dur * rnd.uniform(0.6, 0.95), 1),
            error_message="worker crashed (killed by SIGKILL)" if failed else None))
    store = TaskStore(db)
    try:
        store.insert_tasks(recs, [[] for _ in recs])
    finally:
        store.close()


def main(out_dir: Path) -> int:

    from devtools.demo import DEMO_SPECS
    from trackdesk.engine.engine import Engine, EngineSettings
    from trackdesk.engine.states import Status
    from trackdesk.skills.registry import SkillRegistry
    from trackdesk.ui.app import Desktop
    from trackdesk.ui.app import main as app_main
    from trackdesk.ui.main_window import MainWindow
    from trackdesk.ui.settings import AppSettings

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp, db = demo_workspace("trackdesk-monitor-shots-")
    add_recent_history(db)
    app = shot_app()
    # One skill gives up on its worker after 3 s of silence, so the freeze shows soon.
    registry = SkillRegistry([replace(s, stuck_after_s=3.0) if s.name == STUCK_SKILL else s
                              for s in DEMO_SPECS])

    def factory(path: Path) -> Engine:
        return Engine(path, registry=registry,
                      settings=EngineSettings(poll_interval_s=0.2, flush_interval_s=0.2,
                                              concurrency=3))

    def make_window() -> Desktop:
        return shot_desktop(tmp / "trackdesk.ini", AppSettings(concurrency=3, on_quit="stop"),
                            factory, shoot)

    save = saver(out_dir)

    async def shoot(w: MainWindow) -> None:
        frozen: int | None = None
        try:
            await wait_for(lambda: w.engine is not None)
            engine = w.engine
            stuck = await engine.create_task(STUCK_SKILL, priority="high")
            for skill in ("stay_stats", "footprint_stats"):
                await engine.create_task(skill, priority="high")
            await wait_for(lambda: engine.tasks[stuck.id].worker_ref is not None and
                        engine.tasks[stuck.id].status == Status.RUNNING)
            await asyncio.sleep(1.5)
            frozen = int(str(engine.tasks[stuck.id].worker_ref).split(":")[1])
            os.kill(frozen, signal.SIGSTOP)
            await wait_for(lambda: stuck.id in engine.stuck_ids(), 20)

            dock = w.monitor.metrics_dock
            panel = w.monitor.show_metrics()
            dock.setFloating(True)
            dock.resize(1100, 720)
            w.monitor.refresh()
            await asyncio.sleep(1.0)
            save(panel, "metrics.png")
            dock.setFloating(False)
            dock.hide()

            dock = w.monitor.health_dock
            health = w.monitor.show_health()
            health.docker = True
            dock.setFloating(True)
            dock.resize(900, 540)
            task = health.check()
            if task is not None:
                await task
            await wait_for(lambda: health.report is not None and health.stuck.rowCount() > 0,
                        60)
            await asyncio.sleep(0.5)
            save(health, "health.png")
            dock.setFloating(False)
            dock.hide()
        finally:
            if frozen is not None:
                os.kill(frozen, signal.SIGCONT)
            w.request_quit()

    os.environ.setdefault("XDG_STATE_HOME", str(tmp / "state"))
    run_qt(app, app_main(db, make_window))
    return check_saved(out_dir, SHOTS)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")))
