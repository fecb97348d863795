"""Screenshot of days where you were (issue 21, item 4): ``timeline-zones.png``, the
timeline of a trip Tokyo (1-3 July 2026) → the 17:00 flight → San Francisco (3-6 July):
3 July is one 40-hour row from Tokyo's midnight to San Francisco's, the zone change
marked. Run under Xvfb: ``xvfb-run -a -s "-screen 0 1280x800x24" python -m
devtools.zone_screenshots docs/screenshots``. Built with this computer's zone
set to America/New_York, to show that it does not matter.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from PySide6.QtWidgets import QApplication

SIZE = (1280, 520)


def travel_db(folder: Path) -> Path:
    from devtools import travel_history as travel
    from devtools.views_demo import run_skill
    from trackdesk.skills.registry import DEFAULT_CHAIN
    from trackdesk.tracks.db import open_db

    db = folder / "tracks.db"
    open_db(db).dispose()
    conn = sqlite3.connect(db, isolation_level=None)
    travel.insert(conn, *travel.tokyo_then_san_francisco_week())
    conn.close()
    for skill in DEFAULT_CHAIN:
        run_skill(skill, db)
    return db


def shoot(out: Path) -> Path:
    from trackdesk.ui.views.loader import Loader
    from trackdesk.ui.views.timeline import TimelineView

    app = QApplication.instance() or QApplication(sys.argv[:1])
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = travel_db(Path(tmp))
        loader = Loader()
        loader.set_path(db)
        view = TimelineView(loader)
        view.resize(*SIZE)
        view.show()
        view.show_period(date(2026, 7, 1), date(2026, 7, 7))
        deadline = time.monotonic() + 60
        while view.strip.timeline is None and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.02)
        for _ in range(20):
            app.processEvents()
        path = out / "timeline-zones.png"
        view.grab().save(str(path))
        print(f"wrote {path}: {view.info.text()}", flush=True)
        view.close()
        loader.shutdown()
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    shoot(ap.parse_args().out)


if __name__ == "__main__":
    os.environ["TZ"] = "America/New_York"  # whatever this computer's zone: see the days
    time.tzset()
    main()
