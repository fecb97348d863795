"""Dawarich's JSON data export (the user-data archive's JSON), streamed with ijson.

Dawarich's GeoJSON and GPX exports are read by the GeoJSON and GPX readers. Its data
export is one JSON object holding, among settings and statistics, ``points`` and
``visits`` (the least verified reader: written without Dawarich's documentation at hand
and without its held-out samples; what it cannot read is counted, never guessed):

* a point: ``timestamp`` (epoch seconds), the position as ``lonlat`` WKT
  (``"POINT (13.4 52.5)"``) or as ``latitude``/``longitude`` (numbers or numeric text),
  optional ``altitude``, ``velocity`` (m/s, as text or number), ``accuracy``, ``course``;
* a visit: ``started_at``/``ended_at`` and a ``name`` (and its place's position): a place
  annotation (source ``dawarich``). Visits carry no points of their own.

Everything else (areas, trips, stats, imports, notifications) is not track data and is
passed over.
"""

from __future__ import annotations

from typing import IO, Any

from trackdesk.tracks.base import (
    R_BAD_COORD,
    R_BAD_TIME,
    R_NO_TIME,
    Points,
    epoch_number,
    opt_float,
)
from trackdesk.tracks.google import _pump
from trackdesk.tracks.trackintel import parse_wkt

COLUMNS = ("altitude", "speed", "accuracy", "heading")
R_NOT_RECORD = "not a location record"


def is_export(head: bytes) -> bool:
    """True for the first KB of a Dawarich data export (what ``formats`` asks)."""
    # Its GeoJSON export may carry "lonlat" in properties: a FeatureCollection is GeoJSON.
    if b'"features"' in head or b'"FeatureCollection"' in head:
        return False
    return b'"points"' in head and (b'"lonlat"' in head or b'"counts"' in head)


def _time(value: Any, out: Points) -> float | None | bool:
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return epoch_number(float(value))
    if isinstance(value, str):
        s = value.strip()
        if s.isdigit():
            return epoch_number(float(s))
        t = out.times(s)
        return False if t is None else t
    return False


def _point(p: dict, out: Points) -> None:
    ts = _time(p.get("timestamp"), out)
    if ts is False:
        out.reject(R_BAD_TIME)
        return
    if ts is None:
        out.reject(R_NO_TIME)
        return
    lat = p.get("latitude")
    lon = p.get("longitude")
    if isinstance(p.get("lonlat"), str):
        geom = parse_wkt(p["lonlat"])
        if geom is not None and geom[0] == "POINT" and geom[1]:
            lon, lat = geom[1][0][0], geom[1][0][1]
    if lat is None or lon is None:
        out.reject(R_BAD_COORD)
        return
    out.add(ts, lat, lon, opt_float(p.get("altitude")), opt_float(p.get("velocity")),
            opt_float(p.get("accuracy")), opt_float(p.get("course")))


def _visit(v: dict, out: Points) -> None:
    start = _time(v.get("started_at"), out)
    end = _time(v.get("ended_at"), out)
    name = v.get("name")
    place = v.get("place") if isinstance(v.get("place"), dict) else {}
    if not isinstance(name, str) or not name.strip():
        name = place.get("name")
    if start in (None, False) or not isinstance(name, str) or not name.strip():
        return
    lat = opt_float(place.get("latitude", v.get("latitude")))
    lon = opt_float(place.get("longitude", v.get("longitude")))
    out.annotate(start, None if end is False else end, "place", name.strip(), name,
                 "dawarich", lat, lon)


def read(stream: IO[bytes], out: Points) -> None:
    def handle(which: int, obj: Any) -> None:
        if not isinstance(obj, dict):
            if which == 0:
                out.reject(R_NOT_RECORD)
        elif which == 0:
            _point(obj, out)
        else:
            _visit(obj, out)

    _pump(stream, ("points.item", "visits.item"), handle)
