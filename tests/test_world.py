"""The shipped world file as the map and the place naming read it (trackdesk.geodata)."""

from __future__ import annotations

import numpy as np

from trackdesk.geodata.world import load_world


def test_a_stay_east_of_the_antimeridian_in_chukotka_is_in_russia() -> None:
    # Natural Earth's Russia steps from +180 to -180 and back; read as it is, the part of
    # Chukotka at -175 was in no country (Statistics > Countries left the days out).
    w = load_world()
    assert w.country_at(66.0, -175.0).code == "RU"
    assert w.country_at(64.7, 177.5).code == "RU"
    assert w.country_at(-16.5, -179.9).code == "FJ"
    assert w.country_at(66.5, -150.0).code == "US"


def test_no_coastline_or_border_runs_across_the_whole_world() -> None:
    # Such an edge is the band the offline map drew over the Arctic at world zoom.
    w = load_world()
    rings = [r for poly in w.land for r in poly]
    rings += [r for c in w.countries for poly in c.rings for r in poly]
    for ring in rings:
        lon, lat = ring[:, 0], ring[:, 1]
        wide = np.abs(np.diff(lon)) > 180.0
        # Antarctica's ring closes along the pole: the one wide step allowed.
        assert np.all(lat[1:][wide] < -84.0), (lon[1:][wide], lat[1:][wide])
