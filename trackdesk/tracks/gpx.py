"""GPX 1.0 and 1.1: track points, route points and waypoints, streamed with lxml.

``iterparse`` builds only one point element at a time in C; each finished point is cleared
and removed from its parent so memory stays flat whatever the file size. Extensions (heart
rate, temperature...) are skipped; GPX 1.0 ``<speed>`` and ``<course>`` are kept. A point
without ``<time>`` cannot be placed in a history and is rejected (counted), not fatal.
"""

from __future__ import annotations

from typing import IO

from lxml import etree

from trackdesk.tracks.base import R_BAD_TIME, ImportFailure, Points, opt_float

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
    names: dict[str, tuple[str, str, str, str, bool]] = {}
    root_checked = False
    since_trim = 0
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
                root = el.getroottree().getroot()
                rtag = root.tag if isinstance(root.tag, str) else ""
                if rtag.rsplit("}", 1)[-1] != "gpx":
                    raise ImportFailure(f"the root element is <{rtag}>, not <gpx>", "line 1")
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
                        ts = times(text.strip())
                        bad_time = ts is None
                elif ct == e_tag:
                    ele = opt_float(child.text)
                elif ct == s_tag:
                    speed = opt_float(child.text)
                elif ct == c_tag:
                    course = opt_float(child.text)
            if bad_time:
                out.reject(R_BAD_TIME)
            else:
                add(ts, el.get("lat"), el.get("lon"), ele, speed, course)
            el.clear(keep_tail=False)
            # Remove finished points from the tree every 512 points: per point would
            # cost more than the parsing, never would grow the tree with the file.
            since_trim += 1
            if since_trim >= 512:
                since_trim = 0
                parent = el.getparent()
                if parent is not None:
                    del parent[:-1]
    except etree.XMLSyntaxError as exc:
        raise xml_failure(exc, "GPX") from None
    if not root_checked:
        # Well-formed but no point at all: fine for a GPX (an empty track), not otherwise.
        check_root(it, "gpx", "GPX")


def check_root(it: etree.iterparse, local: str, what: str) -> None:
    root = getattr(it, "root", None)
    rtag = root.tag if root is not None and isinstance(root.tag, str) else ""
    if rtag.rsplit("}", 1)[-1] != local:
        raise ImportFailure(f"the root element is <{rtag.rsplit('}', 1)[-1]}>, not <{local}>:"
                            f" not a {what} file", "line 1")
