"""``make screenshots``: the real app on a demo tracks.db, photographed.

Run under a virtual screen (it needs a real window system for menus and the screen grab):
``xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python -m devtools.screenshots
docs/screenshots``. The demo db holds a history of chain runs in every state; a chain
run, an import and a full recompute run live with stand-in workers (devtools.demo).
"""

from __future__ import annotations

import asyncio
import os
import sys
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

SHOTS = ("main-window.png", "context-menu.png", "detail-pane.png", "log.png",
         "drop-overlay.png", "settings.png", "welcome.png")


def main(out_dir: Path) -> int:
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QGuiApplication

    from devtools.demo import demo_registry
    from trackdesk.engine.engine import Engine, EngineSettings
    from trackdesk.engine.states import Status
    from trackdesk.ui.app import Desktop
    from trackdesk.ui.app import main as app_main
    from trackdesk.ui.main_window import MainWindow
    from trackdesk.ui.settings import AppSettings

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp, db = demo_workspace("trackdesk-shots-")
    app = shot_app()

    def factory(path: Path) -> Engine:
        return Engine(path, registry=demo_registry(),
                      settings=EngineSettings(poll_interval_s=0.2, flush_interval_s=0.2))

    def make_window() -> Desktop:
        return shot_desktop(tmp / "trackdesk.ini", AppSettings(concurrency=3, on_quit="stop"),
                            factory, shoot)

    save = saver(out_dir)

    def screen_region(w: MainWindow, name: str) -> None:
        screen = QGuiApplication.primaryScreen()
        geo = w.frameGeometry()
        screen.grabWindow(0, geo.x(), geo.y(), geo.width(), geo.height()).save(
            str(out_dir / name))
        print("saved", out_dir / name)

    async def shoot_welcome(w: MainWindow) -> None:
        try:
            await wait_for(lambda: w.engine is not None and w.welcome.showing)
            await asyncio.sleep(0.5)
            save(w, "welcome.png")
        finally:
            w.request_quit()

    def make_welcome_window() -> Desktop:
        return shot_desktop(tmp / "first-run.ini", AppSettings(), factory, shoot_welcome)

    async def shoot(w: MainWindow) -> None:
        try:
            await wait_for(lambda: w.engine is not None)
            engine = w.engine
            chain = await engine.run_chain(task_type="INCREMENTAL")
            await engine.create_task("import", params={
                "paths": '["/home/me/Downloads/2024-rides.zip"]'}, priority="high")
            grid = await engine.create_task("grid_system", task_type="FULL_RECOMPUTE",
                                            priority="urgent")
            await engine.create_task("stay_stats", priority="low")
            await wait_for(lambda: sum(t.status == Status.RUNNING
                                    for t in engine.tasks.values()) >= 3)
            await wait_for(lambda: all(engine.tasks[t].eta_seconds is not None for t in
                                    (chain[0].id,)), 40)
            await asyncio.sleep(1.5)
            await engine.pause(grid.id)
            w.select_tasks([chain[0].id])
            w.detail.show_log()
            await asyncio.sleep(2.5)  # log lines and the next progress reports arrive
            save(w, "main-window.png")
            save(w.detail, "log.png")

            failed = next(t for t in engine.tasks.values() if t.status == Status.FAILED)
            w.select_tasks([failed.id])
            w.detail.tabs.setCurrentIndex(0)
            await asyncio.sleep(0.3)
            save(w.detail, "detail-pane.png")

            row = w.proxy.mapFromSource(w.model.index(w.model.row_of(failed.id), 3))
            w.view.scrollTo(row, w.view.ScrollHint.PositionAtCenter)
            await asyncio.sleep(0.2)
            rect = w.view.visualRect(row)
            menu = w.build_task_menu()
            menu.popup(w.view.viewport().mapToGlobal(rect.center() + QPoint(-30, 6)))
            await asyncio.sleep(0.6)
            screen_region(w, "context-menu.png")
            menu.close()

            w.overlay.show_for("Drop to import", "3 items (2024-rides.zip, Takeout, "
                               "walk.gpx) → one import task into tracks.db")
            await asyncio.sleep(0.3)
            save(w, "drop-overlay.png")
            w.overlay.hide()

            dialog = w.open_settings()
            await asyncio.sleep(0.4)
            save(dialog, "settings.png")
            dialog.reject()
        finally:
            w.request_quit()

    os.environ.setdefault("XDG_STATE_HOME", str(tmp / "state"))
    run_qt(app, app_main(db, make_window))
    # The first run (docs/UI.md): a second, short run on an empty tracks.db.
    run_qt(app, app_main(tmp / "first-run" / "tracks.db", make_welcome_window))
    return check_saved(out_dir, SHOTS)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")))
