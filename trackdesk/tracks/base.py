"""What every importer shares: the point collector, time parsing, validation, errors.

Importers are plain functions ``read(stream, out)`` that pull bytes from a binary stream
and hand points to an :class:`Points` collector. Standard library + lxml + fitdecode +
ijson, and numpy for the fast paths of big files: no engine, no Qt, no SQLAlchemy
(docs/CONTRACTS.md).

Normal form of a point (also the dedupe key, docs/IMPORT.md):

* ``ts``: UTC epoch seconds, computed as ``integer milliseconds / 1000`` so the same
  instant written by two formats (ISO text, epoch ms, FIT datetime) gives the very same
  float;
* ``lat``/``lon``: WGS-84 degrees rounded to 1e-7 (about 1 cm, the precision of Google's
  E7 integers), computed as ``round(x * 1e7) / 1e7`` for the same reason.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from trackdesk.tracks.gcj02 import gcj02_to_wgs84

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Earliest and latest instants accepted. Before GPS time began (1980-01-06) a value is a
# reset clock (1970-01-01, or 1901-12-13 = -2**31 s, both seen in real files) or a unit
# mistake; after 2200 it is milliseconds read as seconds.
MIN_TS = 315_964_800.0      # 1980-01-06
MAX_TS = 7_258_118_400.0    # 2200-01-01
# The time range of an annotation that has none (a waypoint saved as a place, without a
# time): 0, 1970-01-01, an instant no point can have (they start in 1980), so a query by
# time never meets it and "start_ts = 0" says "no time" (docs/IMPORT.md, "Waypoints").
NO_TIME = 0.0

# Rejection reasons: the keys of the summary's "rejected" counts.
R_NO_TIME = "no timestamp"
R_BAD_TIME = "unreadable timestamp"
R_TIME_RANGE = "timestamp before 1980 or after 2200 (a reset clock)"
R_BAD_COORD = "unreadable coordinates"
R_LAT = "latitude out of range"
R_LON = "longitude out of range"
R_NULL_ISLAND = "placeholder position 0,0"


class ImportFailure(Exception):
    """The file cannot be imported; ``str()`` says where and what, for a person."""

    def __init__(self, message: str, position: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return f"{self.position}: {self.message}" if self.position else self.message


class Restart(Exception):  # noqa: N818 - a control signal, not an error
    """A fast reader met something only the full reader handles, after points were
    already written: the importer rolls the file back and reads it again with
    ``reader`` (a ``read(stream, out)`` function)."""

    def __init__(self, reader: Callable[[IO[bytes], Points], None]) -> None:
        super().__init__("restart with the full reader")
        self.reader = reader


# -- time -------------------------------------------------------------------------------
_ISO_RE = re.compile(
    r"\s*(\d{4})[-/.]?(\d{2})[-/.]?(\d{2})(?:[T ](\d{2}):?(\d{2})(?::?(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?\s*$")

_minute_cache: dict[str, int] = {}


def _minute_base(key: str) -> int | None:
    """Epoch seconds of ``YYYY-MM-DDTHH:MM`` (UTC), memoised: tracks repeat minutes."""
    base = _minute_cache.get(key)
    if base is None:
        try:
            dt = datetime(int(key[0:4]), int(key[5:7]), int(key[8:10]), int(key[11:13]),
                          int(key[14:16]), tzinfo=UTC)
        except ValueError:
            return None
        if key[4] != "-" or key[7] != "-" or key[13] != ":" or key[10] not in "T ":
            return None
        base = int((dt - EPOCH).total_seconds())
        if len(_minute_cache) > 100_000:  # bounded memory on a lifetime of minutes
            _minute_cache.clear()
        _minute_cache[key] = base
    return base


class TimeParser:
    """ISO 8601 text to UTC epoch seconds, counting the times that carried no zone.

    A time without a zone is taken as UTC (GPX requires UTC; most loggers write it), and
    counted in ``naive`` so the summary can say so.
    """

    def __init__(self) -> None:
        self.naive = 0

    def __call__(self, text: str) -> float | None:
        # Fast path for the overwhelmingly common 'YYYY-MM-DDTHH:MM:SS[.fff]Z'.
        n = len(text)
        if n >= 20 and text[-1] == "Z" and text[16] == ":":
            base = _minute_base(text[:16])
            if base is not None:
                sec = text[17:-1]
                if sec[:2].isdigit() and (len(sec) == 2 or sec[2] == "."):
                    try:
                        s = float(sec)
                    except ValueError:
                        s = -1.0
                    if 0.0 <= s < 61.0:
                        return (base * 1000 + round(s * 1000)) / 1000
        return self.slow(text)

    def slow(self, text: str) -> float | None:
        m = _ISO_RE.match(text)
        if m is None:
            return None
        y, mo, d, hh, mi, ss, frac, tz = m.groups()
        try:
            dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0),
                          min(int(ss or 0), 59), tzinfo=UTC)
        except ValueError:
            return None
        ms = int((dt - EPOCH) // timedelta(milliseconds=1))
        if ss and int(ss) == 60:  # a leap second: the next instant
            ms += 1000
        if frac:
            ms += round(float("0." + frac) * 1000)
        if tz is None:
            self.naive += 1
        elif tz[0] in "+-":
            digits = tz[1:].replace(":", "")
            offset = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) >= 4 else 0)
            if offset > 18 * 60:
                return None
            ms -= (offset if tz[0] == "+" else -offset) * 60_000
        return ms / 1000


def epoch_ms(ms: float) -> float:
    """Epoch milliseconds (int or numeric text) to normal-form seconds."""
    return round(ms) / 1000


def epoch_number(value: float) -> float:
    """A bare epoch number: seconds, or milliseconds when it is too large to be seconds.
    NaN and infinities come back as NaN, which validation rejects as out of range."""
    if not math.isfinite(value):
        return math.nan
    if abs(value) >= 1e11:  # 1e11 s is the year 5138; 1e11 ms is 1973
        return round(value) / 1000
    return round(value * 1000) / 1000


def datetime_ts(dt: datetime) -> float:
    """An aware or naive (UTC) datetime to normal-form seconds."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return ((dt - EPOCH) // timedelta(microseconds=1) + 500) // 1000 / 1000


# -- the collector ----------------------------------------------------------------------
class Points:
    """Collects an importer's points in normal form, counting what it rejects and why.

    ``columns`` names the values of each row after ``ts, lat, lon`` (a subset of
    altitude, speed, accuracy, heading): binding fewer parameters per row is what keeps a
    million-point import fast. ``flush(rows)`` is called with every ``batch`` rows.
    """

    def __init__(self, columns: tuple[str, ...], flush: Callable[[list[tuple]], None],
                 gcj02: bool = False, batch: int = 50_000) -> None:
        self.columns = columns
        self._flush = flush
        self.gcj02 = gcj02
        self.batch = batch
        self.rows: list[tuple] = []
        # The fast paths hand whole blocks (2-D float arrays, already in normal form):
        # kept apart from ``rows`` and flushed in the order they came.
        self.blocks: list[Any] = []
        self.block_rows = 0
        self.read = 0          # points seen (accepted + rejected)
        self.rejected: Counter[str] = Counter()
        self.times = TimeParser()
        self.min_ts = math.inf
        self.max_ts = -math.inf
        self.notes: Counter[str] = Counter()
        self.flushes = 0  # batches handed on: after one, a reader cannot silently restart
        self.size_hint = 0  # the file's size when known: readers may plan for big files
        # What the file says about its time ranges (activity types, places): rows of
        # (start_ts, end_ts, kind, value, raw, source, lat, lon, place_id), written to the
        # annotations table in the file's transaction (docs/IMPORT.md, "Annotations").
        self.annotations: list[tuple] = []

    def reset(self) -> None:
        """Forget everything collected (rows not yet flushed included)."""
        self.rows.clear()
        self.blocks.clear()
        self.block_rows = 0
        self.read = 0
        self.rejected.clear()
        self.notes.clear()
        self.times.naive = 0
        self.min_ts = math.inf
        self.max_ts = -math.inf
        self.flushes = 0
        self.annotations.clear()

    def annotate(self, start: float | None, end: float | None, kind: str, value: str | None,
                 raw: str | None, source: str, lat: float | None = None,
                 lon: float | None = None, place_id: str | None = None) -> bool:
        """Keep one annotation of a time range; False (and nothing kept) when the range
        or the value is unusable. A missing end is the start (an instant)."""
        if start is None or start is False or not isinstance(value, str) or not value:
            return False
        if end is None or end is False:
            end = start
        if not (MIN_TS <= start <= MAX_TS and MIN_TS <= end <= MAX_TS):
            return False
        if end < start:
            start, end = end, start
        if lat is not None and lon is not None:
            if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
                lat = lon = None
            else:
                if self.gcj02:
                    lat, lon = gcj02_to_wgs84(lat, lon)
                lat, lon = round(lat * 1e7) / 1e7, round(lon * 1e7) / 1e7
        self.annotations.append((start, end, kind, value, raw, source, lat, lon, place_id))
        return True

    def annotate_untimed(self, kind: str, value: str, raw: str | None, source: str,
                         lat: float, lon: float, place_id: str | None = None) -> bool:
        """Keep an annotation that has no time (a GPX waypoint saved as a place): its
        range is ``NO_TIME`` (the schema needs one; docs/IMPORT.md, "Waypoints")."""
        if not self.annotate(MIN_TS, MIN_TS, kind, value, raw, source, lat, lon, place_id):
            return False
        self.annotations[-1] = (NO_TIME, NO_TIME, *self.annotations[-1][2:])
        return True

    def reject(self, reason: str, n: int = 1) -> None:
        self.read += n
        self.rejected[reason] += n

    def add(self, ts: float | None, lat: Any, lon: Any, *extra: float | None) -> bool:
        """Validate and keep one point; ``extra`` follows ``columns``. False if rejected."""
        self.read += 1
        if ts is None:
            self.rejected[R_NO_TIME] += 1
            return False
        if not MIN_TS <= ts <= MAX_TS:  # also false for NaN
            self.rejected[R_TIME_RANGE] += 1
            return False
        try:
            lat = float(lat)
            lon = float(lon)
        except (TypeError, ValueError):
            self.rejected[R_BAD_COORD] += 1
            return False
        if not -90.0 <= lat <= 90.0:
            self.rejected[R_LAT if lat == lat else R_BAD_COORD] += 1
            return False
        if not -180.0 <= lon <= 180.0:
            self.rejected[R_LON if lon == lon else R_BAD_COORD] += 1
            return False
        if lat == 0.0 and lon == 0.0:
            self.rejected[R_NULL_ISLAND] += 1
            return False
        if self.gcj02:
            lat, lon = gcj02_to_wgs84(lat, lon)
        if ts < self.min_ts:
            self.min_ts = ts
        if ts > self.max_ts:
            self.max_ts = ts
        self.rows.append((ts, round(lat * 1e7) / 1e7, round(lon * 1e7) / 1e7, *extra))
        if len(self.rows) >= self.batch:
            self.flush()
        return True

    def fast_mask(self, ts: Any, lat: Any, lon: Any) -> Any:
        """The rows of a block that :meth:`add` would accept as they are (numpy arrays
        in, a boolean mask out); the others need :meth:`add` to name their reason."""
        if self.gcj02:
            return ts != ts  # all False: the datum shift is per point, in add()
        return ((ts >= MIN_TS) & (ts <= MAX_TS) & (lat >= -90.0) & (lat <= 90.0)
                & (lon >= -180.0) & (lon <= 180.0) & ((lat != 0.0) | (lon != 0.0)))

    def add_block(self, block: Any) -> None:
        """Keep a block of points that passed :meth:`fast_mask`: a 2-D float array, one
        row per point (ts, lat, lon in normal form, then ``columns``; NaN = no value)."""
        n = len(block)
        if not n:
            return
        if self.rows:
            self.flush()  # the order of the file is the order of the ids
        self.read += n
        lo, hi = float(block[:, 0].min()), float(block[:, 0].max())
        if lo < self.min_ts:
            self.min_ts = lo
        if hi > self.max_ts:
            self.max_ts = hi
        self.blocks.append(block)
        self.block_rows += n
        if self.block_rows >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self.blocks:
            import numpy as np  # only the fast paths make blocks

            blocks, self.blocks = self.blocks, []
            self.block_rows = 0
            self.flushes += 1
            self._flush(blocks[0] if len(blocks) == 1 else np.concatenate(blocks))
        if self.rows:
            rows, self.rows = self.rows, []
            self.flushes += 1
            self._flush(rows)

    @property
    def accepted(self) -> int:
        return self.read - sum(self.rejected.values())

    @property
    def pending(self) -> int:
        """Points collected and not flushed yet."""
        return len(self.rows) + self.block_rows


def opt_float(value: Any) -> float | None:
    """A finite float or None (for optional values such as altitude or speed)."""
    if value is None or value == "":
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def big_pipe() -> tuple[int, int]:
    """``os.pipe()`` holding 1 MB instead of 64 KB where Linux allows: the fast paths
    stream batches and file bytes between processes, and a bigger pipe is 16x fewer
    wake-ups of both sides."""
    r, w = os.pipe()
    with contextlib.suppress(ImportError, AttributeError, OSError):
        import fcntl

        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 1 << 20)
    return r, w


class CountingReader(io.RawIOBase):
    """A binary stream wrapper that knows how many bytes were read (error positions,
    progress estimates) without buffering anything itself."""

    def __init__(self, raw: IO[bytes], on_read: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self._raw = raw
        self.pos = 0
        self._on_read = on_read

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.pos += len(data)
        if self._on_read is not None:
            self._on_read(self.pos)
        return data

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def __iter__(self) -> Iterator[bytes]:  # lines, for line-based formats
        return iter(io.BufferedReader(self, 1 << 20))


# -- safety -----------------------------------------------------------------------------
EXCERPT_CHARS = 60


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """At most ``limit`` characters of a file's own text for a message, escaped
    (control characters, quotes and non-ASCII as Python escapes): a message quotes a
    file only as much as a person needs to recognise it (issue 17)."""
    cut = text[:limit]
    shown = ascii(cut)[1:-1]
    return shown + ("…" if len(text) > limit else "")


# Longest line a line-based reader (CSV, OwnTracks) accepts: real rows are a few hundred
# bytes; a longer "line" is a broken or hostile file, and reading it whole would take its
# size in memory.
MAX_LINE_BYTES = 1 << 20


class LineGuard(CountingReader):
    """A binary stream wrapper for line-based formats: fails the file as soon as a line
    runs past ``limit`` bytes (memory stays bounded by the read size plus the limit), and
    remembers whether the last byte read was a line end (a cut last line, issue 17)."""

    def __init__(self, raw: IO[bytes], limit: int = MAX_LINE_BYTES) -> None:
        super().__init__(raw)
        self._limit = limit
        self._since = 0  # bytes since the last line end
        self.line = 1
        self.last = b"\n"  # the last byte read (a line end before anything is read)

    @property
    def ends_with_newline(self) -> bool:
        return self.last in (b"\n", b"\r")

    def read(self, n: int = -1) -> bytes:
        data = super().read(n)
        if data:
            self.last = data[-1:]
            nl = data.rfind(b"\n")
            if nl < 0:
                self._since += len(data)
            else:
                self.line += data.count(b"\n")
                self._since = len(data) - nl - 1
            if self._since > self._limit:
                raise ImportFailure(
                    f"a line longer than {self._limit >> 20} MB: not a line-based track "
                    "file (or a damaged one); nothing of it is imported",
                    f"line {self.line}")
        return data


# Longest single JSON value (a string, a number) a JSON reader accepts: ijson builds each
# value whole, so one 1 GB string in a zip member that expands less than the zip bomb
# ratio (docs/IMPORT.md) took 1 GB and more. The same bound as libxml2's for XML values.
MAX_VALUE_BYTES = 10_000_000
_STRUCTURE = tuple(bytes([c]) for c in b'",:[]{}')
_ESCAPED_QUOTES = re.compile(rb'\\+"')


class JsonValueGuard(CountingReader):
    """A binary stream wrapper for JSON readers: fails the file as soon as one string,
    number or other bare value runs past ``limit`` bytes, having read at most one block
    past it.

    It knows where strings are without parsing: a quote not escaped by an odd run of
    backslashes opens or closes one, so the parity of such quotes tells whether a block
    ends inside a string, and where that string began. A block without a backslash (the
    usual case) costs a count and a few ``rfind``; escaped quotes are looked at one by one.
    Outside strings, a run without any of ``",:[]{}`` is one number or literal (or blanks).
    """

    def __init__(self, raw: IO[bytes], limit: int = MAX_VALUE_BYTES) -> None:
        super().__init__(raw)
        self._limit = limit
        self._in_string = False
        self._string_at = 0      # where the open string began (its quote)
        self._structure_at = 0   # the last structural byte outside a string
        self._backslashes = 0    # backslashes that ended the previous block

    def read(self, n: int = -1) -> bytes:
        data = super().read(n)
        if data:
            self._look(data)
        return data

    def _unescaped_quotes(self, data: bytes) -> tuple[int, int]:
        """(count of unescaped quotes in ``data``, index of the last one or -1)."""
        total = data.count(b'"')
        last = data.rfind(b'"')
        if b"\\" not in data and not (self._backslashes % 2 and data[:1] == b'"'):
            return total, last
        escaped: set[int] = set()
        for m in _ESCAPED_QUOTES.finditer(data):
            run = m.end() - 1 - m.start() + (self._backslashes if m.start() == 0 else 0)
            if run % 2:
                escaped.add(m.end() - 1)
        if self._backslashes % 2 and data[:1] == b'"':
            escaped.add(0)
        while last >= 0 and last in escaped:
            last = data.rfind(b'"', 0, last)
        return total - len(escaped), last

    def _look(self, data: bytes) -> None:
        start = self.pos - len(data)  # CountingReader.read has counted this block
        quotes, last_quote = self._unescaped_quotes(data)
        if quotes % 2:
            self._in_string = not self._in_string
        if self._in_string and quotes:
            self._string_at = start + last_quote
        if not self._in_string:
            last = max(data.rfind(c) for c in _STRUCTURE)
            if last >= 0:
                self._structure_at = start + last
        stripped = data.rstrip(b"\\")
        trailing = len(data) - len(stripped)
        self._backslashes = trailing + (self._backslashes if not stripped else 0)
        run = self.pos - (self._string_at if self._in_string else self._structure_at)
        if run > self._limit:
            what = "a text value" if self._in_string else "a bare value"
            raise ImportFailure(
                f"{what} longer than {self._limit // 1_000_000} MB: not a track file this "
                "app can read (or a damaged one); nothing of it is imported",
                f"byte {(self._string_at if self._in_string else self._structure_at) + 1}")
