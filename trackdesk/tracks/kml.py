"""KML and KMZ: ``gx:Track`` (``when`` + ``gx:coord``), Points with a TimeStamp, and
LineStrings with a TimeSpan, one Placemark in memory at a time.

A LineString has one time for many coordinates. With a ``TimeSpan`` the times are spread
between ``begin`` and ``end`` in proportion to the distance along the line (counted in the
summary's notes); with a lone ``TimeStamp`` only the first coordinate gets it and the
others are rejected as having no time, rather than piling many places onto one instant.
"""

from __future__ import annotations

import calendar
import re
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from typing import IO

from lxml import etree

from trackdesk.tracks.base import R_BAD_COORD, R_BAD_TIME, R_NO_TIME, ImportFailure, Points
from trackdesk.tracks.gpx import _Joined, check_root, iter_xml, leading_blanks, xml_failure

COLUMNS = ("altitude",)
NOTE_INTERPOLATED = "times spread along a LineString's TimeSpan"
NOTE_COARSE = "KML times of a year or a month only, taken as its first instant"
# A document whose root is a Feature rather than <kml>: Google's own KMZ samples have a
# bare <Placemark> as doc.kml, and Google Earth opens them (issue 19).
BARE_ROOTS = {"kml", "Placemark", "Document", "Folder"}
_COARSE_RE = re.compile(r"^\s*(\d{4})(?:-(\d{2}))?\s*$")


def kml_time(text: str, out: Points) -> float | None:
    """A KML time (xsd:dateTime, date, gYearMonth or gYear): ``2009-02`` and ``2007``
    are valid KML and mean the start of that month or year. One function for TimeStamp,
    TimeSpan and gx:Track, so they agree."""
    t = out.times(text)
    if t is not None:
        return t
    m = _COARSE_RE.match(text)
    if m is None:
        return None
    month = int(m.group(2) or 1)
    if not 1 <= month <= 12:
        return None
    out.notes[NOTE_COARSE] += 1
    return float(calendar.timegm((int(m.group(1)), month, 1, 0, 0, 0)))


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el.iter() if _local(c.tag) == name]


def _text(el: etree._Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


R_EMPTY_COORD = "no position (an empty <gx:coord>: a track's start, pause or resume mark)"


def _coords(text: str) -> list[tuple[float, float, float | None]] | None:
    pts = []
    for tup in text.split():
        parts = tup.split(",")
        if len(parts) < 2:
            return None
        try:
            lon, lat = float(parts[0]), float(parts[1])
            alt = float(parts[2]) if len(parts) > 2 and parts[2] else None
        except ValueError:
            return None
        pts.append((lat, lon, alt))
    return pts


def spread_times(t0: float, t1: float, lat: Sequence[float], lon: Sequence[float]
                 ) -> list[float]:
    """Times from ``t0`` to ``t1`` for the positions of a line, in proportion to the
    (great-circle) distance along it, evenly when it does not move; in normal form (ms).
    A KML LineString with a TimeSpan and a trackintel tripleg both have this shape."""
    import numpy as np

    if len(lat) == 1:
        return [t0]
    la, lo = np.radians(np.asarray(lat, dtype=float)), np.radians(np.asarray(lon, dtype=float))
    h = np.sin(np.diff(la) / 2) ** 2 + np.cos(la[:-1]) * np.cos(la[1:]) * np.sin(
        np.diff(lo) / 2) ** 2
    cum = np.concatenate(([0.0], np.cumsum(2 * 6371008.8 * np.arcsin(np.minimum(1.0,
                                                                             np.sqrt(h))))))
    total = cum[-1]
    frac = cum / total if total > 0 else np.arange(len(cum)) / (len(cum) - 1)
    return (np.round((t0 + (t1 - t0) * frac) * 1000) / 1000).tolist()


def _placemark(pm: etree._Element, out: Points) -> None:
    def times(text: str) -> float | None:
        return kml_time(text, out)

    stamp = next((_text(c) for c in _children(pm, "when")
                  if _local(c.getparent().tag) == "TimeStamp"), "")
    spans = _children(pm, "TimeSpan")
    begin = end = ""
    if spans:
        begin = _text(next((c for c in spans[0] if _local(c.tag) == "begin"), None))
        end = _text(next((c for c in spans[0] if _local(c.tag) == "end"), None))
    # gx:Track: paired <when> and <gx:coord> lists.
    for track in _children(pm, "Track"):
        whens = [_text(c) for c in track if _local(c.tag) == "when"]
        coords = [_text(c) for c in track if _local(c.tag) == "coord"]
        for i, c in enumerate(coords):
            parts = c.split()
            ts = times(whens[i]) if i < len(whens) and whens[i] else None
            if i < len(whens) and whens[i] and ts is None:
                out.reject(R_BAD_TIME)
                continue
            if not parts:
                # An empty <gx:coord/> is a time without a position: OpenTracks writes
                # one where a recording starts, pauses or resumes (issue 19).
                out.reject(R_EMPTY_COORD)
                continue
            if len(parts) < 2:
                out.reject(R_BAD_COORD)
                continue
            alt = None
            if len(parts) > 2:
                try:
                    alt = float(parts[2])
                except ValueError:
                    alt = None
            out.add(ts, parts[1], parts[0], alt)
    t_stamp = times(stamp) if stamp else None
    if stamp and t_stamp is None:
        t_stamp = False
    for point in _children(pm, "Point"):
        pts = _coords(_text(next(iter(_children(point, "coordinates")), None)))
        if not pts:
            out.reject(R_BAD_COORD)
        elif t_stamp is False:
            out.reject(R_BAD_TIME)
        else:
            lat, lon, alt = pts[0]
            # A span's begin, or its end when it has only an end (both valid KML).
            span = times(begin) if begin else (times(end) if end else None)
            out.add(t_stamp or span, lat, lon, alt)
    for line in _children(pm, "LineString"):
        pts = _coords(_text(next(iter(_children(line, "coordinates")), None)))
        if pts is None:
            out.reject(R_BAD_COORD)
            continue
        t0 = times(begin) if begin else None
        t1 = times(end) if end else None
        if t0 is not None and t1 is not None and len(pts) > 1 and t1 >= t0:
            spread = spread_times(t0, t1, [p[0] for p in pts], [p[1] for p in pts])
            for ts, (lat, lon, alt) in zip(spread, pts, strict=True):
                out.add(ts, lat, lon, alt)
            out.notes[NOTE_INTERPOLATED] += len(pts)
        else:
            first = t_stamp if t_stamp not in (None, False) else t0
            for i, (lat, lon, alt) in enumerate(pts):
                if i == 0 and first is not None:
                    out.add(first, lat, lon, alt)
                else:
                    out.reject(R_NO_TIME)


def read(stream: IO[bytes], out: Points) -> None:
    head = leading_blanks(stream.read(1 << 16))
    it = iter_xml(_Joined(head, stream, []), ("{*}Placemark",))
    n = 0
    try:
        for _, pm in it:
            _placemark(pm, out)
            pm.clear(keep_tail=False)
            n += 1
            if n % 256 == 0:
                parent = pm.getparent()
                if parent is not None:
                    del parent[:-1]
    except etree.XMLSyntaxError as exc:
        raise xml_failure(exc, "KML") from None
    root = getattr(it, "root", None)
    if _local(getattr(root, "tag", "")) not in BARE_ROOTS:
        check_root(it, "kml", "KML")


def read_kmz(stream: IO[bytes], out: Points) -> None:
    # zipfile needs to seek; a KMZ may come from inside another zip, so spool it (in
    # memory up to 32 MB, on disk beyond) instead of assuming a real file.
    with tempfile.SpooledTemporaryFile(max_size=32 << 20) as tmp:
        shutil.copyfileobj(stream, tmp, 1 << 20)
        tmp.seek(0)
        try:
            zf = zipfile.ZipFile(tmp)
        except Exception as exc:  # noqa: BLE001 - zipfile raises many kinds on damage
            raise ImportFailure(f"not a readable KMZ (zip) archive: {exc}", "byte 0") \
                from None
        with zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".kml")]
            if not names:
                raise ImportFailure("the KMZ holds no .kml document")
            name = "doc.kml" if "doc.kml" in names else names[0]
            from trackdesk.tracks.formats import unsafe_member

            why = unsafe_member(zf.getinfo(name))  # a link or a bomb inside the KMZ
            if why:
                raise ImportFailure(f"{name}: {why}")
            with zf.open(name) as fh:
                try:
                    read(fh, out)
                except ImportFailure as exc:
                    raise ImportFailure(exc.message, f"{name}, {exc.position}") from None
