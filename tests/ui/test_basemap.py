"""The map's basemap (web tiles from a local test server, MBTiles, PMTiles, the offline
Natural Earth map) and place names in the map, the timeline and the statistics (issue 21).
"""

from __future__ import annotations

import http.server
import math
import socket
import sqlite3
import threading
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QMouseEvent
from PySide6.QtWidgets import QApplication

from tests.ui.conftest import q
from tests.ui.test_views import WAIT
from trackdesk.ui.views import data
from trackdesk.ui.views.basemap import (
    LAND,
    OCEAN,
    OSM_ATTRIBUTION,
    Basemap,
    BasemapConfig,
    why_unreachable,
)
from trackdesk.ui.views.loader import Loader
from trackdesk.ui.views.map_view import MapView
from trackdesk.ui.views.statistics import StatisticsView
from trackdesk.ui.views.timeline import TimelineView

TILE_COLOUR = QColor(10, 200, 30)
FILE_COLOUR = QColor(200, 20, 180)


def png(colour: QColor) -> bytes:
    img = QImage(256, 256, QImage.Format.Format_RGB32)
    img.fill(colour)
    buf = QByteArray()
    dev = QBuffer(buf)
    dev.open(QIODevice.OpenModeFlag.WriteOnly)
    img.save(dev, "PNG")
    return bytes(buf.data())


class TileServer:
    """A tile server on 127.0.0.1 that logs each request's path and User-Agent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        body = png(TILE_COLOUR)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.requests.append((self.path, self.headers.get("User-Agent", "")))
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Cache-Control", "max-age=86400")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/{{z}}/{{x}}/{{y}}.png"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[TileServer]:
    s = TileServer()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def tile_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def make_mbtiles(path: Path, colour: QColor, maxzoom: int = 3) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE metadata (name TEXT, value TEXT);"
                       "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, "
                       "tile_row INTEGER, tile_data BLOB);")
    conn.executemany("INSERT INTO metadata VALUES (?, ?)", [
        ("name", "test"), ("format", "png"), ("minzoom", "0"), ("maxzoom", str(maxzoom)),
        ("attribution", "test tiles")])
    body = png(colour)
    for z in range(maxzoom + 1):
        for x in range(1 << z):
            for y in range(1 << z):
                conn.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, y, body))
    conn.commit()
    conn.close()
    return path


def make_pmtiles(path: Path, colour: QColor, maxzoom: int = 3) -> Path:
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    body = png(colour)
    with open(path, "wb") as f:
        w = Writer(f)
        for z in range(maxzoom + 1):
            for x in range(1 << z):
                for y in range(1 << z):
                    w.write_tile(zxy_to_tileid(z, x, y), body)
        w.finalize({"tile_type": TileType.PNG, "tile_compression": Compression.NONE,
                    "min_zoom": 0, "max_zoom": maxzoom, "min_lon_e7": -1800000000,
                    "min_lat_e7": -850000000, "max_lon_e7": 1800000000,
                    "max_lat_e7": 850000000, "center_zoom": 0, "center_lon_e7": 0,
                    "center_lat_e7": 0}, {"attribution": "pm tiles"})
    return path


def settle(qtbot: Any, view: MapView) -> QImage:
    c = view.canvas
    c.grab()
    qtbot.waitUntil(lambda: (c.grab(), c.basemap_missing == 0)[1], timeout=WAIT)
    return c.grab().toImage()


def corner(img: QImage) -> QColor:
    # top-left, away from the footprint (which is framed in the middle)
    return img.pixelColor(30, 60)


def test_web_tiles_come_from_the_url_template_with_a_user_agent_and_a_disk_cache(
        qtbot: Any, map_view: MapView, server: TileServer, tile_cache: Path) -> None:
    map_view.set_basemap(BasemapConfig("osm", server.url))
    img = settle(qtbot, map_view)
    assert corner(img) == TILE_COLOUR
    bm = map_view.canvas.basemap
    assert bm.attribution() == OSM_ATTRIBUTION
    assert server.requests and all(ua.startswith("trackdesk/") for _, ua in server.requests)
    # Only the tiles on screen at the map's tile zoom: no prefetch of an area.
    c = map_view.canvas
    tz = c.tile_zoom()
    size = 256 * 2.0 ** (c.zoom - tz)
    on_screen = (math.ceil(c.width() / size) + 1) * (math.ceil(c.height() / size) + 1)
    paths = [p for p, _ in server.requests]
    assert len(paths) == len(set(paths))  # each tile asked once
    assert {int(p.split("/")[1]) for p, _ in server.requests} == {tz}
    assert len(server.requests) <= on_screen
    # A second map (or the next start) takes them from the disk cache.
    sent = len(server.requests)
    assert list(tile_cache.rglob("*")), "nothing cached on disk"
    again = Basemap(BasemapConfig("osm", server.url))
    got: list[bool] = []
    again.ready.connect(lambda: got.append(True))
    assert again.tile(tz, int(c.cx * (1 << tz)), int(c.cy * (1 << tz))) is None
    qtbot.waitUntil(lambda: bool(got) and again.cache_hits == 1, timeout=WAIT)
    assert len(server.requests) == sent
    again.shutdown()


def test_an_unreachable_tile_server_falls_back_to_the_offline_map_and_says_so_once(
        qtbot: Any, map_view: MapView, server: TileServer) -> None:
    url = server.url
    server.close()  # nothing listens there any more
    failures: list[str] = []
    map_view.set_basemap(BasemapConfig("osm", url))
    map_view.canvas.basemap.failed.connect(failures.append)
    img = settle(qtbot, map_view)
    assert corner(img) in (LAND, OCEAN)
    assert "showing the offline map" in map_view.status.text()
    # In words, not the socket's "[Errno 111] Connection refused".
    assert "the tile server refused the connection" in map_view.status.text()
    assert "Errno" not in map_view.status.text()
    assert map_view.status.text().count("basemap") == 1
    assert len(failures) <= 1
    assert "Natural Earth" in map_view.canvas.basemap.attribution()


@pytest.mark.parametrize("kind", ["mbtiles", "pmtiles"])
def test_a_local_tile_file_is_drawn_offline(qtbot: Any, map_view: MapView, tmp_path: Path,
                                            kind: str) -> None:
    make = make_mbtiles if kind == "mbtiles" else make_pmtiles
    path = make(tmp_path / f"t.{kind}", FILE_COLOUR)
    map_view.canvas.zoom_by(-(map_view.canvas.zoom - 3))  # within the file's zooms
    map_view.set_basemap(BasemapConfig("file", file=str(path)))
    img = settle(qtbot, map_view)
    assert corner(img) == FILE_COLOUR
    assert map_view.canvas.basemap.attribution() in ("test tiles", "pm tiles")
    # deeper than the file goes: its deepest tiles, enlarged
    map_view.canvas.zoom_by(4)
    assert corner(settle(qtbot, map_view)) == FILE_COLOUR


def test_a_tile_file_is_opened_off_the_gui_thread(qtbot: Any, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Choosing a file in Settings reads its header (MBTiles metadata, the PMTiles
    directory) on a basemap thread: a file on a slow or network drive never freezes the
    window. The real opener runs; the test only notes which thread called it."""
    import trackdesk.ui.views.basemap as basemap_module

    path = make_mbtiles(tmp_path / "t.mbtiles", FILE_COLOUR)
    callers: list[threading.Thread] = []
    real = basemap_module.open_tile_file

    def noting(p: Any) -> Any:
        callers.append(threading.current_thread())
        return real(p)

    monkeypatch.setattr(basemap_module, "open_tile_file", noting)
    bm = Basemap(BasemapConfig("off"))
    try:
        bm.configure(BasemapConfig("file", file=str(path)))
        assert bm.source_file is None  # configure returned before the file was read
        assert bm.tile(0, 0, 0) is None  # nor is any tile asked for meanwhile
        qtbot.waitUntil(lambda: bm.source_file is not None, timeout=WAIT)
        assert callers and threading.main_thread() not in callers
        assert bm.attribution() == "test tiles" and bm.max_zoom == 3
        got: list[bool] = []
        bm.ready.connect(lambda: got.append(True))
        bm.tile(0, 0, 0)
        qtbot.waitUntil(lambda: bm.tile(0, 0, 0) is not None, timeout=WAIT)
        assert bm.tile(0, 0, 0).pixelColor(5, 5) == FILE_COLOUR
        # a newer choice wins over a file still being opened
        opened: list[Any] = []
        bm._opened.connect(lambda *a: opened.append(a))  # after the basemap's own slot
        bm.configure(BasemapConfig("file", file=str(path)))
        bm.configure(BasemapConfig("offline"))
        qtbot.waitUntil(lambda: len(opened) == 1, timeout=WAIT)
        QApplication.processEvents()  # the basemap's queued slot, posted first, runs
        assert bm.config.mode == "offline" and bm.source_file is None and not bm.failure
    finally:
        bm.shutdown()


def test_a_broken_tile_file_says_why_and_the_offline_map_shows(
        qtbot: Any, map_view: MapView, tmp_path: Path) -> None:
    bad = tmp_path / "notes.mbtiles"
    bad.write_text("not tiles")
    map_view.set_basemap(BasemapConfig("file", file=str(bad)))
    img = settle(qtbot, map_view)
    assert "neither an MBTiles nor a PMTiles file" in map_view.status.text()
    assert corner(img) in (LAND, OCEAN)


def test_the_offline_map_and_off(qtbot: Any, map_view: MapView) -> None:
    map_view.set_basemap(BasemapConfig("offline"))
    assert corner(settle(qtbot, map_view)) in (LAND, OCEAN)
    map_view.set_basemap(BasemapConfig("off"))
    img = map_view.canvas.grab().toImage()
    assert corner(img) not in (LAND, OCEAN)
    assert map_view.canvas.basemap.attribution() == ""


# ------------------------------------------------------------------ place names -------
def test_places_are_named_on_the_map_and_in_the_place_details(
        qtbot: Any, map_view: MapView, demo_db: Path) -> None:  # noqa: F811
    m = map_view.canvas.markers
    assert m.place_name and all(m.place_name)
    rows = q(demo_db, "SELECT name, country_code FROM places")
    # the demo history lives in Munich, with a trip to north-east Hungary
    assert {r[1] for r in rows} == {"DE", "HU"}
    pid = int(m.place_id[-1])
    conn = sqlite3.connect(demo_db)
    html = __import__("trackdesk.ui.views.map_view", fromlist=["x"]).details_html(
        "place", data.describe(conn, "place", pid))
    name = q(demo_db, "SELECT name FROM places WHERE id = ?", pid)[0][0]
    assert name in html and ("DE" in html or "HU" in html)


def test_the_timeline_tooltip_names_the_place_of_a_stay(qtbot: Any, loader: Loader,  # noqa: F811
                                                        demo_db: Path) -> None:  # noqa: F811
    loader.set_path(demo_db)
    view = TimelineView(loader)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    view.refresh()
    qtbot.waitUntil(lambda: view.strip.timeline is not None, timeout=WAIT)
    tl = view.strip.timeline
    strip = view.strip
    days = strip.days()
    a, b, _label, sid = tl.stays[len(tl.stays) // 2]
    mid = (a + b) / 2
    z, h = tl.zone, tl.hour
    i = next(k for k, d in enumerate(days) if data.day_start(d, z, h) <= mid <
             data.day_start(d, z, h) + 86400)
    from trackdesk.ui.views.timeline import LEFT, ROW_H

    frac = (mid - data.day_start(days[i], z, h)) / 86400
    x = LEFT + frac * (strip.width() - LEFT - 12)
    y = 30 + i * ROW_H + ROW_H / 2
    ev = QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(x, y), QPointF(x, y),
                     Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                     Qt.KeyboardModifier.NoModifier)
    strip.mouseMoveEvent(ev)
    name = tl.stay_places[sid]
    assert name and ("(DE)" in name or "(HU)" in name)
    assert f"stay {sid} at {name}" in strip.toolTip()


def test_statistics_list_countries_and_cities_by_days(qtbot: Any, loader: Loader,  # noqa: F811
                                                      demo_db: Path) -> None:  # noqa: F811
    loader.set_path(demo_db)
    view = StatisticsView(loader)
    qtbot.addWidget(view)
    view.refresh()
    qtbot.waitUntil(lambda: bool(view.dwell["country"]), timeout=WAIT)
    assert view.countries.item(0, 0).text() == "Germany (DE)"
    days = int(view.countries.item(0, 1).text())
    assert 1 <= days <= 3
    assert view.cities.rowCount() >= 1
    assert view.places.item(0, 0).text()  # a named place, not "place 12"
    assert not view.places.item(0, 0).text().startswith("place ")
    # a minimum longer than any day: no day counts
    view.set_dwell_options(24 * 60 + 1, 0)
    qtbot.waitUntil(lambda: view.dwell["country"] and view.dwell["country"][0].days == 0,
                    timeout=WAIT)


def test_the_timeline_cuts_days_where_you_were_at_the_hour_set(
        qtbot: Any, loader: Loader, demo_db: Path) -> None:  # noqa: F811
    """The demo person lives in Munich: days are Europe/Berlin days whatever this
    computer's zone, and start at the hour from Settings."""
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    loader.set_path(demo_db)
    view = TimelineView(loader)
    qtbot.addWidget(view)
    view.refresh()
    qtbot.waitUntil(lambda: view.strip.timeline is not None, timeout=WAIT)
    tl = view.strip.timeline
    assert tl.zone == "Europe/Berlin" and tl.hour == 0
    # the zones of the month, Munich first (a day trip took the demo person to Budapest)
    assert "days where you were: Europe/Berlin" in view.info.text()
    berlin = ZoneInfo("Europe/Berlin")
    assert data.day_start(date(2026, 1, 2), tl.zone) == datetime(2026, 1, 2,
                                                                tzinfo=berlin).timestamp()
    view.set_day_start(4)
    qtbot.waitUntil(lambda: view.strip.timeline.hour == 4, timeout=WAIT)
    tl = view.strip.timeline
    # a stay from 02:00 to 03:00 Berlin time belongs to the day before
    assert data.local_day(datetime(2026, 1, 2, 2, 30, tzinfo=berlin).timestamp(), tl.zone,
                          tl.hour) == date(2026, 1, 1)
    before = sum(b - a for a, b, *_ in view.strip._spans(date(2026, 1, 2), tl.stays, 0))
    assert before > 0


def test_file_export_writes_the_points_off_the_gui_thread(qtbot: Any, loader: Loader,  # noqa: F811
                                                          demo_db: Path, tmp_path: Path  # noqa: F811
                                                          ) -> None:
    from trackdesk.ui.views.export_dialog import ExportDialog

    loader.set_path(demo_db)
    dialog = ExportDialog(loader)
    qtbot.addWidget(dialog)
    dialog.format.setCurrentIndex(dialog.format.findData("gpx"))
    out = tmp_path / "mine.gpx"
    dialog.file.setText(str(out))
    dialog.analysis.setChecked(True)
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=WAIT)
    n = q(demo_db, "SELECT COUNT(*) FROM points")[0][0]
    assert dialog.outcome.startswith(f"Exported {n:,} points")
    assert out.read_text().count("<trkpt ") == n
    # a period without data: said plainly, nothing written
    dialog.whole.setChecked(False)
    from PySide6.QtCore import QDate

    dialog.first.setDate(QDate(2030, 1, 1))
    dialog.last.setDate(QDate(2030, 1, 2))
    dialog.file.setText(str(tmp_path / "empty.gpx"))
    dialog.outcome = None
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=WAIT)
    assert "no points in that period" in dialog.outcome
    assert not (tmp_path / "empty.gpx").exists()


def test_city_labels_are_the_big_cities_on_screen(qtbot: Any) -> None:
    """The offline map names cities: at a country's zoom only the big ones, nearer in
    all of them, and none that lies off screen."""
    from PySide6.QtGui import QPainter

    from trackdesk.ui.views.basemap import paint_cities

    bm = Basemap(BasemapConfig("offline"))
    try:
        bm.want_cities()  # the shipped cities, read off the GUI thread
        qtbot.waitUntil(lambda: bm.cities is not None, timeout=WAIT)
        assert len(bm.cities) > 1000 and bm.city_xy.shape == (len(bm.cities), 2)
        bm._cities_loaded([("Big", 0.5, 0.5, 9_000_000), ("Far", 0.9, 0.9, 9_000_000),
                           ("Small", 0.55, 0.55, 1_000)])

        def to_screen(x: Any, y: Any) -> tuple[Any, Any]:
            return (x - 0.5) * 1000 + 100, (y - 0.5) * 1000 + 100

        def dots(zoom: float) -> list[bool]:
            img = QImage(200, 200, QImage.Format.Format_RGB32)
            img.fill(QColor("white"))
            p = QPainter(img)
            paint_cities(p, bm, zoom, to_screen, 200, 200)
            p.end()
            return [img.pixelColor(x, y).lightness() < 128 for x, y in ((100, 100),
                                                                        (150, 150))]

        assert dots(2.0) == [True, False]  # the small town waits for a nearer zoom
        assert dots(7.0) == [True, True]
    finally:
        bm.shutdown()


@pytest.mark.parametrize("exc, words", [
    (urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution")),
     "no internet connection"),
    (urllib.error.URLError(TimeoutError("timed out")), "did not answer"),
    (urllib.error.HTTPError("http://t/1/0/0.png", 403, "Forbidden", {}, None),  # type: ignore[arg-type]
     "answered 403 Forbidden"),
    (ValueError("unknown url type: 'tiles'"), "not a web address"),
])
def test_why_a_tile_server_failed_is_said_in_words(exc: Exception, words: str) -> None:
    said = why_unreachable(exc)
    assert words in said and "Errno" not in said


def test_an_offline_tile_from_the_render_process_is_the_tile_drawn(qtbot: Any) -> None:
    """Seen under Xvfb: a dark dash at every tile's corner of the offline world map. The
    render process copied the pixels of an image already freed; the allocator had reused
    its first bytes. What crosses to the GUI is now exactly what was drawn."""
    from trackdesk.ui.views.basemap import NaturalEarth, _image, render_ne_tile

    ne = NaturalEarth()
    for key in ((2, 1, 1), (2, 0, 0), (3, 4, 2), (5, 26, 12)):
        drawn = ne.draw(*key)
        got = _image(render_ne_tile(*key))
        assert got == drawn, key


def test_a_tile_is_decoded_by_its_own_format_never_by_asking_every_plugin(
        qtbot: Any, map_view: MapView, tmp_path: Path) -> None:
    # Guessing a tile's format asks Qt's SVG plugin too, which connects a signal while the
    # tile thread holds the GIL: with the GUI thread disconnecting one at that moment the
    # window froze (CI, 2026-12-07). The format comes from the tile's first bytes; an SVG
    # tile, which Qt could read by guessing, is refused in words and the offline map shows.
    from trackdesk.ui.views.basemap import tile_format

    assert tile_format(b"\x89PNG\r\n\x1a\n....") == "PNG"
    assert tile_format(b"\xff\xd8\xff\xe0..") == "JPEG"
    assert tile_format(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "WEBP"
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256">'
           b'<rect width="256" height="256" fill="#ff00ff"/></svg>')
    assert tile_format(svg) is None and not QImage.fromData(svg).isNull()
    path = make_mbtiles(tmp_path / "svg.mbtiles", FILE_COLOUR)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE tiles SET tile_data = ?", (svg,))
    conn.commit()
    conn.close()
    map_view.canvas.zoom_by(-(map_view.canvas.zoom - 3))
    map_view.set_basemap(BasemapConfig("file", file=str(path)))
    img = settle(qtbot, map_view)
    assert corner(img) in (LAND, OCEAN)
    assert "neither PNG, JPEG nor WebP" in map_view.status.text()
