"""The declared state table and the ETA rule."""

from __future__ import annotations

import pytest

from trackdesk.engine.eta import EtaMeter
from trackdesk.engine.states import (
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    Priority,
    Status,
    check_transition,
)


def test_every_state_has_a_row_in_the_transition_table():
    assert set(TRANSITIONS) == set(Status)


@pytest.mark.parametrize("old,new", [
    ("completed", "running"), ("failed", "completed"), ("cancelled", "running"),
    # pending -> completed is legal since issue 18 (a rerun cancelled before it ran gives
    # back the completed run); pending -> interrupted never is: it never ran.
    ("pending", "interrupted"), ("skipped", "running"), ("interrupted", "running"),
])
def test_an_illegal_move_is_an_error_not_a_silent_write(old, new):
    with pytest.raises(IllegalTransition, match=f"task 7 cannot go from {old} to {new}"):
        check_transition(7, old, new)


def test_finished_tasks_can_only_be_queued_again():
    for status in TERMINAL - {Status.SKIPPED}:
        assert TRANSITIONS[status] == {Status.PENDING}


def test_priorities_are_ordered_low_to_critical():
    ranks = [Priority.parse(p).rank for p in ("low", "normal", "high", "urgent", "critical")]
    assert ranks == sorted(ranks) and len(set(ranks)) == 5
    with pytest.raises(ValueError, match="unknown priority 'asap'"):
        Priority.parse("asap")


def test_eta_stays_empty_until_the_rate_is_stable():
    meter = EtaMeter(min_span_s=2.0, min_samples=4)
    meter.add(0, now=0.0)
    meter.add(100, now=0.5)
    assert meter.eta(100, 1000) is None  # too early to tell
    for i in range(2, 9):
        meter.add(200 * i // 2 * 1, now=i * 0.5)
    # steady 200 points/s: 1000 - 800 left -> 1 s
    assert meter.eta(800, 1000) == pytest.approx(1.0, rel=0.05)


def test_eta_is_withheld_while_the_rate_swings():
    meter = EtaMeter(min_span_s=2.0, min_samples=4)
    for t, p in [(0, 0), (1, 10), (2, 20), (3, 1000), (4, 3000)]:
        meter.add(p, now=float(t))
    assert meter.eta(3000, 10000) is None
