"""GPX 1.0 and 1.1: track points, route points and waypoints, streamed with lxml.

``iterparse`` builds only one point element at a time in C; each finished point is cleared
and removed from its parent so memory stays flat whatever the file size. Extensions (heart
rate, temperature...) are skipped; GPX 1.0 ``<speed>`` and ``<course>`` are kept. A point
without ``<time>`` cannot be placed in a history and is rejected (counted), not fatal.
"""

from __future__ import annotations

from typing import IO

from lxml import etree

from trackdesk.tracks.base import (
    MAX_TS,
    MIN_TS,
    R_BAD_TIME,
    ImportFailure,
    Points,
    _minute_cache,
    opt_float,
)

COLUMNS = ("altitude", "speed", "heading")
_POINTS = ("trkpt", "rtept", "wpt")
# Containers are listed too so they can be cleared when they end.
_TAGS = tuple(f"{{*}}{t}" for t in (*_POINTS, "trkseg", "trk", "rte"))


def xml_failure(exc: etree.XMLSyntaxError, what: str) -> ImportFailure:
    """A person's message from libxml2's error: line and column, what was wrong."""
    line, col = (exc.position if exc.position else (exc.lineno, 0))
    msg = str(exc.msg or exc).split(", line ")[0].strip()
    if not msg or msg.lower().startswith("document is empty"):
        msg = f"empty or not an {what} file"
    return ImportFailure(f"not well-formed {what}: {msg}", f"line {line}, column {col}")


def iter_xml(stream: IO[bytes], tags: tuple[str, ...]) -> etree.iterparse:
    # No entity expansion and no network: a dropped file must not reach out or blow up.
    return etree.iterparse(stream, events=("end",), tag=tags, huge_tree=True,
                           resolve_entities=False, no_network=True, load_dtd=False,
                           remove_comments=True, remove_pis=True, recover=False)


def read(stream: IO[bytes], out: Points) -> None:
    times = out.times
    add = out.add
    rows = out.rows
    append = rows.append
    batch = out.batch
    minutes = _minute_cache
    # The common case is validated inline (a method call per point is a tenth of the
    # budget); anything unusual goes through Points.add, which names the reason.
    fast = not out.gcj02
    names: dict[str, tuple[str, str, str, str, bool]] = {}
    root_checked = False
    since_trim = 0
    n_fast = 0
    lo_ts, hi_ts = MAX_TS, MIN_TS
    it = iter_xml(stream, _TAGS)
    try:
        for _, el in it:
            tag = el.tag
            spec = names.get(tag)
            if spec is None:
                ns = tag[: tag.index("}") + 1] if tag[0] == "{" else ""
                local = tag[len(ns):]
                spec = (ns + "time", ns + "ele", ns + "speed", ns + "course", local in _POINTS)
                names[tag] = spec
                if not root_checked:
                    check_root_element(el.getroottree().getroot(), "gpx", "GPX")
                    root_checked = True
            if not spec[4]:
                # The end of a segment, track or route: drop what is left of it.
                el.clear(keep_tail=False)
                continue
            t_tag, e_tag, s_tag, c_tag, _ = spec
            ts = ele = speed = course = None
            bad_time = False
            for child in el:
                ct = child.tag
                if ct == t_tag:
                    text = child.text
                    if text:
                        # 'YYYY-MM-DDTHH:MM:SSZ' straight from the minute cache.
                        base = minutes.get(text[:16]) if len(text) == 20 else None
                        if base is not None and text[19] == "Z" and text[17:19].isdigit():
                            ts = float(base + int(text[17:19]))
                        else:
                            ts = times(text.strip())
                            bad_time = ts is None
                elif ct == e_tag:
                    try:
                        ele = float(child.text)
                    except (TypeError, ValueError):
                        ele = None
                    if ele is not None and ele != ele:
                        ele = None
                elif ct == s_tag:
                    speed = opt_float(child.text)
                elif ct == c_tag:
                    course = opt_float(child.text)
            if bad_time:
                out.reject(R_BAD_TIME)
            else:
                lat_s, lon_s = el.get("lat"), el.get("lon")
                try:
                    lat, lon = float(lat_s), float(lon_s)
                except (TypeError, ValueError):
                    lat = lon = 999.0
                if (fast and ts is not None and -90.0 <= lat <= 90.0
                        and -180.0 <= lon <= 180.0 and (lat or lon)
                        and MIN_TS <= ts <= MAX_TS):
                    append((ts, round(lat * 1e7) / 1e7, round(lon * 1e7) / 1e7, ele, speed,
                            course))
                    n_fast += 1
                    if ts < lo_ts:
                        lo_ts = ts
                    if ts > hi_ts:
                        hi_ts = ts
                    if len(rows) >= batch:
                        out.read += n_fast
                        n_fast = 0
                        out.flush()
                        rows = out.rows
                        append = rows.append
                else:
                    out.read += n_fast
                    n_fast = 0
                    add(ts, lat_s, lon_s, ele, speed, course)
                    rows = out.rows
                    append = rows.append
            # Finished points leave the tree every 512 points: per point would cost more
            # than the parsing, never would grow the tree with the file.
            since_trim += 1
            if since_trim >= 512:
                since_trim = 0
                parent = el.getparent()
                if parent is not None:
                    del parent[:-1]
    except etree.XMLSyntaxError as exc:
        raise xml_failure(exc, "GPX") from None
    finally:
        out.read += n_fast
        out.min_ts = min(out.min_ts, lo_ts) if n_fast or lo_ts < MAX_TS else out.min_ts
        out.max_ts = max(out.max_ts, hi_ts) if hi_ts > MIN_TS else out.max_ts
    if not root_checked:
        # Well-formed but no point at all: fine for a GPX (an empty track), not otherwise.
        check_root(it, "gpx", "GPX")


def check_root_element(root: etree._Element | None, local: str, what: str) -> None:
    rtag = root.tag if root is not None and isinstance(root.tag, str) else ""
    if rtag.rsplit("}", 1)[-1] != local:
        raise ImportFailure(f"the root element is <{rtag.rsplit('}', 1)[-1]}>, not <{local}>:"
                            f" not a {what} file", "line 1")


def check_root(it: etree.iterparse, local: str, what: str) -> None:
    check_root_element(getattr(it, "root", None), local, what)
