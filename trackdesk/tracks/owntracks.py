"""OwnTracks recorder ``.rec`` files: one line per message,
``ISO-time <TAB> topic-or-* <TAB> JSON``.

Only ``"_type": "location"`` messages are positions: ``lat``, ``lon``, ``tst`` (epoch
seconds), ``alt`` (m), ``vel`` (km/h, stored as m/s), ``acc`` (m), ``cog`` (degrees).
Other message types (transitions, waypoints, cards) are passed over. A line that is not
``time TAB topic TAB JSON`` makes the file fail, naming the line.
"""

from __future__ import annotations

import json
from typing import IO

from trackdesk.tracks.base import (
    R_NO_TIME,
    ImportFailure,
    LineGuard,
    Points,
    epoch_number,
    opt_float,
)

COLUMNS = ("altitude", "speed", "accuracy", "heading")


def read(stream: IO[bytes], out: Points) -> None:
    line_no = 0
    for raw in LineGuard(stream):  # a line is bounded: a broken file cannot eat memory
        line_no += 1
        if line_no == 1:
            raw = raw.lstrip(b"\xef\xbb\xbf")
        line = raw.strip()
        if not line:
            continue
        parts = line.split(b"\t", 2)
        if len(parts) != 3:
            parts = line.split(None, 2)
        if len(parts) != 3 or not parts[2].startswith(b"{"):
            raise ImportFailure("not an OwnTracks line (time, topic, JSON)", f"line {line_no}")
        try:
            msg = json.loads(parts[2])
        except (ValueError, UnicodeDecodeError) as exc:
            raise ImportFailure(f"unreadable JSON ({exc})", f"line {line_no}") from None
        if not isinstance(msg, dict) or msg.get("_type") != "location":
            continue
        tst = opt_float(msg.get("tst"))
        ts = epoch_number(tst) if tst is not None else None
        if ts is None:
            t = out.times(parts[0].decode("ascii", "replace"))
            if t is None:
                out.reject(R_NO_TIME)
                continue
            ts = t
        # -1 is OwnTracks' "unknown" for vel and cog (issue 19): stored as NULL.
        vel = _known(msg.get("vel"))
        out.add(ts, msg.get("lat"), msg.get("lon"), opt_float(msg.get("alt")),
                vel / 3.6 if vel is not None else None, opt_float(msg.get("acc")),
                _known(msg.get("cog")))


def _known(value: object) -> float | None:
    """A speed or course, None when absent or negative (the app's -1 = unknown)."""
    v = opt_float(value)
    return v if v is not None and v >= 0 else None
