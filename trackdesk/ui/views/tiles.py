"""Map tiles drawn from the rendering metadata, on reader threads.

Why tiles: a frame must cost the same at any zoom over any number of points. The map
widget only ever paints at most ~40 cached 256 px images (a few milliseconds); the work
that grows with the data (reading ``render_tracks`` blobs, colouring by mode, drawing
polylines and heat-map cells) happens here, once per tile, off the GUI thread, into a
``QImage`` (painting on a QImage is allowed on any thread).

A tile at zoom ``z`` covers world coordinates ``[tx, tx+1] / 2**z``; it draws the heat-map
level ``render_zooms`` names for that zoom and the tracks simplified for that zoom (the
nearest prepared zoom beyond ``min_zoom..max_zoom``). Only the UTC days whose bounds
(``render_days``) touch the tile are read.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen

from trackdesk.ui.views import data, qtpaths
from trackdesk.ui.views.data import BLOCK, MODES, Cells, DayTrack, MapBasics

TILE = 256
DENSE_SEGMENTS = 4_000
# Colours per transport mode: distinct hues, readable on the heat map's warm ramp.
MODE_COLOURS = {
    "stationary": "#8d8d8d",
    "walk": "#2e9d3a",
    "bike": "#00a3b4",
    "car": "#1f4fc1",
    "train": "#8e24aa",
    "plane": "#37474f",
    "bus": "#e65100",
}
UNKNOWN_COLOUR = "#6d7b86"
# Heat map: pale yellow (one day) to deep red (every day), on a log scale of days.
HEAT_RAMP = ("#fff3b0", "#ffd66b", "#ffae42", "#fb7d2c", "#ec4a26", "#c81f2e", "#8f0f33")


@dataclass(frozen=True)
class TileKey:
    z: int
    x: int
    y: int
    cells: bool
    tracks: bool


class TileSource:
    """Caches of one tracks.db's map data, shared by the reader threads."""

    def __init__(self, basics: MapBasics, max_track_bytes: int = 400_000_000) -> None:
        self.basics = basics
        self._lock = threading.Lock()
        self._cells: dict[int, Cells] = {}
        self._heat_max: dict[int, float] = {}
        self._tracks: OrderedDict[tuple[int, int], DayTrack] = OrderedDict()
        self._track_bytes = 0
        self.max_track_bytes = max_track_bytes
        zooms = sorted(basics.zooms)
        self.min_zoom = zooms[0] if zooms else 0
        self.max_zoom = zooms[-1] if zooms else 0

    def data_zoom(self, z: int) -> int:
        return min(max(z, self.min_zoom), self.max_zoom)

    def level_cells(self, conn: sqlite3.Connection, z: int) -> Cells | None:
        level = self.basics.zooms.get(self.data_zoom(z))
        if level is None:
            return None
        got = self._cells.get(level)
        if got is None:
            got = data.cells(conn, level, self.basics)
            with self._lock:
                self._cells[level] = got
                self._heat_max[level] = float(np.log1p(got.n_days.max())) if len(got) else 1.0
        return got

    def tracks(self, conn: sqlite3.Connection, z: int, days: np.ndarray) -> list[DayTrack]:
        dz = self.data_zoom(z)
        out: dict[int, DayTrack] = {}
        missing = []
        with self._lock:
            for d in days.tolist():
                t = self._tracks.get((dz, d))
                if t is None:
                    missing.append(d)
                else:
                    self._tracks.move_to_end((dz, d))
                    out[d] = t
        if missing:
            for t in data.day_tracks(conn, dz, missing):
                out[t.day] = t
                with self._lock:
                    if (dz, t.day) not in self._tracks:
                        self._tracks[(dz, t.day)] = t
                        self._track_bytes += t.nbytes
                    while self._track_bytes > self.max_track_bytes and len(self._tracks) > 1:
                        _k, old = self._tracks.popitem(last=False)
                        self._track_bytes -= old.nbytes
        return [out[d] for d in sorted(out)]

    def days_in(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        b = self.basics.day_boxes
        hit = (b[:, 0] <= x1) & (b[:, 2] >= x0) & (b[:, 1] <= y1) & (b[:, 3] >= y0)
        return self.basics.days[hit]

    # ------------------------------------------------------------------ drawing -------
    def render(self, conn: sqlite3.Connection, key: TileKey) -> QImage:
        img = QImage(TILE, TILE, QImage.Format.Format_ARGB32_Premultiplied)
        img.fill(Qt.GlobalColor.transparent)
        n = float(1 << key.z)
        x0, y0 = key.x / n, key.y / n
        x1, y1 = (key.x + 1) / n, (key.y + 1) / n
        scale = TILE * n
        p = QPainter(img)
        try:
            if key.cells:
                self._draw_cells(p, conn, key.z, x0, y0, x1, y1, scale)
            if key.tracks:
                self._draw_tracks(p, conn, key.z, x0, y0, x1, y1, scale)
        finally:
            p.end()
        return img

    def _draw_cells(self, p: QPainter, conn: sqlite3.Connection, z: int, x0: float,
                    y0: float, x1: float, y1: float, scale: float) -> None:
        c = self.level_cells(conn, z)
        if c is None or len(c) == 0:
            return
        hit = np.flatnonzero((c.x0 <= x1) & (c.x1 >= x0) & (c.y0 <= y1) & (c.y1 >= y0))
        if len(hit) == 0:
            return
        top = self._heat_max.get(c.level, 1.0) or 1.0
        cls = np.minimum((np.log1p(c.n_days[hit]) / top * len(HEAT_RAMP)).astype(int),
                         len(HEAT_RAMP) - 1)
        # At least one pixel a side, so a lone cell seen from afar is still a dot.
        rx0 = (c.x0[hit] - x0) * scale
        ry0 = (c.y0[hit] - y0) * scale
        rw = np.maximum((c.x1[hit] - c.x0[hit]) * scale, 1.0)
        rh = np.maximum((c.y1[hit] - c.y0[hit]) * scale, 1.0)
        p.setPen(Qt.PenStyle.NoPen)
        for k in np.unique(cls).tolist():
            sel = np.flatnonzero(cls == k)
            colour = QColor(HEAT_RAMP[k])
            colour.setAlpha(215)
            p.setBrush(colour)
            rects = [QRectF(a, b, w, h) for a, b, w, h in zip(
                rx0[sel].tolist(), ry0[sel].tolist(), rw[sel].tolist(), rh[sel].tolist(),
                strict=True)]
            p.drawRects(rects)

    def _draw_tracks(self, p: QPainter, conn: sqlite3.Connection, z: int, x0: float,
                     y0: float, x1: float, y1: float, scale: float) -> None:
        days = self.days_in(x0, y0, x1, y1)
        if len(days) == 0:
            return
        xs, ys, ms, cs = [], [], [], []
        for t in self.tracks(conn, z, days):
            if len(t.x) < 2:
                continue
            b = t.blocks
            hit = (b[:, 0] <= x1) & (b[:, 2] >= x0) & (b[:, 1] <= y1) & (b[:, 3] >= y0)
            if not hit.any():
                continue
            # Vertices of the blocks that touch the tile, and the first of the next block
            # (the segment crossing into it).
            vm = np.repeat(hit, BLOCK)[:len(t.x)]
            vm[1:] |= vm[:-1]
            sel = np.flatnonzero(vm)
            x, y = t.x[sel], t.y[sel]
            adjacent = sel[1:] == sel[:-1] + 1
            # Segments whose box touches the tile, so lines crossing its edge are drawn
            # (a flight is two vertices far apart).
            ax, bx, ay, by = x[:-1], x[1:], y[:-1], y[1:]
            rel = adjacent & (np.fmin(ax, bx) <= x1) & (np.fmax(ax, bx) >= x0) & \
                (np.fmin(ay, by) <= y1) & (np.fmax(ay, by) >= y0)
            if not rel.any():
                continue
            keep = np.zeros(len(x), dtype=bool)
            keep[:-1] |= rel
            keep[1:] |= rel
            con = np.zeros(len(x), dtype=bool)
            con[:-1] = rel
            xs.append(x[keep])
            ys.append(y[keep])
            ms.append(t.mode[sel][keep])
            cs.append(con[keep])
        if not xs:
            return
        x = (np.concatenate(xs) - x0) * scale
        y = (np.concatenate(ys) - y0) * scale
        mode = np.concatenate(ms)
        con = np.concatenate(cs)
        # Where years of tracks pile up (tens of thousands of segments in one tile),
        # antialiasing and the casing would cost seconds a tile for no visible gain.
        dense = int(con.sum()) > DENSE_SEGMENTS
        p.setRenderHint(QPainter.RenderHint.Antialiasing, not dense)
        p.setBrush(Qt.BrushStyle.NoBrush)
        if not dense:
            # A white casing under everything keeps tracks readable on the dark end of
            # the heat map.
            casing = QPen(QColor(255, 255, 255, 170), 3.2)
            casing.setCapStyle(Qt.PenCapStyle.RoundCap)
            casing.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
            p.setPen(casing)
            p.drawPath(qtpaths.path(x, y, connect=con))
        for k in [-1] + list(range(len(MODES))):
            sel = con & (mode == k)
            if not sel.any():
                continue
            colour = QColor(MODE_COLOURS[MODES[k]] if k >= 0 else UNKNOWN_COLOUR)
            # Dense: a cosmetic 1 px pen takes Qt's fast line rasteriser (a 1.2 px pen
            # goes through the stroker, ~10x slower on 100,000 segments).
            pen = QPen(colour, 1 if dense else 1.7)
            pen.setCosmetic(dense)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
            if k >= 0 and MODES[k] == "plane":
                pen.setStyle(Qt.PenStyle.DashLine)
            p.setPen(pen)
            # Only this mode's vertices (each segment's two ends) go into its path.
            use = sel.copy()
            use[1:] |= sel[:-1]
            idx = np.flatnonzero(use)
            c = sel[idx].copy()
            c[:-1] &= idx[1:] == idx[:-1] + 1
            p.drawPath(qtpaths.path(x[idx], y[idx], connect=c))

    # ------------------------------------------------------------------ picking -------
    def nearest_vertex(self, conn: sqlite3.Connection, z: int, wx: float, wy: float,
                       radius: float) -> tuple[float, float, float] | None:
        """(segment start ts, x, y) of the track vertex nearest to (wx, wy) within
        ``radius`` world units, at zoom ``z``'s simplification."""
        days = self.days_in(wx - radius, wy - radius, wx + radius, wy + radius)
        best = None
        for t in self.tracks(conn, z, days):
            d2 = (t.x - wx) ** 2 + (t.y - wy) ** 2
            if not np.isfinite(d2).any():
                continue
            i = int(np.nanargmin(d2))
            if d2[i] <= radius * radius and (best is None or d2[i] < best[0]) and t.seg[i] >= 0:
                best = (float(d2[i]), float(t.seg_start[t.seg[i]]), float(t.x[i]), float(t.y[i]))
        return None if best is None else best[1:]

    def trip_path(self, conn: sqlite3.Connection, z: int, start: float,
                  end: float) -> np.ndarray:
        """World coordinates of the vertices of the mode segments within [start, end]."""
        d0, d1 = int(np.floor(start / data.DAY)), int(np.floor(end / data.DAY))
        days = self.basics.days[(self.basics.days >= d0) & (self.basics.days <= d1)]
        parts = []
        for t in self.tracks(conn, z, days):
            ok = t.seg >= 0
            ts = np.full(len(t.x), np.nan)
            ts[ok] = t.seg_start[t.seg[ok]]
            sel = (ts >= start - 1) & (ts <= end)
            xs, ys = t.x.copy(), t.y.copy()
            xs[~sel] = np.nan
            ys[~sel] = np.nan
            parts.append(np.column_stack([xs, ys]))
            parts.append(np.full((1, 2), np.nan))
        return np.concatenate(parts) if parts else np.zeros((0, 2))


# ------------------------------------------------------------------ render process -----
# Tiles are drawn in a separate process (see loader.Loader.render): drawing is CPU-bound
# Python + numpy + QPainter, and in a thread it would hold the GIL that every Qt call of
# the GUI's paint must take back, making frames wait for tiles. The process keeps its own
# caches per (database, generation).
_SOURCES: dict[tuple[str, int], tuple[sqlite3.Connection, TileSource]] = {}


def render_tile_bytes(db_path: str, generation: int, key: TileKey) -> bytes:
    """Draw one tile in the render process; the raw ARGB32-premultiplied pixels."""
    got = _SOURCES.get((db_path, generation))
    if got is None:
        for old_conn, _src in _SOURCES.values():
            old_conn.close()
        _SOURCES.clear()
        conn = data.connect_ro(Path(db_path))
        got = (conn, TileSource(data.map_basics(conn)))
        _SOURCES[(db_path, generation)] = got
    conn, src = got
    img = src.render(conn, key)
    return bytes(img.constBits())


def image_from_bytes(raw: bytes) -> QImage:
    return QImage(raw, TILE, TILE, QImage.Format.Format_ARGB32_Premultiplied).copy()


def warm_up() -> bool:
    """Nothing: the first call just pays the process's imports before a tile is needed."""
    return True
