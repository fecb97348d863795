"""What counts as distance travelled: one rule for trips and for the footprint totals.

A step between two consecutive kept points adds its length to the mode of the later
point when all of these hold:

* that mode moves (standing still covers no distance: the steps between the fixes of a
  stay are GPS jitter, which over months adds up to thousands of phantom kilometres);
* the two fixes are at most ``max_gap_s`` apart (what happened in a longer logging gap is
  unknown; a shorter one with the person somewhere else is travel, such as a flight with
  no fix in the air);
* the implied speed is at most ``max_speed_mps`` (a jump of the fix, not travel).

trip_construction measures each trip with it and footprint_stats the days, months, years
and the total, with the same defaults: every trip's kilometres are in the total, per mode
too, so the longest trip can never be longer than the distance travelled (issue 20).
Standard library and numpy only: the workers import it.
"""

from __future__ import annotations

import numpy as np

from trackdesk.skills.geo import Local

MAX_GAP_S = 4 * 3600.0  # the defaults of both skills' max_gap_s and max_speed_mps
MAX_SPEED_MPS = 350.0


def travel_steps(ts: np.ndarray, lat: np.ndarray, lon: np.ndarray, modes: np.ndarray,
                 max_gap_s: float, max_speed_mps: float) -> np.ndarray:
    """Metres travelled into each point from the one before it (0 for the first).

    ``modes``: mode index per point (0 stationary, -1 unknown: both add nothing)."""
    n = len(ts)
    out = np.zeros(n)
    if n < 2:
        return out
    steps = Local(lat, lon).steps()
    dts = np.diff(ts)
    with np.errstate(invalid="ignore"):
        ok = (dts <= max_gap_s) & (steps <= max_speed_mps * np.maximum(dts, 1e-9)) \
            & (modes[1:] > 0)
    out[1:] = np.where(ok, steps, 0.0)
    return out
