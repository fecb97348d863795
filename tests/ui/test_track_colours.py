"""The map colours each stretch of a day's track by its mode: the tags must follow the
day in order even where a segment's first fix was simplified away."""

from __future__ import annotations

import numpy as np

from trackdesk.ui.views.data import tag_segments


def test_a_start_matching_a_place_passed_again_later_does_not_paint_the_day_one_colour(
        ) -> None:
    # A day out and back: east 100 px, north 50, west back, south to 3 px from where it
    # began. The first segment of the day (a walk) starts 2.6 px from the first vertex,
    # which the simplification moved, but 0.4 px from the last one, the same doorstep at
    # night. Before, that start took the last vertex, every start after it found nothing
    # later, and the whole day was drawn in the mode of yesterday's last segment.
    east = np.arange(0.0, 101.0)
    north = np.arange(1.0, 51.0)
    west = np.arange(99.0, -1.0, -1.0)
    south = np.arange(49.0, 2.0, -1.0)
    x = np.concatenate([east, np.full(len(north), 100.0), west, np.zeros(len(south))])
    y = np.concatenate([np.zeros(len(east)), north, np.full(len(west), 50.0), south])
    # Segment 0: yesterday's; 1: the walk from the door; 2: the bus from (100, 0);
    # 3: the walk home from (0, 50).
    bx = np.array([500.0, 0.0, 100.0, 0.0])
    by = np.array([500.0, 2.6, 0.0, 50.0])
    seg = tag_segments(x, y, bx, by, 2.0)
    bus_from = 100
    walk_home_from = len(east) + len(north) + len(west) - 1
    # Each start takes the first vertex within the tolerance: a boundary may come up to
    # two vertices (two pixels) early.
    assert set(seg[:bus_from - 2].tolist()) == {1}
    assert set(seg[bus_from:walk_home_from - 2].tolist()) == {2}
    assert set(seg[walk_home_from:].tolist()) == {3}
