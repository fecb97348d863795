"""Screenshots of issue 21's map and statistics on real logs from Beijing:
``python -m devtools.place_screenshots OUTDIR``.

Writes ``basemap-tiles.png`` (the map with raster tiles from a tile server started here
on 127.0.0.1, which draws its tiles from the shipped Natural Earth data in an OSM-like
palette with each tile's z/x/y, so nothing is asked of a public server),
``basemap-offline.png`` (the Natural Earth fallback, zoomed out to show where on Earth),
``places-map.png`` (named places), ``timeline-tooltip.png`` (the hover text naming a
stay's place) and ``countries.png`` (Statistics → Countries). Run under Xvfb:
``xvfb-run -a -s "-screen 0 1280x800x24" python -m devtools.place_screenshots
docs/screenshots``.
"""

from __future__ import annotations

import argparse
import http.server
import io
import json
import os
import sys
import threading
import time
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, Qt
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter
from PySide6.QtWidgets import QApplication

from trackdesk.ui.views.basemap import BasemapConfig, NaturalEarth
from trackdesk.ui.views.panel import ViewsPanel

SIZE = (1280, 800)
ROOT = Path(__file__).resolve().parents[1]
BEIJING = ROOT / "tests" / "data" / "geolife" / "beijing_001.csv"


def beijing_db() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    db = Path(base) / "trackdesk" / "beijing" / "tracks.db"
    ready = db.with_name("ready-v1")
    if ready.exists():
        return db
    db.parent.mkdir(parents=True, exist_ok=True)
    db.unlink(missing_ok=True)
    from devtools.views_demo import run_skill
    from trackdesk.skills.registry import BUILTIN_SPECS, DEFAULT_CHAIN
    from trackdesk.skills.sdk import WorkerContext
    from trackdesk.tracks import worker
    from trackdesk.tracks.db import open_db

    open_db(db).dispose()
    spec = next(s for s in BUILTIN_SPECS if s.name == "import")
    ctx = WorkerContext("import", 1, str(db), params=spec.validate_params(
        {"paths": json.dumps([str(BEIJING)])}), out=io.StringIO())
    worker.run(ctx)
    for skill in DEFAULT_CHAIN:
        run_skill(skill, db)
    ready.write_text("ok")
    return db


class LocalTiles:
    """127.0.0.1 tile server: Natural Earth tiles in an OSM-like palette, labelled."""

    def __init__(self) -> None:
        ne = NaturalEarth()
        lock = threading.Lock()

        def render(z: int, x: int, y: int) -> bytes:
            with lock:
                img = ne.draw(z, x, y)
                p = QPainter(img)
                p.setPen(QColor(120, 120, 120, 160))
                p.drawRect(0, 0, 255, 255)
                p.setFont(QFont("DejaVu Sans", 7))
                p.drawText(4, 12, f"local tile server {z}/{x}/{y}")
                p.end()
                buf = QByteArray()
                dev = QBuffer(buf)
                dev.open(QIODevice.OpenModeFlag.WriteOnly)
                img.save(dev, "PNG")
                return bytes(buf.data())

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                try:
                    z, x, y = (int(v) for v in self.path.strip("/").removesuffix(".png")
                               .split("/"))
                except ValueError:
                    self.send_error(404)
                    return
                body = render(z, x, y)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/{{z}}/{{x}}/{{y}}.png"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def settle(app: QApplication, panel: ViewsPanel, limit: float = 60.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        app.processEvents()
        c = panel.map.canvas if "map" in panel.views else None
        done = panel.loader.busy == 0 and (c is None or (
            (c.source is None or (c.missing == 0 and not c._inflight))
            and (c.basemap is None or c.basemap_missing == 0)))
        if done:
            for _ in range(10):
                app.processEvents()
                time.sleep(0.03)
            if c is not None:
                c.grab()  # a paint asks for tiles; settle again if it found missing ones
                app.processEvents()
                if c.basemap is not None and c.basemap_missing:
                    continue
            return
        time.sleep(0.03)


def shoot(out: Path) -> list[Path]:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    db = beijing_db()
    panel = ViewsPanel()
    panel.resize(*SIZE)
    panel.show()
    panel.set_db(db)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(name: str) -> None:
        path = out / name
        panel.grab().save(str(path))
        written.append(path)
        print(f"wrote {path}", flush=True)

    server = LocalTiles()
    try:
        view = panel.map
        panel.setCurrentWidget(view)
        settle(app, panel)
        c = view.canvas
        view.set_basemap(BasemapConfig("osm", server.url))
        c.fit()
        c.zoom_by(-0.6)
        settle(app, panel)
        save("basemap-tiles.png")

        view.set_basemap(BasemapConfig("offline"))
        c.cx, c.cy = c.cx, c.cy
        c.zoom = 4.2
        c.update()
        settle(app, panel)
        save("basemap-offline.png")

        c.fit()
        c.zoom_by(0.4)
        settle(app, panel)
        m = c.markers
        i = int(m.place_visits.argmax())
        sx, sy = c.to_screen(*m.place_xy[i])
        c.pick_at(QPointF(float(sx), float(sy)))
        settle(app, panel)
        save("places-map.png")

        tl = panel.timeline
        panel.setCurrentWidget(tl)
        settle(app, panel)
        strip = tl.strip
        tline = strip.timeline
        from trackdesk.ui.views.timeline import LEFT, ROW_H

        days = strip.days()
        named = [s for s in tline.stays if tline.stay_places.get(s[3])] or tline.stays
        a, b, _label, _sid = max(named, key=lambda s: s[1] - s[0])
        mid = min((a + b) / 2, a + 3600)
        k = next(j for j, d in enumerate(days) if tline.day_bounds(d)[0] <= mid <
                 tline.day_bounds(d)[1])
        t0, t1 = tline.day_bounds(days[k])
        x = LEFT + (mid - t0) / (t1 - t0) * (strip.width() - LEFT - 12)
        y = 30 + k * ROW_H + ROW_H / 2
        strip.mouseMoveEvent(QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(x, y),
                                         QPointF(x, y), Qt.MouseButton.NoButton,
                                         Qt.MouseButton.NoButton,
                                         Qt.KeyboardModifier.NoModifier))
        settle(app, panel)
        save("timeline-tooltip.png")

        st = panel.statistics
        panel.setCurrentWidget(st)
        settle(app, panel)
        st.where_tabs.setCurrentWidget(st.countries)
        settle(app, panel)
        save("countries.png")
        st.where_tabs.setCurrentWidget(st.cities)
        settle(app, panel)
        save("cities.png")
    finally:
        server.close()
        panel.shutdown()
    return written


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    shoot(args.out)


if __name__ == "__main__":
    os.environ.setdefault("TRACKDESK_NO_NETWORK", "1")
    main()
