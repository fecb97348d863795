"""The ``import`` task's spec: its parameters and how the engine runs it.

Here, beside the import worker that validates its parameters against it, rather than in
the skill registry: the tracks package never imports trackdesk.skills (tests/test_layers.py).
The registry lists it first among the built-in specs. Standard library only (the registry,
and with it this module, is read by every worker, in a container too).
"""

from __future__ import annotations

from trackdesk.worker.spec import Param, SkillSpec

IMPORT_SPEC = SkillSpec(
    name="import",
    version="1.0.0",
    title="Import tracks",
    description="Reads track files (GPX, KML, GeoJSON, CSV, Google exports, FIT...) "
    "into the points table, atomically and without duplicates.",
    params=(
        Param("paths", "str", "[]", help="JSON list of files, folders or zips"),
        Param("gcj02", "bool", False, help="Convert GCJ-02 coordinates to WGS-84"),
        Param("time_column", "str", "", help="CSV: the time column's name (overrides "
              "detection)"),
        Param("lat_column", "str", "", help="CSV: the latitude column's name"),
        Param("lon_column", "str", "", help="CSV: the longitude column's name"),
    ),
    module="trackdesk.tracks.worker",
    docker=False,
    memory_mb=512,
    stuck_after_s=600.0,
)
