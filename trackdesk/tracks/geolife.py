"""GeoLife trajectories (``.plt``, the OziExplorer track format) and GeoLife ``labels.txt``.

A ``.plt`` file has 6 header lines, then one point a line::

    39.984702,116.318417,0,492,39744.1201851852,2008-10-23,02:53:04

latitude, longitude, a segment-break flag (ignored), altitude in feet (``-777`` =
unknown), the time as days since 1899-12-30 (the Delphi/Excel epoch), then the same time
as date and time text (UTC in GeoLife). OziExplorer writes the same lines, with the date
text in the user's locale (``13-août-07``) and days with 7 decimals (about 9 ms).

The time is taken from the days field, which both write the same way: rounded to the
millisecond, and to the whole second when within 10 ms of one (the 7-decimal days of
OziExplorer are whole seconds written with a few ms of error). When the days field is
missing or unreadable, the ISO date and time text (GeoLife) is used.

``labels.txt`` (in a GeoLife user folder beside ``Trajectory/``)::

    Start Time<TAB>End Time<TAB>Transportation Mode
    2008/04/02 11:24:21<TAB>2008/04/02 11:50:45<TAB>bus

becomes activity annotations (source ``geolife``, times UTC like the trajectories); the
file has no points.
"""

from __future__ import annotations

import io
from typing import IO

from trackdesk.tracks.annotations import annotate_activity
from trackdesk.tracks.base import R_BAD_COORD, R_BAD_TIME, ImportFailure, LineGuard, Points

COLUMNS = ("altitude",)
HEADER_LINES = 6
DELPHI_EPOCH_DAYS = 25569  # 1899-12-30 to 1970-01-01
FEET = 0.3048
UNKNOWN_ALTITUDE = -777.0
R_SHORT = "row with too few fields"
LABELS_HEADER = b"Start Time\tEnd Time\tTransportation Mode"


def plt_time(days: str, date: str = "", clock: str = "", out: Points | None = None
             ) -> float | None:
    """The point's time in normal form (see the module's docstring)."""
    try:
        d = float(days)
    except ValueError:
        d = float("nan")
    if d == d and abs(d) < 1e6:
        ms = round((d - DELPHI_EPOCH_DAYS) * 86_400_000)
        if abs(ms - round(ms / 1000) * 1000) <= 10:
            ms = round(ms / 1000) * 1000
        return ms / 1000
    if out is not None and date and clock:
        return out.times(f"{date.strip()}T{clock.strip()}Z")
    return None


def read(stream: IO[bytes], out: Points) -> None:
    # latin-1: the header and the locale's date text are not always UTF-8, and the
    # numbers the points need are ASCII in any encoding OziExplorer or GeoLife used.
    # LineGuard: a line is bounded (1 MB), so a broken file cannot eat memory (#19).
    text = io.TextIOWrapper(io.BufferedReader(LineGuard(stream), 1 << 20),
                            encoding="latin-1", newline=None)
    add = out.add
    line_no = 0
    for line_no, line in enumerate(text, 1):
        if line_no <= HEADER_LINES:
            continue
        if not line.strip():
            continue
        f = line.split(",")
        if len(f) < 5:
            out.reject(R_SHORT)
            continue
        ts = plt_time(f[4], f[5] if len(f) > 5 else "", f[6] if len(f) > 6 else "", out)
        if ts is None:
            out.reject(R_BAD_TIME)
            continue
        try:
            lat, lon = float(f[0]), float(f[1])
        except ValueError:
            out.reject(R_BAD_COORD)
            continue
        try:
            alt = float(f[3])
        except ValueError:
            alt = UNKNOWN_ALTITUDE
        add(ts, lat, lon, None if alt == UNKNOWN_ALTITUDE else round(alt * FEET, 3))
    if line_no < HEADER_LINES:
        raise ImportFailure(f"not a .plt track: {line_no} line(s), fewer than its "
                            f"{HEADER_LINES} header lines", f"line {line_no}")


def read_labels(stream: IO[bytes], out: Points) -> None:
    text = io.TextIOWrapper(io.BufferedReader(LineGuard(stream), 1 << 16),
                            encoding="utf-8-sig", errors="replace", newline=None)
    for line_no, line in enumerate(text, 1):
        if line_no == 1 or not line.strip():  # the header
            continue
        f = line.rstrip("\r\n").split("\t")
        if len(f) < 3:
            out.notes["labels.txt rows not understood (fewer than 3 fields)"] += 1
            continue
        start = out.times(f[0].strip().replace("/", "-") + "Z")
        end = out.times(f[1].strip().replace("/", "-") + "Z")
        if start is None or end is None:
            out.notes["labels.txt rows with an unreadable time"] += 1
            continue
        annotate_activity(out, start, end, f[2].strip(), "geolife")
