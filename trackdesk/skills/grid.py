"""The equal-area band grid used by grid_system, footprint_stats and rendering_metadata.

Why not H3: it needs a compiled library the worker image does not have. This grid is
plain arithmetic, exactly hierarchical and nearly equal-area:

* Level 0 rows are bands ``dlat = cell_size_m / 111,195 m`` degrees high.
* The globe is cut into *top bands* of ``2**top_level`` rows. Each top band gets
  ``n_cols = round(circumference at its centre latitude / top cell size)`` columns, and
  level k splits that into ``n_cols * 2**(top_level - k)`` columns. So the cell of a point
  at level k is ``(row0 >> k, col0 >> k)``: exact nesting by bit shifts.
* Within one top band (6.4 km high for 100 m cells at top_level 6) the cells keep the
  width they have at its centre, so cells are square there and their area varies by the
  cosine across the band: under 0.2 % at 50 degrees latitude. Across bands the error is
  the rounding of ``n_cols``, negligible for thousands of columns.

Cell id: ``level << 58 | row << 29 | col`` (rows < 2**29 and columns < 2**29 down to
1 m cells). The ``point_analysis`` view computes a point's level-0 cell in SQL with the
same float operations, from ``grid_params`` and ``grid_bands``, so no per-point rows are
stored.
"""

from __future__ import annotations

import numpy as np

from trackdesk.skills.geo import DEG, EARTH_RADIUS_M

ROW_SHIFT = 29
LEVEL_SHIFT = 58
MASK29 = (1 << 29) - 1


class Grid:
    def __init__(self, cell_size_m: float, top_level: int) -> None:
        self.cell_size_m = float(cell_size_m)
        self.top_level = int(top_level)
        self.dlat = self.cell_size_m / (EARTH_RADIUS_M * DEG)
        top_h = self.dlat * (1 << self.top_level)
        n_bands = int(np.floor(180.0 / top_h)) + 1
        centre = -90.0 + (np.arange(n_bands) + 0.5) * top_h
        circ = 2 * np.pi * EARTH_RADIUS_M * np.cos(np.clip(centre, -90, 90) * DEG)
        top_size = self.cell_size_m * (1 << self.top_level)
        self.n_cols = np.maximum(1, np.round(np.maximum(circ, 0) / top_size)).astype(np.int64)

    def level0(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row0, col0) of each point; the same float operations as the SQL view."""
        row0 = ((lat + 90.0) / self.dlat).astype(np.int64)
        band = np.minimum(row0 >> self.top_level, len(self.n_cols) - 1)
        ncols0 = self.n_cols[band] << self.top_level
        col0 = np.minimum(((lon + 180.0) / 360.0 * ncols0.astype(np.float64)).astype(np.int64),
                          ncols0 - 1)
        return row0, col0

    @staticmethod
    def cell_id(level: int, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        return (np.int64(level) << LEVEL_SHIFT) | (row << ROW_SHIFT) | col

    @staticmethod
    def split(cell: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return cell >> LEVEL_SHIFT, (cell >> ROW_SHIFT) & MASK29, cell & MASK29

    def centres(self, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        level, row, col = self.split(cell)
        lat = -90.0 + (row + 0.5) * self.dlat * (1 << level).astype(np.float64)
        band = np.minimum(row >> (self.top_level - level), len(self.n_cols) - 1)
        ncols = self.n_cols[band] << (self.top_level - level)
        lon = -180.0 + (col + 0.5) * 360.0 / ncols
        return lat, lon

    def cell_area_km2(self, level: int = 0) -> float:
        side = self.cell_size_m * (1 << level)
        return side * side / 1e6
