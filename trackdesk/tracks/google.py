"""Google location history, streamed with ijson (these files reach hundreds of MB).

* Takeout ``Records.json``: ``{"locations": [{"latitudeE7", "longitudeE7", "timestamp" |
  "timestampMs", "accuracy", "altitude", "velocity", "heading"}...]}``. E7 values written
  as unsigned 32-bit (a known Takeout bug: latitude above 90e7) are wrapped back.
* Semantic Location History month files ``{"timelineObjects": [...]}``: a place visit gives
  two points (arrival and departure at the place), an activity segment its start and end
  locations and the timed points of its ``simplifiedRawPath``; ``waypointPath`` points
  carry no time and are not imported.
* The on-device ``Timeline.json`` (2024+): ``semanticSegments`` (``timelinePath`` points,
  visits, activities) and ``rawSignals`` positions, coordinates written ``"48.1°, 11.5°"``;
  also the iOS variant, a top-level array with ``"geo:lat,lon"`` strings.

Only one record is ever built in memory at a time (ijson's C backend, ``yajl2_c``).
"""

from __future__ import annotations

import re
from typing import IO, Any

import ijson

from trackdesk.tracks.annotations import annotate_activity, semantic_value
from trackdesk.tracks.base import (
    R_BAD_COORD,
    R_BAD_TIME,
    R_NO_TIME,
    ImportFailure,
    Points,
    epoch_ms,
    epoch_number,
    opt_float,
)

COLUMNS = ("altitude", "speed", "accuracy", "heading")
CHUNK = 1 << 16
R_NOT_RECORD = "not a location record"


def _pos(stream: IO[bytes]) -> str:
    return f"near byte {getattr(stream, 'pos', '?')}"


def _fail(exc: Exception, stream: IO[bytes]) -> ImportFailure:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ImportFailure(f"not valid JSON ({msg[:200]})", _pos(stream))


def _pump(stream: IO[bytes], prefixes: tuple[str, ...] | Any, handle: Any) -> None:
    """Feed the stream once to one ijson item pipeline per prefix; ``handle(i, item)``
    gets each finished item as soon as its chunk has been parsed. ``prefixes`` may be a
    function of the first chunk: each pipeline parses the whole file, so only the ones
    the document can need are run."""
    first = stream.read(CHUNK)
    if callable(prefixes):
        prefixes = prefixes(first)
    sinks = [ijson.sendable_list() for _ in prefixes]
    coros = [ijson.items_coro(s, p, use_float=True) for s, p in zip(sinks, prefixes,
                                                                     strict=True)]
    seen = False
    try:
        pending: bytes | None = first
        while True:
            chunk = pending if pending is not None else stream.read(CHUNK)
            pending = None
            if not chunk:
                break
            if not seen:
                chunk = chunk.lstrip(b"\xef\xbb\xbf")  # a BOM is not JSON
                seen = bool(chunk.strip())
            for i, coro in enumerate(coros):
                coro.send(chunk)
                sink = sinks[i]
                if sink:
                    for item in sink:
                        handle(i, item)
                    del sink[:]
        for i, coro in enumerate(coros):
            coro.close()
            for item in sinks[i]:
                handle(i, item)
    except ijson.JSONError as exc:
        raise _fail(exc, stream) from None
    if not seen:
        raise ImportFailure("the file is empty", "byte 0")


_NUMBER_RE = re.compile(r"\s*\d{9,14}(?:\.\d+)?\s*$")


def _e7(value: Any, limit: int) -> float | None:
    if value is None:
        return None
    try:
        v = int(value)
    except (TypeError, ValueError):
        return None
    if v > limit * 10_000_000:  # written as unsigned 32-bit
        v -= 4_294_967_296
    return v / 1e7


def _ts(obj: dict, out: Points, iso_key: str = "timestamp", ms_key: str = "timestampMs"
        ) -> float | None | bool:
    """The record's time; None if it has none, False if it is unreadable."""
    iso = obj.get(iso_key)
    if isinstance(iso, str):
        t = out.times(iso)
        if t is None and _NUMBER_RE.match(iso):
            # Some exports (and tools that rewrite them) put epoch seconds or
            # milliseconds, as text, where Google writes ISO 8601.
            t = epoch_number(float(iso))
        return False if t is None else t
    if isinstance(iso, int | float) and not isinstance(iso, bool):
        return epoch_number(float(iso))
    ms = obj.get(ms_key)
    if ms is not None:
        try:
            return epoch_ms(int(ms))
        except (TypeError, ValueError):
            return False
    return None


def _add(out: Points, ts: float | None | bool, lat: Any, lon: Any, *extra: Any) -> None:
    if ts is False:
        out.reject(R_BAD_TIME)
    elif lat is None or lon is None:
        out.reject(R_BAD_COORD if ts is not None else R_NO_TIME)
    else:
        out.add(ts, lat, lon, *extra)


# -- Records.json -----------------------------------------------------------------------
def read_records(stream: IO[bytes], out: Points) -> None:
    def handle(_: int, rec: Any) -> None:
        if not isinstance(rec, dict):
            out.reject(R_NOT_RECORD)
            return
        _add(out, _ts(rec, out), _e7(rec.get("latitudeE7"), 90),
             _e7(rec.get("longitudeE7"), 180), opt_float(rec.get("altitude")),
             opt_float(rec.get("velocity")), opt_float(rec.get("accuracy")),
             opt_float(rec.get("heading")))

    _pump(stream, ("locations.item",), handle)


# -- Semantic Location History ----------------------------------------------------------
def _duration(obj: dict, out: Points) -> tuple[Any, Any]:
    d = obj.get("duration") or {}
    if not isinstance(d, dict):
        return None, None
    return (_ts(d, out, "startTimestamp", "startTimestampMs"),
            _ts(d, out, "endTimestamp", "endTimestampMs"))


def _loc(loc: Any) -> tuple[float | None, float | None]:
    if not isinstance(loc, dict):
        return None, None
    lat = loc.get("latitudeE7", loc.get("latE7"))
    lon = loc.get("longitudeE7", loc.get("lngE7"))
    if lat is None or lon is None:  # degrees, as some rewritten exports have them
        return (opt_float(loc.get("latitude", loc.get("lat"))),
                opt_float(loc.get("longitude", loc.get("lng", loc.get("lon")))))
    return _e7(lat, 90), _e7(lon, 180)


def _visit(visit: dict, out: Points) -> None:
    """A place visit: arrival and departure at the place; its name, id and semantic
    type as annotations. Child visits (a shop inside a mall) are visits too."""
    start, end = _duration(visit, out)
    loc = visit.get("location")
    loc = loc if isinstance(loc, dict) else {}
    lat, lon = _loc(loc)
    if lat is None:
        lat, lon = _loc(visit.get("centerLatE7") and {
            "latE7": visit.get("centerLatE7"), "lngE7": visit.get("centerLngE7")})
    _add(out, start, lat, lon, None, None, None, None)
    if end != start:
        _add(out, end, lat, lon, None, None, None, None)
    place_id = loc.get("placeId") if isinstance(loc.get("placeId"), str) else None
    name = loc.get("name") or loc.get("address")
    if isinstance(name, str) and name.strip():
        out.annotate(start, end, "place", name.strip(), loc.get("name") or None, "google",
                     lat, lon, place_id)
    semantic = semantic_value(loc.get("semanticType"))
    if semantic:
        out.annotate(start, end, "semantic", semantic, loc.get("semanticType"), "google",
                     lat, lon, place_id)
    for child in visit.get("childVisits") or ():
        if isinstance(child, dict):
            _visit(child, out)


def read_semantic(stream: IO[bytes], out: Points) -> None:
    def handle(_: int, obj: Any) -> None:
        if not isinstance(obj, dict):
            out.reject(R_NOT_RECORD)
            return
        visit = obj.get("placeVisit")
        if isinstance(visit, dict):
            _visit(visit, out)
        seg = obj.get("activitySegment")
        if isinstance(seg, dict):
            start, end = _duration(seg, out)
            slat, slon = _loc(seg.get("startLocation"))
            # A segment may name only one end (or none): an end without a position is
            # no point at all, not a rejected one.
            if slat is not None or start is False:
                _add(out, start, slat, slon, None, None, None, None)
            raw = seg.get("simplifiedRawPath")
            for p in (raw.get("points") or []) if isinstance(raw, dict) else []:
                if isinstance(p, dict):
                    _add(out, _ts(p, out), *_loc(p), None, None,
                         opt_float(p.get("accuracyMeters")), None)
            elat, elon = _loc(seg.get("endLocation"))
            if elat is not None or end is False:
                _add(out, end, elat, elon, None, None, None, None)
            kind = seg.get("activityType")
            if not isinstance(kind, str):
                acts = seg.get("activities")
                first = acts[0] if isinstance(acts, list) and acts else None
                kind = first.get("activityType") if isinstance(first, dict) else None
            annotate_activity(out, start, end, kind, "google", slat, slon)

    def prefixes(head: bytes) -> tuple[str, ...]:
        # Month files wrap the objects in "timelineObjects"; a bare array of them (a
        # tool's rewrite of the export) is read too.
        if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[":
            return ("item",)
        return ("timelineObjects.item",)

    _pump(stream, prefixes, handle)


# -- Timeline.json (on-device export) ---------------------------------------------------
def latlng(text: Any) -> tuple[float | None, float | None]:
    """``"48.1°, 11.5°"`` or ``"geo:48.1,11.5"`` to floats."""
    if not isinstance(text, str):
        if isinstance(text, dict):
            return latlng(text.get("latLng") or text.get("LatLng"))
        return None, None
    s = text.strip()
    if s.startswith("geo:"):
        s = s[4:]
    parts = s.replace("°", "").split(",")
    if len(parts) != 2:
        return None, None
    try:
        return float(parts[0]), float(parts[1])
    except ValueError:
        return None, None


def _segment(seg: dict, out: Points) -> None:
    start = _ts(seg, out, "startTime", "_")
    end = _ts(seg, out, "endTime", "_")
    path = seg.get("timelinePath")
    if isinstance(path, list):
        for p in path:
            if not isinstance(p, dict):
                out.reject(R_NOT_RECORD)
                continue
            ts = _ts(p, out, "time", "_")
            if ts is None and "durationMinutesOffsetFromStartTime" in p and start:
                try:  # iOS: minutes after the segment's start
                    minutes = float(p["durationMinutesOffsetFromStartTime"])
                    ts = round(start * 1000 + minutes * 60_000) / 1000
                except (TypeError, ValueError):
                    ts = False
            _add(out, ts, *latlng(p.get("point")), None, None, None, None)
    visit = seg.get("visit")
    if isinstance(visit, dict):
        cand = visit.get("topCandidate") or {}
        cand = cand if isinstance(cand, dict) else {}
        lat, lon = latlng(cand.get("placeLocation"))
        _add(out, start, lat, lon, None, None, None, None)
        if end != start:
            _add(out, end, lat, lon, None, None, None, None)
        # The on-device export names no place: its id is the place's only identity.
        place_id = cand.get("placeId") or cand.get("placeID")
        if isinstance(place_id, str) and place_id:
            name = cand.get("name") if isinstance(cand.get("name"), str) else None
            out.annotate(start, end, "place", name or place_id, name, "google", lat, lon,
                         place_id)
        else:
            place_id = None
        semantic = semantic_value(cand.get("semanticType"))
        if semantic:
            out.annotate(start, end, "semantic", semantic, cand.get("semanticType"),
                         "google", lat, lon, place_id)
    activity = seg.get("activity")
    if isinstance(activity, dict):
        slat, slon = latlng(activity.get("start"))
        _add(out, start, slat, slon, None, None, None, None)
        _add(out, end, *latlng(activity.get("end")), None, None, None, None)
        cand = activity.get("topCandidate")
        if isinstance(cand, dict):
            annotate_activity(out, start, end, cand.get("type"), "google", slat, slon)


def _raw_signal(sig: dict, out: Points) -> None:
    pos = sig.get("position")
    if not isinstance(pos, dict):
        return  # wifi scans, activity records: no position
    _add(out, _ts(pos, out), *latlng(pos.get("LatLng") or pos.get("latLng")),
         opt_float(pos.get("altitudeMeters")), opt_float(pos.get("speedMetersPerSecond")),
         opt_float(pos.get("accuracyMeters")), None)


def read_timeline(stream: IO[bytes], out: Points) -> None:
    def handle(which: int, obj: Any) -> None:
        if not isinstance(obj, dict):
            out.reject(R_NOT_RECORD)
        elif which == 1:
            _raw_signal(obj, out)
        else:
            _segment(obj, out)

    def prefixes(head: bytes) -> tuple[str, ...]:
        # The iOS form is a top-level array; the Android one an object with two arrays,
        # both read in the same pass.
        if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[":
            return ("item",)
        return ("semanticSegments.item", "rawSignals.item")

    _pump(stream, prefixes, handle)

