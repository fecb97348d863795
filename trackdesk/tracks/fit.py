"""FIT (Garmin and other sports devices): ``record`` messages, read with fitdecode.

Positions are semicircles (degrees = value * 180 / 2**31); ``timestamp`` is UTC. Altitude
and speed prefer the ``enhanced_`` fields. Records without a position (indoor, sensor
only) are rejected and counted. Damaged files are read as far as they are intact (see
:func:`read` and docs/IMPORT.md); every value still passes the usual checks, so a
flipped byte that puts a point off the globe is rejected, not stored.
"""

from __future__ import annotations

import re
import struct
import warnings
from datetime import datetime
from typing import IO

import fitdecode

from trackdesk.tracks.base import R_NO_TIME, ImportFailure, Points, datetime_ts
from trackdesk.tracks.fitsport import session_sport

COLUMNS = ("altitude", "speed", "heading")
SEMICIRCLE = 180.0 / 2**31
R_NO_POSITION = "no position (indoor or sensor-only record)"


def _value(frame: fitdecode.FitDataMessage, *names: str) -> object:
    for name in names:
        if frame.has_field(name):
            v = frame.get_value(name, fallback=None)
            if v is not None:
                return v
    return None


def _num(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def read(stream: IO[bytes], out: Points) -> None:
    """Every intact ``record`` of the file, read tolerantly (issue 19): fitdecode's WARN
    error handling (a field of a size its type does not allow is read as bytes and left
    out, not the whole file refused), no CRC check, and a file that ends early (a
    missing final CRC, a truncated copy, a damaged tail) keeps the records before the
    damage. What was passed over is counted in the summary's notes. A file whose very
    first bytes are not FIT is still refused."""
    n = 0
    records = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            reader = fitdecode.FitReader(stream, check_crc=fitdecode.CrcCheck.DISABLED,
                                         error_handling=fitdecode.ErrorHandling.WARN)
            with reader:
                for frame in reader:
                    n += 1
                    if not isinstance(frame, fitdecode.FitDataMessage) \
                            or frame.name != "record":
                        if isinstance(frame, fitdecode.FitDataMessage) \
                                and frame.name == "session":
                            session_sport(frame, out)  # issue 19: the sport, annotated
                        continue
                    records += 1
                    _record(frame, out)
        except (fitdecode.FitError, struct.error, ValueError, KeyError, IndexError,
                TypeError, OverflowError, EOFError) as exc:
            where = f"near byte {getattr(stream, 'pos', '?')}, after {n} FIT messages"
            if records == 0 and not out.read:
                # Nothing readable at all: not a FIT file, or damaged from the start.
                raise ImportFailure(f"not a readable FIT file: {_plain(exc)}", where) \
                    from None
            past_body = getattr(reader, "_body_bytes_left", None) == 0
            out.notes[_skipped_note(exc, past_body)] += 1
    for w in caught:
        out.notes[NOTE_WARNING + _short(str(w.message))] += 1


NOTE_NO_CRC = "FIT: the file ends without its final CRC (the records before it were read)"
NOTE_TRUNCATED = "FIT: the file ends in the middle of a message (the rest skipped)"
NOTE_DAMAGED = "FIT: damaged after the last readable message (the rest skipped)"
NOTE_WARNING = "FIT: passed over: "


def _skipped_note(exc: BaseException, past_body: bool) -> str:
    if isinstance(exc, fitdecode.FitEOFError):
        # The 2-byte CRC is the last read of a file: nothing at all where it should be,
        # after the whole body, is a file copied without it.
        return NOTE_NO_CRC if past_body and exc.got == 0 else NOTE_TRUNCATED
    return f"{NOTE_DAMAGED} ({_short(_plain(exc))})"


def _short(text: str) -> str:
    """A library message without its offsets: one note per kind, not one per byte."""
    text = re.sub(r"@ ?\d+|offset \d+|\b\d{3,}\b", "…", text)
    return text[:120]


def _plain(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _record(frame: fitdecode.FitDataMessage, out: Points) -> None:
    t = frame.get_value("timestamp", fallback=None) if frame.has_field("timestamp") else None
    lat = _num(_value(frame, "position_lat"))
    lon = _num(_value(frame, "position_long"))
    if lat is None or lon is None:
        out.reject(R_NO_POSITION if t is not None else R_NO_TIME)
        return
    ts = datetime_ts(t) if isinstance(t, datetime) else None
    out.add(ts, lat * SEMICIRCLE, lon * SEMICIRCLE,
            _num(_value(frame, "enhanced_altitude", "altitude")),
            _num(_value(frame, "enhanced_speed", "speed")),
            _num(_value(frame, "heading")))
