"""The chain canvas photographed with a running chain (docs/screenshots/canvas.png).

``xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python -m devtools.canvas_screenshot
docs/screenshots``. It opens the demo tracks.db (a history of chain runs; stand-in workers
under the real skill names, see devtools.demo), shows the default chain with the
tasks of its latest run, reruns it from stay detection and shoots while that runs.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from devtools.shots import demo_workspace, shot_app, wait_for


def main(out_dir: Path) -> int:
    import qasync

    from devtools.demo import demo_registry
    from trackdesk.engine.chains import RecoveryFile
    from trackdesk.engine.engine import Engine, EngineSettings
    from trackdesk.engine.states import Status
    from trackdesk.ui.canvas.window import CanvasWindow

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp, db = demo_workspace("trackdesk-canvas-shot-")
    app = shot_app()

    async def shoot() -> None:
        engine = Engine(db, registry=demo_registry(),
                        settings=EngineSettings(poll_interval_s=0.2, flush_interval_s=0.2,
                                                concurrency=3))
        await engine.start()
        c = CanvasWindow(engine=engine, recovery=RecoveryFile(tmp / "recovery.json"))
        try:
            c.resize(1270, 790)
            c.move(5, 5)
            c.show()
            await wait_for(lambda: c.doc.template == "default" and len(c.node_tasks) == 9)
            task = c.rerun_from("stay_detection", downstream=True)
            assert task is not None
            await task
            items = c.scene.nodes
            await wait_for(lambda: items["stay_detection"].status == Status.RUNNING and
                        (items["stay_detection"].task.progress_percent or 0) > 12)
            c.scene.select_nodes(["stay_detection"])
            c.inspector.set_value("dist_threshold_m", "80")
            c.view.fit()
            c.statusBar().showMessage("Chain run e9b1f7a2c6d5: rerun from stay_detection", 0)
            await asyncio.sleep(1.0)
            c.grab().save(str(out_dir / "canvas.png"))
            print("saved", out_dir / "canvas.png")
        finally:
            c.detach()
            c.close()
            await engine.stop("stop")
            c.deleteLater()

    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        runner.run(shoot())
    return 0 if (out_dir / "canvas.png").exists() else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")))
