"""The map: the lifetime footprint, tracks by mode, stays and places, offline.

No tile server: positions are projected to Web Mercator here and everything drawn comes
from tracks.db. ``MapCanvas`` is a plain ``QWidget`` painted with ``QPainter`` (not
pyqtgraph's scene graph, see docs/VIEWS.md): each frame paints cached tile images
(``tiles.py``, rendered on reader threads) scaled to the current fractional zoom, then a
few light overlays (places, stays, outliers, synthetic points, highlighted points).
A missing tile is requested, and meanwhile its nearest cached ancestor is shown
enlarged, the way web maps do, so panning never waits for the database.
"""

from __future__ import annotations

import math
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from html import escape
from typing import Any

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from trackdesk.ui.views import data, qtpaths
from trackdesk.ui.views.basemap import Basemap, BasemapConfig, paint_basemap, paint_cities
from trackdesk.ui.views.data import MapBasics, Markers
from trackdesk.ui.views.loader import Loader
from trackdesk.ui.views.tiles import (
    MODE_COLOURS,
    TILE,
    TileKey,
    TileSource,
    image_from_bytes,
    render_tile_bytes,
)

MAX_TILES = 320  # ~80 MB of 256x256 ARGB images
MIN_ZOOM, MAX_ZOOM = 1.0, 19.0
BACKGROUND = QColor("#e9edf1")
GRID_LINE = QColor(120, 135, 150, 70)
GRID_TEXT = QColor(80, 92, 105)


_polygon = qtpaths.polygon


class MapCanvas(QWidget):
    """Pan with the mouse, zoom with the wheel (around the cursor), +/- and arrow keys."""

    picked = Signal(str, int)  # kind ("place", "stay", "trip"), id
    viewChanged = Signal()
    tilesDone = Signal()

    def __init__(self, loader: Loader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self.setMinimumSize(320, 240)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.cx, self.cy, self.zoom = 0.5, 0.5, 2.0
        self.layers = {"cells": True, "tracks": True, "places": True, "stays": True,
                       "outliers": False, "synthetic": False}
        self.source: TileSource | None = None
        self.basemap: Basemap | None = None  # issue 21: drawn under the footprint
        self.basemap_missing = 0
        self.markers = Markers()
        self.highlight = np.zeros((0, 2))
        self.selection_path = np.zeros((0, 2))
        self.selection_point: tuple[float, float] | None = None
        self._tiles: OrderedDict[TileKey, QImage] = OrderedDict()
        self._stale: dict[TileKey, QImage] = {}
        self._wanted: set[TileKey] = set()
        self._inflight: set[TileKey] = set()
        self._order: list[TileKey] = []
        self.generation = 0
        self._drag: QPointF | None = None
        self._moved = False
        self.missing = 0
        self.frame_ms: list[float] = []
        # Places your imported files named (issue 19), drawn with the places layer.
        self.user_places: list[data.UserPlace] = []
        self.user_xy = np.zeros((0, 2))  # their world x, y: one numpy pass per frame
        # Requests go out after painting, batched: one paint may discover 40 tiles.
        self._request_timer = QTimer(self)
        self._request_timer.setSingleShot(True)
        self._request_timer.setInterval(0)
        self._request_timer.timeout.connect(self._request_missing)
        self._settle_timer = QTimer(self)
        self._settle_timer.setSingleShot(True)
        self._settle_timer.setInterval(150)
        self._settle_timer.timeout.connect(self.update)

    # ------------------------------------------------------------------ data ----------
    def set_data(self, basics: MapBasics | None, markers: Markers | None,
                 keep_view: bool = False) -> None:
        """New database contents: tiles drawn so far stay visible until redrawn."""
        self._stale = dict(self._tiles) if keep_view else {}
        self._tiles.clear()
        self._inflight.clear()
        self.source = TileSource(basics) if basics is not None else None
        self.generation += 1  # the render processes reload the map tables
        self.markers = markers or Markers()
        if not keep_view:
            self.fit()
        self.update()

    def fit(self, box: tuple[float, float, float, float] | None = None) -> None:
        """Show a world box (x0, y0, x1, y1), by default the whole footprint."""
        if box is None:
            b = self.source.basics if self.source is not None else None
            if b is None or b.bounds is None:
                self.cx, self.cy, self.zoom = 0.5, 0.5, 2.0
                self.update()
                return
            x0, y1 = data.mercator(b.bounds[0], b.bounds[2])
            x1, y0 = data.mercator(b.bounds[1], b.bounds[3])
            box = (float(x0), float(y0), float(x1), float(y1))
        x0, y0, x1, y1 = box
        self.cx, self.cy = (x0 + x1) / 2, (y0 + y1) / 2
        w = max(x1 - x0, 1e-9) * 1.15
        h = max(y1 - y0, 1e-9) * 1.15
        z = math.log2(min(max(self.width(), 1) / (w * TILE), max(self.height(), 1) / (h * TILE)))
        self.zoom = float(min(max(z, MIN_ZOOM), 16.0))
        self.viewChanged.emit()
        self.update()

    def set_layer(self, name: str, on: bool) -> None:
        self.layers[name] = on
        self.update()

    # ------------------------------------------------------------------ geometry ------
    @property
    def scale(self) -> float:
        return TILE * 2.0 ** self.zoom

    def to_screen(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[Any, Any]:
        s = self.scale
        return ((np.asarray(x) - self.cx) * s + self.width() / 2,
                (np.asarray(y) - self.cy) * s + self.height() / 2)

    def to_world(self, px: float, py: float) -> tuple[float, float]:
        s = self.scale
        return self.cx + (px - self.width() / 2) / s, self.cy + (py - self.height() / 2) / s

    def visible_box(self) -> tuple[float, float, float, float]:
        x0, y0 = self.to_world(0, 0)
        x1, y1 = self.to_world(self.width(), self.height())
        return x0, y0, x1, y1

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the view by screen pixels."""
        self.cx -= dx / self.scale
        self.cy = min(max(self.cy - dy / self.scale, 0.0), 1.0)
        self._settle_timer.start()
        self.viewChanged.emit()
        self.update()

    def zoom_by(self, factor_log2: float, at: QPointF | None = None) -> None:
        """Zoom by 2**factor_log2 keeping the world point under ``at`` in place."""
        at = at or QPointF(self.width() / 2, self.height() / 2)
        wx, wy = self.to_world(at.x(), at.y())
        self.zoom = min(max(self.zoom + factor_log2, MIN_ZOOM), MAX_ZOOM)
        s = self.scale
        self.cx = wx - (at.x() - self.width() / 2) / s
        self.cy = wy - (at.y() - self.height() / 2) / s
        self._settle_timer.start()
        self.viewChanged.emit()
        self.update()

    def tile_zoom(self) -> int:
        return int(round(self.zoom - 0.0001))

    def _keys(self) -> list[tuple[TileKey, int]]:
        """Visible tiles, each with its unwrapped column (the world repeats east-west)."""
        tz = self.tile_zoom()
        n = 1 << tz
        x0, y0, x1, y1 = self.visible_box()
        keys = []
        cells, tracks = self.layers["cells"], self.layers["tracks"]
        if not (cells or tracks):
            return []
        cxs = (x0 + x1) / 2 * n
        cys = (y0 + y1) / 2 * n
        for ty in range(max(0, int(math.floor(y0 * n))), min(n, int(math.floor(y1 * n)) + 1)):
            for tx in range(int(math.floor(x0 * n)), int(math.floor(x1 * n)) + 1):
                keys.append((TileKey(tz, tx % n, ty, cells, tracks), tx))
        # Centre first: what the eye is on appears first.
        keys.sort(key=lambda k: (k[1] + 0.5 - cxs) ** 2 + (k[0].y + 0.5 - cys) ** 2)
        return keys

    # ------------------------------------------------------------------ tiles ---------
    def _tile_image(self, key: TileKey) -> tuple[QImage, QRectF] | None:
        """The tile, or the part of a cached ancestor (or an older drawing) covering it."""
        img = self._tiles.get(key)
        if img is not None:
            self._tiles.move_to_end(key)
            return img, QRectF(0, 0, TILE, TILE)
        img = self._stale.get(key)
        if img is not None:
            return img, QRectF(0, 0, TILE, TILE)
        for up in range(1, 6):
            if key.z - up < 0:
                break
            k = TileKey(key.z - up, key.x >> up, key.y >> up, key.cells, key.tracks)
            img = self._tiles.get(k) or self._stale.get(k)
            if img is not None:
                size = TILE / (1 << up)
                ox = (key.x - (k.x << up)) * size
                oy = (key.y - (k.y << up)) * size
                return img, QRectF(ox, oy, size, size)
        return None

    def _request_missing(self) -> None:
        src = self.source
        path = self.loader.path
        if src is None or path is None:
            return
        # Centre first, and no more than the render processes can start soon: a tile
        # scrolled away before its turn is never drawn.
        queue = [k for k in self._order if k in self._wanted and k not in self._tiles
                 and k not in self._inflight]
        room = max(0, 2 * self.loader.render_processes + 2 - len(self._inflight))
        for key in queue[:room]:
            self._inflight.add(key)
            self.loader.render(render_tile_bytes, (str(path), self.generation, key),
                               lambda raw, k=key, s=src: self._tile_ready(s, k, raw))

    def _tile_ready(self, src: TileSource, key: TileKey, raw: bytes | None) -> None:
        self._inflight.discard(key)
        if src is not self.source:
            return
        if raw is not None:
            self._tiles[key] = image_from_bytes(raw)
            self._stale.pop(key, None)
            while len(self._tiles) > MAX_TILES:
                self._tiles.popitem(last=False)
        self.update()

    # ------------------------------------------------------------------ painting ------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        try:
            self._paint(p)
        finally:
            # A painter left active on a widget crashes Qt: end it whatever happened.
            p.end()

    def _paint(self, p: QPainter) -> None:
        p.fillRect(self.rect(), BACKGROUND)
        bm = self.basemap
        if bm is not None and bm.enabled:
            self.basemap_missing = paint_basemap(p, bm, self.zoom, self.cx, self.cy,
                                                 self.width(), self.height())
            if bm.config.mode == "offline" or bm.failure or (
                    bm.config.mode == "file" and bm.source_file is None
                    and bm.opening is None):
                paint_cities(p, bm, self.zoom, self.to_screen, self.width(), self.height())
        else:
            self._paint_graticule(p)
        keys = self._keys()
        wanted = {k for k, _ in keys}
        missing = 0
        if self.source is not None and keys:
            tz = keys[0][0].z
            size = TILE * 2.0 ** (self.zoom - tz)
            n = 1 << tz
            cx = self.cx * n * size
            cy = self.cy * n * size
            # Smooth scaling costs ~10 ms a frame: only once the view rests.
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform,
                            abs(size - TILE) > 0.5 and not self._settle_timer.isActive())
            for key, tx in keys:
                got = self._tile_image(key)
                if key not in self._tiles:
                    missing += 1
                if got is None:
                    continue
                img, src_rect = got
                left = tx * size - cx + self.width() / 2
                top = key.y * size - cy + self.height() / 2
                p.drawImage(QRectF(left, top, size, size), img, src_rect)
        self._wanted = wanted
        self._order = [k for k, _ in keys]
        self.missing = missing
        if missing and self.source is not None:
            self._request_timer.start()
        elif self.source is not None and not self._inflight:
            self.tilesDone.emit()
        self._paint_overlays(p)
        self._paint_scale(p)
        self._paint_attribution(p)

    def _paint_attribution(self, p: QPainter) -> None:
        text = self.basemap.attribution() if self.basemap is not None else ""
        if not text:
            return
        p.setFont(QFont(self.font().family(), 8))
        fm = p.fontMetrics()
        w = fm.horizontalAdvance(text) + 10
        box = QRectF(self.width() - w, self.height() - fm.height() - 4, w, fm.height() + 4)
        p.fillRect(box, QColor(255, 255, 255, 200))
        p.setPen(QColor(40, 40, 40))
        p.drawText(box, int(Qt.AlignmentFlag.AlignCenter), text)

    def _paint_graticule(self, p: QPainter) -> None:
        # Lines every 10 degrees (1 degree when close): a sense of place without a basemap.
        x0, y0, x1, y1 = self.visible_box()
        lat_top, lon_left = data.inverse_mercator(x0, max(y0, 0.0))
        lat_bot, lon_right = data.inverse_mercator(x1, min(y1, 1.0))
        span = lon_right - lon_left
        step = next((s for s in (30, 10, 5, 1, 0.5, 0.1, 0.05, 0.01) if span / s >= 3), 0.01)
        p.setFont(QFont(self.font().family(), 8))
        lines: list[QLineF] = []
        labels: list[tuple[QPointF, str]] = []
        lon = math.ceil(lon_left / step) * step
        while lon <= lon_right:
            sx = float(self.to_screen(*data.mercator(0.0, lon))[0])
            lines.append(QLineF(sx, 0, sx, self.height()))
            labels.append((QPointF(sx + 3, self.height() - 34), f"{lon:g}°"))
            lon += step
        lat = math.ceil(lat_bot / step) * step
        while lat <= lat_top:
            sy = float(self.to_screen(*data.mercator(lat, 0.0))[1])
            lines.append(QLineF(0, sy, self.width(), sy))
            labels.append((QPointF(4, sy - 3), f"{lat:g}°"))
            lat += step
        p.setPen(QPen(GRID_LINE, 0))
        p.drawLines(lines)
        p.setPen(GRID_TEXT)
        for at, text in labels:
            if at.y() > 14:  # not clipped at the top edge
                p.drawText(at, text)

    def _visible_points(self, xy: np.ndarray, dedupe: bool = True) -> tuple[Any, Any]:
        if len(xy) == 0:
            return np.zeros(0), np.zeros(0)
        sx, sy = self.to_screen(xy[:, 0], xy[:, 1])
        ok = (sx >= -10) & (sx <= self.width() + 10) & (sy >= -10) & (sy <= self.height() + 10)
        sx, sy = sx[ok], sy[ok]
        if dedupe and len(sx) > 1:
            # One mark per 2x2 pixels: 100,000 outliers on screen cost like 20,000.
            key = (sx.astype(np.int64) >> 1) * 1_000_003 + (sy.astype(np.int64) >> 1)
            _, first = np.unique(key, return_index=True)
            sx, sy = sx[first], sy[first]
        return sx, sy

    def _paint_overlays(self, p: QPainter) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        m = self.markers
        if self.layers["synthetic"]:
            sx, sy = self._visible_points(m.synthetic_xy)
            p.setPen(QPen(QColor("#0a84ff"), 3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            p.drawPoints(_polygon(sx, sy))
        if self.layers["outliers"]:
            sx, sy = self._visible_points(m.outlier_xy)
            p.setPen(QPen(QColor("#d50000"), 4, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            p.drawPoints(_polygon(sx, sy))
        if len(self.selection_path):
            sx, sy = self.to_screen(self.selection_path[:, 0], self.selection_path[:, 1])
            pen = QPen(QColor(255, 214, 0, 230), 6)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
            p.setPen(pen)
            p.drawPath(qtpaths.path(np.asarray(sx, float), np.asarray(sy, float)))
        if self.layers["stays"] and self.zoom >= 9 and len(m.stay_xy):
            # Hundreds of stays share a pixel at home: one mark per pixel, drawn as two
            # layers of round points (two Qt calls, whatever the count).
            sx, sy = self._visible_points(m.stay_xy, dedupe=True)
            poly = _polygon(sx, sy)
            d = 7.0 if self.zoom >= 13 else 5.5
            p.setPen(QPen(QColor(40, 40, 40, 200), d, Qt.PenStyle.SolidLine,
                          Qt.PenCapStyle.RoundCap))
            p.drawPoints(poly)
            p.setPen(QPen(QColor(255, 255, 255), d - 2.6, Qt.PenStyle.SolidLine,
                          Qt.PenCapStyle.RoundCap))
            p.drawPoints(poly)
        if self.layers["places"] and len(m.place_xy):
            sx, sy = self.to_screen(m.place_xy[:, 0], m.place_xy[:, 1])
            big = max(1, int(m.place_visits.max()))
            font = QFont(self.font())
            font.setBold(True)
            p.setFont(font)
            fm = p.fontMetrics()
            # Labels of the most visited places first; a label that would cover one
            # already drawn is left out (its place still shows, and its name on click).
            taken: list[QRectF] = []
            texts: dict[int, str] = {}
            shown: dict[str, list[tuple[float, float]]] = {}
            # Only the places on screen (one numpy pass), not a Python step per place of
            # the whole history on every frame.
            on = np.flatnonzero((sx >= -20) & (sx <= self.width() + 20) & (sy >= -20)
                                & (sy <= self.height() + 20)).tolist()
            order = sorted(on, key=lambda k: (
                not m.place_label[k], -int(m.place_visits[k])))  # home and work first
            for i in order:
                x, y = float(sx[i]), float(sy[i])
                label = m.place_label[i]
                name = m.place_name[i] if i < len(m.place_name) else ""
                if not (label or (name and self.zoom >= 11)):
                    continue
                text = data.place_title(name if self.zoom >= 11 else "", label)
                r = 4.0 + 6.0 * math.sqrt(m.place_visits[i] / big)
                box = QRectF(x + r + 2, y + 4 - fm.ascent(), fm.horizontalAdvance(text) + 2,
                             fm.height())
                # one "Haidian" per 250 px: a district's name once, not at each café
                again = any((x - a) ** 2 + (y - b) ** 2 < 250 ** 2
                            for a, b in shown.get(name, ()))
                if label or not (again or any(box.intersects(t) for t in taken)):
                    taken.append(box)
                    texts[i] = text
                    shown.setdefault(name, []).append((x, y))
            for i in np.asarray(on, dtype=np.int64)[np.argsort(m.place_visits[on])].tolist():
                x, y = float(sx[i]), float(sy[i])
                r = 4.0 + 6.0 * math.sqrt(m.place_visits[i] / big)
                label = m.place_label[i]
                colour = QColor("#6a1b9a") if label == "home" else \
                    QColor("#00695c") if label == "work" else QColor("#37474f")
                p.setPen(QPen(QColor("white"), 2))
                p.setBrush(colour)
                p.drawEllipse(QPointF(x, y), r, r)
                # names from zoom 11 (where places are apart enough), home and work always
                if i in texts:
                    self._halo_text(p, QPointF(x + r + 3, y + 4), texts[i], colour)
        if len(self.highlight):
            sx, sy = self._visible_points(self.highlight, dedupe=True)
            poly = _polygon(sx, sy)
            p.setPen(QPen(QColor("#ff00aa"), 13, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            p.drawPoints(poly)
            p.setPen(QPen(QColor("white"), 7, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            p.drawPoints(poly)
            p.setPen(QPen(QColor("#ff00aa"), 3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            p.drawPoints(poly)
        if self.selection_point is not None:
            x, y = self.to_screen(*self.selection_point)
            p.setPen(QPen(QColor("#111"), 2.5))
            p.setBrush(QColor(255, 214, 0))
            p.drawEllipse(QPointF(float(x), float(y)), 7, 7)
        self._paint_user_places(p)

    def _halo_text(self, p: QPainter, at: QPointF, text: str, colour: QColor) -> None:
        p.setPen(QPen(QColor(255, 255, 255, 230), 1))
        for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, 1)):
            p.drawText(at + QPointF(dx, dy), text)
        p.setPen(colour)
        p.drawText(at, text)

    def _paint_scale(self, p: QPainter) -> None:
        _, wy = self.to_world(self.width() / 2, self.height() / 2)
        lat, _ = data.inverse_mercator(0.5, min(max(wy, 0.0), 1.0))
        m_per_px = data.EQUATOR_M * math.cos(math.radians(lat)) / self.scale
        target = m_per_px * 120
        nice = 10 ** math.floor(math.log10(max(target, 1e-3)))
        for k in (5, 2, 1):
            if k * nice <= target:
                nice *= k
                break
        px = nice / m_per_px
        x0, y0 = 12.0, self.height() - 12.0
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.fillRect(QRectF(x0 - 4, y0 - 22, px + 60, 28), QColor(255, 255, 255, 200))
        p.setPen(QPen(QColor("#222"), 2))
        p.drawLine(QPointF(x0, y0 - 4), QPointF(x0 + px, y0 - 4))
        p.drawLine(QPointF(x0, y0 - 9), QPointF(x0, y0 - 4))
        p.drawLine(QPointF(x0 + px, y0 - 9), QPointF(x0 + px, y0 - 4))
        label = f"{nice / 1000:g} km" if nice >= 1000 else f"{nice:g} m"
        p.setFont(QFont(self.font().family(), 9))
        p.drawText(QPointF(x0 + px + 6, y0 - 2), label)
        p.drawText(QPointF(x0, y0 - 12), f"zoom {self.zoom:.1f}")

    # ------------------------------------------------------------------ input ---------
    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(steps * 0.5, event.position())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag = event.position()
            self._moved = False
            self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag is None:
            self._hover_user_place(event.position())
        if self._drag is not None:
            d = event.position() - self._drag
            if self._moved or abs(d.x()) + abs(d.y()) > 3:
                self._moved = True
                self._drag = event.position()
                self.pan_by(d.x(), d.y())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self.unsetCursor()
            if self._drag is not None and not self._moved:
                self.pick_at(event.position())
            self._drag = None

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.zoom_by(1.0, event.position())

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        k = event.key()
        moves = {Qt.Key.Key_Left: (80, 0), Qt.Key.Key_Right: (-80, 0),
                 Qt.Key.Key_Up: (0, 80), Qt.Key.Key_Down: (0, -80)}
        if k in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(1.0)
        elif k == Qt.Key.Key_Minus:
            self.zoom_by(-1.0)
        elif k in moves:
            self.pan_by(*moves[k])
        else:
            super().keyPressEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.viewChanged.emit()

    # ------------------------------------------------------------------ your places ---
    def _paint_user_places(self, p: QPainter) -> None:
        """Small diamonds where your files named a place, over trackdesk's own places
        (a place both know shows its circle with your diamond on it)."""
        if not self.layers["places"] or not self.user_places:
            return
        sx, sy = self._visible_points(self.user_xy, dedupe=True)
        p.setPen(QPen(QColor("white"), 1.5))
        p.setBrush(QColor(USER_PLACE_COLOUR))
        for x, y in zip(sx.tolist(), sy.tolist(), strict=True):
            p.drawPolygon([QPointF(x, y - 5), QPointF(x + 5, y), QPointF(x, y + 5),
                           QPointF(x - 5, y)])
        p.setBrush(Qt.BrushStyle.NoBrush)

    def user_place_at(self, pos: QPointF, radius: float = 10.0) -> data.UserPlace | None:
        """Your place drawn nearest ``pos``, within ``radius`` pixels."""
        if not self.layers["places"] or not self.user_places:
            return None
        sx, sy = self.to_screen(self.user_xy[:, 0], self.user_xy[:, 1])
        d2 = (sx - pos.x()) ** 2 + (sy - pos.y()) ** 2
        i = int(np.argmin(d2))
        return self.user_places[i] if d2[i] <= radius * radius else None

    def _hover_user_place(self, pos: QPointF) -> None:
        u = self.user_place_at(pos)
        self.setToolTip(user_place_text(u) if u is not None else "")

    # ------------------------------------------------------------------ picking -------
    def pick_at(self, pos: QPointF) -> None:
        """Places, then stays (what is drawn on top) under the cursor; else a trip."""
        m = self.markers
        for kind, xy, ids, shown in (("place", m.place_xy, m.place_id, self.layers["places"]),
                                     ("stay", m.stay_xy, m.stay_id,
                                      self.layers["stays"] and self.zoom >= 9)):
            if not shown or len(xy) == 0:
                continue
            sx, sy = self.to_screen(xy[:, 0], xy[:, 1])
            d2 = (sx - pos.x()) ** 2 + (sy - pos.y()) ** 2
            i = int(np.argmin(d2))
            if d2[i] <= 10 ** 2:
                self.selection_point = (float(xy[i, 0]), float(xy[i, 1]))
                self.selection_path = np.zeros((0, 2))
                self.picked.emit(kind, int(ids[i]))
                self.update()
                return
        src = self.source
        if src is None or not self.layers["tracks"]:
            return
        wx, wy = self.to_world(pos.x(), pos.y())
        z, radius = self.tile_zoom(), 8.0 / self.scale

        def job(conn: sqlite3.Connection) -> tuple[int | None, np.ndarray]:
            hit = src.nearest_vertex(conn, z, wx, wy, radius)
            if hit is None:
                return None, np.zeros((0, 2))
            trip = data.trip_at(conn, hit[0] + 0.5)
            if trip is None:
                return None, np.zeros((0, 2))
            start, end = conn.execute("SELECT start_ts, end_ts FROM trips WHERE id = ?",
                                      (trip,)).fetchone()
            return trip, src.trip_path(conn, z, start, end)

        def done(result: tuple[int | None, np.ndarray]) -> None:
            trip, path = result
            self.selection_point = None
            self.selection_path = path
            self.update()
            if trip is not None:
                self.picked.emit("trip", trip)

        self.loader.submit(job, done)


USER_PLACE_COLOUR = "#5d4037"  # the timeline's place marker


def user_place_text(u: data.UserPlace) -> str:
    """'Home sweet home (home) — your place, from Google: 3 visits, 13 Sep 2020 to ...'."""
    day = "%d %b %Y"
    if u.last_ts <= 0:  # tracks.base.NO_TIME: a waypoint saved without a time
        return f"{u.name} — your place, from {data.source_name(u.source)} (saved without a time)"
    first = datetime.fromtimestamp(u.first_ts, UTC).astimezone().strftime(day)
    last = datetime.fromtimestamp(u.last_ts, UTC).astimezone().strftime(day)
    when = first if first == last else f"{first} to {last}"
    kind = f" ({u.semantic.replace('_', ' ').lower()})" if u.semantic else ""
    visits = "1 visit" if u.visits == 1 else f"{u.visits:,} visits"
    return f"{u.name}{kind} — your place, from {data.source_name(u.source)}: {visits}, {when}"


def _fmt_ts(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).astimezone().strftime("%Y-%m-%d %H:%M")


def _fmt_duration(s: float) -> str:
    h, m = divmod(int(round(s / 60)), 60)
    return f"{h} h {m:02d} min" if h else f"{m} min"


def details_html(kind: str, d: dict[str, Any]) -> str:
    """The info panel's text for a picked stay, trip or place."""
    if not d:
        return f"<p>This {kind} is no longer in the database.</p>"
    rows: list[tuple[str, str]] = []
    if kind == "stay":
        title = f"Stay {d['id']}"
        place = data.place_title(d.get("place_name"), d.get("place_label"),
                                 d.get("place_id")) if d.get("place_id") else "no place"
        if d.get("place_country"):
            place += f" ({d['place_country']})"
        rows = [("From", _fmt_ts(d["start_ts"])), ("To", _fmt_ts(d["end_ts"])),
                ("Duration", _fmt_duration(d["end_ts"] - d["start_ts"])), ("Place", place),
                ("Points", f"{d['n_points']:,}"), ("Radius", f"{d['radius_m']:.0f} m"),
                ("Position", f"{d['lat']:.5f}, {d['lon']:.5f}")]
        if d.get("is_open"):
            rows.append(("Open", "the data ends inside this stay"))
    elif kind == "trip":
        title = f"Trip {d['id']}"
        modes = d.get("mode_distances") or {}
        rows = [("From", _fmt_ts(d["start_ts"])), ("To", _fmt_ts(d["end_ts"])),
                ("Duration", _fmt_duration(d["duration_s"])),
                ("Distance", f"{d['distance_m'] / 1000:.2f} km"),
                ("Main mode", str(d.get("main_mode") or "—")),
                ("Points", f"{d['n_points']:,}")]
        rows += [(f"  {m}", f"{v / 1000:.2f} km") for m, v in
                 sorted(modes.items(), key=lambda kv: -kv[1]) if v > 0]
    else:
        named = data.place_title(d.get("name"), d.get("label"))
        title = f"Place {d['id']}" + (f" — {escape(named)}" if named != "place" else "")
        rows = [("Locality", escape(d.get("locality") or "—")),
                ("Country", escape(d.get("country_code") or "—")),
                ("Visits", f"{d['n_visits']:,}"),
                ("Time spent", _fmt_duration(d["total_dwell_s"])),
                ("First visit", _fmt_ts(d["first_visit_ts"])),
                ("Last visit", _fmt_ts(d["last_visit_ts"])),
                ("Position", f"{d['lat']:.5f}, {d['lon']:.5f}")]
    body = "".join(f"<tr><td style='color:#666;padding-right:8px'>{k}</td><td>{v}</td></tr>"
                   for k, v in rows)
    return f"<h3 style='margin:0 0 6px 0'>{title}</h3><table>{body}</table>"


class MapView(QWidget):
    """The map with its layer switches, legend and the details of what was clicked."""

    LAYERS = (("cells", "Footprint cells", "Grid cells coloured by the days you were there"),
              ("tracks", "Tracks", "Tracks coloured by transport mode"),
              ("places", "Places", "Places (home and work labelled)"),
              ("stays", "Stays", "Each stay, from zoom 9 on"),
              ("outliers", "Outliers", "Points flagged by outlier_detection"),
              ("synthetic", "Synthetic points", "Points filled in by trajectory_completion"))

    def __init__(self, loader: Loader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self.canvas = MapCanvas(loader)
        self.canvas.picked.connect(self._picked)
        self.basemap_note = ""  # said once: why the configured basemap is not shown
        self.boxes: dict[str, QCheckBox] = {}
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 4)
        for name, title, tip in self.LAYERS:
            box = QCheckBox(title)
            box.setToolTip(tip)
            box.setChecked(self.canvas.layers[name])
            box.toggled.connect(lambda on, n=name: self.canvas.set_layer(n, on))
            self.boxes[name] = box
            bar.addWidget(box)
        bar.addStretch(1)
        self.fit_button = QPushButton("Show all")
        self.fit_button.setToolTip("Zoom to the whole footprint")
        self.fit_button.clicked.connect(lambda: self.canvas.fit())
        bar.addWidget(self.fit_button)
        self.info = QTextBrowser()
        self.info.setOpenLinks(False)
        self.info.setMinimumWidth(200)
        self.info.setMaximumHeight(300)
        self.legend = QLabel(self._legend_html())
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        side = QWidget()
        sv = QVBoxLayout(side)
        sv.setContentsMargins(6, 0, 0, 0)
        sv.addWidget(self.legend)
        sv.addWidget(self.info)
        sv.addWidget(self.status)
        sv.addStretch(1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.canvas)
        split.addWidget(side)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        split.setSizes([900, 240])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(split, 1)
        self.basics: MapBasics | None = None
        self.selected: tuple[str, int] | None = None
        self.selected_details: dict[str, Any] = {}
        self._loaded_once = False
        self.info.setHtml("<p style='color:#666'>Click a place, a stay or a track to see "
                          "its details.</p>")

    @staticmethod
    def _legend_html() -> str:
        swatches = "".join(
            f"<span style='color:{c}; font-size:14px'>&#9644;</span>&nbsp;{m}&nbsp;&nbsp; "
            for m, c in MODE_COLOURS.items() if m != "stationary")
        heat = ("<span style='background:#fff3b0'>&nbsp;1&nbsp;</span>"
                "<span style='background:#ffae42'>&nbsp;&nbsp;&nbsp;</span>"
                "<span style='background:#ec4a26'>&nbsp;&nbsp;&nbsp;</span>"
                "<span style='background:#8f0f33; color:white'>&nbsp;all&nbsp;</span>")
        return (f"<b>Tracks</b><br>{swatches}<br><b>Cells</b> (days there): {heat}<br>"
                "<span style='color:#6a1b9a'>&#9679;</span> home "
                "<span style='color:#00695c'>&#9679;</span> work "
                "<span style='color:#37474f'>&#9679;</span> place "
                "<span style='color:#5d4037'>&#9670;</span> your place")

    # ------------------------------------------------------------------ basemap -------
    def set_basemap(self, config: BasemapConfig) -> None:
        """Use this basemap (Settings → Map); "off" draws the graticule only."""
        bm = self.canvas.basemap
        if bm is None:
            bm = Basemap(BasemapConfig("off"), self, renderer=self.loader.render)
            bm.ready.connect(self.canvas.update)
            bm.failed.connect(self._basemap_failed)
            self.canvas.basemap = bm
        self.basemap_note = ""
        bm.configure(config)
        self.canvas.update()

    def _basemap_failed(self, message: str) -> None:
        if not self.basemap_note:
            self.basemap_note = message
            self.status.setText(f"{self.status.text()}\n{message}".strip())
        self.canvas.update()

    # ------------------------------------------------------------------ loading -------
    def refresh(self) -> None:
        """Read the map's tables again (after a task completed or the db changed)."""
        keep = self._loaded_once

        def job(conn: sqlite3.Connection) -> tuple[MapBasics, Markers]:
            return data.map_basics(conn), data.markers(conn)

        self.status.setText("Loading the map…")
        self.loader.submit(job, lambda r: self._loaded(*r, keep))
        self.loader.submit(data.user_places, self._user_places_loaded)

    def _user_places_loaded(self, places: list[data.UserPlace]) -> None:
        self.canvas.user_places = places
        self.canvas.user_xy = np.array([(u.x, u.y) for u in places],
                                       dtype=np.float64).reshape(-1, 2)
        self.canvas.update()

    def _loaded(self, basics: MapBasics, markers: Markers, keep: bool) -> None:
        self.basics = basics
        self._loaded_once = basics.bounds is not None
        self.canvas.set_data(basics, markers, keep_view=keep and basics.bounds is not None)
        if basics.bounds is None:
            self.status.setText("Nothing to draw yet: import tracks and run the default "
                                "chain (its last skill, rendering_metadata, prepares the map).")
        else:
            n_days, first, last = self._day_span(basics)
            self.status.setText(f"{basics.n_points:,} points on {n_days:,} days; "
                                f"{len(markers.place_id):,} places, {len(markers.stay_id):,} "
                                "stays" + (f"\n{self.basemap_note}" if self.basemap_note
                                           else ""))
            if self.selected is None:
                self.info.setHtml(
                    f"<h3 style='margin:0 0 6px 0'>Your footprint</h3>"
                    f"<p>{basics.n_points:,} points on {n_days:,} days, "
                    f"{first:%d %b %Y} to {last:%d %b %Y}.</p>"
                    "<p style='color:#555'>Click a place, a stay or a track for its details."
                    "<br>Drag to pan, wheel or +/- to zoom, double-click to zoom in.</p>")

    @staticmethod
    def _day_span(basics: MapBasics) -> tuple[int, date, date]:
        """Days with data, first and last: the days you lived, as Statistics and Coverage
        count them, once footprint_stats ran; else render_days' UTC days."""
        if basics.lived is not None:
            n, first, last = basics.lived
            return n, date.fromisoformat(first), date.fromisoformat(last)
        return (len(basics.days), datetime.fromtimestamp(int(basics.days[0]) * 86400.0, UTC).date(),
                datetime.fromtimestamp(int(basics.days[-1]) * 86400.0, UTC).date())

    def clear(self) -> None:
        self._loaded_once = False
        self.basics = None
        self.canvas.set_data(None, None)
        self.status.setText("")
        self.canvas.user_places = []
        self.canvas.user_xy = np.zeros((0, 2))

    # ------------------------------------------------------------------ API -----------
    def show_points(self, ids: Iterable[int], fit: bool = True) -> None:
        """Highlight these point ids (e.g. a task's failed points) and zoom onto them."""
        ids = list(ids)

        def done(found: np.ndarray) -> None:
            self.canvas.highlight = found[:, 1:3]
            self.status.setText(f"{len(found):,} of {len(ids):,} points highlighted"
                                + ("" if len(found) == len(ids) else
                                   " (the others have no valid position)"))
            if fit and len(found):
                x0, y0 = found[:, 1].min(), found[:, 2].min()
                x1, y1 = found[:, 1].max(), found[:, 2].max()
                pad = 2e-6
                self.canvas.fit((x0 - pad, y0 - pad, x1 + pad, y1 + pad))
            self.canvas.update()

        self.loader.submit(lambda conn: data.point_positions(conn, ids), done)

    def show_failed_points(self, skill: str) -> None:
        """Highlight the points the latest run of ``skill`` counted as failed."""
        def found(ids: list[int]) -> None:
            if not ids:
                self.canvas.highlight = np.zeros((0, 2))
                self.status.setText(f"{skill}: no failed points with a position to show")
                self.canvas.update()
                return
            self.show_points(ids)

        self.loader.submit(lambda conn: data.failed_point_ids(conn, skill), found)

    def clear_highlight(self) -> None:
        self.canvas.highlight = np.zeros((0, 2))
        self.canvas.update()

    def _picked(self, kind: str, ident: int) -> None:
        self.selected = (kind, ident)

        def done(d: dict[str, Any]) -> None:
            self.selected_details = d
            self.info.setHtml(details_html(kind, d))

        self.loader.submit(lambda conn: data.describe(conn, kind, ident), done)
