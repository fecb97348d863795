"""The registry of skill specs: built-in skills plus any plugin modules.

Read by the engine, the CLI, the canvas and the workers. Extra specs come from modules
named in ``TRACKDESK_SKILL_MODULES`` (comma separated, each exposing ``SPECS``); the
user skills folder is added by :mod:`trackdesk.skills.user` when present.
"""

from __future__ import annotations

import importlib
import os

from trackdesk.tracks.spec import IMPORT_SPEC
from trackdesk.worker.spec import Param, SkillSpec

# Defaults shared between skills. travel.py's flight rule relies on transport_mode's
# gap (no mode segment spans a longer one); trips and the footprint totals measure
# distance with the same rule and limits, so every trip's km are in the totals.
TRACK_GAP_S = 600.0
TRAVEL_MAX_GAP_S = 4 * 3600.0
TRAVEL_MAX_SPEED_MPS = 350.0

DEFAULT_CHAIN = (
    "outlier_detection",
    "trajectory_completion",
    "transport_mode",
    "stay_detection",
    "trip_construction",
    "grid_system",
    "footprint_stats",
    "stay_stats",
    "rendering_metadata",
)

BUILTIN_SPECS: tuple[SkillSpec, ...] = (
    IMPORT_SPEC,
    SkillSpec(
        name="outlier_detection",
        version="1.0.0",
        title="Outlier detection",
        description="Flags (never deletes) points with impossible speed or acceleration, "
        "poor accuracy, there-and-back spikes or duplicate timestamps.",
        params=(
            Param("max_speed_mps", "float", 300.0, 1.0, 400.0, "m/s",
                  "Implied speed above which a point is an outlier"),
            Param("max_accel_mps2", "float", 30.0, 0.5, 200.0, "m/s²",
                  "Implied acceleration above which a point is an outlier"),
            Param("max_accuracy_m", "float", 200.0, 1.0, 10000.0, "m",
                  "Reported accuracy worse than this flags the point"),
            Param("spike_ratio", "float", 2.5, 1.2, 100.0, "",
                  "Detour/direct distance ratio of a there-and-back spike"),
            Param("spike_min_m", "float", 200.0, 10.0, 100000.0, "m",
                  "Minimum excursion of a spike"),
            Param("spike_min_speed_mps", "float", 15.0, 0.0, 1000.0, "m/s",
                  "A spike's legs are both at least this fast (a slow there-and-back "
                  "between rare fixes is a real walk)"),
        ),
        timeout_s=1800.0,
        retries=1,
        memory_mb=1024,
    ),
    SkillSpec(
        name="trajectory_completion",
        version="1.0.0",
        title="Trajectory completion",
        description="Fills short gaps between kept points with synthetic interpolated points.",
        upstream=("outlier_detection",),
        params=(
            Param("max_gap_s", "float", 600.0, 1.0, 86400.0, "s",
                  "Only gaps shorter than this are filled"),
            Param("min_gap_s", "float", 30.0, 1.0, 3600.0, "s",
                  "Gaps shorter than this need no filling"),
            Param("step_s", "float", 10.0, 1.0, 600.0, "s", "Spacing of synthetic points"),
            Param("max_gap_m", "float", 5000.0, 10.0, 1_000_000.0, "m",
                  "Gaps longer than this distance are not filled"),
            Param("min_gap_m", "float", 100.0, 0.0, 100_000.0, "m",
                  "Gaps shorter than this distance (standing still) are not filled"),
        ),
        timeout_s=1800.0,
        retries=1,
        memory_mb=1024,
    ),
    SkillSpec(
        name="transport_mode",
        version="1.11.0",
        title="Transport mode",
        description="Labels movement segments stationary, walk, bike, car, bus, train or "
        "plane; takes the user's labels and calibrates itself on them.",
        upstream=("trajectory_completion",),
        params=(
            Param("window_s", "float", 60.0, 5.0, 3600.0, "s",
                  "Speed is the displacement across this window (robust to GPS jitter)"),
            Param("min_segment_s", "float", 120.0, 10.0, 7200.0, "s",
                  "Labels are the majority within this span: shorter blips are absorbed"),
            Param("gap_s", "float", TRACK_GAP_S, 10.0, 86400.0, "s",
                  "A logging gap longer than this cuts the track"),
            Param("stationary_mps", "float", 0.5, 0.05, 5.0, "m/s", "Below: stationary"),
            Param("walk_max_mps", "float", 2.5, 0.5, 10.0, "m/s", "Below: walk"),
            Param("bike_max_mps", "float", 7.5, 1.0, 20.0, "m/s", "Below: bike"),
            Param("train_min_mps", "float", 42.0, 10.0, 150.0, "m/s",
                  "A motorised ride with no traffic stops whose 85th percentile speed "
                  "reaches this is a train (road traffic rarely holds ~150 km/h)"),
            Param("plane_min_mps", "float", 100.0, 40.0, 400.0, "m/s", "From here: plane"),
            Param("transit_stop_s", "float", 420.0, 0.0, 3600.0, "s",
                  "A stop up to this long between two motorised stretches is part of the "
                  "ride (a train at a station), not a stay"),
        ),
        timeout_s=1800.0,
        retries=1,
        memory_mb=1024,
    ),
    SkillSpec(
        name="stay_detection",
        version="2.1.0",
        title="Stay detection",
        description="Finds stays with a sliding window (distance and time thresholds).",
        upstream=("transport_mode",),
        params=(
            Param("dist_threshold_m", "float", 60.0, 5.0, 5000.0, "m",
                  "Points within this distance of the stay's first point belong to it "
                  "(trackintel: 100; 60 keeps the shop next door a visit of its own)"),
            Param("time_threshold_s", "float", 300.0, 10.0, 86400.0, "s",
                  "Minimum duration of a stay"),
            Param("gap_threshold_s", "float", 86400.0, 60.0, 7 * 86400.0, "s",
                  "A logging gap longer than this ends a stay"),
            Param("merge_back_to_back", "bool", True,
                  help="Join stays with no point between them and centres within the "
                  "distance threshold (off: exactly trackintel's sliding window)"),
            Param("departure_speed_mps", "float", 1.5, 0.0, 50.0, "m/s",
                  "A logging gap of over a minute before the first point away counts "
                  "as time at the stay only beyond going there at this speed (0: all "
                  "of it, as trackintel)"),
            Param("excursion_points", "int", 3, 0, 100, "",
                  "Up to this many stray fixes away from a stay (a jump, a Wi-Fi fix) "
                  "between its fixes, within 30 minutes, do not end it"),
            Param("excursion_s", "float", 180.0, 0.0, 3600.0, "s",
                  "A trip away that returns to the stay within this time does not end it"),
            Param("transit_wait_s", "float", 900.0, 0.0, 3600.0, "s",
                  "A stay reached on foot whose ride (a vehicle, or a bike after a walk) "
                  "starts within this time of its first fix is the wait for the ride "
                  "(part of the trip), not a stay"),
        ),
        timeout_s=1800.0,
        retries=1,
        memory_mb=1024,
    ),
    SkillSpec(
        name="trip_construction",
        version="1.4.0",
        title="Trip construction",
        description="Builds trips between stays with distance, duration and main mode.",
        upstream=("stay_detection",),
        params=(
            Param("min_distance_m", "float", 100.0, 0.0, 100000.0, "m",
                  "Trips shorter than this are dropped"),
            Param("max_gap_s", "float", TRAVEL_MAX_GAP_S, 600.0, 30 * 86400.0, "s",
                  "A logging gap longer than this ends a trip"),
            Param("max_speed_mps", "float", TRAVEL_MAX_SPEED_MPS, 10.0, 1000.0, "m/s",
                  "A step faster than this adds no distance (a jump, not travel)"),
        ),
        timeout_s=1800.0,
        retries=1,
        memory_mb=1024,
    ),
    SkillSpec(
        name="grid_system",
        version="1.0.0",
        title="Grid system",
        description="Assigns every kept point to a fine equal-area cell and aggregates "
        "coarser levels.",
        upstream=("trip_construction",),
        params=(
            Param("cell_size_m", "float", 100.0, 10.0, 10000.0, "m", "Finest cell edge"),
            Param("levels", "int", 7, 1, 16, "",
                  "Number of levels, each cell edge twice the one below"),
        ),
        timeout_s=1800.0,
        retries=1,
        memory_mb=1024,
    ),
    SkillSpec(
        name="footprint_stats",
        version="1.2.0",
        title="Footprint statistics",
        description="Explored area, distance and time per mode, per day, month and year.",
        upstream=("grid_system",),
        params=(
            Param("timezone", "str", "auto",
                  help="Days: 'auto' (each point's own zone, from its position), an IANA "
                  "zone for all, or 'local'"),
            Param("day_start_hour", "int", 0, 0, 23, "h",
                  "Local hour a day starts (4: a night out counts on the evening it began)"),
            Param("max_step_gap_s", "float", 600.0, 1.0, 86400.0, "s",
                  "Steps across a longer logging gap count as no moving time"),
            Param("place_radius_m", "float", 150.0, 10.0, 5000.0, "m",
                  "Place radius used for the home guess (as in stay_stats)"),
            # Distance: travel.py's rule with trip_construction's defaults, so that every
            # trip's km are in the totals (keep both skills' values equal).
            Param("max_gap_s", "float", TRAVEL_MAX_GAP_S, 600.0, 30 * 86400.0, "s",
                  "A step across a longer logging gap adds no distance (as trip_construction)"),
            Param("max_speed_mps", "float", TRAVEL_MAX_SPEED_MPS, 10.0, 1000.0, "m/s",
                  "A step faster than this adds no distance (as trip_construction)"),
        ),
        timeout_s=1800.0,
        retries=1,
        memory_mb=1024,
    ),
    SkillSpec(
        name="stay_stats",
        version="1.3.0",
        title="Stay statistics",
        description="Places (stays clustered within a radius), visits, dwell, home and work.",
        upstream=("grid_system",),
        params=(
            Param("place_radius_m", "float", 150.0, 10.0, 5000.0, "m",
                  "Stays within this radius form one place"),
            Param("timezone", "str", "auto",
                  help="Night/work hours: 'auto' (each stay's own zone, from its "
                  "position), an IANA zone for all, or 'local'"),
        ),
        timeout_s=1800.0,
        retries=1,
        memory_mb=512,
    ),
    SkillSpec(
        name="rendering_metadata",
        version="1.0.0",
        title="Rendering metadata",
        description="Bounds, simplified tracks per zoom level and cell aggregates for the map.",
        upstream=("footprint_stats", "stay_stats"),
        params=(
            Param("min_zoom", "int", 4, 0, 20, "", "Shallowest zoom level prepared"),
            Param("max_zoom", "int", 16, 0, 20, "", "Deepest zoom level prepared"),
            Param("break_gap_s", "float", 600.0, 1.0, 86400.0, "s",
                  "A logging gap longer than this breaks a drawn track"),
            Param("cell_px", "float", 8.0, 1.0, 256.0, "px",
                  "Heat-map cells are drawn at the coarsest level still under this size"),
        ),
        timeout_s=1800.0,
        retries=1,
        memory_mb=1024,
    ),
)


class UnknownSkillError(KeyError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return f"unknown skill {self.name!r} (known: {', '.join(self.known)})"


class SkillRegistry:
    """Name -> spec. Built-ins first; a plugin may not shadow a built-in."""

    def __init__(self, specs: tuple[SkillSpec, ...] | list[SkillSpec] = ()) -> None:
        self._specs: dict[str, SkillSpec] = {}
        # Broken user skills (trackdesk.skills.user.SkillProblem: file, line, reason).
        self.problems: list = []
        for spec in specs:
            self.add(spec)

    def add(self, spec: SkillSpec) -> None:
        existing = self._specs.get(spec.name)
        if existing is not None and existing.kind == "builtin" and spec.kind != "builtin":
            raise ValueError(f"skill {spec.name!r} clashes with a built-in skill")
        self._specs[spec.name] = spec

    def remove(self, name: str) -> None:
        self._specs.pop(name, None)

    def get(self, name: str) -> SkillSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownSkillError(name, sorted(self._specs)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def names(self) -> list[str]:
        return list(self._specs)

    def specs(self) -> list[SkillSpec]:
        return list(self._specs.values())


def load_registry(user_skills: bool = True) -> SkillRegistry:
    """Built-in specs, those of the modules named in TRACKDESK_SKILL_MODULES and the user
    skills folder's (broken user skills end up in ``registry.problems``, never raise)."""
    registry = SkillRegistry(BUILTIN_SPECS)
    for module_name in filter(None, os.environ.get("TRACKDESK_SKILL_MODULES", "").split(",")):
        module = importlib.import_module(module_name.strip())
        for spec in getattr(module, "SPECS", ()):
            registry.add(spec)
    if user_skills:
        from trackdesk.skills.user import reload_into

        reload_into(registry)
    return registry
