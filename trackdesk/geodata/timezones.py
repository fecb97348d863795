"""Each point's IANA time zone, offline (tzfpy: the timezone-boundary-builder polygons).

Stored as spans, never one row per point: ``tz_spans(start_ts, tz)`` holds a row where
the zone changes, taken at every stay (its centre) and at every mode segment's first point
(a flight from Beijing to Berlin changes zone with its first fix after landing, which
starts a new segment). The ``point_analysis`` view gives each point the zone of the last
span that started at or before it; the first span reaches back to the beginning.
"""

from __future__ import annotations

import sqlite3

FIRST = -1.0e12  # the first span covers every earlier point too


def zone_at(lat: float, lon: float) -> str:
    from tzfpy import get_tz

    return get_tz(lon, lat) or "UTC"  # mid-ocean without a zone: tzfpy gives 'Etc/GMT±n'


def tz_events(conn: sqlite3.Connection) -> list[tuple[float, float, float]]:
    """(ts, lat, lon) of every stay start and mode segment start, in time order."""
    rows = conn.execute("SELECT start_ts, lat, lon FROM stay_detections").fetchall()
    rows += conn.execute("SELECT m.start_ts, p.lat, p.lon FROM mode_segments m "
                         "JOIN points p ON p.id = m.first_point_id").fetchall()
    if not rows:
        rows = conn.execute("SELECT ts, lat, lon FROM points ORDER BY ts LIMIT 1").fetchall()
    return sorted(rows)


def tz_span_rows(conn: sqlite3.Connection) -> list[tuple[float, str]]:
    """The spans from stays and mode segments (footprint_stats computes them this way
    too: it runs before stay_stats writes them). Raises ImportError without tzfpy."""
    spans: list[tuple[float, str]] = []
    for ts, lat, lon in tz_events(conn):
        tz = zone_at(float(lat), float(lon))
        if not spans or spans[-1][1] != tz:
            spans.append((float(ts), tz))
    if spans:
        spans[0] = (FIRST, spans[0][1])
    return spans


def write_tz_spans(conn: sqlite3.Connection) -> int:
    """Rewrite ``tz_spans``; returns the number of spans."""
    spans = tz_span_rows(conn)
    conn.execute("DELETE FROM tz_spans")
    conn.executemany("INSERT INTO tz_spans (start_ts, tz) VALUES (?, ?)", spans)
    return len(spans)


def zones_for(conn: sqlite3.Connection) -> list[tuple[float, str]]:
    """The spans, for readers that compute local days themselves."""
    try:
        return [(float(a), str(b)) for a, b in
                conn.execute("SELECT start_ts, tz FROM tz_spans ORDER BY start_ts")]
    except sqlite3.OperationalError:  # a tracks.db before migration 7
        return []
