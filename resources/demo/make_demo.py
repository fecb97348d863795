"""Make the demo tracks that "Try the demo" imports (run once; the output is committed).

    .venv/bin/python resources/demo/make_demo.py

Three days of one synthetic person around Munich (``trackdesk.skills.groundtruth``):
nights at home, commutes by car and by bike, lunch walks, shopping, the odd GPS spike.
A phone logger keeps fixes sparser than the generator's 1-5 s, and so do we: moving, a fix
every 15 s or more; staying, one every 5 minutes. That keeps the three files near 130 KB
and the default chain on them well under a minute, while stays and trips stay clear.

Days 1 and 2 are GPX 1.1 (one track per day, as GPS loggers write them), day 3 is a CSV
with accuracy (as Android loggers export it): the demo shows two importers at work.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from trackdesk.skills.groundtruth import generate

SEED = 2  # car on day 1, bike on day 2, car again on day 3 (with walks at lunch)
DAYS = 3
MOVING_STEP_S = 15.0
STAY_STEP_S = 300.0
HERE = Path(__file__).resolve().parent


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _thin(ts: np.ndarray, staying: np.ndarray) -> np.ndarray:
    """Indexes of the fixes a phone would have kept."""
    keep, last = [], -1e18
    for i, (t, s) in enumerate(zip(ts.tolist(), staying.tolist(), strict=True)):
        if t - last >= (STAY_STEP_S if s else MOVING_STEP_S):
            keep.append(i)
            last = t
    return np.array(keep, dtype=np.int64)


def _gpx(day: str, rows: list[tuple[float, float, float, float]]) -> str:
    points = "\n".join(
        f'      <trkpt lat="{lat:.6f}" lon="{lon:.6f}"><ele>{ele:.1f}</ele>'
        f"<time>{_iso(ts)}</time></trkpt>" for ts, lat, lon, ele in rows)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<gpx version="1.1" creator="trackdesk demo" '
            'xmlns="http://www.topografix.com/GPX/1/1">\n'
            f"  <metadata><name>Demo day {day}</name></metadata>\n"
            f"  <trk>\n    <name>{day}</name>\n    <trkseg>\n{points}\n"
            "    </trkseg>\n  </trk>\n</gpx>\n")


def main() -> None:
    truth = generate(days=DAYS, seed=SEED, sparse_stay_prob=0.0, spike_rate=0.0005)
    idx = _thin(truth.ts, truth.stay >= 0)
    ts, lat, lon, acc = truth.ts[idx], truth.lat[idx], truth.lon[idx], truth.accuracy[idx]
    # Munich lies near 520 m; a gentle made-up relief, so the elevation column is not flat.
    ele = 520.0 + 12.0 * np.sin((lat - 48.1) * 90.0) + 6.0 * np.cos((lon - 11.5) * 70.0)
    day_of = ((ts - ts[0]) // 86400).astype(int)
    for d in range(DAYS):
        sel = day_of == d
        name = _iso(float(ts[sel][0]))[:10]
        if d < DAYS - 1:
            rows = list(zip(ts[sel].tolist(), lat[sel].tolist(), lon[sel].tolist(),
                            ele[sel].tolist(), strict=True))
            (HERE / f"{name}.gpx").write_text(_gpx(name, rows), encoding="utf-8")
        else:
            lines = ["time,latitude,longitude,altitude,accuracy"]
            lines += [f"{_iso(t)},{a:.6f},{o:.6f},{e:.1f},{c:.1f}" for t, a, o, e, c in
                      zip(ts[sel].tolist(), lat[sel].tolist(), lon[sel].tolist(),
                          ele[sel].tolist(), acc[sel].tolist(), strict=True)]
            (HERE / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(idx):,} points, {len(truth.stays)} stays, {len(truth.trips)} trips:",
          ", ".join(sorted({m for _, _, m in truth.trips})))


if __name__ == "__main__":
    main()
