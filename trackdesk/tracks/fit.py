"""FIT (Garmin and other sports devices): ``record`` messages, read with fitdecode.

Positions are semicircles (degrees = value * 180 / 2**31); ``timestamp`` is UTC. Altitude
and speed prefer the ``enhanced_`` fields. Records without a position (indoor, sensor
only) are rejected and counted. A CRC mismatch or a truncated file makes the whole file
fail: a FIT file's CRC is the only proof its numbers are the ones the device wrote.
"""

from __future__ import annotations

import struct
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
    n = 0
    try:
        reader = fitdecode.FitReader(stream, check_crc=fitdecode.CrcCheck.RAISE,
                                     error_handling=fitdecode.ErrorHandling.RAISE)
        with reader:
            for frame in reader:
                n += 1
                if not isinstance(frame, fitdecode.FitDataMessage) or frame.name != "record":
                    if isinstance(frame, fitdecode.FitDataMessage) and frame.name == "session":
                        session_sport(frame, out)  # issue 19: the sport as an annotation
                    continue
                t = frame.get_value("timestamp", fallback=None) \
                    if frame.has_field("timestamp") else None
                lat = _num(_value(frame, "position_lat"))
                lon = _num(_value(frame, "position_long"))
                if lat is None or lon is None:
                    out.reject(R_NO_POSITION if t is not None else R_NO_TIME)
                    continue
                ts = datetime_ts(t) if isinstance(t, datetime) else None
                out.add(ts, lat * SEMICIRCLE, lon * SEMICIRCLE,
                        _num(_value(frame, "enhanced_altitude", "altitude")),
                        _num(_value(frame, "enhanced_speed", "speed")),
                        _num(_value(frame, "heading")))
    except (fitdecode.FitError, struct.error, ValueError, KeyError, IndexError, TypeError,
            OverflowError, EOFError) as exc:
        # fitdecode lets low-level decoding errors through on damaged files.
        where = f"near byte {getattr(stream, 'pos', '?')}, after {n} FIT messages"
        raise ImportFailure(f"not a readable FIT file: {str(exc) or type(exc).__name__}",
                            where) from None
