"""Names for places, offline: the user's own data first, else a gazetteer.

Order, per place:
1. the user's ``rename_place`` correction of the place (``trackdesk correct rename-place``);
2. the user's own imported names: ``annotations`` of kind ``place`` (Google place visits)
   that overlap one of the place's stays in time or lie within the place's radius + 100 m,
   the most often seen value winning (ties: the longest total time);
3. the nearest GeoNames place (towns and districts of 1,000 people and more, package
   ``reverse-geocode``) as the name.
The locality is always that nearest GeoNames town (the "city" of the countries-and-cities
statistics), so a café named by the user still counts for its town.
The country is the Natural Earth boundary that holds the place (ISO alpha-2), else the
gazetteer's. ``semantic`` annotations (HOME, WORK...) never replace a name: home and work
keep their ``label`` beside it.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MATCH_EXTRA_M = 100.0  # a Google place visit's own position is its venue, not our centre


@dataclass(frozen=True)
class PlaceName:
    name: str
    locality: str
    country_code: str
    source: str        # 'correction' | 'annotation' | 'gazetteer' | 'country'


def _table_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _corrections(conn: sqlite3.Connection) -> dict[int, str]:
    """place id -> the name the user gave it (``trackdesk correct rename-place``, the
    latest in force wins; an undone one counts no more)."""
    cols = _table_columns(conn, "corrections")
    if not {"kind", "value", "target_ids", "undone_at"} <= cols:
        return {}
    out: dict[int, str] = {}
    for value, ids in conn.execute(
            "SELECT value, target_ids FROM corrections WHERE kind = 'rename_place' "
            "AND undone_at IS NULL AND value IS NOT NULL AND value != '' ORDER BY id"):
        try:
            targets = json.loads(ids or "[]")
        except ValueError:
            continue
        for place_id in targets:
            out[int(place_id)] = str(value)
    return out


def _annotation_names(conn: sqlite3.Connection, places: Sequence[tuple]) -> dict[int, str]:
    """place id -> most frequent matching annotation name."""
    if not _table_columns(conn, "annotations"):
        return {}
    ann = conn.execute("SELECT start_ts, end_ts, value, lat, lon FROM annotations "
                       "WHERE kind = 'place' AND value != '' ORDER BY start_ts").fetchall()
    if not ann:
        return {}
    from trackdesk.skills.geo import haversine

    a_start = np.array([a[0] for a in ann], dtype=np.float64)
    a_end = np.array([a[1] for a in ann], dtype=np.float64)
    a_lat = np.array([np.nan if a[3] is None else a[3] for a in ann], dtype=np.float64)
    a_lon = np.array([np.nan if a[4] is None else a[4] for a in ann], dtype=np.float64)
    stays: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for pid, s, e in conn.execute("SELECT ps.place_id, s.start_ts, s.end_ts FROM place_stays ps "
                                  "JOIN stay_detections s ON s.id = ps.stay_id"):
        stays[int(pid)].append((float(s), float(e)))
    out: dict[int, str] = {}
    for pid, lat, lon, radius in places:
        score: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        with np.errstate(invalid="ignore"):
            near = haversine(a_lat, a_lon, lat, lon) <= radius + MATCH_EXTRA_M
        for k in np.nonzero(near)[0].tolist():
            score[ann[k][2]][0] += 1
            score[ann[k][2]][1] += a_end[k] - a_start[k]
        for s, e in stays.get(int(pid), ()):
            hit = np.nonzero((a_start < e) & (a_end > s) & ~near)[0]
            for k in hit.tolist():
                score[ann[k][2]][0] += 1
                score[ann[k][2]][1] += min(e, a_end[k]) - max(s, a_start[k])
        if score:
            out[int(pid)] = max(score.items(), key=lambda kv: (kv[1][0], kv[1][1], kv[0]))[0]
    return out


_GEOCODE_DATA: Any = None


SAME_SPOT_M = 300.0  # a place this close to its town's point is just the town
# A place this far from the nearest town of 1,000 people is not "in" it: it gets where it
# lies from the town even when no other place shares the name (a mountain hut, a ship).
FAR_TOWN_M = 10_000.0
# Beyond this from any country's boundary (Natural Earth, see World.country_at) and from
# the nearest town, a place is at sea: it has no country (territorial waters end at 12
# nautical miles, 22 km), rather than the country of a town 150 km across the water.
OFFSHORE_M = 33_000.0
COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def _set_apart(out: dict[int, PlaceName], places: Sequence[tuple],
               nearest: dict[int, dict]) -> None:
    """Gazetteer names that several places share get where they lie from the town: three
    places all called "Haidian" become "Haidian", "Haidian, 1.2 km NE" and "Haidian,
    3.4 km W" (a list of top places cannot otherwise be told apart). So does a place
    alone under its name but more than FAR_TOWN_M from the town ("Jijel, 156.4 km N" for
    a ship's stay at sea, not "Jijel"). Names from the user are left as they are."""
    from trackdesk.skills.geo import haversine_one

    count: dict[str, int] = defaultdict(int)
    for n in out.values():
        if n.source == "gazetteer":
            count[n.name] += 1
    for pid, lat, lon, _radius in places:
        pid = int(pid)
        n, hit = out[pid], nearest.get(pid)
        if n.source != "gazetteer" or hit is None:
            continue
        tlat, tlon = float(hit["latitude"]), float(hit["longitude"])
        d = haversine_one(tlat, tlon, float(lat), float(lon))
        if d <= SAME_SPOT_M or (count[n.name] < 2 and d <= FAR_TOWN_M):
            continue
        east = (float(lon) - tlon) * float(np.cos(np.radians(tlat)))
        bearing = (np.degrees(np.arctan2(east, float(lat) - tlat)) + 360.0) % 360.0
        where = COMPASS[int((bearing + 22.5) // 45.0) % 8]
        out[pid] = PlaceName(f"{n.name}, {d / 1000.0:.1f} km {where}", n.locality,
                             n.country_code, n.source)


class Gazetteer:
    """Nearest GeoNames place. Loading costs about a second: once per process, and
    before the skill's write transaction (``warm_up``), never while it holds the lock."""

    def __init__(self) -> None:
        global _GEOCODE_DATA
        if _GEOCODE_DATA is None:
            import reverse_geocode  # GeoNames cities1000 (CC BY 4.0), a KD-tree over them

            _GEOCODE_DATA = reverse_geocode.GeocodeData()
        self._data = _GEOCODE_DATA

    def nearest(self, coords: list[tuple[float, float]]) -> list[dict]:
        return self._data.query(coords) if coords else []


# The gazetteer is asked about the centre of each place's 0.001° cell (~110 m), and the
# answer is remembered in tracks.db (skill_inputs, TOWNS_KEY): loading GeoNames costs
# 1.4 s, most of an INCREMENTAL stay_stats run, while a place's centre moves by metres as
# stays join it. Asking at the cell centre keeps the name a function of where the place
# is, whatever was remembered, so INCREMENTAL still equals FULL_RECOMPUTE.
TOWN_CELL_DIGITS = 3
TOWNS_KEY = "geodata#towns"
_TOWN_FIELDS = ("city", "country_code", "latitude", "longitude")


def _town_cell(lat: float, lon: float) -> tuple[float, float]:
    return round(float(lat), TOWN_CELL_DIGITS), round(float(lon), TOWN_CELL_DIGITS)


def _town_key(cell: tuple[float, float]) -> str:
    return f"{cell[0]:.{TOWN_CELL_DIGITS}f},{cell[1]:.{TOWN_CELL_DIGITS}f}"


def _known_towns(conn: sqlite3.Connection) -> dict[str, dict]:
    try:
        row = conn.execute("SELECT fingerprint FROM skill_inputs WHERE skill = ?",
                           (TOWNS_KEY,)).fetchone()
        return dict(json.loads(row[0])) if row else {}
    except (sqlite3.Error, ValueError, TypeError):  # an older tracks.db, or a damaged row
        return {}


def towns_known(conn: sqlite3.Connection, coords: Sequence[tuple[float, float]]) -> bool:
    """Whether every coordinate's town is remembered (naming them needs no gazetteer)."""
    known = _known_towns(conn)
    return all(_town_key(_town_cell(lat, lon)) in known for lat, lon in coords)


def nearest_towns(conn: sqlite3.Connection, coords: Sequence[tuple[float, float]]
                  ) -> list[dict]:
    """The nearest GeoNames town of each coordinate's cell; new answers are remembered
    (within the caller's transaction; a read-only connection just does not remember)."""
    cells = [_town_cell(lat, lon) for lat, lon in coords]
    keys = [_town_key(c) for c in cells]
    known = _known_towns(conn)
    missing = sorted({(k, c) for k, c in zip(keys, cells, strict=True) if k not in known})
    if missing:
        hits = Gazetteer().nearest([c for _k, c in missing])
        for (k, _c), hit in zip(missing, hits, strict=True):
            known[k] = {f: hit[f] for f in _TOWN_FIELDS}
        try:
            conn.execute("INSERT OR REPLACE INTO skill_inputs (skill, fingerprint) "
                         "VALUES (?, ?)", (TOWNS_KEY, json.dumps(known, sort_keys=True)))
        except sqlite3.Error:
            pass
    return [known[k] for k in keys]


def warm_up(conn: sqlite3.Connection | None = None,
            places: Sequence[tuple] = ()) -> None:
    """Load the world boundaries, and the gazetteer (about a second) unless the towns of
    all ``places`` (id, lat, lon, ...) are remembered in ``conn``, so that naming inside a
    write transaction only queries them."""
    from trackdesk.geodata.world import load_world

    load_world()
    if conn is None or not towns_known(conn, [(p[1], p[2]) for p in places]):
        Gazetteer()


def _near_town(hit: dict | None, lat: float, lon: float) -> bool:
    """Whether the gazetteer's town is near enough to lend its country (see OFFSHORE_M)."""
    if hit is None:
        return False
    from trackdesk.skills.geo import haversine_one

    return haversine_one(float(hit["latitude"]), float(hit["longitude"]), float(lat),
                         float(lon)) <= OFFSHORE_M


def name_places(conn: sqlite3.Connection, places: Sequence[tuple]) -> dict[int, PlaceName]:
    """Names for ``places`` given as (id, lat, lon, radius_m) rows."""
    if not places:
        return {}
    corrected = _corrections(conn)
    annotated = _annotation_names(conn, places)
    from trackdesk.geodata.world import load_world

    world = load_world()
    # Every place's town (also a user-named one's: its locality), in one lookup.
    towns = dict(zip((int(p[0]) for p in places),
                     nearest_towns(conn, [(p[1], p[2]) for p in places]), strict=True))
    out: dict[int, PlaceName] = {}
    for pid, lat, lon, _radius in places:
        pid = int(pid)
        country = world.country_at(lat, lon)
        hit = towns.get(pid)
        # Beyond OFFSHORE_M the town says where the place lies from, but the place is not
        # in it: no locality (the cities statistics count no town for it), no country.
        near = _near_town(hit, lat, lon)
        locality = hit["city"] if near else ""
        code = country.code if country is not None and country.code else (
            hit["country_code"] if near else "")
        if pid in corrected:
            out[pid] = PlaceName(corrected[pid], locality, code, "correction")
        elif pid in annotated:
            out[pid] = PlaceName(annotated[pid], locality, code, "annotation")
        elif hit is not None:
            out[pid] = PlaceName(hit["city"], locality, code, "gazetteer")
        else:
            out[pid] = PlaceName(country.name if country else "", "", code, "country")
    _set_apart(out, places, towns)
    return out


def write_place_names(conn: sqlite3.Connection) -> int:
    """Fill places.name, locality and country_code from ``name_places``; returns how many."""
    rows = conn.execute("SELECT id, lat, lon, radius_m FROM places ORDER BY id").fetchall()
    names = name_places(conn, rows)
    conn.executemany("UPDATE places SET name = ?, locality = ?, country_code = ? WHERE id = ?",
                     [(n.name, n.locality, n.country_code, pid) for pid, n in names.items()])
    return len(names)
