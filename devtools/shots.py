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
