"""Days as you lived them: each point's local day in the zone where it was.

Shared by footprint_stats (its day tables), the coverage calendar, the timeline and the
statistics, so every day count in trackdesk means the same thing (docs/VIEWS.md, "Days
where you were"):

1. A point's day is its local date in its own IANA zone (``tz_spans``, or the zones
   computed the same way from stays and mode segments), with days starting at
   ``hour`` (Settings → "A day starts at": with 4, 02:00 belongs to the evening before).
2. A flight (a ``plane`` mode segment) belongs to the day it took off: its points all
   take that day, so a night flight leaving at 23:00 and landing at 07:00 is one piece
   of one day, and the hours in the air never make a day of their own (Los Angeles →
   Sydney skips a date: the in-flight hours on it are the departure day's).
3. Days never go back: a point's day is the earliest day of itself and of everything
   after it. Flying Tokyo → San Francisco lands on the date you left: the hours of that
   date in Tokyo and in San Francisco (and any in-flight time already past midnight in
   Tokyo's zone) are one day, counted once.

So days are contiguous intervals of time, in time order; a day can be longer than 24 h
(a date lived twice over the date line) or empty (a date skipped by a flight). Imports
neither Qt, the engine nor SQLAlchemy (the skills' workers use it); numpy and zoneinfo.
"""

from __future__ import annotations

import bisect
import math
import sqlite3
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

DAY = 86400.0
QUARTER = 900.0
EPOCH = date(1970, 1, 1)
LOCAL = "local"  # this computer's zone (the fallback where no zone is known)


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    if name in ("", LOCAL):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def valid_zone(name: str) -> bool:
    return name in ("", LOCAL) or _zone(name) is not None


@lru_cache(maxsize=65536)
def _offset_at_quarter(q: int, name: str) -> float:
    t = q * QUARTER
    z = _zone(name)
    if z is None:
        return float(time.localtime(t).tm_gmtoff)
    off = datetime.fromtimestamp(t, z).utcoffset()
    return off.total_seconds() if off is not None else 0.0


def offsets(ts: np.ndarray, name: str) -> np.ndarray:
    """UTC offsets (s) at each instant in zone ``name`` ('local': this computer's).

    Offsets change on quarter-hours (UTC) in every real zone: one look-up per distinct
    quarter-hour, not per point."""
    if len(ts) == 0:
        return np.zeros(0)
    q = np.floor(np.asarray(ts, dtype=np.float64) / QUARTER).astype(np.int64)
    if len(q) > 1 and np.all(q[1:] >= q[:-1]):
        # time-sorted (points always are): distinct values as runs, no sort of a million
        first = np.concatenate([[True], q[1:] != q[:-1]])
        uq, inv = q[first], np.cumsum(first) - 1
    else:
        uq, inv = np.unique(q, return_inverse=True)
    offs = np.array([_offset_at_quarter(int(x), name) for x in uq.tolist()])
    return offs[inv.reshape(-1)]


def day_number(d: date) -> int:
    return (d - EPOCH).days


def day_date(n: int) -> date:
    return EPOCH + timedelta(days=int(n))


def _start_in_zone(n: int, name: str, hour: int) -> float:
    """The instant day ``n`` starts in zone ``name`` (its local ``hour``:00)."""
    d = day_date(n)
    return datetime(d.year, d.month, d.day, hour, tzinfo=_zone(name)).timestamp()


class LivedDays:
    """The day (days since 1970-01-01) of any instant, by the rules of the module doc.

    ``spans``: (start_ts, IANA zone) where the zone changes, in time order (the first
    covers everything before it too); empty: every instant is in ``fallback``.
    ``flights``: (start_ts, end_ts) of plane segments. ``hour``: the hour a day starts.
    """

    def __init__(self, spans: Sequence[tuple[float, str]] = (),
                 flights: Sequence[tuple[float, float]] = (), hour: int = 0,
                 fallback: str = LOCAL) -> None:
        if not 0 <= int(hour) <= 23:
            raise ValueError("the hour a day starts must be from 0 to 23")
        self.hour = int(hour)
        self.fallback = fallback
        zs = [(float(a), str(z) if valid_zone(str(z)) else fallback) for a, z in spans]
        self.span_starts = [a for a, _ in zs]
        self.span_zones = [z for _, z in zs]
        self.zones = sorted(set(self.span_zones)) or [fallback]
        fl = sorted((float(a), float(b)) for a, b in flights if b >= a)
        # Pieces of time: in a flight (a constant day) or on the ground in one zone.
        cuts = {a for a in self.span_starts[1:]}
        for a, b in fl:
            cuts.add(a)
            cuts.add(math.nextafter(b, math.inf))
        bounds = [-math.inf, *sorted(cuts)]
        self.b = np.array(bounds)
        n = len(bounds)
        self.kind_flight = np.zeros(n, dtype=bool)
        self.const = np.zeros(n, dtype=np.int64)
        self.zone_of = [self.zone_at(x) for x in bounds]
        fl_starts = [a for a, _ in fl]
        for i, x in enumerate(bounds):
            k = bisect.bisect_right(fl_starts, x) - 1
            if k >= 0 and fl[k][0] <= x <= fl[k][1]:
                self.kind_flight[i] = True
                self.const[i] = self._raw_scalar(fl[k][0])
        # min_after[i]: the earliest day at or after piece i's start (rule 3).
        first = np.array([self.const[i] if self.kind_flight[i] else
                          (self._raw_scalar(bounds[i]) if i else np.iinfo(np.int64).max)
                          for i in range(n)], dtype=np.int64)
        big = np.iinfo(np.int64).max
        self.min_after = np.full(n + 1, big, dtype=np.int64)
        for i in range(n - 1, -1, -1):
            self.min_after[i] = min(first[i], self.min_after[i + 1])

    # ---------------------------------------------------------------- one instant ----
    def zone_at(self, ts: float) -> str:
        if not self.span_starts:
            return self.fallback
        k = bisect.bisect_right(self.span_starts, ts) - 1
        return self.span_zones[max(k, 0)]

    def _raw_scalar(self, ts: float) -> int:
        return int(self.raw(np.array([ts]))[0])

    def raw(self, ts: np.ndarray) -> np.ndarray:
        """Rule 1 alone: the local date in the zone in force at each instant."""
        ts = np.asarray(ts, dtype=np.float64)
        out = np.zeros(len(ts), dtype=np.int64)
        if len(ts) == 0:
            return out
        if len(self.zones) == 1 or not self.span_starts:
            names = np.zeros(len(ts), dtype=np.int64)
            zones = [self.zone_at(0.0) if self.span_starts else self.fallback]
        else:
            k = np.maximum(np.searchsorted(np.array(self.span_starts), ts, "right") - 1, 0)
            zones = self.zones
            idx = {z: i for i, z in enumerate(zones)}
            names = np.array([idx[z] for z in self.span_zones], dtype=np.int64)[k]
        shift = self.hour * 3600.0
        for i, z in enumerate(zones):
            sel = names == i
            if np.any(sel):
                t = ts[sel]
                out[sel] = np.floor((t + offsets(t, z) - shift) / DAY).astype(np.int64)
        return out

    def days(self, ts: np.ndarray) -> np.ndarray:
        """The lived day of each instant (days since 1970-01-01), by all three rules."""
        ts = np.asarray(ts, dtype=np.float64)
        if len(ts) == 0:
            return np.zeros(0, dtype=np.int64)
        i = np.searchsorted(self.b, ts, "right") - 1
        f = np.where(self.kind_flight[i], self.const[i], self.raw(ts))
        return np.minimum(f, self.min_after[i + 1])

    def day(self, ts: float) -> int:
        return int(self.days(np.array([ts]))[0])

    def date(self, ts: float) -> date:
        return day_date(self.day(ts))

    def start(self, n: int) -> float:
        """The first instant of day ``n`` (days are intervals: the days are monotonic).
        A skipped day starts where the next one does."""
        shift = self.hour * 3600.0
        # No instant before this can be on day n: offsets are at most +14 h.
        lo = n * DAY + shift - 15 * 3600.0
        i = max(int(np.searchsorted(self.b, lo, "right")) - 1, 0)
        for j in range(i, len(self.b)):
            if self.min_after[j + 1] < n:
                continue
            end = self.b[j + 1] if j + 1 < len(self.b) else math.inf
            if self.kind_flight[j]:
                if self.const[j] >= n:
                    return float(self.b[j])
                continue
            t = max(float(self.b[j]), _start_in_zone(n, self.zone_of[j], self.hour))
            if t < end:
                return t
        return math.inf  # unreachable: the last piece reaches every later day

    def bounds(self, d: date) -> tuple[float, float]:
        n = day_number(d)
        return self.start(n), self.start(n + 1)


# ------------------------------------------------------------------ from tracks.db ----
def _table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() \
        is not None


def flights_from(conn: sqlite3.Connection) -> list[tuple[float, float]]:
    if not _table(conn, "mode_segments"):
        return []
    return [(float(a), float(b)) for a, b in conn.execute(
        "SELECT start_ts, end_ts FROM mode_segments WHERE mode = 'plane' ORDER BY start_ts")]


def lived_days(conn: sqlite3.Connection, hour: int = 0, fallback: str = LOCAL,
               spans: Sequence[tuple[float, str]] | None = None) -> LivedDays:
    """The days of a tracks.db: its ``tz_spans`` (stay_stats writes them) unless
    ``spans`` are given, its flights; ``fallback`` where no zone is known."""
    if spans is None:
        from trackdesk.geodata.timezones import zones_for

        spans = zones_for(conn)
    return LivedDays(spans, flights_from(conn), hour, fallback)
