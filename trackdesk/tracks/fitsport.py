"""FIT ``session`` messages: the activity's sport (``cycling``, ``running``...) as an
activity annotation over the session's time range (source ``fit``).

``fit.py`` calls :func:`session_sport` for every session message it meets (a multisport
file has one per leg). The range is ``start_time`` to ``start_time + total_elapsed_time``
(the session's ``timestamp`` when the elapsed time is missing). ``raw`` is the sport, or
``sport/sub_sport`` when the sub-sport says more (``cycling/mountain``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from trackdesk.tracks.annotations import annotate_activity
from trackdesk.tracks.base import Points, datetime_ts


def _get(frame: Any, name: str) -> Any:
    return frame.get_value(name, fallback=None) if frame.has_field(name) else None


def session_sport(frame: Any, out: Points) -> None:
    sport = _get(frame, "sport")
    if sport is None:
        return
    sport = str(sport)
    start = _get(frame, "start_time")
    if not isinstance(start, datetime):
        return
    t0 = datetime_ts(start)
    elapsed = _get(frame, "total_elapsed_time")
    end = _get(frame, "timestamp")
    if isinstance(elapsed, int | float) and elapsed >= 0:
        t1 = round((t0 + float(elapsed)) * 1000) / 1000
    elif isinstance(end, datetime):
        t1 = datetime_ts(end)
    else:
        t1 = t0
    sub = _get(frame, "sub_sport")
    raw = sport
    if sub is not None and str(sub) not in ("generic", "0", "all"):
        raw = f"{sport}/{sub}"
    # The label is mapped by the sport alone; raw keeps the sub-sport for the user.
    if annotate_activity(out, t0, t1, sport, "fit") and raw != sport:
        ann = out.annotations[-1]
        out.annotations[-1] = (*ann[:4], raw, *ann[5:])
