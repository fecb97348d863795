"""The user's own labels and corrections as the analysis skills read them.

Two sources, both in tracks.db and never changed by a skill:

* ``annotations`` (shared schema): activity labels that came with imported data (Google
  activity segments, GeoLife labels, ...) and the user's own (source ``user``).
* ``corrections``: what the user said about the results ("this was a train", merge
  these stays, this point is wrong, ...). An undone correction keeps its row with
  ``undone_at`` set: the history stays, the effect goes.

Each skill that uses them fingerprints the rows it reads (:func:`fingerprint`); when the
fingerprint differs from its last run's, that run recomputes in full (see
``store.SkillRun.plan``), so INCREMENTAL still equals FULL_RECOMPUTE after any edit.

Plain sqlite3 and the standard library: workers run this in a slim container.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass

from trackdesk.skills.geo import MODES

# What a correction can say, and which skill applies it: the corrections table's own
# vocabulary, kept by its owner (stdlib only, so the workers import it too).
from trackdesk.tracks.corrections import KINDS

# Skills that read another skill's corrections too (their fingerprint includes them).
ALSO_READS = {
    "footprint_stats": ("merge_places",),  # its home guess is stay_stats' (places.py)
}


@dataclass(frozen=True)
class Correction:
    id: int
    kind: str
    start_ts: float | None
    end_ts: float | None
    value: str | None
    target_ids: tuple[int, ...]


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                        (name,)).fetchone() is not None


def active_corrections(conn: sqlite3.Connection, kinds: tuple[str, ...]) -> list[Correction]:
    """The corrections of ``kinds`` in force (not undone), oldest first: a later one
    wins where two disagree."""
    if not kinds or not _has_table(conn, "corrections"):
        return []
    marks = ",".join("?" * len(kinds))
    rows = conn.execute(
        f"SELECT id, kind, start_ts, end_ts, value, target_ids FROM corrections "
        f"WHERE undone_at IS NULL AND kind IN ({marks}) ORDER BY id", kinds).fetchall()
    out = []
    for r in rows:
        try:
            ids = tuple(int(x) for x in json.loads(r[5] or "[]"))
        except (ValueError, TypeError):
            ids = ()
        out.append(Correction(int(r[0]), r[1], r[2], r[3], r[4], ids))
    return out


def activity_labels(conn: sqlite3.Connection) -> list[tuple[float, float, str]]:
    """(start_ts, end_ts, mode) of every activity label, annotations first and the
    user's mode corrections after them (so a correction overrides an imported label)."""
    out: list[tuple[float, float, str]] = []
    if _has_table(conn, "annotations"):
        for s, e, v in conn.execute(
                "SELECT start_ts, end_ts, value FROM annotations WHERE kind = 'activity' "
                "ORDER BY start_ts, id"):
            if v in MODES and s is not None and e is not None and e >= s:
                out.append((float(s), float(e), v))
    for c in active_corrections(conn, ("mode",)):
        if c.value in MODES and c.start_ts is not None and c.end_ts is not None:
            out.append((float(c.start_ts), float(c.end_ts), c.value))
    return out


def fingerprint(conn: sqlite3.Connection, skill: str) -> str:
    """A digest of everything of the user's that ``skill`` reads (empty: nothing)."""
    kinds = tuple(k for k, s in KINDS.items() if s == skill) + ALSO_READS.get(skill, ())
    parts: list = [[c.id, c.kind, c.start_ts, c.end_ts, c.value, list(c.target_ids)]
                   for c in active_corrections(conn, kinds)]
    if skill == "transport_mode" and _has_table(conn, "annotations"):
        parts.append(conn.execute(
            "SELECT COUNT(*), COALESCE(MAX(id), 0), COALESCE(SUM(start_ts), 0), "
            "COALESCE(SUM(end_ts), 0), COALESCE(SUM(LENGTH(value)), 0) FROM annotations "
            "WHERE kind = 'activity'").fetchone())
        if parts[-1][0] == 0:
            parts.pop()
    if not parts:
        return ""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]
