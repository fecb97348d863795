"""一生足迹 (Lifetime Footprint): the row layout shared by its CSV export and its table.

Header: ``dataTime,locType,longitude,latitude,heading,accuracy,speed,distance,
isBackForeground,stepType,altitude``. ``dataTime`` is Unix seconds; -1 means unknown (the
row is rejected: a point without a time cannot be analysed). Negative heading, accuracy
and speed are the app's "unknown" too and become NULL. Coordinates are taken as stored;
the import option ``gcj02`` converts exports recorded in the Chinese GCJ-02 datum.
"""

from __future__ import annotations

from typing import Any

from trackdesk.tracks.base import (
    MAX_TS,
    MIN_TS,
    R_BAD_COORD,
    R_BAD_TIME,
    R_LAT,
    R_LON,
    R_NULL_ISLAND,
    R_TIME_RANGE,
    epoch_number,
    opt_float,
)

HEADER = ("dataTime", "locType", "longitude", "latitude", "heading", "accuracy", "speed",
          "distance", "isBackForeground", "stepType", "altitude")
R_UNKNOWN_TIME = "unknown time (dataTime -1)"


def unknown_if_negative(value: Any) -> float | None:
    f = opt_float(value)
    return None if f is None or f < 0 else f


def legacy_point(raw: tuple) -> tuple[tuple | None, str | None]:
    """``(dataTime, lat, lon, altitude, speed, accuracy, heading)`` from a 一生足迹 table to
    a normal-form point row, or ``(None, reason)``."""
    data_time, lat, lon, alt, speed, acc, heading = raw
    t = opt_float(data_time)
    if t is None:
        return None, R_BAD_TIME
    if t < 0:
        return None, R_UNKNOWN_TIME
    ts = epoch_number(t)
    if not MIN_TS <= ts <= MAX_TS:
        return None, R_TIME_RANGE
    la, lo = opt_float(lat), opt_float(lon)
    if la is None or lo is None:
        return None, R_BAD_COORD
    if not -90.0 <= la <= 90.0:
        return None, R_LAT
    if not -180.0 <= lo <= 180.0:
        return None, R_LON
    if la == 0.0 and lo == 0.0:
        return None, R_NULL_ISLAND
    return (ts, round(la * 1e7) / 1e7, round(lo * 1e7) / 1e7, opt_float(alt),
            unknown_if_negative(speed), unknown_if_negative(acc),
            unknown_if_negative(heading)), None
