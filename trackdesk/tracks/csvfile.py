"""CSV: the 一生足迹 export, and any CSV whose header names latitude, longitude and time.

Columns are recognised by name in several languages (``纬度``, ``Breite``, ``latitud``...),
case, spaces, units in brackets and punctuation ignored. Time is one column (ISO 8601 text,
or epoch seconds or milliseconds) or a date column plus a time-of-day column. Separators
``,`` ``;`` tab and ``|`` are recognised; with ``;`` a decimal comma is accepted.
Encodings: UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (Chinese Excel).
A row that cannot be read is rejected and counted; a file whose header names no position
is refused as a whole.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import deque
from collections.abc import Iterator
from typing import IO

from trackdesk.tracks.base import (
    MAX_TS,
    MIN_TS,
    R_BAD_COORD,
    R_BAD_TIME,
    ImportFailure,
    LineGuard,
    Points,
    epoch_number,
    excerpt,
)
from trackdesk.tracks.lifetime import HEADER as LIFETIME_HEADER
from trackdesk.tracks.lifetime import R_UNKNOWN_TIME, unknown_if_negative

COLUMNS = ("altitude", "speed", "accuracy", "heading")
R_SHORT_ROW = "row with too few fields"
R_CUT_LINE = "last line cut off (no line end, fewer fields or digits than the rows before)"

_NAMES: dict[str, set[str]] = {
    "lat": {"lat", "latitude", "latitudedeg", "latitudedegrees", "breite", "breitengrad",
            "latitud", "latitudine", "纬度", "緯度", "широта", "enlem", "위도", "szerokosc",
            "szerokość", "breedtegraad", "leveysaste", "latitudee7", "gpslatitude", "ycoord"},
    "lon": {"lon", "lng", "long", "longitude", "longitudedeg", "longitudedegrees", "länge",
            "laenge", "längengrad", "laengengrad", "longitud", "longitudine", "经度", "經度",
            "経度", "долгота", "boylam", "경도", "dlugosc", "długość", "lengtegraad",
            "pituusaste", "longitudee7", "gpslongitude", "xcoord"},
    "time": {"time", "timestamp", "datetime", "utc", "timeutc", "utctime", "gpstime",
             "zeit", "zeitstempel", "datumzeit", "fechahora", "horodatage", "dataora",
             "时间", "時間", "日時", "时间戳", "время", "zaman", "시간", "tijd", "tijdstip",
             "aika", "czas", "datatime", "recordedat", "createdat", "trackedat", "tst", "unixtime",
             "epoch", "timestampms", "dateheure", "日期时间", "定位时间"},
    "date": {"date", "datum", "fecha", "data", "日期", "日付", "дата", "날짜", "tarih",
             "päivämäärä"},
    "clock": {"time", "zeit", "hora", "ora", "heure", "时间", "時刻", "время", "saat", "시각",
              "tijd", "aika", "czas", "timeofday"},
    "altitude": {"alt", "altitude", "ele", "elevation", "height", "höhe", "hoehe", "altitud",
                 "altitudine", "海拔", "高度", "高程", "標高", "высота", "rakım", "고도",
                 "altitudem", "elevationm"},
    "speed": {"speed", "velocity", "vel", "geschwindigkeit", "velocidad", "velocità",
              "速度", "скорость", "hız", "속도", "speedms", "speedkmh", "speedkph"},
    "accuracy": {"accuracy", "acc", "hacc", "horizontalaccuracy", "genauigkeit",
                 "precision", "precisión", "精度", "точность", "accuracym"},
    "heading": {"heading", "bearing", "course", "direction", "richtung", "rumbo", "方向",
                "航向", "курс", "cog"},
}
_CLOCK_RE = re.compile(r"^\s*\d{1,2}:\d{2}(:\d{2}([.,]\d+)?)?\s*$")


def normal_name(name: str) -> str:
    name = name.strip().strip("\ufeff").strip('"').lower()
    name = re.sub(r"[(\[].*?[)\]]", "", name)  # units: "speed (m/s)", "ele [m]"
    return re.sub(r"[\s_\-./:°]+", "", name)


def recognise(header: list[str]) -> dict[str, int]:
    """Column indexes of the fields trackdesk understands, by normalised header name."""
    found: dict[str, int] = {}
    normal = [normal_name(h) for h in header]
    for field in ("lat", "lon", "time", "date", "clock", "altitude", "speed", "accuracy",
                  "heading"):
        for i, n in enumerate(normal):
            if n in _NAMES[field] and i not in found.values():
                found[field] = i
                break
    if "time" in found and "date" in found and "clock" not in found:
        # "date" + "time" columns: "time" is a time of day, read with the date.
        found["clock"] = found.pop("time")
    elif "clock" in found and "time" in found and found["clock"] == found["time"]:
        found.pop("clock")
    if "time" in found:
        found.pop("clock", None)
    return found


def is_lifetime_header(header: list[str]) -> bool:
    return tuple(h.strip().strip("\ufeff") for h in header) == LIFETIME_HEADER


class _Prefixed(io.RawIOBase):
    """Bytes already peeked at, then the rest of the stream: lets the encoding and the
    dialect be sniffed without reading the file twice."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # noqa: ANN001 - io's signature
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def _encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def _text(head: bytes, stream: IO[bytes]) -> io.TextIOWrapper:
    enc = _encoding(head)
    raw = io.BufferedReader(_Prefixed(head, stream), buffer_size=1 << 20)
    return io.TextIOWrapper(raw, encoding=enc, errors="strict", newline="")


def _dialect(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read(stream: IO[bytes], out: Points) -> None:
    options = column_options(out)
    stream = guard = LineGuard(stream)
    head = stream.read(65536)
    if not out.gcj02 and _lifetime_utf8(head) and not options:
        _read_lifetime_blocks(head, stream, out)
        return
    text = _text(head, stream)
    line_no = 0
    reader = None
    try:
        first = text.readline()
        line_no = 1
        while first and not first.strip():
            first = text.readline()
            line_no += 1
        if not first:
            raise ImportFailure("the file is empty: no header line", "line 1")
        delim = _dialect(first)
        # skipinitialspace: '"a", "b"' (quotes after the separator's space) is a quoted
        # field, as every spreadsheet reads it (issue 19).
        header = next(csv.reader([first], delimiter=delim, skipinitialspace=True))
        reader = csv.reader(text, delimiter=delim, strict=True, skipinitialspace=True)
        if is_lifetime_header(header) and not options:
            keys = [0, 2, 3]
        else:
            cols = key_columns(header, options)
            keys = [cols[k] for k in ("lat", "lon", "time", "date", "clock") if k in cols]
        rows = complete_rows(reader, guard, len(header), out, keys)
        if is_lifetime_header(header) and not options:
            _read_lifetime(rows, out)
        else:
            _read_generic(rows, header, delim, out)
    except (UnicodeDecodeError, csv.Error) as exc:
        line = line_no + (reader.line_num if reader is not None else 0)
        raise _failure(exc, text.encoding, line) from None


def _failure(exc: UnicodeDecodeError | csv.Error, encoding: str, line: int) -> ImportFailure:
    """A text or CSV error of the row-by-row readers, for a person, with its line."""
    if isinstance(exc, UnicodeDecodeError):
        return ImportFailure(f"text is not in {encoding} ({exc.reason})", f"line {line}")
    return ImportFailure(f"unreadable CSV: {exc}", f"line {line}")


def _read_lifetime(reader: csv.reader, out: Points) -> None:
    add = out.add
    reject = out.reject
    rows = out.rows
    batch = out.batch
    fast = not out.gcj02
    n_fast = 0
    lo_ts, hi_ts = MAX_TS, MIN_TS
    try:
        for row in reader:
            if len(row) < 11:
                if row:
                    out.read += n_fast
                    n_fast = 0
                    reject(R_SHORT_ROW)
                continue
            try:
                t = float(row[0])
                lat = float(row[3])
                lon = float(row[2])
                # -1 (any negative) is the app's "unknown"; NaN binds as NULL in SQLite.
                a = row[10]
                alt = float(a) if a else None
                v = row[6]
                speed = float(v) if v and v[0] != "-" else None
                v = row[5]
                acc = float(v) if v and v[0] != "-" else None
                v = row[4]
                heading = float(v) if v and v[0] != "-" else None
            except ValueError:
                t = None  # type: ignore[assignment]
            if (fast and t is not None and MIN_TS <= t <= MAX_TS and -90.0 <= lat <= 90.0
                    and -180.0 <= lon <= 180.0 and (lat or lon)):
                # The common row, validated inline: a call per field would double the cost.
                ts = round(t * 1000) / 1000
                rows.append((ts, round(lat * 1e7) / 1e7, round(lon * 1e7) / 1e7, alt, speed,
                             acc, heading))
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
                continue
            out.read += n_fast
            n_fast = 0
            try:
                t = float(row[0])
            except ValueError:
                reject(R_BAD_TIME)
                continue
            if t < 0:
                reject(R_UNKNOWN_TIME)
                continue
            try:
                alt = float(row[10])
            except ValueError:
                alt = None
            add(epoch_number(t), row[3], row[2], alt, unknown_if_negative(row[6]),
                unknown_if_negative(row[5]), unknown_if_negative(row[4]))
            rows = out.rows
    finally:
        out.read += n_fast
        if lo_ts <= hi_ts:
            out.min_ts = min(out.min_ts, lo_ts)
            out.max_ts = max(out.max_ts, hi_ts)


# -- the 一生足迹 fast path ----------------------------------------------------------------
# An export is millions of rows of plain numbers. Blocks of whole lines are read with
# numpy: where the commas and line ends are, then every value of a column at once
# (trackdesk/tracks/vector.py, exact as float()). A block with anything unusual in it
# (quotes, a blank or short row, text, an exponent, a point the checks reject) is read
# by the row-by-row code below, which names every reason: same points, same counts.
BLOCK_BYTES = 4 << 20
_FIELDS = 11
ALTITUDE = 10  # the one optional field whose negatives are real values


def _lifetime_utf8(head: bytes) -> bool:
    """A UTF-8 file (BOM or not) whose very first line is the 一生足迹 header."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    end = head.find(b"\n")
    if end < 0:
        return False
    try:
        first = head[:end].decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return _dialect(first) == "," and is_lifetime_header(first.rstrip("\r").split(","))


def _read_lifetime_blocks(head: bytes, stream: IO[bytes], out: Points) -> None:
    lines = 1  # lines before the block at hand: the header
    pending = head[head.index(b"\n") + 1:]
    previous = b""  # the block before: what a cut last line is compared with
    while True:
        data = stream.read(BLOCK_BYTES)
        buf = pending + data if pending else data
        if data:
            cut = buf.rfind(b"\n") + 1
            if cut == 0:  # no line end yet in this much text: read more
                pending = buf
                continue
        else:
            cut = len(buf)
            last = buf.rfind(b"\n") + 1
            if last < cut and cut_line(buf[last:], (previous + buf[:last])[-(64 << 10):]):
                out.reject(R_CUT_LINE)  # the file ends in the middle of a row
                buf = buf[:last]
                cut = last
        block, pending = buf[:cut], buf[cut:]
        if b'"' in block:
            # Quoted fields may hold line ends: the rest of the file goes row by row.
            _lifetime_rows(_Prefixed(block + pending, stream), out, lines)
            return
        if block and not _lifetime_block(block, out):
            _lifetime_rows(io.BytesIO(block), out, lines)
        lines += block.count(b"\n")
        previous = block
        if not data:
            return


def _lifetime_rows(raw: IO[bytes], out: Points, lines: int) -> None:
    """The row-by-row reader over ``raw``, which starts after line ``lines``."""
    text = io.TextIOWrapper(io.BufferedReader(raw, 1 << 20), encoding="utf-8",  # type: ignore[arg-type]
                            errors="strict", newline="")
    reader = csv.reader(text, delimiter=",", strict=True)
    try:
        _read_lifetime(reader, out)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise _failure(exc, "utf-8", lines + reader.line_num) from None


def _lifetime_block(block: bytes, out: Points) -> bool:
    """Read a block of whole lines at once; False (nothing kept) if it needs the rows."""
    import numpy as np

    from trackdesk.tracks import vector

    buf = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    if not block.endswith(b"\n"):
        ends = np.append(ends, len(buf))
    n = len(ends)
    commas = np.flatnonzero(buf == 44)
    if len(commas) != (_FIELDS - 1) * n:
        return False
    # Exactly ten commas on every line, not just ten per line on average.
    if not np.array_equal(np.searchsorted(commas, ends),
                          np.arange(1, n + 1) * (_FIELDS - 1)):
        return False
    commas = commas.reshape(n, _FIELDS - 1)
    starts = np.concatenate(([0], ends[:-1] + 1))
    ends = ends - (buf[np.maximum(ends - 1, 0)] == 13)  # CRLF

    def column(k: int, optional: bool = False) -> np.ndarray | None:
        """Field ``k`` of every line; None when any line needs the row-by-row reader.
        ``optional``: blank is no value (NaN), as are negatives except for altitude
        (the app's -1 = unknown, as ``lifetime.unknown_if_negative``)."""
        lo = starts if k == 0 else commas[:, k - 1] + 1
        hi = ends if k == _FIELDS - 1 else commas[:, k]
        values, ok = vector.decimals(buf, lo, hi, empty_ok=optional)
        if not (ok & (hi >= lo)).all():
            return None
        if optional and k != ALTITUDE:
            values[(buf[np.minimum(lo, len(buf) - 1)] == 45) & (hi > lo)] = np.nan
        return values

    t, lat, lon = column(0), column(3), column(2)
    if t is None or lat is None or lon is None or not out.fast_mask(t, lat, lon).all():
        return False
    alt, speed, acc, heading = (column(k, optional=True) for k in (ALTITUDE, 6, 5, 4))
    if alt is None or speed is None or acc is None or heading is None:
        return False
    out.add_block(np.column_stack((vector.normal_ts(t), vector.normal_coord(lat),
                                   vector.normal_coord(lon), alt, speed, acc, heading)))
    return True


def _read_generic(reader: Iterator[list[str]], header: list[str], delim: str,
                  out: Points) -> None:
    cols = key_columns(header, column_options(out))
    missing = [name for name, key in (("latitude", "lat"), ("longitude", "lon"))
               if key not in cols]
    if "time" not in cols and "date" not in cols:
        missing.append("time")
    if missing:
        raise ImportFailure(refusal(header, cols, missing), "line 1")
    i_lat, i_lon = cols["lat"], cols["lon"]
    i_time, i_date, i_clock = cols.get("time"), cols.get("date"), cols.get("clock")
    opt = [cols.get(k) for k in ("altitude", "speed", "accuracy", "heading")]
    kmh = "speed" in cols and re.search(r"km\s*/?\s*h|kph", header[cols["speed"]].lower())
    need = max(v for v in cols.values()) + 1
    comma = delim == ";"
    e7 = [normal_name(header[i]).endswith("e7") for i in (i_lat, i_lon)]
    times = out.times
    for row in reader:
        if len(row) < need:
            if any(f.strip() for f in row):
                out.reject(R_SHORT_ROW)
            continue
        if i_time is not None:
            ts = _time(row[i_time], times)
        else:
            clock = row[i_clock] if i_clock is not None else ""
            if clock and _CLOCK_RE.match(clock):
                ts = _time(f"{row[i_date].strip()}T{clock.strip()}", times)
            else:  # the "time" column held the whole instant after all
                ts = _time(clock or row[i_date], times)
        if ts is None:
            out.reject(R_BAD_TIME)
            continue
        lat_s, lon_s = row[i_lat], row[i_lon]
        if comma:
            lat_s, lon_s = lat_s.replace(",", "."), lon_s.replace(",", ".")
        try:
            lat, lon = float(lat_s), float(lon_s)
        except ValueError:
            lat, lon = hemisphere(lat_s, "NS"), hemisphere(lon_s, "EW")  # type: ignore[assignment]
            if lat is None or lon is None:
                out.reject(R_BAD_COORD)
                continue
        if e7[0]:
            lat /= 1e7
        if e7[1]:
            lon /= 1e7
        extra = []
        for i in opt:
            v = None
            if i is not None:
                s = row[i].replace(",", ".") if comma else row[i]
                try:
                    v = float(s)
                except ValueError:
                    v = None
                if v is not None and v != v:
                    v = None
            extra.append(v)
        if kmh and extra[1] is not None:
            extra[1] /= 3.6
        out.add(ts, lat, lon, *extra)


def _time(value: str, times) -> float | None:  # noqa: ANN001 - a TimeParser
    value = value.strip()
    if not value:
        return None
    c = value[0]
    if c.isdigit() or c == "-":
        try:
            return epoch_number(float(value))
        except ValueError:
            pass
    return times(value)


# -- a cut last line (issue 17) ---------------------------------------------------------
# A file copied or downloaded only in part ends in the middle of a row: "...,48.1351689,11.5"
# instead of "11.5368030" puts the point 2.7 km off. The rule: a last line WITHOUT a line
# end is kept only if it looks complete next to the rows before it: as many fields as the
# rows before it, and neither a time or coordinate field nor its last field (where a cut
# that leaves the field count whole falls) with fewer digits before or after the decimal
# point than that field has in every one of the (up to) 256 rows before it. A complete
# last line, or any line that ends with a line end, is read as usual. (A writer trimming trailing zeros
# writes shorter numbers in some rows too: the minimum over those rows allows for it.)
_NUM_RE = re.compile(r"\s*[-+]?(\d*)(?:[.,](\d*))?\s*$")
_RECENT = 256


def _digits(field: str) -> tuple[int, int] | None:
    m = _NUM_RE.match(field)
    if m is None or not (m.group(1) or m.group(2)):
        return None
    return len(m.group(1)), len(m.group(2) or "")


def is_cut(last: list[str], recent: list[list[str]] | deque, n_fields: int,
           keys: list[int]) -> bool:
    """True when ``last`` (a final line without a line end) does not look complete.
    Digits are compared in the ``keys`` columns (position and time) and in the line's
    last field, where a cut that leaves the number of fields whole must fall; an optional
    value elsewhere (a speed of ``0`` at the end of a ride) is short and complete."""
    if not recent:
        return len(last) < n_fields  # nothing else to compare with
    if len(last) < min(len(r) for r in recent):
        return True
    for k in {*keys, len(last) - 1}:
        if k >= len(last):
            return True
        mine = _digits(last[k])
        if mine is None:
            continue
        seen = [d for d in (_digits(r[k]) for r in recent if k < len(r)) if d is not None]
        if seen and (mine[0] < min(d[0] for d in seen) or mine[1] < min(d[1] for d in seen)):
            return True
    return False


def cut_line(last: bytes, previous: bytes) -> bool:
    """:func:`is_cut` for the 一生足迹 fast path: ``last`` is the file's final bytes after
    its last line end, ``previous`` the block of whole lines before them."""
    if not last.strip():
        return False
    rows = previous[-(64 << 10):].decode("utf-8", "replace").splitlines()[-_RECENT:]
    if len(previous) > 64 << 10:
        rows = rows[1:]  # the first may be a piece of a line
    recent = [r.split(",") for r in rows if r.strip()]
    return is_cut(last.decode("utf-8", "replace").rstrip("\r").split(","), recent, _FIELDS,
                  [0, 2, 3])


def complete_rows(reader: Iterator[list[str]], guard: LineGuard, n_fields: int,
                  out: Points, keys: list[int]) -> Iterator[list[str]]:
    """The rows of ``reader``, holding the last one back until the end of the file shows
    whether it was cut off (then it is rejected and counted, not stored)."""
    recent: deque[list[str]] = deque(maxlen=_RECENT)
    prev = None
    for row in reader:
        if prev is not None:
            yield prev
            recent.append(prev)
        prev = row
    if prev is None:
        return
    if not guard.ends_with_newline and any(f.strip() for f in prev) \
            and is_cut(prev, recent, n_fields, keys):
        out.reject(R_CUT_LINE)
        return
    yield prev


# -- what the user says, and what the refusal says (issue 19) ---------------------------
_WHAT = {"lat": "latitude", "lon": "longitude", "time": "time", "date": "date",
         "clock": "time of day", "altitude": "altitude", "speed": "speed",
         "accuracy": "accuracy", "heading": "heading"}
_HEMI_RE = re.compile(r"^\s*([NSEWnsew])?\s*([-+]?\d+(?:\.\d*)?|\.\d+)\s*°?\s*"
                      r"([NSEWnsew])?\s*$")


def key_columns(header: list[str], options: dict[str, str] | None) -> dict[str, int]:
    """The recognised columns, with the ones the user named put where they said."""
    cols = recognise(header)
    for key, field in (("lat_column", "lat"), ("lon_column", "lon"),
                       ("time_column", "time")):
        if options and options.get(key):
            cols = _override(cols, header, field, key, options[key])
    return cols


def column_options(out: Points) -> dict[str, str]:
    """The column overrides given to the import (``--option time_column=NAME``...)."""
    opts = getattr(out, "options", None) or {}
    return {k: str(v) for k, v in opts.items()
            if k in ("time_column", "lat_column", "lon_column") and v}


def _override(cols: dict[str, int], header: list[str], field: str, option: str,
              name: str) -> dict[str, int]:
    """``cols`` with ``field`` at the column the user named (exact header text first,
    then the same normalised name)."""
    plain = [h.strip().strip("\ufeff").strip('"') for h in header]
    if name in plain:
        i = plain.index(name)
    else:
        normal = [normal_name(h) for h in header]
        if normal_name(name) not in normal:
            raise ImportFailure(f"{option}={excerpt(name, 40)}: no such column in the header "
                                f"({excerpt(', '.join(plain[:12]), 120)})", "line 1")
        i = normal.index(normal_name(name))
    cols = {k: v for k, v in cols.items() if v != i}
    cols[field] = i
    if field == "time":
        cols.pop("date", None)
        cols.pop("clock", None)
    return cols


def refusal(header: list[str], cols: dict[str, int], missing: list[str]) -> str:
    """Exactly what is missing, what was recognised, and how to say which column is
    which: a person can fix the file or the command from this line alone."""
    plain = [h.strip().strip("\ufeff").strip('"') for h in header]
    found = ", ".join(f"{_WHAT[k]} = {excerpt(plain[i], 30)!r}"
                      for k, i in sorted(cols.items(), key=lambda kv: kv[1]))
    hints = " ".join(f"--option {m[:3] if m != 'time' else 'time'}_column=NAME"
                     for m in missing)
    return (f"no {' and no '.join(missing)} column recognised; recognised: "
            f"{found or 'nothing'}; columns: {excerpt(', '.join(plain[:12]), 120) or '(none)'}"
            f" — name it with {hints} (docs/IMPORT.md lists the names understood)")


def hemisphere(text: str, letters: str) -> float | None:
    """``48.1351689N``, ``N 48.1351689``, ``11.5368E``, ``33.9W``: a signed degree value,
    or None. The letter must be of the axis (N/S for latitude, E/W for longitude)."""
    m = _HEMI_RE.match(text)
    if m is None or (m.group(1) and m.group(3)):
        return None
    letter = (m.group(1) or m.group(3) or "").upper()
    if letter and letter not in letters:
        return None
    value = float(m.group(2))
    return -value if letter in ("S", "W") else value
