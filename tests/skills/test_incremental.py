"""INCREMENTAL runs after each import batch give exactly what one FULL_RECOMPUTE gives."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gen3.generator import generate as gen3_generate
from tests.gen4.generator import generate as gen4_generate
from tests.skills.chain import connect, new_db, run_chain, snapshot
from trackdesk.skills.groundtruth import Truth, generate, insert_points
from trackdesk.tracks import corrections

# One day and a half, thinned to every other fix to keep each example quick; sparse
# stays, spikes, duplicates and bad accuracies are all in it.
TRUTH = generate(days=2, seed=3, sample_s=(2.0, 8.0), spike_rate=0.003,
                 duplicate_rate=0.002, bad_accuracy_rate=0.002)
# A logger that records every 15-80 s: many short mode segments are absorbed by their
# neighbours, so segment boundaries near a restart point are decided by both sides.
SPARSE = generate(days=3, seed=9, sample_s=(15.0, 80.0), spike_rate=0.003)


def _batches(n: int, cuts: list[int], scatter: bool, order_seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(order_seed)
    if scatter:
        # Every point to a random batch: later batches fill holes in earlier time ranges.
        which = rng.integers(0, len(cuts) + 1, n)
        parts = [np.flatnonzero(which == k) for k in range(len(cuts) + 1)]
    else:
        parts = np.split(np.arange(n), sorted(set(cuts)))
    parts = [p for p in parts if len(p)]
    return [parts[k] for k in rng.permutation(len(parts))]


@pytest.mark.parametrize("truth", [TRUTH, SPARSE], ids=["dense", "sparse"])
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(cuts=st.lists(st.floats(0.0, 1.0, exclude_min=True, exclude_max=True), min_size=1,
                     max_size=4),
       scatter=st.booleans(), order_seed=st.integers(0, 2**16), corrected=st.booleans())
def test_incremental_chain_after_each_batch_equals_one_full_recompute(
        truth: Truth, cuts: list[float], scatter: bool, order_seed: int,
        corrected: bool) -> None:
    n = len(truth)
    with tempfile.TemporaryDirectory() as tmp:
        path = new_db(Path(tmp) / "tracks.db")
        if corrected:
            # The user's trip corrections in force while the data they speak about comes
            # in batches: each INCREMENTAL run must apply them where a full one does.
            conn = connect(path)
            trips = truth.trips
            corrections.add(conn, "merge_trips", trips[1][0], trips[2][1], author="test")
            corrections.add(conn, "split_trip", (trips[3][0] + trips[3][1]) / 2, author="test")
            corrections.add(conn, "merge_stays", truth.stays[4][0], truth.stays[5][1],
                            author="test")
            conn.close()
        for batch in _batches(n, [max(1, min(n - 1, int(c * n))) for c in cuts], scatter,
                              order_seed):
            conn = connect(path)
            insert_points(conn, truth, batch)
            conn.close()
            run_chain(path, "INCREMENTAL")
        incremental = snapshot(path)
        run_chain(path, "FULL_RECOMPUTE")
        full = snapshot(path)
        for table in full:
            assert incremental[table] == full[table], table


def test_a_stay_open_at_the_end_of_a_run_is_carried_over(tmp_path: Path) -> None:
    path = new_db(tmp_path / "tracks.db")
    n = len(TRUTH)
    # Cut in the middle of a stay: the first run ends inside it.
    stay_points = np.flatnonzero(TRUTH.stay >= 0)
    cut = int(stay_points[len(stay_points) // 2])
    conn = connect(path)
    insert_points(conn, TRUTH, np.arange(cut))
    run_chain(path, "INCREMENTAL")
    open_before = conn.execute("SELECT COUNT(*) FROM stays WHERE is_open = 1").fetchone()[0]
    insert_points(conn, TRUTH, np.arange(cut, n))
    run_chain(path, "INCREMENTAL")
    inc = snapshot(path)
    run_chain(path, "FULL_RECOMPUTE")
    assert open_before == 1
    assert inc == snapshot(path)
    conn.close()


def test_nothing_new_is_a_quick_no_op(tmp_path: Path) -> None:
    path = new_db(tmp_path / "tracks.db")
    conn = connect(path)
    insert_points(conn, TRUTH, np.arange(2000))
    conn.close()
    run_chain(path, "INCREMENTAL")
    before = snapshot(path)
    results = run_chain(path, "INCREMENTAL")
    assert {r["mode"] for r in results.values()} == {"noop"}
    assert snapshot(path) == before


@pytest.mark.parametrize(("gen", "seed"), [("gen3", 7), ("gen3", 61), ("gen4", 3), ("gen4", 5),
                                           ("gen4", 6)],
                         ids=["transit-city", "suburb", "gen4-vienna", "gen4-lyon",
                              "gen4-zurich"])
def test_incremental_equals_full_on_another_generators_android_phone(tmp_path: Path,
                                                                     gen: str, seed: int
                                                                     ) -> None:
    # gen3's phone (an independent generator) sleeps while its owner is still and wakes
    # after they move: bursts before silences, waits at stops with the phone quiet, stray
    # network fixes. stay_detection 1.6's rules look across those; batches cut by time,
    # inside stays and rides, must still give what one FULL_RECOMPUTE gives. gen4's
    # phones are sparser still: Wi-Fi fixes every 10-60 minutes at a place, which
    # stay_detection 1.9 joins and reaches back over (its restarts use stored anchors).
    # Zurich: a stay extended back one fix and trimmed to its anchor again; the restart
    # that did not load that fix trimmed the stay one more (2.1 stores it).
    gt = (gen3_generate if gen == "gen3" else gen4_generate)(seed, days=5)
    path = new_db(tmp_path / "tracks.db")
    t0, t1 = float(gt.ts[0]), float(gt.ts[-1])
    edges = [t0 - 1.0, *(t0 + f * (t1 - t0) for f in (0.23, 0.41, 0.58, 0.77, 0.9)), t1 + 1.0]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        sel = np.flatnonzero((gt.ts > a) & (gt.ts <= b))
        conn = connect(path)
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO points (ts, lat, lon, accuracy, source) "
                         "VALUES (?,?,?,?,?)",
                         [(float(gt.ts[i]), float(gt.lat[i]), float(gt.lon[i]),
                           float(gt.accuracy[i]), "gen3") for i in sel])
        conn.execute("COMMIT")
        conn.close()
        run_chain(path, "INCREMENTAL")
    incremental = snapshot(path)
    run_chain(path, "FULL_RECOMPUTE")
    full = snapshot(path)
    assert len(full["stays"]) > 10
    for table in full:
        assert incremental[table] == full[table], table
