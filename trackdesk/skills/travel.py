"""What counts as distance travelled: one rule for trips and for the footprint totals.

A step between two consecutive kept points adds its length to the mode of the later
point when all of these hold:

* that mode moves (standing still covers no distance: the steps between the fixes of a
  stay are GPS jitter, which over months adds up to thousands of phantom kilometres);
* the two fixes are at most ``max_gap_s`` apart (what happened in a longer logging gap is
  unknown; a shorter one with the person somewhere else is travel, such as a flight with
  no fix in the air);
* the implied speed is at most ``max_speed_mps`` (a jump of the fix, not travel).

A step across a logging gap (more than ``GAP_S`` between the fixes) that averaged more
than ``GAP_PLANE_MPS`` was a flight, whatever the first fix after landing looks like
(standing at the belt, a taxi read as a bike): it counts, as plane. Without this, a
1,270 km flight with no fix in the air went to "bike" in the totals.

trip_construction measures each trip with it and footprint_stats the days, months, years
and the total, with the same defaults: every trip's kilometres are in the total, per mode
too, so the longest trip can never be longer than the distance travelled (issue 20).
Standard library and numpy only: the workers import it.
"""

from __future__ import annotations

import numpy as np

from trackdesk.skills.geo import MODE_INDEX, Local
from trackdesk.skills.registry import TRACK_GAP_S as GAP_S  # transport_mode's gap_s

GAP_PLANE_MPS = 75.0  # 270 km/h on average across a gap: no timetable's train or car
PLANE = MODE_INDEX["plane"]
TRAIN = MODE_INDEX["train"]
MOTORISED = tuple(MODE_INDEX[m] for m in ("car", "train", "plane", "bus"))  # a vehicle already
# A fix lost for a while and found again far away, faster than anyone walks: the person
# rode underground (a subway, a tunnel; stay_detection drops the wait before it). The
# first fix after it is often walking out of the station; crediting the ride's kilometres
# to that walk made a subway trip a "walk" trip.
UNDERGROUND_MIN_S = 60.0
UNDERGROUND_MAX_S = 1800.0
UNDERGROUND_MIN_M = 1000.0
UNDERGROUND_MPS = 7.5
BIKE = MODE_INDEX["bike"]
BIKE_GAP_MPS = 12.0  # a cyclist who lost the fix: their own ride, unless faster than this


def travel_steps(ts: np.ndarray, lat: np.ndarray, lon: np.ndarray, modes: np.ndarray,
                 max_gap_s: float, max_speed_mps: float, steps: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Metres travelled into each point from the one before it (0 for the first), and
    the mode index each step's metres count for (the later point's, or plane for a
    flight across a gap).

    ``modes``: mode index per point (0 stationary, -1 unknown: both add nothing);
    ``steps``: ``Local(lat, lon).steps()`` when the caller has it already."""
    n = len(ts)
    out = np.zeros(n)
    step_modes = np.where(modes < 0, 0, modes).astype(np.int64)
    if n < 2:
        return out, step_modes
    if steps is None:
        steps = Local(lat, lon).steps()
    dts = np.diff(ts)
    with np.errstate(invalid="ignore", divide="ignore"):
        fine = (dts <= max_gap_s) & (steps <= max_speed_mps * np.maximum(dts, 1e-9))
        flight = fine & (dts > GAP_S) & (steps > GAP_PLANE_MPS * dts)
    step_modes[1:][flight] = PLANE
    before = step_modes[:-1].copy()
    later = step_modes[1:]
    ride = (fine & ~flight & (dts >= UNDERGROUND_MIN_S) & (dts <= UNDERGROUND_MAX_S)
            & (steps >= UNDERGROUND_MIN_M) & (steps > UNDERGROUND_MPS * dts)
            & ~np.isin(later, MOTORISED) & (before != PLANE)  # (a landing is not a ride)
            & ~(((before == BIKE) | (later == BIKE)) & (steps <= BIKE_GAP_MPS * dts)))
    # The ride's mode: the vehicle the person was in just before, else a train.
    step_modes[1:][ride] = np.where(np.isin(before[ride], MOTORISED), before[ride], TRAIN)
    ok = fine & (step_modes[1:] > 0)
    out[1:] = np.where(ok, steps, 0.0)
    return out, step_modes
