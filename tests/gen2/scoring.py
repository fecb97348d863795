"""Score trackdesk's analysis chain against gen2's ground truth (and labelled real logs).

Only the documented interface is used: `trackdesk import`, `trackdesk chain run`, and the
tables/views of docs/SKILLS.md (`stays`, `trips`, `point_analysis`). How matching works and
why: tests/gen2/README.md, "Scoring".
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tests.gen2.generator import (
    MODE_NAMES,
    GroundTruth,
    fix_ids,
    haversine,
    point_ids,
    trackdesk_cmd,
)

STAY_MIN_OVERLAP = 0.5  # of the longer of the two intervals
STAY_MAX_DIST_M = 100.0
TRIP_MIN_OVERLAP = 0.5
# What the chain may answer per point; subway and tram are train (issue 20).
PRED_NAMES = ("stationary", "walk", "bike", "car", "bus", "train", "plane", "none")
SYNONYMS = {"subway": "train", "tram": "train", "rail": "train", "metro": "train",
            "airplane": "plane", "flight": "plane", "taxi": "car", "motorcycle": "car",
            "run": "walk", "running": "walk", "cycling": "bike", "driving": "car"}


def run_chain(db: str | Path, timeout_s: float = 1800) -> None:
    """`trackdesk --db DB chain run --type FULL_RECOMPUTE --wait`; raises if a task failed."""
    proc = subprocess.run([*trackdesk_cmd(), "--db", str(db), "chain", "run", "--type",
                           "FULL_RECOMPUTE", "--wait"], capture_output=True, text=True,
                          timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"chain run failed ({proc.returncode}): {proc.stdout[-2000:]}"
                           f"{proc.stderr[-2000:]}")


def _norm_mode(m: str | None) -> str:
    if m is None:
        return "none"
    m = m.lower()
    return SYNONYMS.get(m, m)


def confusion_text(conf: dict, cols: Sequence[str] = PRED_NAMES, width: int = 7,
                   indent: str = "    ") -> str:
    """A truth x predicted confusion (``{truth: {pred: n}}``) as aligned text, with the
    columns of ``cols`` that occur (bench/gen2_scores.py, tests/gen3/score.py)."""
    shown = [c for c in cols if any(c in row for row in conf.values())]
    head = "truth \\ pred"
    lines = [f"{indent}{head:<14} " + " ".join(f"{c[:width - 1]:>{width}}" for c in shown)]
    for t, row in conf.items():
        lines.append(f"{indent}{t:<14} " + " ".join(f"{row.get(c, 0):>{width}}"
                                                    for c in shown))
    return "\n".join(lines)


def match(truth: Sequence[tuple[float, float]], pred: Sequence[tuple[float, float]],
          min_overlap: float, ok: np.ndarray | None = None) -> list[tuple[int, int]]:
    """One-to-one matching of time intervals. A pair is a candidate when their overlap is
    at least min_overlap of the LONGER of the two (so a stay cut in half, or two stays
    merged into one, does not match), and ok[i, j] allows it (the distance rule of stays).
    Candidates are taken greedily, best overlap ratio first."""
    if not truth or not pred:
        return []
    t = np.asarray(truth, float)
    p = np.asarray(pred, float)
    pairs = []
    order = np.argsort(p[:, 0])
    ps = p[order]
    for i, (a, b) in enumerate(t):
        lo = np.searchsorted(ps[:, 1], a, side="left") if np.all(np.diff(ps[:, 1]) >= 0) else 0
        for k in range(lo, len(ps)):
            c, d = ps[k]
            if c > b:
                break
            ov = min(b, d) - max(a, c)
            longer = max(b - a, d - c, 1.0)
            j = int(order[k])
            if ov >= min_overlap * longer and (ok is None or ok[i, j]):
                pairs.append((ov / longer, i, j))
    pairs.sort(reverse=True)
    used_t, used_p, out = set(), set(), []
    for _r, i, j in pairs:
        if i not in used_t and j not in used_p:
            used_t.add(i)
            used_p.add(j)
            out.append((i, j))
    return out


def f1(n_match: int, n_truth: int, n_pred: int) -> dict:
    prec = n_match / n_pred if n_pred else 0.0
    rec = n_match / n_truth if n_truth else 0.0
    return dict(precision=round(prec, 4), recall=round(rec, 4),
                f1=round(2 * prec * rec / (prec + rec), 4) if prec + rec else 0.0,
                matched=n_match, truth=n_truth, predicted=n_pred)


def read_results(db: str | Path) -> dict:
    con = sqlite3.connect(str(db))
    try:
        stays = con.execute("SELECT id, start_ts, end_ts, lat, lon FROM stays "
                            "ORDER BY start_ts").fetchall()
        trips = con.execute("SELECT id, start_ts, end_ts, main_mode, distance_m FROM trips "
                            "ORDER BY start_ts").fetchall()
        pa = con.execute("SELECT point_id, is_outlier, transport_mode FROM point_analysis "
                         "WHERE point_id > 0").fetchall()
    finally:
        con.close()
    return dict(stays=stays, trips=trips, points={r[0]: (r[1], r[2]) for r in pa})


def mode_scores(truth_modes: np.ndarray, ids: np.ndarray, points: dict,
                scored: np.ndarray) -> dict:
    """Accuracy of the per-point mode over `scored` points the chain kept (not outliers),
    plus how many scored points it dropped as outliers, and the confusion matrix
    (truth rows x predicted columns)."""
    truth_names = [m for m in MODE_NAMES if m != "stationary"]
    conf = {t: dict.fromkeys(PRED_NAMES, 0) for t in truth_names}
    n = correct = dropped = 0
    for i in np.flatnonzero(scored):
        r = points.get(int(ids[i]))
        if r is None or r[0]:
            dropped += 1
            continue
        tm = MODE_NAMES[int(truth_modes[i])] if not isinstance(truth_modes[i], str) \
            else truth_modes[i]
        pm = _norm_mode(r[1])
        pm = pm if pm in PRED_NAMES else "none"
        conf[tm][pm] += 1
        n += 1
        correct += pm == tm
    return dict(accuracy=round(correct / n, 4) if n else 0.0, n=n, dropped_as_outlier=dropped,
                confusion={t: {p: c for p, c in row.items() if c} for t, row in conf.items()
                           if sum(row.values())})


def score_synthetic(gt: GroundTruth, db: str | Path) -> dict:
    """Stays F1, trips F1 and per-point mode accuracy of the chain's results in db."""
    res = read_results(db)
    ids = point_ids(gt, db)
    ps, pt = res["stays"], res["trips"]
    ts = gt.observed_stays()
    sm = _stay_matches(ts, ps)
    # Trips: overlap >= 50 % of the longer interval; main mode compared on matched ones.
    tt = gt.observed_trips()
    tm = match([(t["start"], t["end"]) for t in tt], [(p[1], p[2]) for p in pt],
               TRIP_MIN_OVERLAP)
    # The same against the visits as lived (arrival to departure): a sleeping phone's
    # stay reaches through its silence there (tests/gen2/README.md, "Scoring").
    vs = gt.visits()
    vm = _stay_matches(vs, ps)
    vt = gt.observed_trips(stays=vs)
    vtm = match([(t["start"], t["end"]) for t in vt], [(p[1], p[2]) for p in pt],
                TRIP_MIN_OVERLAP)
    trip_mode_ok = sum(_norm_mode(pt[j][3]) == tt[i]["mode"] for i, j in tm)
    scored = (gt.mode != 0) & ~gt.waiting & ~gt.jump & (ids > 0)
    modes = mode_scores(gt.mode, ids, res["points"], scored)
    longest = max((p[2] - p[1] for p in pt), default=0.0)
    return dict(
        points=int(len(gt.ts)), imported=int((ids > 0).sum()),
        days=int(gt.params["days"]),
        stays=f1(len(sm), len(ts), len(ps)),
        trips=f1(len(tm), len(tt), len(pt)) | dict(
            main_mode_accuracy=round(trip_mode_ok / len(tm), 4) if tm else 0.0,
            longest_trip_h=round(longest / 3600, 2)),
        modes=modes,
        visits=dict(stays=f1(len(vm), len(vs), len(ps)), trips=f1(len(vtm), len(vt), len(pt))),
    )


def _stay_matches(ts: list[dict], ps: list[tuple]) -> list[tuple[int, int]]:
    """Stays matched: overlap >= 50 % of the longer interval and centre within 100 m."""
    ok = np.zeros((len(ts), len(ps)), bool)
    if ts and ps:
        plat = np.array([p[3] for p in ps], float)
        plon = np.array([p[4] for p in ps], float)
        for i, s in enumerate(ts):
            ok[i] = haversine(s["lat"], s["lon"], plat, plon) <= STAY_MAX_DIST_M
    return match([(s["start"], s["end"]) for s in ts], [(p[1], p[2]) for p in ps],
                 STAY_MIN_OVERLAP, ok)


# --------------------------------------------------------------------------- real logs


def read_plt(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A GeoLife .plt file: 6 header lines, then lat, lon, 0, alt, days, date, time (GMT)."""
    from datetime import UTC, datetime

    ts, la, lo = [], [], []
    with path.open(encoding="utf-8", errors="replace") as f:
        for k, line in enumerate(f):
            if k < 6 or not line.strip():
                continue
            p = line.strip().split(",")
            ts.append(datetime.fromisoformat(f"{p[5]}T{p[6]}").replace(tzinfo=UTC).timestamp())
            la.append(float(p[0]))
            lo.append(float(p[1]))
    return np.array(ts), np.array(la), np.array(lo)


def read_labels(path: Path) -> list[tuple[float, float, str]]:
    """GeoLife labels.txt: Start Time, End Time (GMT, YYYY/MM/DD HH:MM:SS), Mode."""
    from datetime import UTC, datetime

    out = []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        p = line.strip().split("\t")
        if len(p) < 3:
            continue
        a, b = (datetime.strptime(x, "%Y/%m/%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
                for x in p[:2])
        out.append((a, b, p[2].strip()))
    return out


def labelled_truth(user_dir: Path) -> dict:
    """Per-point truth mode of a GeoLife user folder (Trajectory/*.plt + labels.txt):
    the label whose [start, end] holds the fix, mapped to trackdesk's modes (subway and
    train -> train, taxi -> car, airplane -> plane); None outside every label."""
    parts = [read_plt(p) for p in sorted((user_dir / "Trajectory").glob("*.plt"))]
    ts = np.concatenate([p[0] for p in parts])
    lat = np.concatenate([p[1] for p in parts])
    lon = np.concatenate([p[2] for p in parts])
    order = np.argsort(ts, kind="stable")
    ts, lat, lon = ts[order], lat[order], lon[order]
    labels = read_labels(user_dir / "labels.txt")
    mode = np.array([None] * len(ts), dtype=object)
    for a, b, m in labels:
        sel = (ts >= a) & (ts <= b)
        mode[sel] = _norm_mode(m)
    return dict(ts=ts, lat=lat, lon=lon, mode=mode, labels=labels)


def write_labelled_csv(truth: dict, path: Path) -> Path:
    import csv

    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "latitude", "longitude"])
        for t, la, lo in zip(truth["ts"], truth["lat"], truth["lon"], strict=True):
            w.writerow([f"{t:.0f}", f"{la:.7f}", f"{lo:.7f}"])
    return path


def score_labelled(truth: dict, db: str | Path) -> dict:
    """Mode accuracy over the labelled fixes of one real person, and the longest trip."""
    ids = fix_ids(truth["ts"], truth["lat"], truth["lon"], db)
    con = sqlite3.connect(str(db))
    try:
        imported = con.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    finally:
        con.close()
    res = read_results(db)
    known = np.array([m is not None and m in MODE_NAMES for m in truth["mode"]])
    modes = mode_scores(truth["mode"], ids, res["points"], known & (ids > 0))
    longest = max((p[2] - p[1] for p in res["trips"]), default=0.0)
    return dict(points=int(len(truth["ts"])), imported=int(imported),
                labelled_points=int(known.sum()), modes=modes,
                trips=len(res["trips"]), stays=len(res["stays"]),
                longest_trip_h=round(longest / 3600, 2))
