"""Countries and cities by dwell: days and hours from stays, never from points.

A day counts for a country (or city) when the stays there add up to at least
``min_minutes`` of that local day: a flight over a country or a drive through it has no
stay there and counts nothing. Local days are each stay's own time zone (``tz_spans``),
starting at ``day_start_hour`` (a night owl's 02:00 still belongs to the evening before).
A stay across midnight gives each day its own share. A day with long enough stays in two
countries counts for both.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime

from trackdesk.geodata.localdays import _zone  # one cached ZoneInfo per name


@dataclass
class DwellRow:
    key: str                   # country code, or "CC/locality" for a city
    name: str
    country_code: str
    days: int
    hours: float
    first_day: str
    last_day: str
    visits: int = 0
    day_list: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("day_list")
        return d


def _local_pieces(start: float, end: float, tz: str, day_start_hour: int
                  ) -> list[tuple[str, float]]:
    """(local day, seconds) pieces of [start, end] in ``tz``, days starting at the hour."""
    zone = _zone(tz) or UTC
    shift = day_start_hour * 3600.0
    out: list[tuple[str, float]] = []
    t = start
    while t < end:
        day = datetime.fromtimestamp(t - shift, zone).date()
        # the next local midnight by the zone's own rules (23 h and 25 h days included)
        nxt = datetime.combine(day + timedelta(days=1), dtime(0), tzinfo=zone).timestamp()
        b = min(end, nxt + shift)
        out.append((day.isoformat(), b - t))
        t = b
    return out


COUNTRY_NAMES: dict[str, str] = {}


def country_name(code: str) -> str:
    if not COUNTRY_NAMES:
        try:
            from trackdesk.geodata.world import load_world

            for c in load_world().countries:
                if c.code:
                    COUNTRY_NAMES.setdefault(c.code, c.name)
        except (OSError, ValueError):
            pass
    return COUNTRY_NAMES.get(code, code or "no country (at sea, or not known)")


def dwell_by(conn: sqlite3.Connection, by: str = "country", year: int | None = None,
             min_minutes: float = 60.0, day_start_hour: int = 0) -> list[DwellRow]:
    """Rows sorted by days then hours, most first; ``by`` is 'country' or 'city'."""
    if by not in ("country", "city"):
        raise ValueError("by must be 'country' or 'city'")
    try:
        stays = conn.execute(
            "SELECT s.start_ts, s.end_ts, p.country_code, p.locality, p.id FROM stay_detections s "
            "JOIN place_stays ps ON ps.stay_id = s.id JOIN places p ON p.id = ps.place_id "
            "ORDER BY s.start_ts").fetchall()
        zones = conn.execute("SELECT start_ts, tz FROM tz_spans ORDER BY start_ts").fetchall()
    except sqlite3.OperationalError:  # a tracks.db that was never analysed
        return []
    import bisect

    z_start = [z[0] for z in zones]
    per_day: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    visits: dict[str, int] = defaultdict(int)
    names: dict[str, tuple[str, str]] = {}
    for start, end, cc, loc, _pid in stays:
        cc = cc or ""
        key = cc if by == "country" else f"{cc}/{loc or ''}"
        names[key] = (country_name(cc) if by == "country" else (loc or "no town (at sea, or not known)"), cc)
        k = bisect.bisect_right(z_start, start) - 1
        tz = zones[k][1] if k >= 0 else "UTC"
        counted = False
        for day, secs in _local_pieces(float(start), float(end), tz, day_start_hour):
            if year is not None and not day.startswith(f"{year:04d}-"):
                continue
            per_day[key][day] += secs
            counted = True
        if counted:
            visits[key] += 1
    rows = []
    for key, days in per_day.items():
        kept = sorted(d for d, s in days.items() if s >= min_minutes * 60.0)
        hours = sum(days.values()) / 3600.0
        if not kept and hours * 60.0 < min_minutes:
            continue
        name, cc = names[key]
        rows.append(DwellRow(key, name, cc, len(kept), round(hours, 2),
                             kept[0] if kept else "", kept[-1] if kept else "", visits[key],
                             kept))
    rows.sort(key=lambda r: (-r.days, -r.hours, r.key))
    return rows
