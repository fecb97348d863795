"""The basemap under the footprint: web tiles, a local MBTiles/PMTiles file, or the
offline Natural Earth map shipped with the app (docs/VIEWS.md, "Basemap").

Nothing slow happens on the GUI thread: HTTP requests, the disk cache, reading an
MBTiles/PMTiles file and decoding PNG/JPEG run on this module's two worker threads;
Natural Earth tiles are drawn in the views' render process (``Loader.render``), where the
CPU-heavy QPainter work holds no GIL the GUI's frames need. Finished tiles come back
through a queued signal. Web tiles follow OpenStreetMap's tile usage
policy: an identifying User-Agent, at most two connections, only the tiles on screen (no
prefetch of whole areas), a persistent disk cache kept for 7 days (or the server's
``max-age`` if longer) and the attribution drawn on the map. A tile that cannot be had
falls back to the Natural Earth tile; the first failure is reported once.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
import sqlite3
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen

TILE = 256
OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = "© OpenStreetMap contributors"
NE_ATTRIBUTION = "Natural Earth (public domain) · GeoNames (CC BY 4.0)"
CACHE_DAYS = 7
RETRY_S = 120.0  # a failed tile is asked again after this long, not on every frame
MAX_MEMORY = 400  # decoded tiles kept (~100 MB)
OCEAN = QColor("#aad3df")
LAND = QColor("#f2efe9")
BORDER = QColor(150, 120, 160)
COAST = QColor(120, 150, 170)


def user_agent() -> str:
    from trackdesk import __version__

    return f"trackdesk/{__version__} (desktop GPS history viewer; offline-first)"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trackdesk" / "tiles"


@dataclass(frozen=True)
class BasemapConfig:
    mode: str = "osm"            # "osm" (web tiles), "file" (MBTiles/PMTiles), "offline", "off"
    url: str = OSM_URL           # {z} {x} {y} (and {s} -> a)
    file: str = ""               # an .mbtiles or .pmtiles file
    attribution: str = ""        # shown for a custom URL; OSM's by default


class TileFileError(Exception):
    pass


class MBTiles:
    """Raster MBTiles (TMS rows). One connection per worker thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        conn = self._conn()
        try:
            meta = dict(conn.execute("SELECT name, value FROM metadata").fetchall())
        except sqlite3.DatabaseError as exc:
            raise TileFileError(f"{path.name} is not an MBTiles file: {exc}") from None
        if meta.get("format", "png") not in ("png", "jpg", "jpeg", "webp"):
            raise TileFileError(f"{path.name} holds {meta.get('format')} tiles; only raster "
                                "(png, jpg, webp) tiles can be drawn")
        self.minzoom = int(meta.get("minzoom", 0))
        self.maxzoom = int(meta.get("maxzoom", 22))
        self.attribution = meta.get("attribution", "")

    def _conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.conn = c
        return c

    def get(self, z: int, x: int, y: int) -> bytes | None:
        row = self._conn().execute(
            "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
            (z, x, (1 << z) - 1 - y)).fetchone()
        return bytes(row[0]) if row else None


class PMTiles:
    """Raster PMTiles v3 through the ``pmtiles`` package's reader."""

    def __init__(self, path: Path) -> None:
        from pmtiles.reader import MmapSource, Reader
        from pmtiles.tile import TileType

        self._f = open(path, "rb")  # noqa: SIM115 - kept open for the mmap's lifetime
        try:
            self._reader = Reader(MmapSource(self._f))
            header = self._reader.header()
        except Exception as exc:  # noqa: BLE001 - any parse failure means "not a PMTiles"
            self._f.close()
            raise TileFileError(f"{path.name} is not a PMTiles file: {exc}") from None
        if header["tile_type"] not in (TileType.PNG, TileType.JPEG, TileType.WEBP):
            self._f.close()
            raise TileFileError(f"{path.name} holds vector tiles; only raster tiles can be "
                                "drawn")
        self.minzoom = int(header["min_zoom"])
        self.maxzoom = int(header["max_zoom"])
        self.attribution = str(self._reader.metadata().get("attribution", ""))
        self._lock = threading.Lock()

    def get(self, z: int, x: int, y: int) -> bytes | None:
        with self._lock:
            return self._reader.get(z, x, y)


def open_tile_file(path: str | Path) -> MBTiles | PMTiles:
    p = Path(path).expanduser()
    if not p.is_file():
        raise TileFileError(f"no such file: {p}")
    with open(p, "rb") as f:
        magic = f.read(16)
    if magic.startswith(b"PMTiles"):
        return PMTiles(p)
    if magic.startswith(b"SQLite format 3"):
        return MBTiles(p)
    raise TileFileError(f"{p.name} is neither an MBTiles nor a PMTiles file")


# ----------------------------------------------------------------- Natural Earth ------
class NaturalEarth:
    """The shipped world as Qt paths in Web Mercator units (0..1), built once."""

    def __init__(self) -> None:
        from trackdesk.geodata.world import load_world

        w = load_world()
        self.land = QPainterPath()
        self.land.setFillRule(Qt.FillRule.WindingFill)
        for poly in w.land:
            for ring in poly[:1]:
                self.land.addPolygon(_ring_polygon(ring))
        self.borders = QPainterPath()
        for c in w.countries:
            for poly in c.rings:
                self.borders.addPolygon(_ring_polygon(poly[0]))

    def draw(self, z: int, x: int, y: int) -> QImage:
        # opaque: RGB32 blits faster than ARGB, and every frame blits ~25 basemap tiles
        img = QImage(TILE, TILE, QImage.Format.Format_RGB32)
        img.fill(OCEAN)
        p = QPainter(img)
        try:
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            n = float(1 << z)
            p.scale(TILE * n, TILE * n)
            p.translate(-x / n, -y / n)
            px = 1.0 / (TILE * n)  # one pixel in world units
            p.setPen(QPen(COAST, 1.0 * px))
            p.setBrush(QBrush(LAND))
            p.drawPath(self.land)
            pen = QPen(BORDER, (1.2 if z >= 4 else 0.8) * px)
            pen.setStyle(Qt.PenStyle.DashLine if z >= 6 else Qt.PenStyle.SolidLine)
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(self.borders)
        finally:
            p.end()
        return img


_NE: NaturalEarth | None = None  # one per render process


def render_ne_tile(z: int, x: int, y: int) -> bytes:
    """A Natural Earth tile drawn in the views' render process (no GIL shared with the
    GUI: at zoom 4 a tile strokes the whole world's coastline, tens of ms of QPainter
    that a thread would spend holding the GIL the GUI's frame needs)."""
    global _NE
    if _NE is None:
        _NE = NaturalEarth()
    # Hold the image while its pixels are copied: constBits() of a temporary points into
    # memory already freed, whose first bytes the allocator reuses (6 dark pixels at every
    # tile's corner, seen as dashes on the offline world map).
    img = _NE.draw(z, x, y)
    return bytes(img.constBits())


def ne_cities() -> list[tuple[str, float, float, int]]:
    """The offline map's city labels (name, world x, world y, population), read in the
    render process for the same reason."""
    from trackdesk.geodata.world import load_world

    return [(n, *mercator(lat, lon), pop) for n, lat, lon, pop, _cc in load_world().cities]


def _ring_polygon(ring):  # (n, 2) lon/lat -> QPolygonF in mercator units
    import numpy as np

    from trackdesk.ui.views import qtpaths

    lon, lat = ring[:, 0], np.clip(ring[:, 1], -85.0511, 85.0511)
    x = (lon + 180.0) / 360.0
    y = (1.0 - np.log(np.tan(np.radians(lat)) + 1.0 / np.cos(np.radians(lat))) / math.pi) / 2
    return qtpaths.polygon(x, y)


def mercator(lat: float, lon: float) -> tuple[float, float]:
    lat = max(min(lat, 85.0511), -85.0511)
    y = (1.0 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat)))
         / math.pi) / 2
    return (lon + 180.0) / 360.0, y


# ----------------------------------------------------------------- the provider -------
class Basemap(QObject):
    """Tiles by (z, x, y) for the map: ``tile()`` never blocks; ``ready`` says when one
    arrived; ``failed`` says once that the configured source could not be used."""

    ready = Signal()
    failed = Signal(str)
    _cities_done = Signal(object)
    _done = Signal(object, object, bool)  # key, QImage | None, the offline map is wanted
    _opened = Signal(object, object, object)  # config, the open file | None, error | None

    def __init__(self, config: BasemapConfig | None = None, parent: QObject | None = None,
                 cache_dir: Path | None = None, renderer: Any = None) -> None:
        super().__init__(parent)
        # Loader.render: Natural Earth tiles are drawn in the render process when given
        # (the map), on this object's threads otherwise (a Basemap on its own, in tests).
        self.renderer = renderer
        self.cities: list[tuple[str, float, float, int]] | None = None
        self.city_xy: Any = None   # (n, 2) world x, y of ``cities``, set with them
        self.city_pop: Any = None  # (n,) their populations
        self._cities_asked = False
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="basemap")
        self._done.connect(self._arrived, Qt.ConnectionType.QueuedConnection)
        self._cities_done.connect(self._cities_loaded, Qt.ConnectionType.QueuedConnection)
        self._opened.connect(self._file_opened, Qt.ConnectionType.QueuedConnection)
        self.opening: BasemapConfig | None = None  # a tile file being opened off the GUI
        self._images: OrderedDict[tuple, QImage] = OrderedDict()
        self._pending: set[tuple] = set()
        self._failed_at: dict[tuple, float] = {}
        self._ne: NaturalEarth | None = None
        self._ne_lock = threading.Lock()
        self.cache_dir = cache_dir or cache_root()
        self.failure: str | None = None
        self.requests = 0        # HTTP requests sent (tests, the bench)
        self.cache_hits = 0
        self.source_file: MBTiles | PMTiles | None = None
        self.config = BasemapConfig()
        self.configure(config or BasemapConfig())

    # -- configuration ------------------------------------------------------------------
    def configure(self, config: BasemapConfig) -> None:
        self.config = config
        self._images.clear()
        self._failed_at.clear()
        self.failure = None
        self.source_file = None
        self.opening = None
        if config.mode == "file":
            # Reading the file's header is disk I/O (a PMTiles directory, an MBTiles
            # metadata query on a slow or network drive): on a basemap thread, like the
            # tiles; until it is open no tile is asked for (none would be the file's).
            self.opening = config
            self._pool.submit(self._open_file, config)
        self.ready.emit()

    def _open_file(self, config: BasemapConfig) -> None:
        try:
            self._opened.emit(config, open_tile_file(config.file), None)
        except (TileFileError, OSError, ImportError) as exc:
            self._opened.emit(config, None, exc)
        except Exception as exc:  # noqa: BLE001 - a broken file never breaks the map
            self._opened.emit(config, None, exc)

    def _file_opened(self, config: BasemapConfig, source: Any, error: Any) -> None:
        if config != self.config or self.opening != config:
            return  # another basemap was chosen meanwhile
        self.opening = None
        self._images.clear()
        self._failed_at.clear()
        if source is None:
            self._fail(f"basemap file not usable ({error}); showing the offline map")
        else:
            self.source_file = source
        self.ready.emit()

    @property
    def enabled(self) -> bool:
        return self.config.mode != "off"

    @property
    def max_zoom(self) -> int:
        if self.config.mode == "file" and self.source_file is not None:
            return self.source_file.maxzoom
        if self.config.mode == "offline" or self.failure:
            return 10
        return 19

    def attribution(self) -> str:
        c = self.config
        if c.mode == "off":
            return ""
        if c.mode == "osm" and not self.failure:
            return c.attribution or OSM_ATTRIBUTION
        if c.mode == "file" and self.source_file is not None:
            return self.source_file.attribution or Path(c.file).name
        return NE_ATTRIBUTION

    def _fail(self, message: str) -> None:
        if self.failure is None:
            self.failure = message
            self.failed.emit(message)

    # -- tiles -----------------------------------------------------------------------------
    def tile(self, z: int, x: int, y: int) -> QImage | None:
        """The decoded tile when at hand; else None, and it is fetched in the background."""
        key = (self.config, z, x, y)
        img = self._images.get(key)
        if img is not None:
            self._images.move_to_end(key)
            return img
        if key in self._pending or self.opening is not None:
            return None
        t = self._failed_at.get(key)
        if t is not None and time.monotonic() - t < RETRY_S:
            return None
        self._pending.add(key)
        if self.config.mode == "offline" or (self.config.mode == "file"
                                             and self.source_file is None):
            self._natural_earth_tile(key)
        else:
            self._pool.submit(self._work, key)
        return None

    def _natural_earth_tile(self, key: tuple) -> None:
        """On the GUI thread: the offline map's tile for ``key``."""
        if self.renderer is not None:
            _config, z, x, y = key
            fut = self.renderer(render_ne_tile, (z, x, y), lambda raw, k=key: self._arrived(
                k, None if raw is None else _image(raw), False))
            if fut is not None:
                return
        self._pool.submit(self._work_ne, key)

    def _work_ne(self, key: tuple) -> None:
        _config, z, x, y = key
        try:
            img: QImage | None = self._natural_earth().draw(z, x, y)
        except Exception as exc:  # noqa: BLE001 - a broken tile never breaks the map
            self._fail(f"basemap: {exc}")
            img = None
        self._done.emit(key, img, False)

    def want_cities(self) -> None:
        """Load the offline map's city labels once, off the GUI thread."""
        if self._cities_asked:
            return
        self._cities_asked = True

        if self.renderer is not None and \
                self.renderer(ne_cities, (), self._cities_loaded) is not None:
            return
        self._pool.submit(lambda: self._cities_done.emit(ne_cities()))

    def _cities_loaded(self, rows: Any) -> None:
        import numpy as np

        self.cities = rows
        # Their positions and populations as arrays, once: paint_cities picks the ones
        # on screen with numpy instead of a Python call per city on every frame.
        self.city_xy = np.array([(x, y) for _n, x, y, _p in rows or ()],
                                dtype=float).reshape(-1, 2)
        self.city_pop = np.array([p for *_r, p in rows or ()], dtype=float)
        self.ready.emit()

    def _arrived(self, key: tuple, img: QImage | None, fallback: bool) -> None:
        if key[0] != self.config:
            self._pending.discard(key)
            return
        if img is None and fallback:
            self._natural_earth_tile(key)  # still pending: the offline map's tile instead
            return
        self._pending.discard(key)
        if img is None:
            self._failed_at[key] = time.monotonic()
            return
        self._images[key] = img
        while len(self._images) > MAX_MEMORY:
            self._images.popitem(last=False)
        self.ready.emit()

    def _work(self, key: tuple) -> None:
        # Runs on a worker thread. The tile's format is named, never guessed: guessing
        # asks every image plugin, and Qt's SVG one builds a QTextStream, whose connect
        # takes Qt's signal mutex while this thread holds Python's GIL; a GUI thread
        # disconnecting a signal holds that mutex and waits for the GIL: the window froze
        # (seen once in CI, 2026-12-07, test_a_local_tile_file_is_drawn_offline).
        config, z, x, y = key
        img: QImage | None = None
        fallback = False
        try:
            raw: bytes | None = None
            if config.mode == "osm":
                raw = self._web(config.url, z, x, y)
            elif config.mode == "file" and self.source_file is not None:
                raw = self.source_file.get(z, x, y)
            fmt = None if raw is None else tile_format(raw)
            if raw is not None and fmt is None:
                self._fail_from_thread("a basemap tile is neither PNG, JPEG nor WebP; "
                                       "showing the offline map")
            elif fmt is not None:
                img = QImage.fromData(raw, fmt)
                if not img.isNull():
                    # a PNG tile is often 8-bit palette: scaled on every frame that is slow;
                    # converted once here, off the GUI thread
                    img = img.convertToFormat(
                        QImage.Format.Format_ARGB32_Premultiplied if img.hasAlphaChannel()
                        else QImage.Format.Format_RGB32)
                if img.isNull():
                    img = None
                    self._fail_from_thread("a basemap tile could not be decoded; showing the "
                                           "offline map")
            fallback = img is None  # the offline map's tile, asked for on the GUI thread
        except Exception as exc:  # noqa: BLE001 - a broken tile never breaks the map
            self._fail_from_thread(f"basemap: {exc}")
            img, fallback = None, True
        self._done.emit(key, img, fallback)

    def _fail_from_thread(self, message: str) -> None:
        # failed is emitted from a worker thread: Qt queues it to the GUI thread's slots
        self._fail(message)

    def _natural_earth(self) -> NaturalEarth:
        with self._ne_lock:
            if self._ne is None:
                self._ne = NaturalEarth()
            return self._ne

    # -- the web, with a disk cache --------------------------------------------------------
    def cache_path(self, url: str) -> Path:
        digest = hashlib.sha1(url.encode()).hexdigest()
        return self.cache_dir / digest[:2] / digest[2:]

    def _web(self, template: str, z: int, x: int, y: int) -> bytes | None:
        url = template.replace("{s}", "a").format(z=z, x=x, y=y)
        path = self.cache_path(url)
        try:
            st = path.stat()
            expires = float(path.with_suffix(".exp").read_text()) if path.with_suffix(
                ".exp").exists() else st.st_mtime + CACHE_DAYS * 86400
            if time.time() < expires:
                self.cache_hits += 1
                return path.read_bytes()
        except (OSError, ValueError):
            pass
        req = urllib.request.Request(url, headers={"User-Agent": user_agent()})
        try:
            self.requests += 1
            with urllib.request.urlopen(req, timeout=10) as resp:
                data = resp.read()
                max_age = _max_age(resp.headers.get("Cache-Control", ""))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self._fail(f"basemap tiles unavailable ({why_unreachable(exc)}); showing the "
                       "offline map")
            # a stale cached tile is better than none
            return path.read_bytes() if path.exists() else None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{threading.get_ident()}.part")
            tmp.write_bytes(data)
            tmp.replace(path)
            keep = max(CACHE_DAYS * 86400, max_age or 0)
            path.with_suffix(".exp").write_text(str(time.time() + keep))
        except OSError:
            pass  # a full disk costs the cache, not the map
        return data

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def why_unreachable(exc: BaseException) -> str:
    """A tile server's failure as a person reads it, not as the socket says it
    ("[Errno -3] Temporary failure in name resolution")."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"the tile server answered {exc.code} {exc.reason}".rstrip()
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, socket.gaierror):
        return "no internet connection: the tile server's name cannot be looked up"
    if isinstance(reason, TimeoutError):  # socket.timeout is TimeoutError
        return "the tile server did not answer in 10 s"
    if isinstance(reason, ConnectionRefusedError):
        return "the tile server refused the connection"
    if isinstance(reason, ssl.SSLError):
        return "the tile server's certificate could not be checked"
    if isinstance(reason, OSError):
        return "the tile server cannot be reached"
    return "the tile server's address is not a web address" if isinstance(
        exc, ValueError) else str(reason)


def _image(raw: bytes) -> QImage:
    return QImage(raw, TILE, TILE, QImage.Format.Format_RGB32).copy()


def _max_age(header: str) -> int | None:
    for part in header.split(","):
        k, _, v = part.strip().partition("=")
        if k.lower() == "max-age" and v.isdigit():
            return int(v)
    return None


def paint_basemap(p: QPainter, basemap: Basemap, zoom: float, cx: float, cy: float,
                  width: int, height: int) -> int:
    """Draw the visible basemap tiles (ancestors enlarged while missing); returns how many
    are still missing."""
    tz = max(0, min(int(round(zoom - 0.0001)), basemap.max_zoom))
    n = 1 << tz
    size = TILE * 2.0 ** (zoom - tz)
    wx0 = cx - width / 2 / (TILE * 2.0 ** zoom)
    wy0 = cy - height / 2 / (TILE * 2.0 ** zoom)
    wx1 = cx + width / 2 / (TILE * 2.0 ** zoom)
    wy1 = cy + height / 2 / (TILE * 2.0 ** zoom)
    missing = 0
    for ty in range(max(0, int(math.floor(wy0 * n))), min(n, int(math.floor(wy1 * n)) + 1)):
        for tx in range(int(math.floor(wx0 * n)), int(math.floor(wx1 * n)) + 1):
            x = tx % n
            target = QRectF(tx * size - cx * n * size + width / 2,
                            ty * size - cy * n * size + height / 2, size, size)
            img = basemap.tile(tz, x, ty)
            if img is not None:
                p.drawImage(target, img, QRectF(0, 0, TILE, TILE))
                continue
            missing += 1
            for up in range(1, 8):
                if tz - up < 0:
                    break
                key = (basemap.config, tz - up, x >> up, ty >> up)
                anc = basemap._images.get(key)
                if anc is not None:
                    s = TILE / (1 << up)
                    src = QRectF((x - ((x >> up) << up)) * s, (ty - ((ty >> up) << up)) * s, s, s)
                    p.drawImage(target, anc, src)
                    break
    return missing


def paint_cities(p: QPainter, basemap: Basemap, zoom: float, to_screen, width: int,
                 height: int) -> None:
    """Populated places on the offline map: more of them as you zoom in."""
    basemap.want_cities()
    cities = basemap.cities
    if cities is None:
        return
    min_pop = 8_000_000 if zoom < 3 else 3_000_000 if zoom < 4 else 1_000_000 if zoom < 5 \
        else 500_000 if zoom < 6 else 0
    import numpy as np

    # One numpy pass picks the cities big enough and on screen (1,800 of them: a Python
    # call each per frame cost the frame tens of ms).
    sxs, sys_ = to_screen(basemap.city_xy[:, 0], basemap.city_xy[:, 1])
    shown = np.flatnonzero((basemap.city_pop >= min_pop) & (sxs >= 0) & (sxs <= width)
                           & (sys_ >= 0) & (sys_ <= height))
    p.setPen(QPen(QColor(70, 70, 70)))
    fm = p.fontMetrics()
    taken: list[QRectF] = []  # biggest cities first; a label never covers another
    for i in shown:
        name = cities[i][0]
        sx, sy = float(sxs[i]), float(sys_[i])
        box = QRectF(sx - 3, sy - 3 - fm.ascent(), fm.horizontalAdvance(name) + 10,
                     fm.height() + 3)
        if any(box.intersects(t) for t in taken):
            continue
        taken.append(box)
        p.setBrush(QColor(60, 60, 60))
        p.drawEllipse(QPointF(sx, sy), 2.5, 2.5)
        p.drawText(QPointF(sx + 5, sy - 3), name)
        if len(taken) > 80:
            break


def tile_format(raw: bytes) -> str | None:
    """The image format of a tile from its first bytes (the formats tile servers and
    MBTiles/PMTiles files hold), or None."""
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if raw.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "WEBP"
    return None
