"""Vectorised geodesy shared by the analysis skills (numpy only).

Distances are great-circle (haversine) on a sphere of radius 6,371,000 m, the same
formula trackintel uses, so thresholds mean the same thing in both.
"""

from __future__ import annotations

import math
import mmap

import numpy as np

HUGE = 2 << 20  # bytes in a transparent huge page (x86-64, arm64 with 4 KB pages)

EARTH_RADIUS_M = 6_371_000.0
DEG = np.pi / 180.0

# bus last: indices of the older modes (stored nowhere, but used by tests) stay put.
MODES = ("stationary", "walk", "bike", "car", "train", "plane", "bus")
MODE_INDEX = {name: i for i, name in enumerate(MODES)}


def big_empty(n: int, dtype: type = np.float64) -> np.ndarray:
    """``np.empty(n, dtype)`` for arrays of many megabytes, on transparent huge pages.

    A fresh 4 KB page costs a page fault (~3 us in a VM); a million-point column is
    2,000 of them, more than the arithmetic on it. A private anonymous mapping with
    MADV_HUGEPAGE is faulted in 2 MB at a time (numpy's own advice only covers the
    aligned part of a heap block). Plain ``np.empty`` where that is not available.
    """
    size = n * np.dtype(dtype).itemsize
    if size < 2 * HUGE or not hasattr(mmap, "MADV_HUGEPAGE"):
        return np.empty(n, dtype)
    try:
        buf = mmap.mmap(-1, -(-size // HUGE) * HUGE,
                        flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        buf.madvise(mmap.MADV_HUGEPAGE)
    except (OSError, ValueError, AttributeError):
        return np.empty(n, dtype)
    return np.frombuffer(buf, dtype=dtype, count=n)


def haversine(lat1: np.ndarray | float, lon1: np.ndarray | float,
              lat2: np.ndarray | float, lon2: np.ndarray | float) -> np.ndarray:
    """Great-circle distance in metres between (lat1, lon1) and (lat2, lon2), degrees."""
    p1 = np.asarray(lat1, dtype=np.float64) * DEG
    p2 = np.asarray(lat2, dtype=np.float64) * DEG
    dphi = p2 - p1
    dlmb = (np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64)) * DEG
    a = np.sin(dphi * 0.5) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb * 0.5) ** 2
    # Clip: rounding can push a a hair above 1 for antipodal points.
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def haversine_one(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """:func:`haversine` for one pair of plain floats (a numpy call costs ~20x more)."""
    p1, p2 = lat1 * DEG, lat2 * DEG
    a = (math.sin((p2 - p1) * 0.5) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin((lon2 - lon1) * DEG * 0.5) ** 2)
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


class Local:
    """Many short distances at little cost: equirectangular at the first point's latitude.

    One cosine per point, then each distance is a few multiplications and a square root.
    For the steps and windows the skills measure (metres to a few kilometres) it agrees
    with :func:`haversine` to better than 0.01 %; decisions that must match trackintel to
    the centimetre (stay_detection's threshold) use the exact formula near the threshold.
    """

    K = EARTH_RADIUS_M * DEG

    def __init__(self, lat: np.ndarray, lon: np.ndarray) -> None:
        self.lat = lat
        self.lon = lon
        self.coslat = np.cos(lat * DEG)

    def dist(self, i: np.ndarray | slice, j: np.ndarray | slice) -> np.ndarray:
        dlat = self.lat[j] - self.lat[i]
        dlon = self.lon[j] - self.lon[i]
        if len(dlon) and np.abs(dlon).max() > 180.0:
            # The short way round across the antimeridian.
            dlon = (dlon + 180.0) % 360.0 - 180.0
        dx = self.coslat[i] * dlon
        return self.K * np.sqrt(dlat * dlat + dx * dx)

    def steps(self) -> np.ndarray:
        """Distance from each point to the next (length n-1)."""
        n = len(self.lat)
        if n < 2:
            return np.zeros(0)
        return self.dist(slice(0, n - 1), slice(1, n))


def step_distances(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Distance from each point to the next one (length n-1)."""
    return Local(lat, lon).steps()


def segment_sums(values: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Sum of ``values[starts[k]:stops[k]]`` for each k (slices in order, non-overlapping).

    Each slice is reduced on its own (``np.add.reduceat``, not differences of a running
    total), so a sum only depends on the values in its slice: an incremental run that
    sees a different prefix gets bit-identical sums.
    """
    starts = np.asarray(starts, dtype=np.int64)
    stops = np.asarray(stops, dtype=np.int64)
    out = np.zeros(len(starts), dtype=np.float64)
    nonempty = stops > starts
    if not nonempty.any() or len(values) == 0:
        return out
    a = starts[nonempty]
    b = stops[nonempty]
    # reduceat sums values[a[i]:a[i+1]]; pad a boundary after each slice so gaps between
    # slices (values that belong to no slice) stay out.
    idx = np.empty(2 * len(a), dtype=np.int64)
    idx[0::2] = a
    padded = np.append(values, 0.0)
    idx[1::2] = b
    sums = np.add.reduceat(padded, idx)[0::2]
    out[nonempty] = sums
    return out


def segment_percentile(values: np.ndarray, starts: np.ndarray, stops: np.ndarray,
                       q: float) -> np.ndarray:
    """Linear-interpolated ``q`` quantile (0..1) of each slice (numpy's default method).

    Deterministic: the two order statistics come from a partition (large slices) or one
    lexsort over all small slices together, and are blended with the same formula.
    """
    starts = np.asarray(starts, dtype=np.int64)
    stops = np.asarray(stops, dtype=np.int64)
    m = stops - starts
    out = np.zeros(len(starts), dtype=np.float64)
    if len(starts) == 0:
        return out
    pos = q * np.maximum(m - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(m - 1, 0))
    frac = pos - lo
    big = np.flatnonzero(m > 64)
    for k in big.tolist():
        part = np.partition(values[starts[k]:stops[k]], (lo[k], hi[k]))
        xl, xh = part[lo[k]], part[hi[k]]
        out[k] = xl + (xh - xl) * frac[k]
    small = np.flatnonzero((m > 0) & (m <= 64))
    if len(small):
        sm = m[small]
        seg = np.repeat(np.arange(len(small)), sm)
        flat = values[_ranges(starts[small], stops[small])]
        x = flat[np.lexsort((flat, seg))]
        off = np.concatenate([[0], np.cumsum(sm)[:-1]])
        xl = x[off + lo[small]]
        xh = x[off + hi[small]]
        out[small] = xl + (xh - xl) * frac[small]
    return out


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Concatenation of arange(starts[k], stops[k]) for all k, vectorised."""
    m = stops - starts
    total = int(m.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    base = np.repeat(starts - np.concatenate([[0], np.cumsum(m)[:-1]]), m)
    return base + np.arange(total)
