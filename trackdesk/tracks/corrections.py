"""The user's corrections to the analysis results: add, list, undo, export, import.

Non-destructive by design: a correction is a row of its own (who, when, what); the
points and the skills' results are never edited by hand. The skills read the
corrections in force on every run (trackdesk/skills/labels.py), so a correction
survives every FULL_RECOMPUTE and INCREMENTAL run; undo marks the row undone (its
history stays) and the next chain run takes the effect away again.

Plain sqlite3: the CLI, the REST API and the window all call these functions.
"""

from __future__ import annotations

import getpass
import json
import sqlite3
import time
from typing import Any

from trackdesk.tracks.annotations import ACTIVITIES

# What a correction can say, and which skill applies it (trackdesk/skills/labels.py
# reads them on every run).
KINDS = {
    "mode": "transport_mode",          # [start_ts, end_ts] was travelled by mode `value`
    "bad_points": "outlier_detection",  # target_ids (point ids) or [start_ts, end_ts] wrong
    "merge_stays": "stay_detection",    # the stays overlapping [start_ts, end_ts] are one
    "split_stay": "stay_detection",     # the stay around start_ts ends there, a new one begins
    "merge_trips": "trip_construction",  # the trips overlapping [start_ts, end_ts] are one
    "split_trip": "trip_construction",  # the trip around start_ts ends there
    "rename_place": "stay_stats",       # place target_ids[0] is called `value`
    "merge_places": "stay_stats",       # places target_ids are one (the first id stays)
}

COLUMNS = ("id", "created_at", "author", "kind", "start_ts", "end_ts", "value", "target_ids",
           "note", "undone_at")
# Which fields each kind needs: a range, one instant, ids, a value.
_RANGE = {"mode", "merge_stays", "merge_trips"}
_INSTANT = {"split_stay", "split_trip"}
_IDS = {"rename_place", "merge_places"}


class CorrectionError(ValueError):
    """A correction that cannot be stored; the message is meant for a person."""


def _author() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "user"


def validate(kind: str, start_ts: float | None = None, end_ts: float | None = None,
             value: str | None = None, target_ids: list[int] | None = None) -> None:
    """Raise CorrectionError unless the fields make a correction of ``kind``."""
    if kind not in KINDS:
        raise CorrectionError(f"unknown correction {kind!r} (known: {', '.join(KINDS)})")
    ids = list(target_ids or [])
    for t in (start_ts, end_ts):
        if t is not None and not (isinstance(t, int | float) and t == t
                                  and abs(float(t)) < 1e11):
            raise CorrectionError(f"{t!r} is not a time (unix seconds)")
    if kind in _RANGE or (kind == "bad_points" and not ids):
        if start_ts is None or end_ts is None:
            raise CorrectionError(f"{kind} needs a time range: --from and --to")
        if end_ts < start_ts:
            raise CorrectionError("the range ends before it starts")
    if kind in _INSTANT and start_ts is None:
        raise CorrectionError(f"{kind} needs the time to split at: --at")
    if kind == "mode" and value not in ACTIVITIES:
        raise CorrectionError(f"mode must be one of {', '.join(ACTIVITIES)}, not {value!r}")
    if kind == "rename_place" and (len(ids) != 1 or not (value or "").strip()):
        raise CorrectionError("rename_place needs one place id and a new name")
    if kind == "merge_places" and len(ids) < 2:
        raise CorrectionError("merge_places needs at least two place ids")
    if kind in _IDS | {"bad_points"}:
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, int):
                raise CorrectionError(f"{i!r} is not an id")


def _row(r: tuple) -> dict[str, Any]:
    out = dict(zip(COLUMNS, r, strict=True))
    out["target_ids"] = json.loads(out["target_ids"] or "[]")
    out["skill"] = KINDS.get(out["kind"])
    return out


def add(conn: sqlite3.Connection, kind: str, start_ts: float | None = None,
        end_ts: float | None = None, value: str | None = None,
        target_ids: list[int] | None = None, note: str | None = None,
        author: str | None = None, created_at: float | None = None) -> dict[str, Any]:
    """Store one correction (validated first: nothing is written for bad input)."""
    if kind in _INSTANT and end_ts is None:
        end_ts = start_ts
    validate(kind, start_ts, end_ts, value, target_ids)
    cur = conn.execute(
        "INSERT INTO corrections (created_at, author, kind, start_ts, end_ts, value, "
        "target_ids, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (time.time() if created_at is None else created_at, author or _author(), kind,
         start_ts, end_ts, value, json.dumps(list(target_ids or [])), note))
    return get(conn, int(cur.lastrowid))


def get(conn: sqlite3.Connection, correction_id: int) -> dict[str, Any]:
    r = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM corrections WHERE id = ?",
                     (correction_id,)).fetchone()
    if r is None:
        raise CorrectionError(f"no correction {correction_id}")
    return _row(r)


def list_all(conn: sqlite3.Connection, include_undone: bool = True) -> list[dict[str, Any]]:
    where = "" if include_undone else " WHERE undone_at IS NULL"
    return [_row(r) for r in conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM corrections{where} ORDER BY id")]


def undo(conn: sqlite3.Connection, correction_id: int) -> dict[str, Any]:
    """Take a correction back (its row stays, marked undone)."""
    row = get(conn, correction_id)
    if row["undone_at"] is not None:
        raise CorrectionError(f"correction {correction_id} was already undone")
    conn.execute("UPDATE corrections SET undone_at = ? WHERE id = ?",
                 (time.time(), correction_id))
    return get(conn, correction_id)


def redo(conn: sqlite3.Connection, correction_id: int) -> dict[str, Any]:
    """Put an undone correction back in force."""
    row = get(conn, correction_id)
    if row["undone_at"] is None:
        raise CorrectionError(f"correction {correction_id} is in force (nothing to redo)")
    conn.execute("UPDATE corrections SET undone_at = NULL WHERE id = ?", (correction_id,))
    return get(conn, correction_id)


def export_json(conn: sqlite3.Connection) -> dict[str, Any]:
    """Every correction (undone ones too: their history is data) as one document."""
    return {"format": "trackdesk-corrections", "version": 1, "corrections": list_all(conn)}


def import_json(conn: sqlite3.Connection, doc: Any) -> int:
    """Add the corrections of an exported document that are not here yet (same kind,
    times, value, ids and creation time); all or nothing. Returns how many were added."""
    if not isinstance(doc, dict) or doc.get("format") != "trackdesk-corrections":
        raise CorrectionError("not a trackdesk corrections export")
    items = doc.get("corrections")
    if not isinstance(items, list):
        raise CorrectionError("the export has no list of corrections")
    have = {(c["kind"], c["start_ts"], c["end_ts"], c["value"], tuple(c["target_ids"]),
             c["created_at"]) for c in list_all(conn)}
    todo = []
    for k, c in enumerate(items):
        if not isinstance(c, dict):
            raise CorrectionError(f"correction #{k + 1} is not an object")
        ids = c.get("target_ids") or []
        validate(c.get("kind", ""), c.get("start_ts"), c.get("end_ts"), c.get("value"), ids)
        key = (c["kind"], c.get("start_ts"), c.get("end_ts"), c.get("value"), tuple(ids),
               c.get("created_at"))
        if key not in have:
            have.add(key)
            todo.append(c)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for c in todo:
            cur = conn.execute(
                "INSERT INTO corrections (created_at, author, kind, start_ts, end_ts, value, "
                "target_ids, note, undone_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (c.get("created_at") or time.time(), str(c.get("author") or _author()),
                 c["kind"], c.get("start_ts"), c.get("end_ts"), c.get("value"),
                 json.dumps(list(c.get("target_ids") or [])), c.get("note"),
                 c.get("undone_at")))
            del cur
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(todo)
