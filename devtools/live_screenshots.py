"""Screenshots of the live monitor (issue 18) at two sizes: a 1280×800 screen filled by
the window, and a 1000×700 window.

``xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python -m devtools.live_screenshots
docs/screenshots``. The demo tracks.db, stand-in workers for the analysis skills (they
report progress and log lines as real ones do) and the REAL import skill on a folder of
real GPX files (gpxpy's test files, in ``tests/data`` or the shared corpus) plus two
broken ones, so the import ends partly failed with a per-file summary.

For each size: the table with moving bars, the partly failed import's summary, the live
log, Settings and the Health dock (docked: the window must keep its size).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from devtools.shots import check_saved, demo_workspace, run_qt, shot_app, wait_for

SIZES = ((1280, 800), (1000, 700))
KINDS = ("table", "import-summary", "live-log", "settings", "health-dock")
SHOTS = tuple(f"live-{k}-{w}x{h}.png" for w, h in SIZES for k in KINDS)

# Real GPX files (gpxpy's test files, Apache-2.0; see LICENSE-gpxpy.txt beside them).
GPX_FILES = ("Mojstrovka.gpx", "korita-zbevnica.gpx", "cerknicko-jezero.gpx",
             "around-visnjan-with-car.gpx", "unicode_with_bom.gpx")


def _corpus() -> Path | None:
    here = Path(__file__).resolve().parents[1]
    for c in (here / "tests" / "data" / "gpx", here.parent / "shared" / "corpus" / "gpx",
              Path("/work/shared/corpus/gpx")):
        if all((c / f).is_file() for f in GPX_FILES):
            return c
    return None


def import_folder(tmp: Path) -> Path:
    """Real GPX files and two that cannot be read: a partly failed import."""
    folder = tmp / "Tracks 2024"
    folder.mkdir()
    corpus = _corpus()
    if corpus is not None:
        for name in GPX_FILES:
            shutil.copy(corpus / name, folder / name)
    else:  # a fresh clone without the corpus: two plain tracks written here
        for k in range(2):
            pts = "".join(f'<trkpt lat="{48.13 + i * 1e-4:.5f}" lon="{11.57 + k * 0.01:.5f}">'
                          f"<time>2024-05-0{k + 1}T10:{i // 60:02d}:{i % 60:02d}Z</time>"
                          "</trkpt>" for i in range(240))
            (folder / f"walk {k + 1}.gpx").write_text(
                '<?xml version="1.0"?><gpx version="1.1" creator="trackdesk">'
                f"<trk><trkseg>{pts}</trkseg></trk></gpx>")
    (folder / "truncated ride.gpx").write_text(
        '<?xml version="1.0"?><gpx version="1.1"><trk><trkseg><trkpt lat="46.1" lon="14.2">'
        "<time>2024-05-01T10:00:00Z</time></trkpt><trkpt lat=")
    (folder / "not a track.gpx").write_text("this file is a shopping list, not GPS data\n")
    return folder


def main(out_dir: Path) -> int:
    from dataclasses import replace

    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QGuiApplication

    from devtools.demo import DEMO_SPECS
    from trackdesk.engine.engine import Engine, EngineSettings
    from trackdesk.engine.states import Status
    from trackdesk.skills.registry import BUILTIN_SPECS, SkillRegistry
    from trackdesk.ui.app import Desktop, compose
    from trackdesk.ui.app import main as app_main
    from trackdesk.ui.main_window import MainWindow
    from trackdesk.ui.settings import AppSettings

    out_dir.mkdir(parents=True, exist_ok=True)
    app = shot_app()
    real_import = next(s for s in BUILTIN_SPECS if s.name == "import")
    registry = SkillRegistry([replace(real_import, docker=False)] +
                             [s for s in DEMO_SPECS if s.name != "import"])

    def factory(path: Path) -> Engine:
        return Engine(path, registry=registry,
                      settings=EngineSettings(poll_interval_s=0.2, flush_interval_s=0.2,
                                              concurrency=4))

    def grab(w: MainWindow, name: str) -> None:
        """The window with its frame, as a person sees it on the screen."""
        geo = w.frameGeometry()
        QGuiApplication.primaryScreen().grabWindow(0, geo.x(), geo.y(), geo.width(),
                                                   geo.height()).save(str(out_dir / name))
        print("saved", out_dir / name, f"({geo.width()}×{geo.height()})")

    def save(widget: Any, name: str) -> None:
        widget.grab().save(str(out_dir / name))
        print("saved", out_dir / name)

    def run_size(width: int, height: int) -> None:
        tmp, db = demo_workspace(f"trackdesk-live-shots-{width}-")
        folder = import_folder(tmp)
        tag = f"{width}x{height}"

        def make_window() -> Desktop:
            store = QSettings(str(tmp / "trackdesk.ini"), QSettings.Format.IniFormat)
            desktop = compose(store, AppSettings(concurrency=4, on_quit="stop"), factory)
            w = desktop.window
            screen = QGuiApplication.primaryScreen().availableGeometry()
            if (width, height) == (screen.width(), screen.height()):
                # The whole 1280×800 screen (without a window manager, by its geometry).
                w.setGeometry(screen)
                w.showMaximized()
            else:
                w.resize(width, height)
                w.move(10, 10)
            asyncio.ensure_future(shoot(w))
            return desktop

        async def shoot(w: MainWindow) -> None:
            try:
                await wait_for(lambda: w.engine is not None)
                engine = w.engine
                task = w.import_paths([folder])
                rec = await task if task is not None else None
                assert rec is not None, "the import was not queued"
                await wait_for(lambda: engine.tasks[rec.id].status not in
                               (Status.PENDING, Status.RUNNING), 60)
                chain = await engine.run_chain(task_type="INCREMENTAL")
                await engine.create_task("grid_system", task_type="FULL_RECOMPUTE",
                                         priority="urgent")
                await engine.create_task("stay_stats", priority="low")
                await wait_for(lambda: sum(t.status == Status.RUNNING and t.processed_points
                                           for t in engine.tasks.values()) >= 3, 40)
                await wait_for(lambda: engine.tasks[chain[0].id].eta_seconds is not None, 40)
                await asyncio.sleep(1.5)
                w.select_tasks([chain[0].id])
                w.detail.tabs.setCurrentIndex(0)
                await asyncio.sleep(1.2)
                grab(w, f"live-table-{tag}.png")

                w.select_tasks([rec.id])
                w.detail.tabs.setCurrentIndex(0)
                await asyncio.sleep(0.5)
                grab(w, f"live-import-summary-{tag}.png")

                w.select_tasks([chain[0].id])
                w.detail.show_log()
                await asyncio.sleep(3.0)  # the next lines arrive while we wait
                grab(w, f"live-live-log-{tag}.png")
                w.detail.tabs.setCurrentIndex(0)

                dialog = w.open_settings()
                await asyncio.sleep(0.5)
                save(dialog, f"live-settings-{tag}.png")
                dialog.reject()

                before = w.size()
                health = w.monitor.show_health()
                task = health.check() if hasattr(health, "check") else None
                if task is not None:
                    await task
                await asyncio.sleep(1.5)
                grab(w, f"live-health-dock-{tag}.png")
                after = w.size()
                print(f"window {before.width()}×{before.height()} → with the Health dock "
                      f"{after.width()}×{after.height()}")
            finally:
                w.request_quit()

        os.environ["XDG_STATE_HOME"] = str(tmp / "state")
        run_qt(app, app_main(db, make_window))

    for width, height in SIZES:
        run_size(width, height)
    return check_saved(out_dir, SHOTS)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")))
