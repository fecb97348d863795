"""GPX ``<trk><type>`` (what the track was: ``running``, ``cycling``, ``Ride``...) as an
activity annotation over the track's time range (source ``gpx``).

The GPX readers (``gpx.py``: a numpy fast path and lxml's iterparse) drop ``<type>``. Rather
than reach into them, the registry's ``gpx`` entry is :func:`read` here: it hands
``gpx.read`` a pass-through stream that watches the bytes going by. A file without
``<type`` costs one ``bytes.find`` per chunk; inside a ``<trk>`` that has a ``<type>`` it
collects the track's ``<time>`` values until ``</trk>`` to know the range. Types on
waypoints and routes (no times) are not kept.
"""

from __future__ import annotations

import re
from functools import partial
from typing import IO, Any

from trackdesk.tracks import gpx
from trackdesk.tracks.annotations import annotate_activity
from trackdesk.tracks.base import Points, Restart, TimeParser

COLUMNS = gpx.COLUMNS
_TYPE_RE = re.compile(rb"<type>\s*([^<]{0,200}?)\s*</type>")
_TIME_RE = re.compile(rb"<time>\s*([^<]{1,64}?)\s*</time>")
# Times as nearly every GPX writer has them, each followed by a NUL (see _times_of).
_PLAIN_TIMES_RE = re.compile(rb"(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\x00)*")
_CONTAINERS = (b"<trk>", b"<trk ", b"<rte>", b"<rte ", b"<wpt ", b"<trkseg", b"</trk>",
               b"<metadata")
KEEP = 4096  # bytes of context kept across chunks (a container's opening tag)


class _Watch:
    """A read-only stream that passes ``raw``'s bytes through and looks at them."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._tail = b""
        self._done = 0
        self._in_trk: list[Any] | None = None  # [type, min_ts, max_ts] of the open trk
        self._times = TimeParser()
        self.found: list[tuple[str, float, float]] = []

    @property
    def pos(self) -> Any:
        return getattr(self._raw, "pos", "?")

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            self._look(data)
        return data

    def _keep(self, work: bytes, scanned_to: int) -> None:
        """Keep the end of ``work`` for the next chunk, and where scanning resumes in it
        (bytes before were looked at already: a type is never taken twice)."""
        cut = max(0, len(work) - KEEP)
        self._tail = work[cut:]
        self._done = max(0, scanned_to - cut)

    def _look(self, data: bytes) -> None:
        if self._in_trk is None and b"<type>" not in data \
                and b"<type>" not in self._tail[-5:] + data[:5]:
            # The common case, no type in this chunk: no copy of the chunk is made.
            tail = data[-KEEP:] if len(data) >= KEEP else (self._tail + data)[-KEEP:]
            self._tail, self._done = tail, max(0, len(tail) - 5)
            return
        work = self._tail + data
        start = self._done
        while True:
            if self._in_trk is None:
                i = work.find(b"<type>", start)
                if i < 0:
                    self._keep(work, len(work) - 5)  # a "<type>" cut short ends here
                    return
                m = _TYPE_RE.match(work, i)
                if m is None:
                    if len(work) - i < 400:  # the element goes on in the next chunk
                        self._keep(work, i)
                        return
                    start = i + 6
                    continue
                # A <link>'s <type> is a MIME type, not the track's.
                in_link = work.rfind(b"<link", 0, i) > work.rfind(b"</link>", 0, i)
                if not in_link and self._container(work, i) in (b"<trk>", b"<trk "):
                    self._in_trk = [m.group(1).decode("utf-8", "replace"), None, None]
                start = m.end()
            else:
                end = work.find(b"</trk>", start)
                stop = len(work) if end < 0 else end
                self._times_of(_TIME_RE.findall(work, start, stop))
                last = max(start, work.rfind(b"</time>", start, stop) + 7)
                if end < 0:
                    # An unfinished <time> (or </trk>) waits for the next chunk.
                    cut = work.rfind(b"<time", last)
                    keep = cut if cut >= 0 else max(last, len(work) - 16)
                    self._tail, self._done = work[keep:], 0
                    return
                kind, lo, hi = self._in_trk
                if lo is not None:
                    self.found.append((kind, lo, hi))
                self._in_trk = None
                start = end + 6

    @staticmethod
    def _container(work: bytes, i: int) -> bytes | None:
        best, where = None, -1
        for tag in _CONTAINERS:
            j = work.rfind(tag, 0, i)
            if j > where:
                best, where = tag, j
        return best

    def _times_of(self, texts: list[bytes]) -> None:
        """Widen the open track's range by these times. Only its ends matter: times all
        written alike (``YYYY-MM-DDTHH:MM:SS[.f...]Z``, one length) sort as text in time
        order, so the earliest and the latest are the only ones parsed, not every
        point's (a typed 1M-point track spent 2.5 s here, more than its whole import)."""
        if not texts:
            return
        lo, hi = min(texts), max(texts)
        if len(set(map(len, texts))) == 1 \
                and _PLAIN_TIMES_RE.fullmatch(b"\x00".join(texts) + b"\x00"):
            t_lo, t_hi = self._parse(lo), self._parse(hi)
            if t_lo is not None and t_hi is not None:
                self._widen(t_lo)
                self._widen(t_hi)
                return
            # An impossible date at an end (a 30 February): every time, one by one.
        for text in texts:
            ts = self._parse(text)
            if ts is not None:
                self._widen(ts)

    def _parse(self, text: bytes) -> float | None:
        return self._times(text.decode("ascii", "replace"))

    def _widen(self, ts: float) -> None:
        trk = self._in_trk
        assert trk is not None
        if trk[1] is None or ts < trk[1]:
            trk[1] = ts
        if trk[2] is None or ts > trk[2]:
            trk[2] = ts

    def finish(self, out: Points) -> None:
        for kind, lo, hi in self.found:
            annotate_activity(out, lo, hi, kind, "gpx")


def read_with(inner: Any, stream: IO[bytes], out: Points) -> None:
    watch = _Watch(stream)
    try:
        inner(watch, out)
    except Restart as restart:
        # The fast path starts over with the full reader: watched again from byte 0.
        raise Restart(partial(read_with, restart.reader)) from None
    watch.finish(out)


def read(stream: IO[bytes], out: Points) -> None:
    read_with(gpx.read, stream, out)
