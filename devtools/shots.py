"""What the screenshot scripts share (``make screenshots``): a demo tracks.db in a fresh
folder, the app in one style, and waiting for the demo to get somewhere."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


async def wait_for(pred: Callable[[], Any], timeout: float = 30.0) -> None:
    """Until ``pred()`` holds, letting the loop run; TimeoutError after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise TimeoutError("the demo did not get there in time")
        await asyncio.sleep(0.05)


def demo_workspace(prefix: str) -> tuple[Path, Path]:
    """A new folder and the demo tracks.db in it (devtools.demo.fill_demo_db)."""
    from devtools.demo import fill_demo_db

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    db = tmp / "tracks.db"
    fill_demo_db(db)
    return tmp, db


def shot_app() -> Any:
    """The application the way every screenshot shows it: Fusion, whatever the desktop."""
    from trackdesk.ui.app import make_app

    app = make_app()
    app.setStyle("Fusion")
    return app


def shot_desktop(ini: Path, settings: Any, factory: Callable[[Path], Any],
                 shoot: Callable[[Any], Any]) -> Any:
    """The app composed as ``trackdesk.ui.app`` does it (its QSettings in ``ini``), its
    window at the screenshots' size and place; ``shoot(window)`` runs on the loop."""
    from PySide6.QtCore import QSettings

    from trackdesk.ui.app import compose

    desktop = compose(QSettings(str(ini), QSettings.Format.IniFormat), settings, factory)
    w = desktop.window
    w.resize(1240, 760)
    w.move(20, 16)
    asyncio.ensure_future(shoot(w))
    return desktop


def saver(out_dir: Path) -> Callable[[Any, str], None]:
    """save(widget, name): the widget's grab as ``out_dir/name``, said on stdout."""
    def save(widget: Any, name: str) -> None:
        widget.grab().save(str(out_dir / name))
        print("saved", out_dir / name)

    return save


def run_qt(app: Any, coro: Any) -> None:
    """Run ``coro`` to its end on a qasync loop over ``app`` (the app's own set-up)."""
    import qasync

    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        runner.run(coro)


def check_saved(out_dir: Path, names: tuple[str, ...]) -> int:
    """0 when every screenshot in ``names`` was saved, else 1 naming the missing ones."""
    missing = [s for s in names if not (out_dir / s).exists()]
    if missing:
        print("missing:", ", ".join(missing), file=sys.stderr)
        return 1
    return 0
