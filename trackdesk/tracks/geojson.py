"""GeoJSON: Points with a time property, (Multi)LineStrings and MultiPoints with times
per coordinate, streamed one feature at a time with ijson.

Per-coordinate times are read from ``properties.coordTimes`` (togeojson, also nested per
line of a MultiLineString), ``properties.coordinateProperties.times``, ``properties.times``,
or a fourth coordinate value holding epoch seconds or milliseconds. A feature-level time
(``time``, ``timestamp``, ``datetime``, ``when``...) applies to a Point, or to the first
coordinate of a line only (the rest have no time and are rejected).
"""

from __future__ import annotations

from typing import IO, Any

from trackdesk.tracks.base import R_BAD_COORD, R_BAD_TIME, R_NO_TIME, Points, epoch_number
from trackdesk.tracks.google import R_NOT_RECORD, _pump

COLUMNS = ("altitude",)
TIME_KEYS = ("time", "timestamp", "datetime", "date_time", "when", "recorded_at",
             "recordedAt", "created_at", "date", "time_ms", "timestampMs", "ts")


def _when(value: Any, out: Points) -> float | None | bool:
    """A time value: ISO text or an epoch number. None if absent, False if unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return epoch_number(float(value))
    if isinstance(value, str):
        s = value.strip()
        if s[:1].isdigit() and s.replace(".", "", 1).isdigit():
            return epoch_number(float(s))
        t = out.times(s)
        return False if t is None else t
    return False


def _point(out: Points, coord: Any, ts: float | None | bool) -> None:
    if not isinstance(coord, list) or len(coord) < 2:
        out.reject(R_BAD_COORD)
        return
    if ts is None and len(coord) >= 4:
        ts = _when(coord[3], out)
    if ts is False:
        out.reject(R_BAD_TIME)
        return
    alt = _number(coord[2]) if len(coord) > 2 else None
    lon, lat = _number(coord[0]), _number(coord[1])
    if lon is None or lat is None:
        out.reject(R_BAD_COORD)
        return
    out.add(ts, lat, lon, alt)


def _number(value: Any) -> float | None:
    """A coordinate: a JSON number, or a numeric string (``["0.1", "0.1"]``: Dawarich's
    own export writes them, issue 19). Booleans and other text are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _line(out: Points, coords: Any, times: Any, first_time: Any) -> None:
    if not isinstance(coords, list):
        out.reject(R_BAD_COORD)
        return
    per = times if isinstance(times, list) else None
    for i, c in enumerate(coords):
        if per is not None:
            ts = _when(per[i], out) if i < len(per) else None
        else:
            ts = first_time if i == 0 else None
            if ts is None and isinstance(c, list) and len(c) >= 4:
                ts = _when(c[3], out)
            elif ts is None:
                out.reject(R_NO_TIME)
                continue
        _point(out, c, ts)


def _feature(feat: Any, out: Points) -> None:
    if not isinstance(feat, dict):
        out.reject(R_NOT_RECORD)
        return
    props = feat.get("properties") or {}
    if not isinstance(props, dict):
        props = {}
    geom = feat.get("geometry") if feat.get("type") == "Feature" else feat
    if not isinstance(geom, dict):
        return  # a feature without geometry holds no position
    gtype = geom.get("type")
    coords = geom.get("coordinates")
    t_feat = next((_when(props[k], out) for k in TIME_KEYS if k in props), None)
    per = props.get("coordTimes")
    if per is None and isinstance(props.get("coordinateProperties"), dict):
        per = props["coordinateProperties"].get("times")
    if per is None:
        per = props.get("times")
    if gtype == "Point":
        _point(out, coords, t_feat)
    elif gtype in ("LineString", "MultiPoint"):
        _line(out, coords, per, t_feat)
    elif gtype == "MultiLineString" and isinstance(coords, list):
        for j, line in enumerate(coords):
            sub = per[j] if isinstance(per, list) and j < len(per) \
                and isinstance(per[j], list) else None
            _line(out, line, sub, t_feat if j == 0 else None)
    elif gtype == "GeometryCollection":
        for g in geom.get("geometries") or []:
            _feature({"type": "Feature", "geometry": g, "properties": props}, out)
    # Polygons are areas, not positions: ignored.


def read(stream: IO[bytes], out: Points) -> None:
    top: dict[str, Any] = {}

    keys: tuple[str, ...] = ()

    def prefixes(head: bytes) -> tuple[str, ...]:
        nonlocal keys
        # A FeatureCollection (the big files) needs only its features; a lone Feature or
        # geometry is small and read by its top-level keys.
        if b'"features"' in head or b'"FeatureCollection"' in head:
            keys = ("features.item",)
        elif b'"locations"' in head:
            # Overland: {"locations": [Point Features with properties.timestamp]}.
            keys = ("locations.item",)
        else:
            keys = ("geometry", "properties", "coordinates", "type")
        return keys

    def handle(i: int, item: Any) -> None:
        if keys[i] in ("features.item", "locations.item"):
            _feature(item, out)
        else:
            top[keys[i]] = item

    _pump(stream, prefixes, handle)
    if top.get("type") == "Feature":
        _feature({"type": "Feature", "geometry": top.get("geometry"),
                  "properties": top.get("properties")}, out)
    elif top.get("type") not in (None, "FeatureCollection") and "coordinates" in top:
        _feature({"type": top["type"], "coordinates": top["coordinates"]}, out)
