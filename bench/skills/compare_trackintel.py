"""Does stay_detection find the same stays as trackintel's generate_staypoints?

With trackintel's thresholds (sliding, 100 m, 5 min, 15 min gap) on data without long
logging gaps, both run on the same kept points (after trackdesk's outlier detection):
trackdesk's ``detect`` with ``merge_back_to_back`` off, trackintel 1.4.2 with
``include_last=True`` in its own venv. Stays are compared by start and end instant.
Run standalone (``python bench/skills/compare_trackintel.py``) or from run.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from trackdesk.skills.groundtruth import generate  # noqa: E402
from trackdesk.skills.outlier_detection import compute_flags  # noqa: E402
from trackdesk.skills.registry import BUILTIN_SPECS  # noqa: E402
from trackdesk.skills.stay_detection import detect  # noqa: E402
from trackdesk.skills.store import Points  # noqa: E402

PARAMS = {"dist_threshold_m": 100.0, "time_threshold_s": 300.0, "gap_threshold_s": 900.0,
          "departure_speed_mps": 0.0}  # trackintel counts the whole departure gap


def compare(data_dir: Path, days: int = 7) -> dict | None:
    from bench.skills.run import trackintel_stays

    truth = generate(days=days, seed=5, sparse_stay_prob=0.0)
    specs = {s.name: s for s in BUILTIN_SPECS}
    ids = np.arange(1, len(truth) + 1)
    flags = compute_flags(Points(ids, truth.ts, truth.lat, truth.lon, truth.accuracy),
                          specs["outlier_detection"].defaults())
    k = flags == 0
    ts, lat, lon = truth.ts[k], truth.lat[k], truth.lon[k]
    gaps = float(np.max(np.diff(ts)))
    ours = detect(ts, lat, lon, PARAMS)
    mine = [(float(ts[a]), float(ts[b] if b < len(ts) else ts[-1])) for a, b, _, _ in ours]
    got = trackintel_stays(data_dir / "compare-points.csv", ts, lat, lon)
    if got is None:
        return None
    ti, theirs = got
    same = sum(1 for a in mine if any(abs(a[0] - b[0]) < 1e-3 and abs(a[1] - b[1]) < 1e-3
                                      for b in theirs))
    return {"points": len(ts), "days": days, "max_gap_s": gaps, "ours": len(mine),
            "trackintel": len(theirs), "identical": same, "version": ti["version"]}


def report(c: dict) -> str:
    verdict = "the same stays" if c["identical"] == c["ours"] == c["trackintel"] else \
        "DIFFERENT stays"
    return (f"### Same stays as trackintel\n\n"
            f"{c['days']} days, {c['points']:,} kept points, longest logging gap "
            f"{c['max_gap_s']:.0f} s; sliding, 100 m, 5 min, gap 15 min, last stay included. "
            f"trackdesk: {c['ours']} stays, trackintel {c['version']}: {c['trackintel']} "
            f"staypoints, {c['identical']} identical in start and end: **{verdict}**.")


if __name__ == "__main__":
    d = ROOT / "bench" / ".data"
    d.mkdir(parents=True, exist_ok=True)
    res = compare(d)
    print(res)
    if res:
        print(report(res))
