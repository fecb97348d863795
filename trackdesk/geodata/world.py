"""The shipped world file: Natural Earth countries and land, GeoNames' larger cities.

``resources/naturalearth/world.json.gz`` is built by ``scripts/build_basemap_data.py``
(docs/DEPENDENCIES.md says what it holds and its licences). Coordinates are integers in
1/``step`` degree; polygons are lists of rings, the first the outer one.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np


def world_path() -> Path:
    from trackdesk.resources import resource

    return resource("naturalearth", "world.json.gz")


@dataclass
class Country:
    code: str                       # ISO 3166-1 alpha-2 ('' where Natural Earth has none)
    name: str
    rings: list[list[np.ndarray]]   # polygons, each [outer, holes...] as (n, 2) lon/lat
    bbox: np.ndarray                # (n_polygons, 4): min_lon, min_lat, max_lon, max_lat


@dataclass
class World:
    countries: list[Country]
    land: list[list[np.ndarray]]
    cities: list[tuple[str, float, float, int, str]]  # name, lat, lon, population, code

    def country_at(self, lat: float, lon: float) -> Country | None:
        """The country whose boundary holds (lat, lon), else the nearest within ~30 km
        (a stay on a pier or a beach lies just outside the 1:50m coastline)."""
        best: tuple[float, Country] | None = None
        for c in self.countries:
            b = c.bbox
            near = ((b[:, 0] - 0.3 <= lon) & (lon <= b[:, 2] + 0.3)
                    & (b[:, 1] - 0.3 <= lat) & (lat <= b[:, 3] + 0.3))
            for k in np.nonzero(near)[0].tolist():
                poly = c.rings[k]
                if _inside(lon, lat, poly[0]) and not any(_inside(lon, lat, h)
                                                          for h in poly[1:]):
                    return c
                d = _ring_distance_deg(lon, lat, poly[0])
                if d <= 0.3 and (best is None or d < best[0]):
                    best = (d, c)
        return best[1] if best else None


def _inside(x: float, y: float, ring: np.ndarray) -> bool:
    """Even-odd rule on one ring (vectorised over its edges)."""
    x1, y1 = ring[:, 0], ring[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    cross = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = (x2 - x1) * (y - y1) / (y2 - y1) + x1
    return bool(np.count_nonzero(cross & (x < xi)) % 2)


def _ring_distance_deg(x: float, y: float, ring: np.ndarray) -> float:
    """Distance in (roughly isotropic) degrees from a point to a ring's vertices."""
    scale = max(np.cos(np.radians(y)), 0.05)
    d2 = ((ring[:, 0] - x) * scale) ** 2 + (ring[:, 1] - y) ** 2
    return float(np.sqrt(d2.min()))


def _rings(flat_rings: list[list[int]], step: float) -> list[np.ndarray]:
    return [_unwrapped(np.asarray(r, dtype=np.float64).reshape(-1, 2) / step)
            for r in flat_rings]


def _unwrapped(ring: np.ndarray) -> np.ndarray:
    """The ring with longitudes made continuous where it crosses the antimeridian.

    Natural Earth cuts nothing there: Russia's (and Fiji's) rings step from +180 to -180
    and back. Drawn or tested as they are, those two steps are edges across the whole
    world (a band over the map at 65-72 N; a country lookup wrong along it). A ring that
    steps across an even number of times is moved back by 360 degrees where it crossed;
    a single step (Antarctica's, along the pole) closes the ring and stays."""
    jumps = np.diff(ring[:, 0])
    cross = np.abs(jumps) > 180.0
    if not cross.any() or np.count_nonzero(cross) % 2:
        return ring
    shift = np.concatenate([[0.0], np.cumsum(np.where(cross, -360.0 * np.sign(jumps), 0.0))])
    out = ring.copy()
    out[:, 0] += shift
    return out


def _with_copies(polys: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """Each polygon, plus its copy one turn west or east when it reaches past +-180 (the
    part of Chukotka east of the antimeridian shows, and holds its points, at -170)."""
    out = list(polys)
    for poly in polys:
        lon = poly[0][:, 0]
        for turn in ((-360.0,) if lon.max() > 180.0 else ()) + \
                ((360.0,) if lon.min() < -180.0 else ()):
            out.append([r + np.array([turn, 0.0]) for r in poly])
    return out


@lru_cache(maxsize=2)
def load_world(path: str | None = None) -> World:
    """Parsed once per process (about 0.3 s, 0.7 MB on disk)."""
    doc = json.loads(gzip.decompress(Path(path or world_path()).read_bytes()))
    step = float(doc["step"])
    countries = []
    for c in doc["countries"]:
        polys = _with_copies([_rings(p, step) for p in c["polys"]])
        bbox = np.array([[p[0][:, 0].min(), p[0][:, 1].min(), p[0][:, 0].max(),
                          p[0][:, 1].max()] for p in polys])
        countries.append(Country(c["cc"], c["name"], polys, bbox))
    land = _with_copies([_rings(p, step) for p in doc["land"]])
    cities = [(n, float(a), float(o), int(pop), cc) for n, a, o, pop, cc in doc["cities"]]
    return World(countries, land, cities)
