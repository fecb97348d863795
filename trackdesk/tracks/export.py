"""Export points (and optionally the analysis) to GPX, GeoJSON or CSV.

- GPX 1.1: one ``<trk>`` per run of points in one trip or outside trips (stays), its
  ``<type>`` the trip's main mode (``walk``, ``car``...) or ``stay``; times in UTC with
  milliseconds when the point had them, ``<ele>`` from the altitude.
- GeoJSON: one LineString per such run with ``coordTimes`` (what the importer and
  togeojson read), plus with ``--with-analysis`` the stays and places as Point features
  (their times are named ``start``/``end``, which no importer takes for a fix's time).
- CSV: one row per point, the columns the importer reads back; ``--with-analysis`` adds
  mode, outlier, stay, trip, place and time zone columns.

Every point in the range is written, outliers too: exporting then importing into a fresh
tracks.db gives the same points. Streaming: rows are read in time order and written as
they come, so a 10M-point GPX or CSV export needs no more memory than a small one; GeoJSON
holds one LineString at a time (a trip, or the points between two trips: every point of
a tracks.db not analysed yet).
"""

from __future__ import annotations

import bisect
import csv
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import groupby
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

FORMATS = ("gpx", "geojson", "csv")


class ExportError(Exception):
    """A clear reason why nothing (or not everything) could be exported."""


@dataclass
class ExportResult:
    path: Path
    format: str
    points: int
    tracks: int
    stays: int = 0
    places: int = 0


def iso(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    if abs(ts - round(ts)) < 5e-4:
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def day_bounds(first: date | None, last: date | None) -> tuple[float, float]:
    """[first 00:00 UTC, the day after last 00:00 UTC): whole days as the user names them."""
    lo = datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp() if first else \
        float("-inf")
    hi = (datetime(last.year, last.month, last.day, tzinfo=UTC).timestamp() + 86400.0) if last \
        else float("inf")
    return lo, hi


def guess_format(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise ExportError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
        return fmt
    ext = path.suffix.lower().lstrip(".")
    if ext == "json":
        ext = "geojson"
    if ext not in FORMATS:
        raise ExportError(f"cannot tell the format from {path.name!r}: name it .gpx, "
                          ".geojson or .csv, or pass --format")
    return ext


class _Trips:
    """Trip and mode lookups by time, without the per-point subqueries of the view."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        def rows(sql: str) -> list[tuple]:
            try:
                return conn.execute(sql).fetchall()
            except sqlite3.OperationalError:  # not analysed yet
                return []

        self.trips = rows("SELECT start_ts, end_ts, id, COALESCE(main_mode, '') FROM trips "
                          "ORDER BY start_ts")
        self.t_start = [t[0] for t in self.trips]
        self.modes = rows("SELECT start_ts, end_ts, mode FROM mode_segments ORDER BY start_ts")
        self.m_start = [m[0] for m in self.modes]
        self.stays = rows("SELECT s.start_ts, s.end_ts, s.id, ps.place_id FROM stay_detections s "
                          "LEFT JOIN place_stays ps ON ps.stay_id = s.id ORDER BY s.start_ts")
        self.s_start = [s[0] for s in self.stays]
        self.zones = rows("SELECT start_ts, tz FROM tz_spans ORDER BY start_ts")
        self.z_start = [z[0] for z in self.zones]
        self.outliers = {r[0] for r in rows("SELECT point_id FROM outlier_flags")}

    @staticmethod
    def _at(starts: list[float], items: list[tuple], ts: float, open_end: bool) -> tuple | None:
        k = bisect.bisect_right(starts, ts) - 1
        if k < 0:
            return None
        it = items[k]
        inside = ts < it[1] if open_end else ts <= it[1]
        return it if inside else None

    def trip(self, ts: float) -> tuple | None:
        # as the point_analysis view: a trip holds (start, end)
        k = bisect.bisect_left(self.t_start, ts) - 1
        if k < 0:
            return None
        return self.trips[k] if ts < self.trips[k][1] else None

    def mode(self, ts: float) -> str:
        m = self._at(self.m_start, self.modes, ts, False)
        return m[2] if m else ""

    def stay(self, ts: float) -> tuple | None:
        return self._at(self.s_start, self.stays, ts, False)

    def zone(self, ts: float) -> str:
        k = bisect.bisect_right(self.z_start, ts) - 1
        return self.zones[k][1] if k >= 0 else ""


def _points(conn: sqlite3.Connection, lo: float, hi: float) -> Iterator[tuple]:
    cur = conn.execute("SELECT id, ts, lat, lon, altitude, speed, accuracy, heading FROM points "
                       "WHERE ts >= ? AND ts < ? ORDER BY ts, id", (lo, hi))
    while True:
        rows = cur.fetchmany(20_000)
        if not rows:
            return
        yield from rows


def _runs(conn: sqlite3.Connection, lo: float, hi: float, trips: _Trips
          ) -> Iterator[tuple[str, int | None, Iterator[tuple]]]:
    """(type, trip id, points) per run of points in one trip, or outside any trip; the
    points of a run are read as they are iterated (a run may be every point there is)."""
    for t, run in groupby(_points(conn, lo, hi), key=lambda p: trips.trip(p[1])):
        yield ((t[3] or "unknown") if t else "stay"), (t[2] if t else None), run


def _num(v: Any) -> str:
    return "" if v is None else repr(float(v)) if not float(v).is_integer() else f"{v:g}"


def _write_gpx(conn: sqlite3.Connection, f: IO[str], lo: float, hi: float, trips: _Trips,
               analysis: bool) -> tuple[int, int]:
    f.write('<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="trackdesk" '
            'xmlns="http://www.topografix.com/GPX/1/1">\n')
    n = tracks = 0
    for typ, tid, run in _runs(conn, lo, hi, trips):
        tracks += 1
        name = f"trip {tid}" if tid is not None else "stay"
        f.write(f"<trk><name>{escape(name)}</name><type>{escape(typ)}</type><trkseg>\n")
        for pid, ts, lat, lon, alt, _speed, _acc, _hd in run:
            f.write(f'<trkpt lat="{lat!r}" lon="{lon!r}">')
            if alt is not None:
                f.write(f"<ele>{_num(alt)}</ele>")
            f.write(f"<time>{iso(ts)}</time>")
            if analysis:
                mode = trips.mode(ts)
                out = 1 if pid in trips.outliers else 0
                f.write(f"<extensions><trackdesk:mode xmlns:trackdesk=\"https://trackdesk.invalid"
                        f"/gpx\">{mode}</trackdesk:mode><trackdesk:outlier xmlns:trackdesk="
                        f"\"https://trackdesk.invalid/gpx\">{out}</trackdesk:outlier>"
                        "</extensions>")
            f.write("</trkpt>\n")
            n += 1
        f.write("</trkseg></trk>\n")
    f.write("</gpx>\n")
    return n, tracks


def _places(conn: sqlite3.Connection) -> list[tuple]:
    try:
        return conn.execute("SELECT id, lat, lon, name, locality, country_code, label, n_visits, "
                            "total_dwell_s FROM places ORDER BY id").fetchall()
    except sqlite3.OperationalError:
        return []


def _write_geojson(conn: sqlite3.Connection, f: IO[str], lo: float, hi: float, trips: _Trips,
                   analysis: bool) -> tuple[int, int, int, int]:
    f.write('{"type":"FeatureCollection","features":[\n')
    first = True
    n = tracks = 0

    def feature(obj: dict) -> None:
        nonlocal first
        f.write(("" if first else ",\n") + json.dumps(obj, ensure_ascii=False,
                                                      separators=(",", ":")))
        first = False

    for typ, tid, points in _runs(conn, lo, hi, trips):
        tracks += 1
        run = list(points)  # one LineString: its positions and times, written together
        coords = [[p[3], p[2]] + ([p[4]] if p[4] is not None else []) for p in run]
        if any(len(c) == 2 for c in coords):
            coords = [c[:2] for c in coords]  # a LineString's positions share one dimension
        props: dict[str, Any] = {"kind": "trip" if tid is not None else "track",
                                 "mode": typ, "coordTimes": [iso(p[1]) for p in run]}
        if tid is not None:
            props["trip_id"] = tid
        if len(run) == 1:
            geom = {"type": "Point", "coordinates": coords[0]}
            props["time"] = props.pop("coordTimes")[0]
        else:
            geom = {"type": "LineString", "coordinates": coords}
        feature({"type": "Feature", "geometry": geom, "properties": props})
        n += len(run)
    stays = places = 0
    if analysis:
        rows = conn.execute("SELECT s.id, s.start_ts, s.end_ts, s.lat, s.lon, ps.place_id FROM "
                            "stay_detections s LEFT JOIN place_stays ps ON ps.stay_id = s.id "
                            "WHERE s.end_ts >= ? AND s.start_ts < ? ORDER BY s.start_ts",
                            (lo, hi)).fetchall()
        for sid, a, b, lat, lon, place in rows:
            stays += 1
            feature({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                     "properties": {"kind": "stay", "stay_id": sid, "start": iso(a),
                                    "end": iso(b), "place_id": place}})
        for pid, lat, lon, name, loc, cc, label, visits, dwell in _places(conn):
            places += 1
            feature({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                     "properties": {"kind": "place", "place_id": pid, "name": name,
                                    "locality": loc, "country_code": cc, "label": label,
                                    "visits": visits, "dwell_s": dwell}})
    f.write("\n]}\n")
    return n, tracks, stays, places


def _write_csv(conn: sqlite3.Connection, f: IO[str], lo: float, hi: float, trips: _Trips,
               analysis: bool) -> int:
    w = csv.writer(f, lineterminator="\n")
    head = ["time", "latitude", "longitude", "altitude", "speed", "accuracy", "heading"]
    if analysis:
        head += ["mode", "outlier", "stay_id", "trip_id", "place_id", "tz"]
    w.writerow(head)
    n = 0
    for pid, ts, lat, lon, alt, speed, acc, hd in _points(conn, lo, hi):
        row = [iso(ts), repr(lat), repr(lon), _num(alt), _num(speed), _num(acc), _num(hd)]
        if analysis:
            s = trips.stay(ts)
            t = trips.trip(ts)
            row += [trips.mode(ts), 1 if pid in trips.outliers else 0, s[2] if s else "",
                    t[2] if t else "", s[3] if s and s[3] is not None else "", trips.zone(ts)]
        w.writerow(row)
        n += 1
    return n


def export(db: Path, out: Path, fmt: str | None = None, first: date | None = None,
           last: date | None = None, with_analysis: bool = False) -> ExportResult:
    """Write the points of [first, last] (UTC days) to ``out``; atomic (a temp file renamed)."""
    fmt = guess_format(out, fmt)
    if first and last and first > last:
        raise ExportError(f"--from {first} is after --to {last}")
    if not db.exists():
        raise ExportError(f"no tracks.db at {db}")
    lo, hi = day_bounds(first, last)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    tmp = out.with_name(out.name + ".part")
    try:
        trips = _Trips(conn)
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            stays = places = 0
            if fmt == "gpx":
                n, tracks = _write_gpx(conn, f, lo, hi, trips, with_analysis)
            elif fmt == "geojson":
                n, tracks, stays, places = _write_geojson(conn, f, lo, hi, trips, with_analysis)
            else:
                n, tracks = _write_csv(conn, f, lo, hi, trips, with_analysis), 0
        if n == 0:
            raise ExportError("no points in that period: nothing written")
        tmp.replace(out)
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        conn.close()
        tmp.unlink(missing_ok=True)
    return ExportResult(out, fmt, n, tracks, stays, places)
