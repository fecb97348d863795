"""The place-naming step of stay_stats: names, countries and time zones, all offline.

Called where ``places`` is written, inside the same transaction. The work lives in
:mod:`trackdesk.geodata` (also used by the views and the CLI); this step only decides what
to do when a worker lacks that data: a worker image that was built without the gazetteer
packages or the shipped world file leaves names and zones empty and says so in the task's
summary instead of failing the chain.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any


def warm_up(conn: sqlite3.Connection | None = None, places: Sequence[tuple] = ()) -> None:
    """The slow loads of naming (gazetteer, boundaries, time zones) before the skill takes
    its write lock: holding it for a second would stall every other writer, the engine's
    progress writes included. The gazetteer is skipped when the towns of all ``places``
    are remembered in ``conn``. Missing packages are reported by name_places_and_zones."""
    try:
        from trackdesk.geodata.naming import warm_up as warm_names

        warm_names(conn, places)
    except (ImportError, FileNotFoundError):
        pass
    try:
        from trackdesk.geodata.timezones import zone_at

        zone_at(0.0, 0.0)
    except ImportError:
        pass


def name_places_and_zones(conn: sqlite3.Connection) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        from trackdesk.geodata.naming import write_place_names

        out["places_named"] = write_place_names(conn)
    except (ImportError, FileNotFoundError) as exc:
        out["places_named"] = 0
        out["naming_unavailable"] = f"place names need the offline gazetteer: {exc}"
    try:
        from trackdesk.geodata.timezones import write_tz_spans

        out["tz_spans"] = write_tz_spans(conn)
    except ImportError as exc:
        out["tz_spans"] = 0
        out["tz_unavailable"] = f"time zones need tzfpy: {exc}"
    return out
