"""The chain's answers against a synthetic history whose truth is known."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.skills.chain import connect, new_db, run_chain
from trackdesk.skills.groundtruth import Truth, evaluate, generate, insert_points


@pytest.fixture(scope="module")
def scores(truth_db: tuple[Truth, Path]) -> dict[str, float]:
    truth, path = truth_db
    run_chain(path)
    conn = connect(path)
    try:
        return evaluate(truth, conn)
    finally:
        conn.close()


def test_stays_are_found_with_f1_at_least_0_95(scores: dict[str, float]) -> None:
    assert scores["stay_f1"] >= 0.95, scores


def test_trips_are_found_with_f1_at_least_0_9(scores: dict[str, float]) -> None:
    assert scores["trip_f1"] >= 0.9, scores


def test_transport_mode_is_right_on_at_least_85_percent_of_moving_points(
        scores: dict[str, float]) -> None:
    assert scores["mode_accuracy"] >= 0.85, scores


def test_outliers_are_caught_with_recall_95_at_precision_90(scores: dict[str, float]) -> None:
    assert scores["outlier_recall"] >= 0.95, scores
    assert scores["outlier_precision"] >= 0.9, scores


@pytest.mark.parametrize("seed", [11, 23])
def test_scores_hold_on_other_histories(tmp_path: Path, seed: int) -> None:
    truth = generate(days=3, seed=seed)
    path = new_db(tmp_path / "tracks.db")
    conn = connect(path)
    insert_points(conn, truth)
    run_chain(path)
    s = evaluate(truth, conn)
    conn.close()
    assert s["stay_f1"] >= 0.95 and s["trip_f1"] >= 0.9, s
    assert s["mode_accuracy"] >= 0.85, s
    assert s["outlier_recall"] >= 0.95 and s["outlier_precision"] >= 0.9, s


def test_every_mode_of_the_generator_is_recognised(truth_db: tuple[Truth, Path],
                                                   scores: dict[str, float]) -> None:
    _, path = truth_db
    conn = connect(path)
    modes = {r[0] for r in conn.execute("SELECT DISTINCT main_mode FROM trips")}
    conn.close()
    assert {"walk", "bike", "car"} <= modes
