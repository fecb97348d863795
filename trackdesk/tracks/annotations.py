"""Annotations: what a file knows about a time range besides positions.

Google exports name the place of a visit, its semantic type (HOME, WORK) and the activity
of each segment; GeoLife has transport-mode labels; GPX ``<type>`` and FIT ``sport`` say
what the track was. The readers keep them (``Points.annotate``) and the importer writes them
in the file's transaction into the ``annotations`` table (migration 5); this module is the
mapping of the sources' own activity labels to trackdesk's few values, the writer, and the
read-only query API used by the CLI, the views and the skills (sqlite3 only: the workers
import it).

Kinds and values (docs/IMPORT.md, "Annotations"):

* ``activity``: ``stationary``, ``walk``, ``bike``, ``car``, ``bus``, ``train``, ``plane``;
  ``raw`` keeps the source's label (``IN_SUBWAY``, ``subway``, ``cycling``...). A label
  that maps to none of them (ferry, skiing, an unknown type) is not stored: the summary
  counts it in ``notes``.
* ``place``: the place's name (or its address when it has no name), with its ``place_id``
  and position.
* ``semantic``: ``HOME``, ``WORK``... (Google's ``TYPE_`` prefix dropped).
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import asdict, dataclass
from typing import Any

ACTIVITIES = ("stationary", "walk", "bike", "car", "bus", "train", "plane")

# Normalised label (upper case, separators as "_") to value. Google's activity types
# (Semantic Location History and the on-device export, which writes them in lower case
# with spaces), GeoLife's labels, FIT sports and the usual GPX <type> words.
_ACTIVITY = {
    # stationary
    "STILL": "stationary", "STATIONARY": "stationary", "STAY": "stationary",
    # on foot
    "WALKING": "walk", "WALK": "walk", "ON_FOOT": "walk", "RUNNING": "walk", "RUN": "walk",
    "HIKING": "walk", "HIKE": "walk", "TRAIL_RUNNING": "walk", "TREADMILL": "walk",
    "TRAIL_RUN": "walk", "NORDIC_WALKING": "walk", "MOUNTAINEERING": "walk",
    # bicycle
    "CYCLING": "bike", "BIKE": "bike", "BIKING": "bike", "ON_BICYCLE": "bike",
    "BICYCLE": "bike", "RIDE": "bike", "E_BIKING": "bike", "E_BIKE_RIDE": "bike",
    "MOUNTAIN_BIKING": "bike", "MOUNTAIN_BIKE_RIDE": "bike", "ROAD_BIKING": "bike",
    "GRAVEL_RIDE": "bike", "VIRTUAL_RIDE": "bike",
    # road vehicles
    "IN_PASSENGER_VEHICLE": "car", "IN_VEHICLE": "car", "IN_CAR": "car", "CAR": "car",
    "TAXI": "car", "IN_TAXI": "car", "DRIVING": "car", "DRIVE": "car",
    "MOTORCYCLING": "car", "MOTORCYCLE": "car", "MOTORCYCLE_RIDE": "car",
    "IN_BUS": "bus", "BUS": "bus",
    # rail
    "IN_SUBWAY": "train", "SUBWAY": "train", "IN_TRAIN": "train", "TRAIN": "train",
    "IN_TRAM": "train", "TRAM": "train", "IN_RAIL_VEHICLE": "train", "RAILWAY": "train",
    # air
    "FLYING": "plane", "AIRPLANE": "plane", "PLANE": "plane", "IN_PLANE": "plane",
    "FLIGHT": "plane",
}


def activity_value(raw: Any) -> str | None:
    """trackdesk's activity value for a source's label, or None when none fits."""
    if not isinstance(raw, str):
        return None
    key = re.sub(r"[^A-Z0-9]+", "_", raw.strip().upper()).strip("_")
    return _ACTIVITY.get(key)


def semantic_value(raw: Any) -> str | None:
    """``TYPE_HOME`` / ``Home`` / ``HOME`` to ``HOME``; None for an unknown or empty type."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    key = re.sub(r"[^A-Z0-9]+", "_", raw.strip().upper()).strip("_")
    if key.startswith("TYPE_"):
        key = key[5:]
    if key in ("", "UNKNOWN", "UNKNOWN_TYPE"):
        return None
    return key


# -- writing (the importer, inside the file's transaction) ------------------------------
_INSERT = (
    "INSERT INTO annotations (start_ts, end_ts, kind, value, raw, source, lat, lon, "
    "place_id, import_file_id, created_at) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? "
    "WHERE NOT EXISTS (SELECT 1 FROM annotations WHERE start_ts = ? AND end_ts = ? "
    "AND kind = ? AND value = ? AND source = ? AND place_id IS ?)")


def write_annotations(conn: sqlite3.Connection, rows: list[tuple],
                      import_file_id: int | None) -> int:
    """Insert ``Points.annotations`` rows; one already stored (same range, kind, value,
    source and place) is not written again, so importing a file twice adds nothing.
    Returns the number of rows added."""
    now = time.time()
    before = conn.total_changes
    conn.executemany(_INSERT, [
        (*r[:9], import_file_id, now, r[0], r[1], r[2], r[3], r[5], r[8]) for r in rows])
    return conn.total_changes - before


# -- reading (read-only API) -------------------------------------------------------------
@dataclass(frozen=True)
class Annotation:
    id: int
    start_ts: float
    end_ts: float
    kind: str
    value: str
    raw: str | None
    source: str
    lat: float | None
    lon: float | None
    place_id: str | None
    import_file_id: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_COLS = "id, start_ts, end_ts, kind, value, raw, source, lat, lon, place_id, import_file_id"


def annotations_between(conn: sqlite3.Connection, t0: float | None = None,
                        t1: float | None = None, kind: str | None = None,
                        source: str | None = None) -> list[Annotation]:
    """Annotations whose time range overlaps ``[t0, t1]`` (either bound may be None),
    in time order; optionally of one ``kind`` or ``source``. A database without the
    table (made before migration 5 and never migrated) has none."""
    where, args = [], []
    if t1 is not None:
        where.append("start_ts <= ?")
        args.append(float(t1))
    if t0 is not None:
        where.append("end_ts >= ?")
        args.append(float(t0))
    if kind is not None:
        where.append("kind = ?")
        args.append(kind)
    if source is not None:
        where.append("source = ?")
        args.append(source)
    sql = f"SELECT {_COLS} FROM annotations"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY start_ts, end_ts, id"
    try:
        rows = conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    return [Annotation(*r) for r in rows]


def annotations_at(conn: sqlite3.Connection, ts: float) -> list[Annotation]:
    """The annotations covering one instant (a point's detail view)."""
    return annotations_between(conn, ts, ts)


# -- for the readers ----------------------------------------------------------------------
R_UNMAPPED = "activity labels not kept (no trackdesk activity for them)"


def annotate_activity(out: Any, start: Any, end: Any, raw: Any, source: str,
                      lat: float | None = None, lon: float | None = None) -> bool:
    """Keep an activity annotation for a source's label (``out`` is a ``Points``); a
    label trackdesk has no value for is counted in the summary's notes instead."""
    if not isinstance(raw, str) or not raw.strip():
        return False
    value = activity_value(raw)
    if value is None:
        out.notes[R_UNMAPPED] += 1
        return False
    return out.annotate(start, end, "activity", value, raw.strip(), source, lat, lon)
