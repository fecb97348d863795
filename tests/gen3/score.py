"""Score trackdesk's real analysis chain on gen3's synthetic people.

    python -m tests.gen3.score --seeds 3 61 --days 45 [--json out.json] [--keep DIR]
    python -m tests.gen3.score --generator gen4 --seeds 1 2 3 4 5 6 7   # tests/gen4's people

For each seed: generate the person (tests/gen3/generator.py), import it into a fresh
tracks.db through the real CLI (tests.gen2.generator.import_into), run the chain
(tests.gen2.scoring.run_chain), score it with tests.gen2.scoring.score_synthetic, and add a
confusion matrix of every imported fix: truth (gt.mode; waiting fixes and wrong fixes as
their own rows) x the chain's point_analysis.transport_mode ("outlier" when the chain
dropped the fix, "none" when it gave no mode). Prints one JSON line per seed and a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.gen2.generator import import_into, point_ids
from tests.gen2.scoring import (
    PRED_NAMES,
    _norm_mode,
    confusion_text,
    run_chain,
    score_synthetic,
)
from tests.gen3.generator import MODE_NAMES, GroundTruth, generate

ROWS = (*MODE_NAMES, "waiting", "wrong-fix")
COLS = (*PRED_NAMES, "outlier", "missing")


def confusion(gt: GroundTruth, db: str | Path) -> dict[str, dict[str, int]]:
    """Truth row x predicted column counts over all fixes of gt."""
    ids = point_ids(gt, db)
    con = sqlite3.connect(str(db))
    try:
        pa = dict((r[0], (r[1], r[2])) for r in con.execute(
            "SELECT point_id, is_outlier, transport_mode FROM point_analysis WHERE point_id > 0"))
    finally:
        con.close()
    conf = {r: dict.fromkeys(COLS, 0) for r in ROWS}
    for i in range(len(gt.ts)):
        row = "wrong-fix" if gt.jump[i] else ("waiting" if gt.waiting[i] else
                                              MODE_NAMES[int(gt.mode[i])])
        hit = pa.get(int(ids[i])) if ids[i] > 0 else None
        if hit is None:
            col = "missing"
        elif hit[0]:
            col = "outlier"
        else:
            col = _norm_mode(hit[1])
            col = col if col in PRED_NAMES else "none"
        conf[row][col] += 1
    return {r: {c: n for c, n in row.items() if n} for r, row in conf.items()
            if sum(row.values())}


GENERATORS = {"gen3": generate}


def _generator(name: str) -> Callable[..., GroundTruth]:
    if name == "gen4":
        from tests.gen4.generator import generate as gen4

        return gen4
    return GENERATORS[name]


def run_seed(seed: int, days: int, work: Path, generator: str = "gen3") -> dict:
    t0 = time.perf_counter()
    gt = _generator(generator)(seed, days=days)
    d = work / f"seed{seed}"
    d.mkdir(parents=True, exist_ok=True)
    db = d / "tracks.db"
    if db.exists():
        db.unlink()
    import_into(gt, db, d)
    run_chain(db)
    out = score_synthetic(gt, db)
    out["seed"] = seed
    out["world"] = gt.params.get("world") or gt.params.get("city", generator)
    out["confusion_all"] = confusion(gt, db)
    out["truth"] = dict(stays=len(gt.true_stays), observed_stays=len(gt.observed_stays()),
                        observed_trips=len(gt.observed_trips()), legs=len(gt.legs),
                        moving_fixes=int(((gt.mode != 0) & ~gt.waiting & ~gt.jump).sum()),
                        sources=gt.params.get("sources", {}))
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def summary(r: dict) -> str:
    st, tr, mo = r["stays"], r["trips"], r["modes"]
    head = (f"seed {r['seed']} ({r['world']}, {r['days']} days, {r['points']} fixes, "
            f"{r['seconds']} s): stays F1 {st['f1']:.3f} (P {st['precision']:.3f} "
            f"R {st['recall']:.3f}, {st['truth']} true / {st['predicted']} found); trips F1 "
            f"{tr['f1']:.3f} (P {tr['precision']:.3f} R {tr['recall']:.3f}, {tr['truth']} / "
            f"{tr['predicted']}, main mode {tr['main_mode_accuracy']:.3f}); per-fix mode "
            f"accuracy {mo['accuracy']:.3f} over {mo['n']} moving fixes "
            f"({mo['dropped_as_outlier']} dropped as outliers)")
    return head + "\n" + confusion_text(r["confusion_all"], COLS, width=9, indent="  ")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 61])
    ap.add_argument("--days", type=int, default=45)
    ap.add_argument("--json", type=Path, help="also write all results to this file")
    ap.add_argument("--keep", type=Path, help="keep the databases in this folder")
    ap.add_argument("--generator", choices=("gen3", "gen4"), default="gen3",
                    help="whose people: gen3's (default) or tests/gen4's")
    a = ap.parse_args(argv)
    tmp = None
    if a.keep is None:
        tmp = tempfile.TemporaryDirectory(prefix="gen3_score_")
        work = Path(tmp.name)
    else:
        work = a.keep
        work.mkdir(parents=True, exist_ok=True)
    # The CLI must not touch the user's data or config folders, nor the network.
    os.environ.setdefault("XDG_DATA_HOME", str(work / "xdg-data"))
    os.environ.setdefault("XDG_CONFIG_HOME", str(work / "xdg-config"))
    os.environ["TRACKDESK_NO_NETWORK"] = "1"
    root = str(Path(__file__).resolve().parents[2])
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get(
        "PYTHONPATH", "")) if p)
    results = []
    try:
        for seed in a.seeds:
            r = run_seed(seed, a.days, work, a.generator)
            results.append(r)
            print(json.dumps(r, sort_keys=True), flush=True)
        print()
        for r in results:
            print(summary(r))
        acc = np.mean([r["modes"]["accuracy"] for r in results])
        print(f"mean over {len(results)} seeds: stays F1 "
              f"{np.mean([r['stays']['f1'] for r in results]):.3f}, trips F1 "
              f"{np.mean([r['trips']['f1'] for r in results]):.3f}, mode accuracy {acc:.3f}")
        print("against the visits as lived (arrival to departure): stays F1 "
              f"{np.mean([r['visits']['stays']['f1'] for r in results]):.3f}, trips F1 "
              f"{np.mean([r['visits']['trips']['f1'] for r in results]):.3f}")
        if a.json:
            a.json.write_text(json.dumps(results, indent=1, sort_keys=True))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
