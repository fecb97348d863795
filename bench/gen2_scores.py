"""Score trackdesk's real analysis chain on gen2's independent synthetic people and on the
hand-labelled real logs in tests/data/labelled/.

    python bench/gen2_scores.py [--seeds 201 202 203] [--days 60] [--json bench/gen2_scores.json]

For each seed: generate the person (tests/gen2/generator.py), write a CSV, import it with
`trackdesk --db DB import FILE --wait`, run `trackdesk --db DB chain run --type
FULL_RECOMPUTE --wait`, read `stays`, `trips` and `point_analysis` and score them
(tests/gen2/README.md, "Scoring"). Prints a table and writes every figure, confusion
matrices included, as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.gen2.generator import generate, import_into  # noqa: E402
from tests.gen2.scoring import (  # noqa: E402
    confusion_text,
    labelled_truth,
    run_chain,
    score_labelled,
    score_synthetic,
    trackdesk_cmd,
    write_labelled_csv,
)

LABELLED = ROOT / "tests" / "data" / "labelled"


def _import_csv(csv_path: Path, db: Path) -> None:
    import subprocess

    proc = subprocess.run([*trackdesk_cmd(), "--db", str(db), "import", str(csv_path),
                           "--wait"], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"import failed: {proc.stderr or proc.stdout}")


def run_seed(seed: int, days: int, years: float, work: Path) -> dict:
    t0 = time.perf_counter()
    gt = generate(seed, days=days, years=years)
    d = work / f"seed{seed}"
    d.mkdir()
    db = d / "tracks.db"
    import_into(gt, db, d)
    run_chain(db)
    out = score_synthetic(gt, db)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def run_labelled(user_dir: Path, work: Path) -> dict:
    truth = labelled_truth(user_dir)
    d = work / f"real_{user_dir.name}"
    d.mkdir()
    db = d / "tracks.db"
    _import_csv(write_labelled_csv(truth, d / f"{user_dir.name}.csv"), db)
    run_chain(db)
    return score_labelled(truth, db)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="*", default=[201, 202, 203])
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--years", type=float, default=0.0,
                    help="simulate this many years of sparse stretches instead of --days")
    ap.add_argument("--labelled", type=Path, default=LABELLED,
                    help="folder of GeoLife-style user folders (labels.txt + Trajectory/*.plt);"
                         " see tests/data/labelled/SOURCES.md for how to make it")
    ap.add_argument("--no-labelled", action="store_true", help="skip the real labelled logs")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "gen2_scores.json")
    args = ap.parse_args(argv)
    results: dict = {"synthetic": {}, "labelled": {}}
    with tempfile.TemporaryDirectory(prefix="gen2_") as tmp:
        work = Path(tmp)
        for seed in args.seeds:
            results["synthetic"][str(seed)] = run_seed(seed, args.days, args.years, work)
        if not args.no_labelled and args.labelled.is_dir():
            users = sorted(p for p in args.labelled.iterdir() if (p / "labels.txt").exists())
            for user_dir in users:
                results["labelled"][user_dir.name] = run_labelled(user_dir, work)
    print(f"{'seed':>6} {'points':>7} {'stays F1':>9} {'(P/R)':>11} {'trips F1':>9} "
          f"{'(P/R)':>11} {'mode acc':>9} {'trip mode':>9} {'s':>6}")
    for seed, r in results["synthetic"].items():
        s, t, m = r["stays"], r["trips"], r["modes"]
        print(f"{seed:>6} {r['points']:>7} {s['f1']:>9.3f} {s['precision']:>5.2f}/{s['recall']:<5.2f}"
              f" {t['f1']:>9.3f} {t['precision']:>5.2f}/{t['recall']:<5.2f} {m['accuracy']:>9.3f}"
              f" {t['main_mode_accuracy']:>9.3f} {r['seconds']:>6.1f}")
    for seed, r in results["synthetic"].items():
        print(f"  seed {seed} per-point modes (moving fixes, kept):")
        print(confusion_text(r["modes"]["confusion"]))
    for name, r in results["labelled"].items():
        print(f"real {name}: {r['labelled_points']} labelled fixes, mode accuracy "
              f"{r['modes']['accuracy']:.3f} (n={r['modes']['n']}), {r['trips']} trips, "
              f"longest {r['longest_trip_h']} h")
        print(confusion_text(r["modes"]["confusion"]))
    args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
