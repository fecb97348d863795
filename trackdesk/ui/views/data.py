"""What the map, timeline, statistics and coverage views read from tracks.db.

Plain functions over a read-only sqlite3 connection, no Qt: they run on worker threads
(``trackdesk.ui.views.loader``), never on the GUI thread, and tests call them directly.
Every function copes with a tracks.db whose analysis has not run yet (tables empty) and
with one older than migration 3 (tables missing): the views then show "nothing yet".

Days: the timeline and the coverage calendar count *local* days of this computer (the
footprint_stats default), the map's per-day tables are UTC days (``render_days``).
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

MODES = ("stationary", "walk", "bike", "car", "train", "plane", "bus")
MODE_INDEX = {m: i for i, m in enumerate(MODES)}
EQUATOR_M = 40_075_016.686
DEG_M = 111_195.0  # metres per degree of latitude (the grid's EARTH_RADIUS_M * DEG)
DAY = 86400.0
BLOCK = 64  # vertices per box of DayTrack.blocks


# ------------------------------------------------------------------ connections -------
def connect_ro(path: Path | str, check_same_thread: bool = True) -> sqlite3.Connection:
    """A read-only connection: the views never write, and WAL lets them read while a
    worker writes. ``check_same_thread`` stays on unless the caller closes it from
    another thread (ThreadConnections)."""
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=30.0,
                           check_same_thread=check_same_thread)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA cache_size = -65536")  # 64 MB: tile rendering rereads blobs
    return conn


class ThreadConnections:
    """One read-only connection per worker thread, all closed together.

    ``close()`` really closes them (at once when idle, else as the read using it ends):
    the pool's threads outlive a database switch, and a connection they kept would keep
    the old tracks.db, -wal and -shm open in the window process (issue 17)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._busy: set[int] = set()
        self._closed = False
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with self._lock:
                if self._closed:
                    raise sqlite3.ProgrammingError(f"{self.path} was closed by the window")
            # Used by this thread only; closed from another by close() when idle.
            conn = connect_ro(self.path, check_same_thread=False)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def use(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection for one read; closed after it if close() came."""
        conn = self.get()
        with self._lock:
            self._busy.add(id(conn))
        try:
            yield conn
        finally:
            with self._lock:
                self._busy.discard(id(conn))
                late = self._closed
            if late:
                self._local.conn = None
                conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [c for c in self._all if id(c) not in self._busy]
            self._all.clear()
        for conn in idle:
            conn.close()


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() \
        is not None


def _rows(conn: sqlite3.Connection, sql: str, args: Iterable[Any] = (),
          needs: str = "") -> list[tuple]:
    if needs and not has_table(conn, needs):
        return []
    return conn.execute(sql, tuple(args)).fetchall()


# ------------------------------------------------------------------ projection --------
def mercator(lat: np.ndarray | float, lon: np.ndarray | float) -> tuple[Any, Any]:
    """World coordinates in [0, 1) (Web Mercator, y down), the way tiles are cut."""
    lat = np.clip(np.asarray(lat, dtype=np.float64), -85.05112878, 85.05112878)
    x = (np.asarray(lon, dtype=np.float64) + 180.0) / 360.0
    s = np.sin(lat * math.pi / 180.0)
    y = 0.5 - np.log((1 + s) / (1 - s)) / (4 * math.pi)
    return x, y


def inverse_mercator(x: float, y: float) -> tuple[float, float]:
    lon = x * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y))))
    return lat, lon


# ------------------------------------------------------------------ map ---------------
@dataclass
class MapBasics:
    """What the map needs before it draws anything."""

    bounds: tuple[float, float, float, float] | None  # min_lat, max_lat, min_lon, max_lon
    n_points: int
    zooms: dict[int, int]  # zoom -> grid level of the heat map
    cell_size_m: float
    dlat_deg: float
    days: np.ndarray  # UTC day numbers of render_days
    day_boxes: np.ndarray  # (n, 4) world x0, y0, x1, y1 of each day's bounds
    # The days you lived (footprint_stats' count, first and last, 'YYYY-MM-DD'), the ones
    # Statistics and Coverage show; None before footprint_stats ran. render_days are UTC
    # days (where to draw), a day more or less than the days lived.
    lived: tuple[int, str, str] | None = None


def map_basics(conn: sqlite3.Connection) -> MapBasics:
    days = np.zeros(0, dtype=np.int64)
    boxes = np.zeros((0, 4))
    bounds, n, zooms, size, dlat = None, 0, {}, 100.0, 100.0 / DEG_M
    if has_table(conn, "render_days"):
        rows = conn.execute("SELECT day, n_points, min_lat, max_lat, min_lon, max_lon "
                            "FROM render_days ORDER BY day").fetchall()
        if rows:
            a = np.array(rows, dtype=np.float64)
            days = a[:, 0].astype(np.int64)
            n = int(a[:, 1].sum())
            x0, y1 = mercator(a[:, 2], a[:, 4])
            x1, y0 = mercator(a[:, 3], a[:, 5])
            boxes = np.column_stack([x0, y0, x1, y1])
            bounds = (float(a[:, 2].min()), float(a[:, 3].max()), float(a[:, 4].min()),
                      float(a[:, 5].max()))
        zooms = dict(conn.execute("SELECT zoom, grid_level FROM render_zooms").fetchall())
        g = conn.execute("SELECT cell_size_m, dlat_deg FROM grid_params").fetchone()
        if g:
            size, dlat = float(g[0]), float(g[1])
    lived = None
    if has_table(conn, "footprint_days"):
        row = conn.execute("SELECT COUNT(*), MIN(day), MAX(day) FROM footprint_days").fetchone()
        if row and row[0]:
            lived = (int(row[0]), str(row[1]), str(row[2]))
    return MapBasics(bounds, n, zooms, size, dlat, days, boxes, lived)


@dataclass
class Cells:
    """One level of grid_cells as world-coordinate rectangles."""

    level: int
    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    n_days: np.ndarray
    n_points: np.ndarray

    def __len__(self) -> int:
        return len(self.x0)


def cells(conn: sqlite3.Connection, level: int, basics: MapBasics) -> Cells:
    rows = _rows(conn, "SELECT lat, lon, n_days, n_points FROM grid_cells WHERE level = ?",
                 (level,), needs="grid_cells")
    a = np.array(rows, dtype=np.float64).reshape(-1, 4)
    # Cells are (nearly) square: cell_size * 2**level metres a side. Their exact edges
    # come from the band grid; half a cell around the centre is what the eye needs.
    half_lat = basics.dlat_deg * (1 << level) / 2.0
    half_lon = half_lat / np.maximum(np.cos(np.radians(a[:, 0])), 1e-6)
    x0, y1 = mercator(a[:, 0] - half_lat, a[:, 1] - half_lon)
    x1, y0 = mercator(a[:, 0] + half_lat, a[:, 1] + half_lon)
    return Cells(level, x0, y0, x1, y1, a[:, 2].astype(np.int64), a[:, 3].astype(np.int64))


@dataclass
class DayTrack:
    """One UTC day's simplified track at one zoom, each vertex tagged with the mode
    segment it belongs to (``seg``, index into ``seg_start``/``seg_mode``)."""

    day: int
    x: np.ndarray  # world coordinates, NaN between pieces
    y: np.ndarray
    seg: np.ndarray  # int32, -1 when unknown
    seg_start: np.ndarray  # start_ts of the day's mode segments
    seg_mode: np.ndarray  # int8 mode index

    def __post_init__(self) -> None:
        # A stationary segment inside a drawn (moving) piece is a short stop, or a stay's
        # departure whose first point lies inside the stay and so matched no vertex:
        # either way the line is the next moving segment's (else the previous one's).
        k = len(self.seg_mode)
        shown = np.arange(k, dtype=np.int32)
        nxt = -1
        for i in range(k - 1, -1, -1):
            if self.seg_mode[i] != 0:
                nxt = i
            elif nxt >= 0:
                shown[i] = nxt
        prev = -1
        for i in range(k):
            if self.seg_mode[i] != 0:
                prev = i
            elif shown[i] == i and prev >= 0:
                shown[i] = prev
        self.shown = shown
        self.seg = np.where(self.seg >= 0, shown[np.maximum(self.seg, 0)] if k else -1,
                            -1).astype(np.int32)

    @property
    def mode(self) -> np.ndarray:
        m = np.full(len(self.x), -1, dtype=np.int8)
        ok = self.seg >= 0
        m[ok] = self.seg_mode[self.seg[ok]]
        return m

    @property
    def nbytes(self) -> int:
        return self.x.nbytes * 2 + self.seg.nbytes

    @property
    def blocks(self) -> np.ndarray:
        """(n_blocks, 4) world box of each run of ``BLOCK`` vertices plus the next one, so
        a tile can skip most of a long day's vertices with one comparison per block."""
        got = getattr(self, "_blocks", None)
        if got is None:
            n = len(self.x)
            starts = np.arange(0, n, BLOCK)
            out = np.full((len(starts), 4), np.nan)
            if n:
                with np.errstate(invalid="ignore"):
                    xs0 = np.fmin.reduceat(self.x, starts)
                    xs1 = np.fmax.reduceat(self.x, starts)
                    ys0 = np.fmin.reduceat(self.y, starts)
                    ys1 = np.fmax.reduceat(self.y, starts)
                nxt = np.minimum(starts + BLOCK, n - 1)
                out[:, 0] = np.fmin(xs0, self.x[nxt])
                out[:, 1] = np.fmin(ys0, self.y[nxt])
                out[:, 2] = np.fmax(xs1, self.x[nxt])
                out[:, 3] = np.fmax(ys1, self.y[nxt])
            self._blocks = got = out
        return got


def _segments(conn: sqlite3.Connection, t0: float, t1: float) -> list[tuple]:
    """Mode segments overlapping [t0, t1) with the position of their first point."""
    if not has_table(conn, "mode_segments"):
        return []
    sql = ("SELECT m.start_ts, m.mode, COALESCE(p.lat, s.lat), COALESCE(p.lon, s.lon) "
           "FROM mode_segments m LEFT JOIN points p ON p.id = m.first_point_id "
           "LEFT JOIN synthetic_points s ON s.id = -m.first_point_id ")
    before = conn.execute(sql + "WHERE m.start_ts < ? ORDER BY m.start_ts DESC LIMIT 1",
                          (t0,)).fetchall()
    within = conn.execute(sql + "WHERE m.start_ts >= ? AND m.start_ts < ? ORDER BY m.start_ts",
                          (t0, t1)).fetchall()
    return before + within


def tag_segments(x: np.ndarray, y: np.ndarray, bx: np.ndarray, by: np.ndarray,
                 tol: float) -> np.ndarray:
    """Index of the segment each vertex belongs to.

    ``render_tracks`` keeps no timestamps, so the mode of a vertex is found by walking the
    day's vertices and its mode-segment starts (``bx``, ``by``) together in time order: a
    segment begins at the first vertex (after the previous boundary) within ``tol`` of its
    first point. The simplification keeps the first point of every pixel run, so that
    point is either a vertex or within one pixel of one: colours are off by at most a
    pixel. A start that matches no vertex (inside a stay or a gap) changes nothing drawn.
    """
    n = len(x)
    seg = np.full(n, -1, dtype=np.int32)
    if n == 0 or len(bx) == 0:
        return seg
    # A hash of the vertices by tol-sized cell: each start looks at the 3x3 cells around
    # it instead of scanning every later vertex (O(n) per day, not O(n x segments)).
    ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    key = (np.floor(x[ok] / tol).astype(np.int64) << 32) + np.floor(y[ok] / tol).astype(np.int64)
    order = np.argsort(key, kind="stable")
    skey, sidx = key[order], ok[order]
    bcx = np.floor(bx / tol).astype(np.int64)
    bcy = np.floor(by / tol).astype(np.int64)
    around = np.array([(dx << 32) + dy for dx in (-1, 0, 1) for dy in (-1, 0, 1)],
                      dtype=np.int64)
    want = ((bcx << 32) + bcy)[:, None] + around[None, :]
    lo = np.searchsorted(skey, want, side="left")
    hi = np.searchsorted(skey, want, side="right")
    cands: list[np.ndarray | None] = [None]
    for k in range(1, len(bx)):
        if not np.isfinite(bx[k]) or not (hi[k] > lo[k]).any():
            cands.append(None)
            continue
        cand = np.concatenate([sidx[a:b] for a, b in zip(lo[k], hi[k], strict=True) if b > a])
        d2 = (x[cand] - bx[k]) ** 2 + (y[cand] - by[k]) ** 2
        cand = np.sort(cand[d2 <= tol * tol])
        cands.append(cand if len(cand) else None)

    def first_from(k: int, cur: int) -> int | None:
        c = cands[k] if k < len(cands) else None
        if c is None:
            return None
        i = int(np.searchsorted(c, cur))
        return int(c[i]) if i < len(c) else None

    cur, current = 0, 0
    lead: int | None = None  # the latest start passed over before the first match
    matched = False
    for k in range(1, len(bx)):
        j = first_from(k, cur)
        # A start whose own vertex was simplified away can match the same place passed
        # again later in the day (home, a station): it must not come after the next
        # start's vertex, or every start between would be lost and the whole day drawn
        # in one mode.
        nxt = first_from(k + 1, cur) if j is not None else None
        if j is None or (nxt is not None and nxt < j):
            if not matched:
                lead = k
            continue
        seg[cur:j] = current if matched or lead is None else lead
        cur, current, matched = j, k, True
    seg[cur:] = current if matched or lead is None else lead
    return seg


def day_tracks(conn: sqlite3.Connection, zoom: int, days: Iterable[int]) -> list[DayTrack]:
    """The simplified tracks of these UTC days at ``zoom``, with their modes."""
    days = sorted(int(d) for d in days)
    if not days or not has_table(conn, "render_tracks"):
        return []
    out: list[DayTrack] = []
    scale = 256.0 * (1 << zoom)
    for i in range(0, len(days), 500):
        chunk = days[i:i + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"SELECT day, coords FROM render_tracks WHERE zoom = ? AND day "
                            f"IN ({marks}) ORDER BY day", (zoom, *chunk)).fetchall()
        for day, blob in rows:
            c = np.frombuffer(blob, "<f4").reshape(-1, 2).astype(np.float64)
            x, y = mercator(c[:, 1], c[:, 0])
            bad = np.isnan(c[:, 0])
            x[bad] = np.nan
            y[bad] = np.nan
            segs = _segments(conn, day * DAY, (day + 1) * DAY)
            starts = np.array([s[0] for s in segs], dtype=np.float64)
            modes = np.array([MODE_INDEX.get(s[1], 0) for s in segs], dtype=np.int8)
            pos = np.array([(s[2], s[3]) for s in segs], dtype=np.float64).reshape(-1, 2)
            bx, by = mercator(pos[:, 0], pos[:, 1])
            seg = tag_segments(x * scale, y * scale, bx * scale, by * scale, 2.0)
            out.append(DayTrack(int(day), x, y, seg, starts, modes))
    return out


@dataclass
class Markers:
    """Places, stays, outliers and synthetic points in world coordinates."""

    place_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    place_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    place_visits: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    place_label: list[str | None] = field(default_factory=list)
    place_name: list[str] = field(default_factory=list)  # issue 21: '' before migration 7
    stay_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    stay_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    outlier_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    synthetic_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))


def _xy(rows: list[tuple], lat: int = 0, lon: int = 1) -> np.ndarray:
    a = np.array([(r[lat], r[lon]) for r in rows], dtype=np.float64).reshape(-1, 2)
    a = a[np.isfinite(a).all(axis=1)]
    x, y = mercator(a[:, 0], a[:, 1])
    return np.column_stack([x, y])


def markers(conn: sqlite3.Connection, max_points: int = 2_000_000) -> Markers:
    m = Markers()
    rows = _rows(conn, "SELECT id, lat, lon, n_visits, label FROM places ORDER BY n_visits",
                 needs="places")
    if rows:
        m.place_id = np.array([r[0] for r in rows], dtype=np.int64)
        m.place_xy = _xy(rows, 1, 2)
        m.place_visits = np.array([r[3] for r in rows], dtype=np.int64)
        m.place_label = [r[4] for r in rows]
        m.place_name = place_names(conn, [int(r[0]) for r in rows])
    rows = _rows(conn, "SELECT id, lat, lon FROM stay_detections", needs="stay_detections")
    if rows:
        m.stay_id = np.array([r[0] for r in rows], dtype=np.int64)
        m.stay_xy = _xy(rows, 1, 2)
    rows = _rows(conn, "SELECT p.lat, p.lon FROM outlier_flags o JOIN points p "
                 "ON p.id = o.point_id LIMIT ?", (max_points,), needs="outlier_flags")
    m.outlier_xy = _xy(rows)
    rows = _rows(conn, "SELECT lat, lon FROM synthetic_points LIMIT ?", (max_points,),
                 needs="synthetic_points")
    m.synthetic_xy = _xy(rows)
    return m


def has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    return any(r[1] == column for r in conn.execute(f"PRAGMA table_info({table})"))


def place_names(conn: sqlite3.Connection, ids: list[int]) -> list[str]:
    """Each place's name (issue 21), '' where it has none or the db predates names."""
    if not ids or not has_column(conn, "places", "name"):
        return ["" for _ in ids]
    names = dict(conn.execute("SELECT id, COALESCE(name, '') FROM places"))
    return [names.get(i, "") for i in ids]


def place_title(name: str | None, label: str | None, ident: int | None = None) -> str:
    """'home · Haidian', 'Café Frischhut', or 'place 12' for a place without a name."""
    parts = [x for x in (label, name) if x]
    if parts:
        return " · ".join(parts)
    return f"place {ident}" if ident is not None else "place"


def point_positions(conn: sqlite3.Connection, ids: Iterable[int]) -> np.ndarray:
    """(n, 3) array of id, world x, world y for these point ids (negative: synthetic)."""
    ids = [int(i) for i in ids]
    found: list[tuple] = []
    for i in range(0, len(ids), 900):
        chunk = ids[i:i + 900]
        real = [j for j in chunk if j > 0]
        synth = [-j for j in chunk if j < 0]
        if real:
            found += conn.execute(f"SELECT id, lat, lon FROM points WHERE id IN "
                                  f"({','.join('?' * len(real))})", real).fetchall()
        if synth and has_table(conn, "synthetic_points"):
            found += [(-r[0], r[1], r[2]) for r in conn.execute(
                f"SELECT id, lat, lon FROM synthetic_points WHERE id IN "
                f"({','.join('?' * len(synth))})", synth).fetchall()]
    a = np.array(found, dtype=np.float64).reshape(-1, 3)
    a = a[np.isfinite(a).all(axis=1)]
    x, y = mercator(a[:, 1], a[:, 2])
    return np.column_stack([a[:, 0], x, y])


def failed_point_ids(conn: sqlite3.Connection, skill: str, limit: int = 100_000) -> list[int]:
    """The points a skill counted as failed. Only outlier_detection fails points one by
    one (invalid time or position, reason bit 1); other skills fail none."""
    if skill == "outlier_detection" and has_table(conn, "outlier_flags"):
        return [r[0] for r in conn.execute(
            "SELECT point_id FROM outlier_flags WHERE reasons & 1 LIMIT ?", (limit,))]
    return []


def describe(conn: sqlite3.Connection, kind: str, ident: int) -> dict[str, Any]:
    """Details of one stay, trip or place, for the map's info panel."""
    table = {"stay": "stays", "trip": "trips", "place": "places"}[kind]
    cur = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (int(ident),))
    row = cur.fetchone()
    if row is None:
        return {}
    out = dict(zip([c[0] for c in cur.description], row, strict=True))
    if kind == "trip" and out.get("mode_distances_json"):
        out["mode_distances"] = json.loads(out.pop("mode_distances_json"))
    if kind == "stay" and out.get("place_id") is not None:
        named = has_column(conn, "places", "name")
        p = conn.execute("SELECT label, n_visits" + (", name, locality, country_code"
                         if named else "") + " FROM places WHERE id = ?",
                         (out["place_id"],)).fetchone()
        if p:
            out["place_label"], out["place_visits"] = p[:2]
            if named:
                out["place_name"], out["place_locality"], out["place_country"] = p[2:]
    return out


def trip_at(conn: sqlite3.Connection, ts: float) -> int | None:
    """The trip under this moment, or None."""
    if not has_table(conn, "trips"):
        return None
    row = conn.execute("SELECT id, end_ts FROM trips WHERE start_ts <= ? ORDER BY start_ts "
                       "DESC LIMIT 1", (ts,)).fetchone()
    return int(row[0]) if row and row[1] >= ts else None


# ------------------------------------------------------------------ local days --------
def zone_info(zone: str | None) -> Any:
    """The ZoneInfo of an IANA name; None (this computer's zone) for None or an unknown name."""
    if zone is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_day(ts: float, zone: str | None = None, hour: int = 0) -> date:
    """The day ``ts`` belongs to: in ``zone`` (None: this computer's), days starting at
    ``hour`` (issue 21: a night owl's 02:00 belongs to the evening before)."""
    return datetime.fromtimestamp(ts - hour * 3600.0, zone_info(zone)).date()


def day_start(d: date, zone: str | None = None, hour: int = 0) -> float:
    return datetime(d.year, d.month, d.day, hour, tzinfo=zone_info(zone)).timestamp()


def main_zone(conn: sqlite3.Connection, t0: float, t1: float) -> str | None:
    """The IANA zone you spent most of [t0, t1) in (``tz_spans``), None before any."""
    if not has_table(conn, "tz_spans"):
        return None
    spans = conn.execute("SELECT start_ts, tz FROM tz_spans ORDER BY start_ts").fetchall()
    if not spans:
        return None
    time_in: dict[str, float] = {}
    for k, (a, tz) in enumerate(spans):
        b = spans[k + 1][0] if k + 1 < len(spans) else float("inf")
        lo, hi = max(a, t0), min(b, t1)
        if hi > lo:
            time_in[tz] = time_in.get(tz, 0.0) + (hi - lo)
    if not time_in:  # the period is before or after every span: the nearest one's zone
        return spans[-1][1] if t0 >= spans[-1][0] else spans[0][1]
    return max(time_in.items(), key=lambda kv: kv[1])[0]


def lived(conn: sqlite3.Connection, hour: int = 0, zone: str | None = None) -> Any:
    """The days of this tracks.db as you lived them (trackdesk.geodata.localdays): each
    point's own zone (``tz_spans``), flights on the day they took off, days starting at
    ``hour``; ``zone`` puts everything in that one zone instead. Where no zone is known
    yet (before stay_stats ran), this computer's."""
    from trackdesk.geodata.localdays import LOCAL, lived_days

    if zone is not None:
        return lived_days(conn, hour, zone, spans=[])
    return lived_days(conn, hour, LOCAL)


def days_with_data(conn: sqlite3.Connection, t0: float | None = None,
                   t1: float | None = None, zone: str | None = None,
                   hour: int = 0, days: Any = None) -> list[date]:
    """Days holding at least one point (``days``: a LivedDays, else :func:`lived`), found
    by hopping along the ``ts`` index (one seek per day with data): no scan of millions
    of points. Days are intervals in time order, so the next seek starts at the next
    day's start."""
    from trackdesk.geodata.localdays import day_date

    days = days if days is not None else lived(conn, hour, zone)
    out: list[date] = []
    lo = -1e300 if t0 is None else t0
    hi = 1e300 if t1 is None else t1
    while True:
        row = conn.execute("SELECT MIN(ts) FROM points WHERE ts >= ? AND ts < ?",
                           (lo, hi)).fetchone()
        if row is None or row[0] is None:
            return out
        try:
            n = days.day(row[0])
            d = day_date(n)
            nxt = days.start(n + 1)
        except (ValueError, OverflowError, OSError):
            # Out-of-range times (outliers) cannot be placed on a calendar: skip past them.
            lo = math.nextafter(row[0], math.inf)
            continue
        out.append(d)
        lo = max(nxt, math.nextafter(row[0], math.inf))


# ------------------------------------------------------------------ coverage ----------
@dataclass
class Coverage:
    data_days: list[date]
    analysed: set[date]  # days whose points the chain has all analysed
    latest: set[date]  # days the latest chain run (re)analysed
    pending: set[date]  # days with points the chain has not analysed yet
    watermark: int
    latest_from_ts: float | None


def coverage(conn: sqlite3.Connection, hour: int = 0) -> Coverage:
    """Days as you lived them (:func:`lived`), starting at ``hour``."""
    days = lived(conn, hour)
    data = days_with_data(conn, days=days)
    watermark, latest_from = 0, None
    if has_table(conn, "skill_state"):
        row = conn.execute("SELECT point_watermark FROM skill_state WHERE skill = "
                           "'rendering_metadata'").fetchone()
        watermark = int(row[0]) if row else 0
        row = conn.execute("SELECT from_ts FROM skill_changes WHERE skill = "
                           "'rendering_metadata' ORDER BY id DESC LIMIT 1").fetchone()
        latest_from = float(row[0]) if row else None
    pending: set[date] = set()
    if watermark == 0:
        pending = set(data)
    else:
        # Points newer than the last analysis (ids only grow): usually a few, so reading
        # their times is cheap; their days are not fully analysed yet.
        for (ts,) in conn.execute("SELECT ts FROM points WHERE id > ?", (watermark,)):
            try:
                pending.add(days.date(ts))
            except (ValueError, OverflowError, OSError):
                pass
    analysed = {d for d in data if d not in pending} if watermark else set()
    latest: set[date] = set()
    if latest_from is not None and watermark:
        first = date.min if latest_from < -1e299 else days.date(max(latest_from, 0.0))
        latest = {d for d in analysed if d >= first}
    return Coverage(data, analysed, latest, pending, watermark, latest_from)


# ------------------------------------------------------------------ timeline ----------
@dataclass
class Timeline:
    first: date
    last: date
    stays: list[tuple[float, float, str | None, int]]  # start, end, place label, stay id
    segments: list[tuple[float, float, str]]  # start, end, mode (moving ones)
    trips: list[tuple[float, float, str | None, int]]  # start, end, main mode, trip id
    covered: list[tuple[float, float]]  # spans with data (stays and segments joined)
    data_days: list[date]
    stay_places: dict[int, str] = field(default_factory=dict)  # stay id -> place title
    zone: str | None = None  # the zone you spent most of the period in (None: unknown)
    hour: int = 0  # the hour a day starts
    # issue 21: each day's own [start, end) as you lived it (24 h on most days; 40 h for a
    # date lived twice over the date line, 0 for one skipped), the zones crossed
    bounds: dict[date, tuple[float, float]] = field(default_factory=dict)
    zone_changes: list[tuple[float, str]] = field(default_factory=list)
    days: Any = None  # the LivedDays: the zone at any instant, for the clock

    def day_bounds(self, d: date) -> tuple[float, float]:
        got = self.bounds.get(d)
        if got is not None:
            return got
        return day_start(d, self.zone, self.hour), \
            day_start(d + timedelta(days=1), self.zone, self.hour)

    def zone_at(self, ts: float) -> str | None:
        return self.days.zone_at(ts) if self.days is not None and self.days.span_starts \
            else self.zone

    def zones(self) -> list[str]:
        """The zones of the period, in the order you were in them."""
        out: list[str] = []
        first = self.day_bounds(self.first)[0]
        z = self.zone_at(first)
        if z:
            out.append(z)
        for _ts, tz in self.zone_changes:
            if tz not in out:
                out.append(tz)
        return out




def timeline(conn: sqlite3.Connection, first: date, last: date,
             gap_s: float = 900.0, hour: int = 0) -> Timeline:
    # Days where you were (issue 21): each day cut where you lived it.
    days = lived(conn, hour)
    zone = main_zone(conn, day_start(first), day_start(last + timedelta(days=1)))
    n_days = (last - first).days + 1
    bounds = {first + timedelta(days=i): days.bounds(first + timedelta(days=i))
              for i in range(n_days)}
    t0, t1 = bounds[first][0], bounds[last][1]
    changes = [(a, z) for a, z in zip(days.span_starts, days.span_zones, strict=True)
               if t0 <= a < t1]
    stays = _rows(conn, "SELECT s.start_ts, s.end_ts, p.label, s.id FROM stays s LEFT JOIN "
                  "places p ON p.id = s.place_id WHERE s.end_ts >= ? AND s.start_ts < ? "
                  "ORDER BY s.start_ts", (t0, t1), needs="stay_detections")
    segs = _rows(conn, "SELECT start_ts, end_ts, mode FROM mode_segments WHERE end_ts >= ? "
                 "AND start_ts < ? ORDER BY start_ts", (t0 - DAY, t1), needs="mode_segments")
    trips = _rows(conn, "SELECT start_ts, end_ts, main_mode, id FROM trips WHERE end_ts >= ? "
                  "AND start_ts < ? ORDER BY start_ts", (t0, t1), needs="trips")
    # Data coverage: stays and mode segments tile the analysed track; a hole longer than
    # gap_s between them is time without data.
    spans = sorted([(s[0], s[1]) for s in stays] + [(s[0], s[1]) for s in segs
                                                     if s[1] >= t0])
    covered: list[tuple[float, float]] = []
    for a, b in spans:
        if covered and a - covered[-1][1] <= gap_s:
            covered[-1] = (covered[-1][0], max(covered[-1][1], b))
        else:
            covered.append((a, b))
    # A "ride" wholly inside a stay is a stray fix at the place (GPS scatter indoors): the
    # trips and the totals already count it as stationary (trip_construction.point_modes),
    # so the timeline does not draw it as a car or a bike blip in the middle of the night.
    starts = np.array([s[0] for s in stays], float)
    ends = np.array([s[1] for s in stays], float)

    def in_stay(a: float, b: float) -> bool:
        k = int(np.searchsorted(starts, a, side="right")) - 1
        return k >= 0 and b <= ends[k]

    moving = [(s[0], s[1], s[2]) for s in segs
              if s[2] != "stationary" and s[1] >= t0 and not in_stay(s[0], s[1])]
    stay_places: dict[int, str] = {}
    if stays and has_column(conn, "places", "name"):
        for sid, name, label, cc in conn.execute(
                "SELECT s.id, p.name, p.label, p.country_code FROM stays s JOIN places p ON "
                "p.id = s.place_id WHERE s.end_ts >= ? AND s.start_ts < ?", (t0, t1)):
            stay_places[int(sid)] = place_title(name, label) + (f" ({cc})" if cc else "")
    return Timeline(first, last, stays, moving, trips, covered,
                    days_with_data(conn, t0, t1, days=days), stay_places, zone, hour,
                    bounds, changes, days)


def months_with_data(conn: sqlite3.Connection) -> list[str]:
    """'YYYY-MM' of every month with analysed days (footprint_periods), else of the
    first and last point."""
    rows = _rows(conn, "SELECT period FROM footprint_periods WHERE period_type = 'month' "
                 "ORDER BY period", needs="footprint_periods")
    if rows:
        return [r[0] for r in rows]
    row = conn.execute("SELECT MIN(ts), MAX(ts) FROM points WHERE ts BETWEEN 0 AND 1e10")\
        .fetchone()
    if not row or row[0] is None:
        return []
    a, b = local_day(row[0]), local_day(row[1])
    out, y, m = [], a.year, a.month
    while (y, m) <= (b.year, b.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


# ------------------------------------------------------------------ your labels -------
# Issue 19: what the imported files themselves said (Google's activities and place
# visits, GeoLife's labels, a GPX <type>), read through the annotations API. A tracks.db
# made before migration 5 has no annotations table: annotations_between returns [] then.
SOURCE_NAMES = {"google": "Google", "geolife": "GeoLife", "gpx": "a GPX file",
                "fit": "a FIT file", "trackintel": "trackintel", "dawarich": "Dawarich",
                "user": "you"}


def source_name(source: str) -> str:
    """'google' -> 'Google', as a person reads where a label came from."""
    return SOURCE_NAMES.get(source, source)


def timeline_labels(conn: sqlite3.Connection, first: date, last: date
                    ) -> list[tuple[float, float, str, str, str | None, str]]:
    """The labels overlapping the days ``first``..``last`` as (start, end, kind, value,
    raw, source), in time order. A day's margin either side: the strip clips to its own
    day boundaries (which need not be the computer's midnights)."""
    from trackdesk.tracks.annotations import annotations_between

    # two days' margin: a day lived twice over the date line lasts up to 48 h
    t0 = day_start(first) - 2 * DAY
    t1 = day_start(last + timedelta(days=1)) + 2 * DAY
    return [(a.start_ts, a.end_ts, a.kind, a.value, a.raw, a.source)
            for a in annotations_between(conn, t0, t1)]


@dataclass
class UserPlace:
    """A place named by an imported file (all its visits together), for the map."""

    name: str
    lat: float
    lon: float
    x: float  # world coordinates
    y: float
    semantic: str | None  # HOME, WORK... when the file said so
    source: str
    visits: int
    first_ts: float
    last_ts: float


def user_places(conn: sqlite3.Connection) -> list[UserPlace]:
    """Place annotations with a position, one per place (its id, else its name and
    position): a Google export repeats a place at every visit."""
    from trackdesk.tracks.annotations import annotations_between

    semantic: dict[Any, str] = {}
    for a in annotations_between(conn, kind="semantic"):
        semantic[a.place_id or (a.start_ts, a.end_ts)] = a.value
    groups: dict[Any, list[Any]] = {}
    for a in annotations_between(conn, kind="place"):
        if a.lat is None or a.lon is None or not (math.isfinite(a.lat)
                                                  and math.isfinite(a.lon)):
            continue
        key = a.place_id or (a.value, round(a.lat, 4), round(a.lon, 4))
        groups.setdefault(key, []).append(a)
    out = []
    for visits in groups.values():
        a = visits[-1]
        sem = next((semantic[k] for v in visits
                    for k in (v.place_id, (v.start_ts, v.end_ts)) if k in semantic), None)
        x, y = mercator(a.lat, a.lon)
        # A GPX waypoint saved without a time has start = end = 0 (tracks.base.NO_TIME):
        # it is a place, not a visit in 1970; the first visit is the first timed one.
        timed = [v.start_ts for v in visits if v.end_ts > 0]
        out.append(UserPlace(a.value, a.lat, a.lon, float(x), float(y), sem, a.source,
                             len(visits), min(timed) if timed else 0.0,
                             max(v.end_ts for v in visits)))
    return out


# ------------------------------------------------------------------ statistics --------
@dataclass
class Statistics:
    summary: dict[str, float | str | None]
    periods: dict[str, list[dict[str, Any]]]  # 'month' / 'year' -> rows
    top_places: list[dict[str, Any]]


def statistics(conn: sqlite3.Connection, top: int = 10) -> Statistics:
    summary: dict[str, float | str | None] = {}
    for key, value, text in _rows(conn, "SELECT key, value, text FROM footprint_summary",
                                  needs="footprint_summary"):
        summary[key] = value if value is not None else text
    periods: dict[str, list[dict[str, Any]]] = {"month": [], "year": []}
    modes: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
    for ptype, period, mode, dist, dur in _rows(
            conn, "SELECT period_type, period, mode, distance_m, duration_s FROM "
            "footprint_period_modes", needs="footprint_period_modes"):
        modes.setdefault((ptype, period), {})[mode] = (dist, dur)
    for row in _rows(conn, "SELECT period_type, period, days_with_data, n_points, n_cells, "
                     "area_km2, distance_m, moving_s FROM footprint_periods ORDER BY period",
                     needs="footprint_periods"):
        ptype = row[0]
        rec = {"period": row[1], "days_with_data": row[2], "points": row[3], "cells": row[4],
               "area_km2": row[5], "distance_km": row[6] / 1000.0, "moving_h": row[7] / 3600.0}
        for mode in MODES[1:]:
            dist, dur = modes.get((ptype, row[1]), {}).get(mode, (0.0, 0.0))
            rec[f"{mode}_km"] = dist / 1000.0
            rec[f"{mode}_h"] = dur / 3600.0
        if ptype in periods:
            periods[ptype].append(rec)
        elif ptype == "all":
            summary.setdefault("all", None)
            periods.setdefault("all", []).append(rec)
    places = [dict(zip(("id", "label", "n_visits", "dwell_h", "lat", "lon"), r, strict=True))
              for r in _rows(conn, "SELECT id, label, n_visits, total_dwell_s / 3600.0, lat, "
                             "lon FROM places ORDER BY total_dwell_s DESC LIMIT ?", (top,),
                             needs="places")]
    if places and has_column(conn, "places", "name"):
        more = {r[0]: r[1:] for r in conn.execute(
            "SELECT id, name, locality, country_code FROM places")}
        for pl in places:
            pl["name"], pl["locality"], pl["country_code"] = more.get(pl["id"], ("", "", ""))
    return Statistics(summary, periods, places)


def statistics_csv_rows(stats: Statistics, period_type: str) -> list[list[Any]]:
    """The statistics table as CSV rows (header first)."""
    rows = stats.periods.get(period_type, [])
    if not rows:
        return [["period"]]
    header = list(rows[0].keys())
    return [header] + [[r[k] for k in header] for r in rows]
