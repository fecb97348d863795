"""Screenshot of the timeline with "Your labels" (issue 19): ``python -m
devtools.label_screenshots OUTDIR [--days N]``.

The demo history (``demo.build``, analysed by the real chain) plus a Google Semantic
Location History export of part of it, written from the generator's own truth (its
stays as place visits, its trips as activity segments with Google's activity types)
and imported by ``trackdesk import``, exactly as a user imports a Takeout file. The
labels then say what the person really did; the rows what trackdesk's analysis found.
Run under a (virtual) X server for real fonts::

    xvfb-run -a -s "-screen 0 1280x800x24" python -m devtools.label_screenshots \\
        docs/screenshots
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools import views_demo as demo
from trackdesk.skills.groundtruth import generate

SIZE = (1280, 800)
GOOGLE_ACTIVITY = {"walk": "WALKING", "bike": "CYCLING", "car": "IN_PASSENGER_VEHICLE",
                   "train": "IN_SUBWAY", "plane": "FLYING"}
OTHER_NAMES = ("Bakery Pri Mari", "Gym Tivoli", "Café Čokl", "Library", "Market hall",
               "Friends' flat", "Cinema Kino Šiška", "Swimming pool")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def semantic_history(days: int, seed: int, first_day: int, last_day: int) -> dict[str, Any]:
    """The generator's truth of days ``first_day``..``last_day`` as Google's Semantic
    Location History: stays are place visits (the first stay's place is home, the most
    visited other one work), trips are activity segments."""
    truth = generate(days=days, seed=seed, sample_s=(2.0, 8.0), sparse_stay_prob=0.2)
    t0 = float(truth.ts.min()) + first_day * 86400.0
    t1 = float(truth.ts.min()) + (last_day + 1) * 86400.0
    places: list[tuple[float, float, int]] = []  # lat, lon, visits

    def place_of(lat: float, lon: float) -> int:
        for k, (a, b, _n) in enumerate(places):
            if abs(a - lat) < 0.002 and abs(b - lon) < 0.003:  # ~200 m
                return k
        places.append((lat, lon, 0))
        return len(places) - 1

    stays = [(s, e, place_of(lat, lon)) for s, e, lat, lon in truth.stays]
    visits = [sum(1 for *_x, k in stays if k == i) for i in range(len(places))]
    home = stays[0][2]
    work = max((i for i in range(len(places)) if i != home), key=lambda i: visits[i],
               default=home)
    names, types, others = {}, {}, iter(OTHER_NAMES)
    for i in range(len(places)):
        if i == home:
            names[i], types[i] = "Home", "TYPE_HOME"
        elif i == work:
            names[i], types[i] = "Office, Dunajska 5", "TYPE_WORK"
        else:
            names[i] = next(others, f"Place {i}")
    objects: list[dict[str, Any]] = []
    for s, e, k in stays:
        if e < t0 or s > t1:
            continue
        lat, lon, _n = places[k]
        loc = {"latitudeE7": round(lat * 1e7), "longitudeE7": round(lon * 1e7),
               "placeId": f"ChIJdemo{k}", "name": names[k]}
        if k in types:
            loc["semanticType"] = types[k]
        objects.append({"placeVisit": {"location": loc, "duration": {
            "startTimestamp": _iso(s), "endTimestamp": _iso(e)}}})
    for s, e, mode in truth.trips:
        if e < t0 or s > t1 or mode not in GOOGLE_ACTIVITY:
            continue
        i = int(truth.ts.searchsorted(s))
        j = max(i, int(truth.ts.searchsorted(e)) - 1)
        objects.append({"activitySegment": {
            "startLocation": {"latitudeE7": round(float(truth.lat[i]) * 1e7),
                              "longitudeE7": round(float(truth.lon[i]) * 1e7)},
            "endLocation": {"latitudeE7": round(float(truth.lat[j]) * 1e7),
                            "longitudeE7": round(float(truth.lon[j]) * 1e7)},
            "duration": {"startTimestamp": _iso(s), "endTimestamp": _iso(e)},
            "activityType": GOOGLE_ACTIVITY[mode]}})
    objects.sort(key=lambda o: next(iter(o.values()))["duration"]["startTimestamp"])
    return {"timelineObjects": objects}


def build(db: Path, days: int = 21, seed: int = 21) -> Path:
    """The demo history of ``days`` days with a Google export of its days 4 to 16."""
    demo.build(db, days=days, seed=seed)
    doc = semantic_history(days, seed, 3, min(days - 1, 15))
    f = db.parent / "Takeout" / "2026_JANUARY.json"
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", ""))
                                        if p)
    res = subprocess.run([sys.executable, "-m", "trackdesk", "--db", str(db), "import",
                          "--wait", str(f)], capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"import failed: {res.stdout[-1000:]} {res.stderr[-2000:]}")
    print(res.stdout.strip()[-400:], flush=True)
    return db


def shoot(out: Path, db: Path) -> Path:
    from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from trackdesk.ui.views.panel import ViewsPanel
    from trackdesk.ui.views.timeline import LABEL_H, ROW_H

    app = QApplication.instance() or QApplication(sys.argv[:1])
    panel = ViewsPanel()
    panel.resize(*SIZE)
    panel.show()
    panel.set_db(db)
    view = panel.timeline
    panel.setCurrentWidget(view)

    def settle(limit: float = 60.0) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            app.processEvents()
            if panel.loader.busy == 0 and view.strip.timeline is not None:
                for _ in range(10):
                    app.processEvents()
                    time.sleep(0.02)
                if panel.loader.busy == 0:
                    return
            time.sleep(0.02)

    settle()
    if view.month.count():
        view.month.setCurrentIndex(0)
        settle()
    strip = view.strip
    # Hover a subway ride in the labels lane: the bar repeats the tooltip's text.
    rides = [it for it in strip.shown_labels() if it[4] == "IN_SUBWAY"] or \
        [it for it in strip.shown_labels() if it[2] == "activity"]
    if rides:

        ride = rides[0]
        mid = (ride[0] + ride[1]) / 2
        tl = strip.timeline
        days = strip.days()
        # the row of the day holding the ride, as the timeline cut it (days where you were)
        i = next(k for k, d in enumerate(days) if tl.day_bounds(d)[0] <= mid <
                 tl.day_bounds(d)[1])
        a, b = tl.day_bounds(days[i])
        x = strip._x((mid - a) / (b - a))
        y = 30 + i * strip.row_pitch() + ROW_H - 2 + LABEL_H / 2
        pos = QPointF(QPoint(round(x), round(y)))
        app.sendEvent(strip, QMouseEvent(QEvent.Type.MouseMove, pos, strip.mapToGlobal(pos),
                                         Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                                         Qt.KeyboardModifier.NoModifier))
        app.processEvents()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "timeline-labels.png"
    panel.grab().save(str(path))
    print(f"wrote {path}", flush=True)
    panel.shutdown()
    panel.deleteLater()
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--db", type=Path, default=None, help="an existing tracks.db to show")
    ap.add_argument("--days", type=int, default=21)
    args = ap.parse_args()
    if args.db is not None:
        shoot(args.out, args.db)
        return
    with tempfile.TemporaryDirectory(prefix="trackdesk-labels-") as tmp:
        shoot(args.out, build(Path(tmp) / "tracks.db", args.days))


if __name__ == "__main__":
    main()
