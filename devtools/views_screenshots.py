"""Screenshots of the four views on demo data: ``python -m devtools.views_screenshots
OUTDIR [--db PATH]``.

The demo tracks.db (two months of one person, analysed by the real chain) is built once
into a cache folder. Run under a real (virtual) X server for real fonts:
``xvfb-run -a -s "-screen 0 1280x800x24" python -m devtools.views_screenshots docs/screenshots``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from PySide6.QtWidgets import QApplication

from devtools import views_demo as demo
from trackdesk.ui.views.panel import ViewsPanel

SIZE = (1280, 800)


def cache_db() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trackdesk" / "demo" / "tracks.db"


def ensure_demo(db: Path, days: int = 56) -> Path:
    """``days`` analysed by a full run, 5 more by an incremental one, and 2 more not
    analysed yet: the coverage calendar then shows every state."""
    ready = db.with_name(db.name + f".ready-{days}-v2")
    if not ready.exists():
        print(f"building demo data in {db} (once, a minute or two)", flush=True)
        demo.build(db, days=days, seed=21)
        demo.add_points(db, 5, seed=77, day_offset=days)
        for skill in demo.DEFAULT_CHAIN:
            demo.run_skill(skill, db, "INCREMENTAL")
        demo.add_points(db, 2, seed=78, day_offset=days + 5)
        ready.write_text("ok")
    return db


def _settle(app: QApplication, panel: ViewsPanel, limit: float = 120.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        app.processEvents()
        c = panel.map.canvas
        if panel.loader.busy == 0 and (c.source is None or (c.missing == 0 and
                                                            not c._inflight)):
            # A few more turns for queued deliveries and repaints.
            for _ in range(10):
                app.processEvents()
                time.sleep(0.02)
            if panel.loader.busy == 0:
                return
        time.sleep(0.02)


def shoot(out: Path, db: Path) -> list[Path]:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    panel = ViewsPanel()
    panel.resize(*SIZE)
    panel.show()
    panel.set_db(db)
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for name in ("map", "timeline", "statistics", "coverage"):
        panel.setCurrentWidget(panel.view(name))
        _settle(app, panel)
        if name == "map":
            c = panel.map.canvas
            m = c.markers
            if "home" in m.place_label:
                hx, hy = m.place_xy[m.place_label.index("home")]
                # Home and the work places of both stretches, a little east of centre.
                c.cx, c.cy, c.zoom = float(hx) + 40 / (256 * 2 ** 12.4), float(hy), 12.4
                c.update()
            panel.map.canvas.pick_at(c.rect().center().toPointF())
            _settle(app, panel)
            _pick_home(panel)
            _settle(app, panel)
            time.sleep(0.3)  # the smooth repaint after the view rests
            _settle(app, panel)
        if name == "timeline" and panel.timeline.month.count():
            panel.timeline.month.setCurrentIndex(0)  # a full month
            _settle(app, panel)
        path = out / f"{name}.png"
        panel.grab().save(str(path))
        written.append(path)
        print(f"wrote {path}", flush=True)
    panel.shutdown()
    panel.deleteLater()
    return written


def _pick_home(panel: ViewsPanel) -> None:
    """Click the most visited place, so the details panel shows what a click gives."""
    c = panel.map.canvas
    m = c.markers
    if not len(m.place_id):
        return
    i = int(m.place_visits.argmax())
    sx, sy = c.to_screen(*m.place_xy[i])
    from PySide6.QtCore import QPointF

    c.pick_at(QPointF(float(sx), float(sy)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--db", type=Path, default=None)
    args = ap.parse_args()
    db = args.db or ensure_demo(cache_db())
    shoot(args.out, db)


if __name__ == "__main__":
    main()
