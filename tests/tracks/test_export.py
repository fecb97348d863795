"""Export (GPX, GeoJSON, CSV) and `trackdesk stats countries` on real logs from Beijing."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.skills.chain import run_chain
from tests.tracks.conftest import count, new_db, points, run_import

BEIJING = Path(__file__).resolve().parents[1] / "data" / "geolife" / "beijing_001.csv"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trackdesk", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = new_db(tmp_path_factory.mktemp("bj") / "tracks.db")
    assert run_import(path, [BEIJING]).ok
    run_chain(path)
    return path


def _xy(db: Path) -> list[tuple]:
    return [(round(p[0], 3), p[1], p[2]) for p in points(db)]


@pytest.mark.parametrize("fmt", ["gpx", "geojson", "csv"])
def test_export_then_import_into_a_fresh_db_gives_the_same_points(
        analysed: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"all.{fmt}"
    res = cli("--db", str(analysed), "export", str(out), "--with-analysis")
    assert res.returncode == 0, res.stderr
    assert "exported 20766 points" in res.stdout
    fresh = new_db(tmp_path / "fresh.db")
    assert run_import(fresh, [out]).ok
    assert count(fresh) == count(analysed) == 20_766
    assert _xy(fresh) == _xy(analysed)


def test_gpx_has_one_track_per_trip_with_its_mode_as_type(analysed: Path, tmp_path: Path
                                                          ) -> None:
    out = tmp_path / "t.gpx"
    assert cli("--db", str(analysed), "export", str(out)).returncode == 0
    text = out.read_text()
    conn = sqlite3.connect(analysed)
    modes = dict(conn.execute("SELECT id, main_mode FROM trips"))
    got = re.findall(r"<trk><name>trip (\d+)</name><type>([a-z]+)</type>", text)
    assert len(got) >= len(modes) * 0.9 > 0
    assert all(modes[int(tid)] == typ for tid, typ in got)
    assert len({typ for _, typ in got}) >= 2  # walks and rides, not one label for all


def test_geojson_holds_stays_and_named_places(analysed: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.geojson"
    assert cli("--db", str(analysed), "export", str(out), "--with-analysis").returncode == 0
    feats = json.loads(out.read_text())["features"]
    kinds = {f["properties"]["kind"] for f in feats}
    assert {"trip", "stay", "place"} <= kinds
    places = [f["properties"] for f in feats if f["properties"]["kind"] == "place"]
    assert places and all(p["name"] and p["country_code"] == "CN" for p in places)


def test_a_period_exports_only_its_days(analysed: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.csv"
    res = cli("--db", str(analysed), "export", str(out), "--from", "2008-10-25", "--to",
              "2008-10-25")
    assert res.returncode == 0, res.stderr
    rows = out.read_text().splitlines()[1:]
    assert rows and all(r.startswith("2008-10-25T") for r in rows)
    assert len(rows) == 7319


@pytest.mark.parametrize("args,message", [
    (("export", "x.kml"), "cannot tell the format"),
    (("export", "x.gpx", "--from", "2008-13-01"), "is not a date"),
    (("export", "x.gpx", "--from", "2008-10-26", "--to", "2008-10-25"), "is after"),
    (("export", "x.gpx", "--from", "2030-01-01"), "no points in that period"),
])
def test_bad_export_requests_say_why_in_one_line_and_write_nothing(
        analysed: Path, tmp_path: Path, args: tuple, message: str) -> None:
    argv = [a.replace("x.", str(tmp_path / "x.")) for a in args]
    res = cli("--db", str(analysed), *argv)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in res.stderr
    assert not list(tmp_path.iterdir())


def test_stats_countries_counts_days_from_stays(analysed: Path) -> None:
    res = cli("--db", str(analysed), "stats", "countries", "--json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [r["country_code"] for r in rows] == ["CN"]
    assert rows[0]["name"] == "China"
    # 7 days of logs, stays on each (local days in Asia/Shanghai)
    assert 5 <= rows[0]["days"] <= 8
    assert rows[0]["first_day"] >= "2008-10-23"
    text = cli("--db", str(analysed), "stats", "countries", "--year", "2008").stdout
    assert "China" in text and "CN" in text
    assert json.loads(cli("--db", str(analysed), "stats", "countries", "--year", "2009",
                          "--json").stdout) == []
    cities = json.loads(cli("--db", str(analysed), "stats", "cities", "--json").stdout)
    assert cities and all(c["country_code"] == "CN" and c["name"] for c in cities)


@pytest.mark.parametrize("fmt", ["gpx", "csv"])
def test_a_big_gpx_or_csv_export_streams_without_holding_the_points(
        tmp_path: Path, fmt: str) -> None:
    # A tracks.db not analysed yet is one run of points outside any trip: the GPX writer
    # held that whole run (every point) in memory before writing its <trk>.
    import tracemalloc

    from trackdesk.tracks.export import export

    db = new_db(tmp_path / "tracks.db")
    n = 150_000
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO points (ts, lat, lon, altitude, source) "
                         "VALUES (?, ?, ?, ?, 'csv')",
                         ((1.6e9 + i, 39.9 + i * 1e-7, 116.3 + i * 1e-7, 50.0 + i % 7)
                          for i in range(n)))
    tracemalloc.start()
    try:
        res = export(db, tmp_path / f"all.{fmt}")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.points == n
    # Streaming holds one fetchmany batch (about 10 MB); all the rows are over 35 MB.
    assert peak < 20_000_000, peak
