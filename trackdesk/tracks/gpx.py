"""GPX 1.0 and 1.1: track points, route points and waypoints, streamed with lxml.

``iterparse`` builds only one point element at a time in C; each finished point is cleared
and removed from its parent so memory stays flat whatever the file size. Extensions (heart
rate, temperature...) are skipped; GPX 1.0 ``<speed>`` and ``<course>`` are kept. A point
without ``<time>`` cannot be placed in a history and is rejected (counted), not fatal.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
from typing import IO, NoReturn

from lxml import etree

from trackdesk.tracks.base import (
    MAX_TS,
    MIN_TS,
    R_BAD_TIME,
    ImportFailure,
    Points,
    Restart,
    _minute_base,
    _minute_cache,
    big_pipe,
    opt_float,
)
from trackdesk.worker import parent_death_signal

COLUMNS = ("altitude", "speed", "heading")
_POINTS = ("trkpt", "rtept", "wpt")
# A route point without a time is a plan (drawn in a route planner, or a device's
# navigation route): where to go, not where and when the person was (docs/IMPORT.md).
R_ROUTE_NO_TIME = "route point without a time (a planned route, not where you were)"
# A waypoint with neither a time nor a name says nothing about the person.
R_WPT_NOTHING = "waypoint without a time or a name"
# Counted in the notes: a named waypoint without a time is one of the person's places.
N_UNTIMED_PLACES = "waypoints without a time kept as your places (not track points)"
# Containers are listed too so they can be cleared when they end.
_TAGS = tuple(f"{{*}}{t}" for t in (*_POINTS, "trkseg", "trk", "rte"))


# libxml2's own bound on one value when XML_PARSE_HUGE is off (huge_tree=False): a text
# node, an attribute value, a comment or a CDATA section longer than this fails the file
# after buffering at most that much (issue 19: a zip member expanding less than the zip
# bomb ratio could hold a 1 GB text node, which was read whole). Real track files hold
# values of a few bytes; a KML LineString's <coordinates> of 10 MB is ~350,000 positions.
MAX_XML_VALUE = "10 MB"
MAX_XML_VALUE_BYTES = 10_000_000
_TOO_BIG = ("text node too long", "too big found", "buffer size limit exceeded",
            "resource limit exceeded", "huge input lookup", "name too long")


def xml_failure(exc: etree.XMLSyntaxError, what: str) -> ImportFailure:
    """A person's message from libxml2's error: line and column, what was wrong."""
    line, col = (exc.position if exc.position else (exc.lineno, 0))
    msg = str(exc.msg or exc).split(", line ")[0].strip()
    if not msg or msg.lower().startswith("document is empty"):
        msg = f"empty or not an {what} file"
    if any(t in msg.lower() for t in _TOO_BIG):
        return ImportFailure(
            f"one value (a text, an attribute, a comment) is longer than {MAX_XML_VALUE}: "
            f"not a track file this app can read (or a damaged one); nothing of it is "
            f"imported", f"line {line}, column {col}")
    return ImportFailure(f"not well-formed {what}: {msg}", f"line {line}, column {col}")


def iter_xml(stream: IO[bytes], tags: tuple[str, ...]) -> etree.iterparse:
    # No entity expansion and no network: a dropped file must not reach out or blow up.
    # huge_tree off: libxml2 bounds every single value (MAX_XML_VALUE), not the file.
    return etree.iterparse(stream, events=("end",), tag=tags, huge_tree=False,
                           resolve_entities=False, no_network=True, load_dtd=False,
                           remove_comments=True, remove_pis=True, recover=False)


def read_full(stream: IO[bytes], out: Points) -> None:
    """Any GPX, with lxml's iterparse."""
    times = out.times
    add = out.add
    rows = out.rows
    append = rows.append
    batch = out.batch
    minutes = _minute_cache
    # The common case is validated inline (a method call per point is a tenth of the
    # budget); anything unusual goes through Points.add, which names the reason.
    fast = not out.gcj02
    names: dict[str, tuple[str, str, str, str, bool, str, str]] = {}
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
                spec = (ns + "time", ns + "ele", ns + "speed", ns + "course", local in _POINTS,
                        local, ns + "name")
                names[tag] = spec
                if not root_checked:
                    check_root_element(el.getroottree().getroot(), "gpx", "GPX")
                    root_checked = True
            if not spec[4]:
                # The end of a segment, track or route: drop what is left of it.
                el.clear(keep_tail=False)
                continue
            t_tag, e_tag, s_tag, c_tag, _, local, n_tag = spec
            ts = ele = speed = course = name = None
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
                elif ct == n_tag:
                    name = child.text
            if local != "trkpt" and (ts is None or name) and \
                    _waypoint_or_route(out, local, el, ts, name, bad_time):
                # Waypoints and route points (issue 19): a named waypoint without a time
                # is one of the person's places, a route point without one is a plan.
                pass
            elif bad_time:
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


def _waypoint_or_route(out: Points, local: str, el: etree._Element, ts: float | None,
                      name: str | None, bad_time: bool) -> bool:
    """What a ``<wpt>`` or ``<rtept>`` is besides a point; True when it is fully dealt
    with here (not a point to add).

    * A named waypoint is a place the person saved: a ``place`` annotation (source
      ``gpx``) at its position. With a time it is also a fix (the caller adds the point)
      and the place is kept at that instant; without one it is a place only, kept
      without a time (``base.NO_TIME``) and counted in the notes, not as a point.
    * A route point without a time is counted as ``R_ROUTE_NO_TIME``, a waypoint
      without a time or a name as ``R_WPT_NOTHING``.
    """
    name = name.strip() if name else ""
    if local == "wpt" and name:
        try:
            lat, lon = float(el.get("lat")), float(el.get("lon"))
        except (TypeError, ValueError):
            lat = lon = None
        if (lat is not None and not bad_time and (lat or lon)
                and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            if ts is not None:
                out.annotate(ts, ts, "place", name[:200], name[:200], "gpx", lat, lon,
                             place_key(lat, lon))
                return False  # and the caller keeps the fix
            if out.annotate_untimed("place", name[:200], name[:200], "gpx", lat, lon,
                                    place_key(lat, lon)):
                out.notes[N_UNTIMED_PLACES] += 1
                return True
        return False
    if ts is None and not bad_time:
        out.reject(R_ROUTE_NO_TIME if local == "rtept" else R_WPT_NOTHING)
        return True
    return False


def place_key(lat: float, lon: float) -> str:
    """A place id for a position that has no id of its own (a GPX waypoint): its geo URI
    (RFC 5870) at 1e-7°, so two waypoints of the same name at different places are two
    places, and importing the file again adds neither twice."""
    return f"geo:{round(lat, 7):.7f},{round(lon, 7):.7f}"


def check_root_element(root: etree._Element | None, local: str, what: str) -> None:
    rtag = root.tag if root is not None and isinstance(root.tag, str) else ""
    if rtag.rsplit("}", 1)[-1] != local:
        raise ImportFailure(f"the root element is <{rtag.rsplit('}', 1)[-1]}>, not <{local}>:"
                            f" not a {what} file", "line 1")


def check_root(it: etree.iterparse, local: str, what: str) -> None:
    check_root_element(getattr(it, "root", None), local, what)


# -- the fast path ----------------------------------------------------------------------
# Most GPX files are written by a handful of programs in one regular shape:
#   <trkpt lat="46.1" lon="14.2"><ele>301.2</ele><time>2020-09-13T12:00:00Z</time></trkpt>
# For those, libxml2 checks well-formedness without building anything (a parser with an
# empty target, fed the same chunks) while one regular expression pulls the values out:
# about a third of the CPU of iterparse plus a Python walk over each element. Anything
# the expression does not account for exactly (another point shape, a comment or CDATA
# that might hide markup, entities, a prefixed namespace, route points, waypoints...)
# hands the file to read_full, which reads everything GPX allows.
CHUNK = 1 << 20
_PLAIN_PT = re.compile(
    rb'<trkpt\s+lat="([^"&<]*)"\s+lon="([^"&<]*)"\s*>\s*'
    rb"(?:<ele>([^<&]*)</ele>\s*)?(?:<time>([^<&]*)</time>\s*)?</trkpt>")
_ROOT = re.compile(rb"<gpx[\s>]")
_SUSPECT = (b"<!--", b"<![CDATA[", b"<!DOCTYPE", b"<!ENTITY", b"<rtept", b"<wpt", b":trkpt",
            b"<?", b"&")
_DECL_OK = re.compile(rb'\s*<\?xml[^>]*?(?:encoding\s*=\s*["\'](?:utf-8|UTF-8|us-ascii|'
                      rb'US-ASCII)["\'][^>]*)?\?>', re.S)


class _NotPlain(Exception):  # noqa: N818 - internal control flow
    pass


# -- the fast path, in numpy -------------------------------------------------------------
# A region of plain points is also read without a Python object per value: numpy finds
# every '<trkpt' and walks all points of the region one token at a time together,
# checking the very shape _PLAIN_PT accepts, and reads the values with
# trackdesk/tracks/vector.py (exact as float() and TimeParser). A region where any point
# differs in the least (another shape, a value float() would read differently, a time in
# another form, a point the checks reject) goes through the expression loop instead.
CHECK_APART_BYTES = 16 << 20  # files from this size on are checked in their own process
BLOCK_MIN = 64 << 10   # below this, numpy's fixed costs outweigh the loop's
_MAX_SPACE = 64        # whitespace run between two tokens the walk skips over


def _plain_block(region: bytes, out: Points) -> bool:
    import numpy as np

    from trackdesk.tracks import vector

    buf = np.frombuffer(region, dtype=np.uint8)
    size = len(buf)
    last = size - 1
    lt = np.flatnonzero(buf == 60)

    # Every position's next 8 bytes as one integer: an overlapping, unaligned view of
    # the region (padded), so a literal is tested at many positions by one gather.
    padded = region + b"\0" * 8
    words = np.ndarray((size + 1,), dtype="<u8", buffer=padded, strides=(1,))

    def has(pos: np.ndarray, literal: bytes) -> np.ndarray:
        """Whether ``literal`` (8 bytes at most) is at each of ``pos``."""
        n = len(literal)
        want = int.from_bytes(literal, "little")
        mask = (1 << (8 * n)) - 1
        return (words[np.minimum(pos, size)] & np.uint64(mask)) == np.uint64(want)

    def space(c: np.ndarray) -> np.ndarray:
        return (c == 32) | ((c >= 9) & (c <= 13))

    def skip(pos: np.ndarray) -> np.ndarray | None:
        """The first non-whitespace position at or after each of ``pos``."""
        for _ in range(_MAX_SPACE):
            more = space(buf[np.minimum(pos, last)]) & (pos < size)
            if not more.any():
                return pos
            pos = pos + more
        return None

    def next_of(table: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """The first position in ``table`` at or after each of ``pos`` (size if none)."""
        i = np.searchsorted(table, pos)
        return np.where(i < len(table), table[np.minimum(i, len(table) - 1)], size)

    # The expression loop's suspects (_SUSPECT), found from the same '<' positions:
    # '<!' (comment, CDATA, DOCTYPE, ENTITY), '<?', '<rtept', '<wpt'; ':trkpt'; '&'.
    after = buf[np.minimum(lt + 1, last)]
    rw = lt[(after == 114) | (after == 119)]
    colons = np.flatnonzero(buf == 58)
    colons = colons[buf[np.minimum(colons + 1, last)] == 116]
    if ((after == 33).any() or (after == 63).any() or has(rw, b"<rtept").any()
            or has(rw, b"<wpt").any() or has(colons, b":trkpt").any() or b"&" in region):
        raise _NotPlain
    t = lt[after == 116]
    starts = t[has(t, b"<trkpt")]  # every '<trkpt' of the region, as the loop counts them
    if len(starts) == 0:
        return False
    quotes = np.flatnonzero(buf == 34)
    a = skip(starts + 6)
    if a is None or not ((a > starts + 6) & has(a, b'lat="')).all():
        return False
    lat_end = next_of(quotes, a + 5)
    b = skip(lat_end + 1)
    if b is None or not ((b > lat_end + 1) & has(b, b'lon="')).all():
        return False
    lon_end = next_of(quotes, b + 5)
    c = skip(lon_end + 1)
    if c is None or not has(c, b">").all():
        return False
    d = skip(c + 1)
    if d is None:
        return False
    with_ele = has(d, b"<ele>")
    ele_end = next_of(lt, d + 5)
    if not (~with_ele | has(ele_end, b"</ele>")).all():
        return False
    d2 = skip(np.where(with_ele, ele_end + 6, d))
    if d2 is None or not has(d2, b"<time>").all():
        return False  # a point without a time is rejected, by the loop, with its reason
    time_end = next_of(lt, d2 + 6)
    if not has(time_end, b"</time>").all():
        return False
    d3 = skip(time_end + 7)
    if d3 is None or not has(d3, b"</trkpt>").all():
        return False
    lat, ok = vector.decimals(buf, a + 5, lat_end)
    lon, ok2 = vector.decimals(buf, b + 5, lon_end)
    ele, ok3 = vector.decimals(buf, np.where(with_ele, d + 5, 0), np.where(with_ele, ele_end, 0),
                               empty_ok=True)
    ts, ok4 = vector.iso_z(buf, d2 + 6, time_end)
    if not (ok.all() and ok2.all() and ok3.all() and ok4.all()
            and out.fast_mask(ts, lat, lon).all()):
        return False
    out.add_block(np.column_stack((ts, vector.normal_coord(lat), vector.normal_coord(lon),
                                   ele)))
    return True


class _Null:
    """An lxml parser target with no callbacks: libxml2 only checks the document."""

    def close(self) -> None:
        return None


def leading_blanks(head: bytes) -> bytes:
    """``head`` without blanks (and a UTF-8 BOM) before its first ``<``: a newline before
    ``<?xml`` is a common slip of hand-edited and exported files, which libxml2 refuses
    ("XML declaration allowed only at the start") and other tools accept (issue 19).
    UTF-16 text is left as it is."""
    body = head[3:] if head[:3] == b"\xef\xbb\xbf" else head
    stripped = body.lstrip(b" \t\r\n")
    if stripped is body or not stripped.startswith(b"<"):
        return head
    return stripped


def read(stream: IO[bytes], out: Points) -> None:
    head = leading_blanks(stream.read(CHUNK))
    if _plain_head(head):
        try:
            _read_plain(head, stream, out)
            return
        except _NotPlain:
            if out.flushes:
                raise Restart(read_full) from None
            if out.read or out.pending:
                out.reset()
            # Nothing written yet: go on with the full reader from the bytes read so far.
            stream = _Joined(head, stream, getattr(out, "_consumed", []))
    read_full(stream if isinstance(stream, _Joined) else _Joined(head, stream, []), out)


def _plain_head(head: bytes) -> bool:
    """An unprefixed <gpx> root in a UTF-8 file without DOCTYPE, comments or PIs before it."""
    if head[:3] == b"\xef\xbb\xbf":
        head = head[3:]
    m = _DECL_OK.match(head)
    body = head[m.end():] if m else head
    if body.lstrip()[:4] != b"<gpx" or (m is None and head.lstrip()[:5] == b"<?xml"):
        return False
    return bool(_ROOT.match(body.lstrip()))


class _Joined:
    """Bytes already consumed (head, later chunks), then the rest of the stream."""

    def __init__(self, head: bytes, rest: IO[bytes], more: list[bytes]) -> None:
        self._parts = [head, *more]
        self._rest = rest
        self.pos = getattr(rest, "pos", 0)

    def read(self, n: int = -1) -> bytes:
        while self._parts:
            part = self._parts[0]
            if not part:
                self._parts.pop(0)
                continue
            if n < 0 or n >= len(part):
                self._parts.pop(0)
                return part
            self._parts[0] = part[n:]
            return part[:n]
        data = self._rest.read(n)
        self.pos = getattr(self._rest, "pos", self.pos)
        return data


def _new_checker() -> etree.XMLParser:
    return etree.XMLParser(target=_Null(), resolve_entities=False, no_network=True,
                           load_dtd=False, huge_tree=False)


class _Checker:
    """libxml2's well-formedness check of the bytes fed to it, in a forked process.

    For a big file the check (a third of the fast path's CPU) then runs on the other
    core. The verdict is the very failure the inline check gives (xml_failure on the same
    bytes), raised by ``feed`` once known, or by ``close`` at the end at the latest.
    """

    def __init__(self) -> None:
        data_r, self._data_w = big_pipe()
        self._verdict_r, verdict_w = os.pipe()
        self.failure: ImportFailure | None = None
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self._data_w)
            os.close(self._verdict_r)
            _serve_check(data_r, verdict_w)
        os.close(data_r)
        os.close(verdict_w)

    def _heard(self, wait: bool) -> bool:
        """Whether the verdict is in (read it); without ``wait``, only if already sent.
        An empty verdict is a well-formed file; no verdict at all, a checker that died."""
        if not wait and not select.select([self._verdict_r], [], [], 0)[0]:
            return False
        data = b""
        while part := os.read(self._verdict_r, 65536):
            data += part
        verdict = json.loads(data) if data else ["the well-formedness check stopped", None]
        if verdict:
            self.failure = ImportFailure(*verdict)
        return True

    def feed(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            view = view[os.write(self._data_w, view):]
        if self._heard(wait=False) and self.failure is not None:
            raise self.failure

    def close(self) -> None:
        os.close(self._data_w)
        self._data_w = -1
        self._heard(wait=True)
        self.abandon()
        if self.failure is not None:
            raise self.failure

    def abandon(self) -> None:
        """Stop the checker (if still fed) and reap it; safe to call twice."""
        if self._data_w >= 0:
            os.close(self._data_w)
            self._data_w = -1
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        if self.pid:
            os.waitpid(self.pid, 0)
            os.close(self._verdict_r)
            self.pid = 0


def _serve_check(data_r: int, verdict_w: int) -> NoReturn:
    """The checker process: feed libxml2 until the pipe ends, write the verdict (a JSON
    list: empty, or the failure's message and position), leave without finalisers."""
    code = 0
    try:
        parent_death_signal(signal.SIGKILL)
        parser = _new_checker()
        verdict: list | None = None
        while chunk := os.read(data_r, 1 << 20):
            if verdict is not None:
                continue  # drain: the reader keeps writing until it hears
            try:
                parser.feed(chunk)
            except etree.XMLSyntaxError as exc:
                f = xml_failure(exc, "GPX")
                verdict = [f.message, f.position]
                os.write(verdict_w, json.dumps(verdict).encode())
                os.close(verdict_w)  # the reader hears now, not at the end
        if verdict is None:
            try:
                parser.close()
                os.write(verdict_w, b"[]")
            except etree.XMLSyntaxError as exc:
                f = xml_failure(exc, "GPX")
                os.write(verdict_w, json.dumps([f.message, f.position]).encode())
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _read_plain(head: bytes, stream: IO[bytes], out: Points) -> None:
    # The check runs beside the reading for a big file (the importer sets size_hint).
    parser = _Checker() if out.size_hint >= CHECK_APART_BYTES and hasattr(os, "fork") \
        else _new_checker()
    rows = out.rows
    batch = out.batch
    fast = not out.gcj02
    bases: dict[bytes, int | None] = {}
    lo_ts, hi_ts = MAX_TS, MIN_TS
    # The XML declaration is libxml2's business; the expression starts after it.
    bom = 3 if head[:3] == b"\xef\xbb\xbf" else 0
    decl = _DECL_OK.match(head, bom)
    carry = b""
    chunk = head
    skip = decl.end() if decl else bom
    consumed: list[bytes] = []
    out._consumed = consumed  # type: ignore[attr-defined]  # for a switch to read_full
    n_fast = 0
    since_lt = 0
    try:
        while True:
            last = not chunk
            if not last:
                # Kept only while a switch to read_full can still replay them: once a
                # batch went out, a switch restarts the file instead.
                if chunk is not head and not out.flushes:
                    consumed.append(chunk)
                elif out.flushes and consumed:
                    consumed.clear()
                parser.feed(chunk)
                # The checker (a parser with an empty target) does not bound a text
                # node as iterparse does: a stretch of MAX_XML_VALUE_BYTES without a '<'
                # goes to read_full, whose libxml2 refuses it with its reason (#19).
                lt = chunk.rfind(b"<")
                since_lt = since_lt + len(chunk) if lt < 0 else len(chunk) - lt - 1
                if since_lt > MAX_XML_VALUE_BYTES:
                    raise _NotPlain
            buf = carry + (chunk[skip:] if chunk is head else chunk)
            if last:
                cut = len(buf)
            else:
                end = buf.rfind(b"</trkpt>")
                cut = end + 8 if end >= 0 else 0
            region = buf[:cut]
            carry = buf[cut:]
            if len(carry) > 64 * CHUNK:
                raise _NotPlain  # no point ends in 64 MB: not the shape this reads
            if region:
                if len(region) >= BLOCK_MIN and _plain_block(region, out):
                    found = []  # read by numpy, suspects included
                    rows = out.rows
                else:
                    if len(region) < BLOCK_MIN:  # else _plain_block looked already
                        for s in _SUSPECT:
                            if s in region:
                                raise _NotPlain
                    found = _PLAIN_PT.findall(region)
                    if len(found) != region.count(b"<trkpt"):
                        raise _NotPlain
                for lat_b, lon_b, ele_b, t_b in found:
                    ts = None
                    if t_b:
                        key = t_b[:16]
                        base = bases.get(key, -1)
                        if base == -1:
                            base = _minute_base(key.decode("ascii", "replace"))
                            bases[key] = base
                            if len(bases) > 100_000:
                                bases.clear()
                        if base is not None and len(t_b) == 20 and t_b[19] == 90 \
                                and t_b[17:19].isdigit() and t_b[16] == 58:
                            ts = float(base + int(t_b[17:19]))
                        else:
                            ts = out.times(t_b.decode("utf-8", "replace").strip())
                            if ts is None:
                                out.read += n_fast
                                n_fast = 0
                                out.reject(R_BAD_TIME)
                                continue
                    try:
                        lat, lon = float(lat_b), float(lon_b)
                    except ValueError:
                        lat = lon = 999.0
                    try:
                        ele = float(ele_b) if ele_b else None
                    except ValueError:
                        ele = None
                    if ele is not None and ele != ele:
                        ele = None
                    if (fast and ts is not None and -90.0 <= lat <= 90.0
                            and -180.0 <= lon <= 180.0 and (lat or lon)
                            and MIN_TS <= ts <= MAX_TS):
                        rows.append((ts, round(lat * 1e7) / 1e7, round(lon * 1e7) / 1e7, ele))
                        n_fast += 1
                        if ts < lo_ts:
                            lo_ts = ts
                        if ts > hi_ts:
                            hi_ts = ts
                    else:
                        out.read += n_fast
                        n_fast = 0
                        out.add(ts, lat_b.decode("utf-8", "replace"),
                                lon_b.decode("utf-8", "replace"), ele)
                        rows = out.rows
                    if len(rows) >= batch:
                        out.read += n_fast
                        n_fast = 0
                        out.flush()
                        rows = out.rows
            if last:
                break
            chunk = stream.read(CHUNK)
        parser.close()
    except etree.XMLSyntaxError as exc:
        raise xml_failure(exc, "GPX") from None
    finally:
        if isinstance(parser, _Checker):
            parser.abandon()
        out.read += n_fast
        if lo_ts <= hi_ts:
            out.min_ts = min(out.min_ts, lo_ts)
            out.max_ts = max(out.max_ts, hi_ts)

