"""trackintel's staypoints and triplegs CSVs (``write_staypoints_csv``,
``write_triplegs_csv``): one row per staypoint or tripleg, its geometry as WKT.

Header: ``id, user_id, started_at, finished_at, geom`` (``geometry`` or ``wkt`` accepted
too), then optional columns. Times are ISO 8601 (pandas writes ``2008-10-23
02:53:04+00:00``).

* A staypoint (``POINT``) is the place where someone stayed: a point at arrival
  (``started_at``) and one at departure (``finished_at``), like a Google place visit.
  A ``purpose`` of ``home`` or ``work`` (trackintel's ``label_freq_locations``) becomes a
  semantic annotation.
* A tripleg (``LINESTRING``) has its two times and many positions, none of them timed:
  the positions get times spread from ``started_at`` to ``finished_at`` in proportion to
  the distance along the line (the rule trackdesk uses for a KML LineString with a
  TimeSpan), counted in the summary's notes. A ``mode`` column (``walk``, ``car``, the
  GeoLife labels...) becomes an activity annotation; trackintel's coarse predicted modes
  (``slow_mobility``...) name no single activity and are only counted.

The positionfixes CSV (``tracked_at, latitude, longitude``) is a plain CSV (csvfile).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from typing import IO

from trackdesk.tracks.annotations import annotate_activity
from trackdesk.tracks.base import (
    R_BAD_COORD,
    R_BAD_TIME,
    R_NO_TIME,
    ImportFailure,
    LineGuard,
    Points,
    opt_float,
)
from trackdesk.tracks.kml import spread_times

MAX_ROW_BYTES = 16 << 20  # one CSV row: a tripleg's LINESTRING (about 500,000 positions)

COLUMNS = ("altitude",)
GEOM_COLUMNS = ("geom", "geometry", "wkt")
NOTE_SPREAD = "tripleg times spread along its line (trackintel)"
R_SHORT = "row with too few fields"
R_GEOMETRY = "a geometry that is neither POINT nor LINESTRING"
_WKT_RE = re.compile(r"\s*(?:SRID=\d+;)?\s*([A-Za-z]+)(?:\s+(?:Z|M|ZM))?\s*\((.*)\)\s*$",
                     re.S)


def delimiter(line: str) -> str:
    """``;`` when the header line has more of them than commas, else ``,``."""
    return ";" if line.count(";") > line.count(",") else ","


def is_header(header: list[str]) -> bool:
    """True for a trackintel staypoints/triplegs header (what ``formats`` asks)."""
    names = {h.strip().strip('"').lower() for h in header}
    return {"started_at", "finished_at"} <= names and bool(names & set(GEOM_COLUMNS))


def parse_wkt(text: str) -> tuple[str, list[tuple[float, ...]]] | None:
    """``("POINT" | "LINESTRING", [(lon, lat[, z]), ...])`` or None."""
    m = _WKT_RE.match(text or "")
    if m is None:
        return None
    kind = m.group(1).upper()
    coords = []
    try:
        for pair in m.group(2).replace("(", " ").replace(")", " ").split(","):
            nums = tuple(float(x) for x in pair.split())
            if len(nums) < 2 or not (math.isfinite(nums[0]) and math.isfinite(nums[1])):
                return None
            coords.append(nums)
    except ValueError:
        return None
    return kind, coords


def _alt(c: tuple[float, ...]) -> float | None:
    return c[2] if len(c) > 2 and math.isfinite(c[2]) else None


def read(stream: IO[bytes], out: Points) -> None:
    # A line is bounded (issue 19), higher than other CSVs' 1 MB: one tripleg's
    # LINESTRING is one line, 16 MB is about 500,000 positions.
    text = io.TextIOWrapper(io.BufferedReader(LineGuard(stream, MAX_ROW_BYTES), 1 << 20),
                            encoding="utf-8-sig", newline="")
    # A tripleg's LINESTRING of a long trip is far above csv's 128 KB field limit.
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
    first = text.readline()
    if not first.strip():
        raise ImportFailure("the file is empty", "line 1")
    # trackintel's own examples write ';' (WKT has commas inside its quotes).
    rows = csv.reader(itertools.chain([first], text), delimiter=delimiter(first))
    header = next(rows)
    names = [h.strip().lower() for h in header]
    if not is_header(names):
        raise ImportFailure("not a trackintel staypoints or triplegs CSV (no started_at, "
                            "finished_at and geom columns)", "line 1")
    i_start, i_end = names.index("started_at"), names.index("finished_at")
    i_geom = next(names.index(g) for g in GEOM_COLUMNS if g in names)
    i_purpose = names.index("purpose") if "purpose" in names else None
    i_mode = names.index("mode") if "mode" in names else None
    i_ele = names.index("elevation") if "elevation" in names else None
    need = max(i_start, i_end, i_geom) + 1
    times = out.times
    try:
        for row in rows:
            if not row or not any(row):
                continue
            if len(row) < need:
                out.reject(R_SHORT)
                continue
            geom = parse_wkt(row[i_geom])
            if geom is None or not geom[1]:
                out.reject(R_BAD_COORD)
                continue
            kind, coords = geom
            t0 = times(row[i_start]) if row[i_start].strip() else None
            t1 = times(row[i_end]) if row[i_end].strip() else None
            if (row[i_start].strip() and t0 is None) or (row[i_end].strip() and t1 is None):
                out.reject(R_BAD_TIME, len(coords) if kind == "LINESTRING" else 1)
                continue
            if kind == "POINT":
                lon, lat = coords[0][0], coords[0][1]
                alt = _alt(coords[0])
                if alt is None and i_ele is not None and i_ele < len(row):
                    alt = opt_float(row[i_ele])  # the mean elevation trackintel keeps
                out.add(t0, lat, lon, alt)
                if t1 is not None and t1 != t0:
                    out.add(t1, lat, lon, alt)
                purpose = row[i_purpose].strip() if i_purpose is not None \
                    and i_purpose < len(row) else ""
                if purpose.lower() in ("home", "work"):
                    out.annotate(t0, t1, "semantic", purpose.upper(), purpose, "trackintel",
                                 lat, lon)
            elif kind == "LINESTRING":
                if t0 is None or t1 is None or t1 < t0:
                    out.reject(R_NO_TIME, len(coords))
                    continue
                spread = spread_times(t0, t1, [c[1] for c in coords], [c[0] for c in coords])
                for ts, c in zip(spread, coords, strict=True):
                    out.add(ts, c[1], c[0], _alt(c))
                out.notes[NOTE_SPREAD] += len(coords)
                if i_mode is not None and i_mode < len(row):
                    annotate_activity(out, t0, t1, row[i_mode], "trackintel",
                                      coords[0][1], coords[0][0])
            else:
                out.reject(R_GEOMETRY)
    except csv.Error as exc:
        raise ImportFailure(f"not a readable CSV: {exc}", f"line {rows.line_num}") from None
