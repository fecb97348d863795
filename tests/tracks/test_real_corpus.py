"""Real files from public repositories (tests/data/real, SOURCES.md): each imported through
trackdesk and compared, point by point, with an independent reading written here (gpxpy,
fitdecode, lxml by hand, the csv module), not with trackdesk's own readers."""

from __future__ import annotations

import csv
import math
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import fitdecode
import gpxpy
import pytest
from lxml import etree

from tests.tracks.conftest import run_import

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
FILES = sorted(p for p in REAL.iterdir() if p.name != "SOURCES.md")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Point = tuple[float, float, float]  # ts, lat, lon


def _ts(dt: datetime) -> float:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - EPOCH).total_seconds()


# -- the independent readings -----------------------------------------------------------
def ref_gpx(path: Path) -> list[Point]:
    with open(path, encoding="utf-8-sig") as fh:
        doc = gpxpy.parse(fh)
    pts = [p for t in doc.tracks for s in t.segments for p in s.points]
    pts += [p for r in doc.routes for p in r.points] + list(doc.waypoints)
    return [(_ts(p.time), p.latitude, p.longitude) for p in pts if p.time is not None]


def ref_fit(path: Path) -> list[Point]:
    out = []
    with fitdecode.FitReader(str(path)) as fit:
        for frame in fit:
            if isinstance(frame, fitdecode.FitDataMessage) and frame.name == "record":
                lat = frame.get_value("position_lat", fallback=None)
                lon = frame.get_value("position_long", fallback=None)
                t = frame.get_value("timestamp", fallback=None)
                if lat is not None and lon is not None and t is not None:
                    out.append((_ts(t), lat * 180 / 2**31, lon * 180 / 2**31))
    return out


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def ref_tcx(path: Path) -> list[Point]:
    out = []
    for tp in etree.parse(str(path)).iter("{*}Trackpoint"):
        kids = {_local(c): c for c in tp}
        if "Position" in kids and "Time" in kids:
            pos = {_local(c): float(c.text) for c in kids["Position"]}
            when = datetime.fromisoformat(kids["Time"].text.replace("Z", "+00:00"))
            out.append((_ts(when), pos["LatitudeDegrees"], pos["LongitudeDegrees"]))
    return out


def ref_kml(path: Path) -> list[Point]:
    out = []
    for track in etree.parse(str(path)).iter("{*}Track"):
        whens = [c.text for c in track if _local(c) == "when"]
        coords = [c.text for c in track if _local(c) == "coord"]
        for when, coord in zip(whens, coords, strict=True):
            if coord and coord.split():
                lon, lat = map(float, coord.split()[:2])
                t = datetime.fromisoformat(when.replace("Z", "+00:00"))
                out.append((_ts(t), lat, lon))
    return out


def ref_plt(path: Path) -> list[Point]:
    out = []
    lines = path.read_bytes().decode("latin-1").splitlines()[6:]
    for line in lines:
        f = [x.strip() for x in line.split(",")]
        if len(f) < 5:
            continue
        if len(f) >= 7 and f[5][:2] in ("19", "20") and "-" in f[5]:  # GeoLife's ISO text
            t = _ts(datetime.strptime(f"{f[5]} {f[6]}", "%Y-%m-%d %H:%M:%S"))
        else:  # OziExplorer: days since 1899-12-30, whole seconds
            t = float(round((float(f[4]) - 25569) * 86400))
        out.append((t, float(f[0]), float(f[1])))
    return out


def ref_csv(path: Path) -> list[Point]:
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:
        if "Time" in r and "Lat" in r:  # gpsbabel's interpolation output: epoch ms
            out.append((int(r["Time"]) / 1000, float(r["Lat"]), float(r["Long"])))
        elif "LATITUDE" in r:  # iBlue 747 logger: hemisphere columns
            lat = float(r["LATITUDE"]) * (-1 if r["N/S"] == "S" else 1)
            lon = float(r["LONGITUDE"]) * (-1 if r["E/W"] == "W" else 1)
            t = datetime.strptime(f"{r['DATE']} {r['TIME']}", "%Y/%m/%d %H:%M:%S")
            out.append((_ts(t), lat, lon))
        else:  # unicsv: Date and Time columns
            t = datetime.strptime(f"{r['Date']} {r['Time']}", "%Y/%m/%d %H:%M:%S")
            out.append((_ts(t), float(r["Latitude"]), float(r["Longitude"])))
    return out


REFERENCE = {".gpx": ref_gpx, ".fit": ref_fit, ".tcx": ref_tcx, ".kml": ref_kml,
             ".plt": ref_plt, ".csv": ref_csv}


def _unique(points: list[Point]) -> list[Point]:
    """The same instant at the same centimetre is one point (trackdesk's dedupe rule)."""
    seen, out = set(), []
    for p in sorted(points):
        key = (round(p[0] * 1000), round(p[1] * 1e7), round(p[2] * 1e7))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def test_the_corpus_is_real_and_small() -> None:
    assert len(FILES) >= 20
    assert {p.suffix for p in FILES} >= {".gpx", ".fit", ".tcx", ".kml", ".plt", ".csv"}
    assert sum(p.stat().st_size for p in FILES) < 5_000_000
    sources = (REAL / "SOURCES.md").read_text(encoding="utf-8")
    for p in FILES:
        assert f"`{p.name}`" in sources, f"{p.name} is not cited in SOURCES.md"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_point_as_an_independent_reader_reads_it(db: Path, path: Path) -> None:
    expected = _unique(REFERENCE[path.suffix](path))
    assert expected, "a corpus file without a single timed point proves nothing"
    out = run_import(db, [path])
    assert out.ok, out.error
    conn = sqlite3.connect(db)
    try:
        got = conn.execute("SELECT ts, lat, lon FROM points ORDER BY ts, lat, lon").fetchall()
    finally:
        conn.close()
    assert len(got) == len(expected), (len(got), len(expected), out.summary)
    assert out.summary["new"] == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert math.isclose(g[0], e[0], abs_tol=0.001), (g, e)
        assert abs(g[1] - e[1]) <= 1e-6 and abs(g[2] - e[2]) <= 1e-6, (g, e)
    assert got[0][0] == pytest.approx(expected[0][0], abs=0.001)
    assert got[-1][0] == pytest.approx(expected[-1][0], abs=0.001)


def _annotations(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT start_ts, end_ts, kind, value, raw, source "
                            "FROM annotations ORDER BY start_ts").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("name", [p.name for p in FILES if p.suffix == ".fit"])
def test_fit_session_sport_becomes_the_activity(db: Path, name: str) -> None:
    sessions = []
    with fitdecode.FitReader(str(REAL / name)) as fit:
        for frame in fit:
            if isinstance(frame, fitdecode.FitDataMessage) and frame.name == "session":
                start = frame.get_value("start_time", fallback=None)
                sessions.append((frame.get_value("sport", fallback=None),
                                 _ts(start) if start else None,
                                 frame.get_value("total_elapsed_time", fallback=None)))
    assert run_import(db, [REAL / name]).ok
    mapping = {"cycling": "bike", "running": "walk", "walking": "walk", "hiking": "walk"}
    want = [(t0, t0 + el, mapping[s]) for s, t0, el in sessions if s in mapping]
    got = [(a[0], a[1], a[3]) for a in _annotations(db) if a[5] == "fit"]
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g[0] == pytest.approx(w[0], abs=0.001)
        assert g[1] == pytest.approx(w[1], abs=0.001)
        assert g[2] == w[2]


def test_gpx_track_type_becomes_the_activity(db: Path) -> None:
    """NikePlus' `<type>run</type>`: a run, on foot, from its first to its last point."""
    path = REAL / "gpxpy__track-with-less-sec-time.gpx"
    pts = sorted(ref_gpx(path))
    assert run_import(db, [path]).ok
    ((t0, t1, kind, value, raw, source),) = _annotations(db)
    assert (kind, value, raw, source) == ("activity", "walk", "run", "gpx")
    assert t0 == pytest.approx(pts[0][0], abs=0.001)
    assert t1 == pytest.approx(pts[-1][0], abs=0.001)
