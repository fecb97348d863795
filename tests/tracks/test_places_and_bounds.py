"""Issue 19, the rest: GPX waypoints kept as the person's places, routes and files of
rejected points said plainly, points_read per file, one overlong value in a zip member
refused without reading it whole."""

from __future__ import annotations

import base64
import io
import json
import os
import random
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.tracks.conftest import CORPUS, count, run_import
from tests.tracks.test_formats import T0, gpx, trkpts

ROOT = Path(__file__).resolve().parents[2]


def annotations(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT start_ts, end_ts, kind, value, source, lat, lon, place_id "
                            "FROM annotations ORDER BY value, lat").fetchall()
    finally:
        conn.close()


# -- waypoints and routes ------------------------------------------------------------------
WAYPOINTS = gpx(
    '<wpt lat="45.7579333" lon="14.2948999"><name>Parking</name></wpt>'
    '<wpt lat="45.7351999" lon="14.3775166"><name>Birds nest</name><sym>Flag</sym></wpt>'
    '<wpt lat="45.7912667" lon="14.2935666"><name>Parking</name></wpt>')


def test_named_waypoints_without_times_are_kept_as_places_and_the_import_says_so(
        db: Path, tmp_path: Path) -> None:
    f = tmp_path / "places.gpx"
    f.write_text(WAYPOINTS)
    out = run_import(db, [f])
    assert out.ok, out.error
    s = out.summary
    assert s["outcome"] == "completed"
    assert s["status_reason"] == "completed: no track points; 3 waypoint(s) kept as your places"
    # A waypoint without a time is not a track point: not read, not rejected.
    assert (s["points_read"], s["new"], s["rejected"]) == (0, 0, 0)
    assert count(db) == 0
    rows = annotations(db)
    # Two places of the same name at different positions are two places.
    assert rows == [
        (0.0, 0.0, "place", "Birds nest", "gpx", 45.7351999, 14.3775166,
         "geo:45.7351999,14.3775166"),
        (0.0, 0.0, "place", "Parking", "gpx", 45.7579333, 14.2948999,
         "geo:45.7579333,14.2948999"),
        (0.0, 0.0, "place", "Parking", "gpx", 45.7912667, 14.2935666,
         "geo:45.7912667,14.2935666")]
    again = run_import(db, [f])
    assert again.ok and len(annotations(db)) == 3  # importing again adds none
    assert again.summary["status_reason"] == (
        "completed: no track points; 3 waypoint(s) kept as your places (already there)")


def test_the_cli_lists_a_place_without_a_time_as_such(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "places.gpx"
    f.write_text(WAYPOINTS)
    assert run_import(db, [f]).ok
    proc = subprocess.run([sys.executable, "-m", "trackdesk", "--db", str(db), "annotations",
                           "list"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if "Birds nest" in x)
    assert line.startswith("(no time)") and "1970" not in line


def test_a_timed_named_waypoint_is_a_fix_and_a_place_at_that_instant(
        db: Path, tmp_path: Path) -> None:
    f = tmp_path / "walk.gpx"
    f.write_text(gpx('<wpt lat="46.1" lon="14.1"><time>2020-09-13T10:00:00Z</time>'
                     "<name>Summit</name></wpt>"
                     f"<trk><trkseg>{trkpts(3)}</trkseg></trk>"))
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["new"] == 4 and "status_reason" not in out.summary
    t = 1_599_991_200.0  # 2020-09-13T10:00:00Z
    assert annotations(db) == [(t, t, "place", "Summit", "gpx", 46.1, 14.1, "geo:46.1000000,14.1000000")]


def test_a_route_without_times_fails_saying_it_is_a_plan(db: Path) -> None:
    out = run_import(db, [CORPUS / "route.gpx"])  # gpxpy's test file: 55 <rtept>, no time
    assert not out.ok
    assert out.error.startswith("not imported: ")
    assert ("no usable track points in it, all 55 points rejected — route point without a "
            "time (a planned route, not where you were): 55; nothing imported") in out.error
    assert count(db) == 0


def test_a_file_whose_every_point_is_rejected_is_not_imported_and_says_why(
        db: Path, tmp_path: Path) -> None:
    reset = tmp_path / "reset.gpx"
    reset.write_text(gpx("<trk><trkseg>" + "".join(
        f'<trkpt lat="46.{i}" lon="14"><time>1970-01-01T00:00:0{i}Z</time></trkpt>'
        for i in range(3)) + "</trkseg></trk>"))
    good = tmp_path / "good.gpx"
    good.write_text(gpx(f"<trk><trkseg>{trkpts(5)}</trkseg></trk>"))
    out = run_import(db, [reset, good])
    assert out.ok, out.error
    s = out.summary
    assert s["status_reason"].startswith("completed with 1 of 2 file(s) not imported")
    files = {Path(f["name"]).name: f for f in s["per_file"]}
    assert files["reset.gpx"]["status"] == "failed"
    assert "all 3 points rejected — timestamp before 1980 or after 2200 (a reset clock): 3" \
        in files["reset.gpx"]["error"]
    assert count(db) == 5


def test_an_import_of_points_already_there_says_nothing_new(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "walk.gpx"
    f.write_text(gpx(f"<trk><trkseg>{trkpts(4)}</trkseg></trk>"))
    assert run_import(db, [f]).ok
    again = run_import(db, [f])
    assert again.summary["status_reason"] == "completed: no new points (4 already in tracks.db)"


# -- points_read per file ------------------------------------------------------------------
def test_per_file_points_read_is_new_plus_duplicates_plus_rejected(
        db: Path, tmp_path: Path) -> None:
    a = tmp_path / "a.gpx"
    a.write_text(gpx(f"<trk><trkseg>{trkpts(6)}</trkseg></trk>"))
    b = tmp_path / "b.gpx"  # 3 of a's points again, 2 new, one without a time
    b.write_text(gpx(f"<trk><trkseg>{trkpts(5, start=T0 + 3)}"
                     '<trkpt lat="46.5" lon="14.5"/></trkseg></trk>'))
    c = tmp_path / "c.csv"
    c.write_text("lat,lon,time\n" + "".join(f"47.{i},14,{T0 + i}\n" for i in range(4))
                 + "91,14,1600000100\n")
    out = run_import(db, [a, b, c])
    assert out.ok, out.error
    files = {Path(f["name"]).name: f for f in out.summary["per_file"]}
    assert {n: (f["points_read"], f["new"], f["duplicates"], f["rejected"])
            for n, f in files.items()} == {"a.gpx": (6, 6, 0, 0), "b.gpx": (6, 0, 5, 1),
                                           "c.csv": (5, 4, 0, 1)}
    for f in files.values():
        assert f["points_read"] == f["new"] + f["duplicates"] + f["rejected"]
    conn = sqlite3.connect(db)
    table = dict(conn.execute("SELECT path, points_read FROM import_files").fetchall())
    conn.close()
    assert {Path(p).name: n for p, n in table.items()} == {"a.gpx": 6, "b.gpx": 6, "c.csv": 5}


# -- one overlong value --------------------------------------------------------------------
def _noise(n: int) -> bytes:
    """``n`` bytes of base64 text that does not compress (so no zip bomb rule applies)."""
    return base64.b64encode(random.Random(19).randbytes(n * 3 // 4 + 3))[:n]


def test_a_huge_json_string_in_a_zip_member_is_refused(db: Path, tmp_path: Path) -> None:
    z = tmp_path / "export.zip"
    head = ('{"type": "FeatureCollection", "features": [{"type": "Feature", '
            '"geometry": {"type": "Point", "coordinates": [14.5, 46.0]}, '
            f'"properties": {{"time": {T0}, "note": "').encode()
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("points.geojson", head + _noise(11_000_000) + b'"}}]}')
    out = run_import(db, [z])
    assert not out.ok
    assert "points.geojson" in out.error
    assert "a text value longer than 10 MB" in out.error and "byte " in out.error
    assert count(db) == 0


def test_a_huge_xml_text_node_in_a_zip_member_is_refused(db: Path, tmp_path: Path) -> None:
    z = tmp_path / "export.zip"
    body = gpx("<trk><desc>@@</desc><trkseg>" + trkpts(3) + "</trkseg></trk>")
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("walk.gpx", body.encode().replace(b"@@", _noise(11_000_000)))
    out = run_import(db, [z])
    assert not out.ok
    assert "walk.gpx" in out.error and "longer than 10 MB" in out.error
    assert count(db) == 0


def test_a_huge_json_value_is_refused_without_reading_it_into_memory(
        db: Path, tmp_path: Path) -> None:
    # 256 MB of one string behind a ~5 MB zip member: it expands ~50 times, far below the
    # zip bomb rule; it used to be built whole (twice: ijson's buffer, Python's str).
    z = tmp_path / "big.zip"
    block = _noise(16 << 10) * 64  # 1 MB that deflate shrinks only ~50 times
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf, \
            zf.open("Records.json", "w", force_zip64=True) as fh:
        fh.write(b'{"locations": [{"timestamp": "2020-09-13T12:26:40Z", "latitudeE7": '
                 b'460000000, "longitudeE7": 145000000, "note": "')
        for _ in range(256):
            fh.write(block)
        fh.write(b'"}]}')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    params = json.dumps({"paths": json.dumps([str(z)]), "gcj02": False})
    proc = subprocess.run(
        [sys.executable, "-m", "trackdesk.tracks.worker", "import", "--task-id", "4",
         "--db-path", str(db), "--params", params],
        capture_output=True, text=True, env=env, timeout=300)
    msgs = [json.loads(line) for line in proc.stdout.splitlines()]
    err = [m for m in msgs if m["type"] == "error"]
    assert err and "Records.json" in err[0]["message"], proc.stdout[-2000:]
    assert "a text value longer than 10 MB" in err[0]["message"]
    peak = max(m["peak_rss_mb"] for m in msgs if m["type"] == "resources")
    assert peak < 250, peak  # the task's peak includes the reading child's
    assert count(db) == 0


@pytest.mark.parametrize("chunk", [1, 3, 64])  # blocks smaller than the limit
def test_the_json_guard_tells_strings_from_long_arrays_of_numbers(chunk: int) -> None:
    from trackdesk.tracks.base import ImportFailure, JsonValueGuard

    def verdict(data: bytes) -> str:
        g = JsonValueGuard(io.BytesIO(data), limit=100)
        try:
            while g.read(chunk):
                pass
        except ImportFailure as exc:
            return exc.message.split(" longer")[0]
        return "ok"

    numbers = b'{"coordinates": [' + b"14.123456, " * 300 + b"1]}"
    assert verdict(numbers) == "ok"  # 3 KB without a quote, but no value is long
    assert verdict(b'{"k": "' + b"x" * 300 + b'"}') == "a text value"
    # Escaped quotes do not end a string; escaped backslashes before a quote do.
    assert verdict(b'{"k": "' + b'a\\"' * 100 + b'"}') == "a text value"
    assert verdict(b'{"k": "' + b"\\\\" * 40 + b'", "n": [' + b"1, " * 100 + b"1]}") == "ok"
    assert verdict(b"[" + b"1" * 300 + b"]") == "a bare value"


def test_an_empty_gpx_says_it_holds_no_point_at_all(db: Path) -> None:
    # gpxpy's test files named like places are empty: a <gpx> root, a <trk> without points.
    out = run_import(db, [CORPUS / "custom_schema_locations.gpx", CORPUS / "unicode2.gpx"])
    assert not out.ok
    assert out.error.count("no track points in it: the GPX holds no point at all (no "
                           "<trkpt>, <rtept> or named <wpt>") == 2


def test_opentracks_empty_coords_are_named_as_pause_marks_not_unreadable(db: Path) -> None:
    # gpsbabel's reference/track/opentracks.kml (tests/data/real/SOURCES.md): a gx:Track
    # whose first and last <gx:coord/> are empty, OpenTracks' start and stop marks.
    out = run_import(db, [ROOT / "tests" / "data" / "real" / "gpsbabel__opentracks.kml"])
    assert out.ok, out.error
    assert out.summary["new"] == 2
    assert out.summary["rejected_reasons"] == {
        "no position (an empty <gx:coord>: a track's start, pause or resume mark)": 2}


PLT_HEAD = ("Geolife trajectory\r\nWGS 84\r\nAltitude is in Feet\r\nReserved 3\r\n"
            "0,2,255,My Track,0,0,2,8421376\r\n0\r\n")


@pytest.mark.parametrize(("member", "head", "limit"), [
    ("Data/000/Trajectory/20081023025304.plt",
     PLT_HEAD + "39.984702,116.318417,0,492,39744.1201851852,2008-10-23,02:53:04\r\n39.98",
     "1 MB"),
    ("Data/000/labels.txt", "Start Time\tEnd Time\tTransportation Mode\n2008/10/23 ", "1 MB"),
    ("triplegs.csv", "id;user_id;started_at;finished_at;geom\n0;0;2016-09-12 08:10:00+00:00;"
     "2016-09-12 09:10:00+00:00;LINESTRING (8.5 47.3, ", "16 MB"),
])
def test_an_endless_line_in_a_plt_labels_or_trackintel_member_is_refused(
        db: Path, tmp_path: Path, member: str, head: str, limit: str) -> None:
    # These readers had no line bound: one 20 MB line was read whole (a zip member of
    # any size below 64 MB passes the zip bomb rule whatever it expands to).
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, head.encode() + b"1" * (20 << 20) + b"\n")
    out = run_import(db, [z])
    assert not out.ok
    assert member in out.error and f"a line longer than {limit}" in out.error, out.error
    assert count(db) == 0


def test_the_map_shows_a_waypoint_without_a_time_as_a_place_not_a_1970_visit(
        db: Path, tmp_path: Path) -> None:
    from trackdesk.ui.views import data
    from trackdesk.ui.views.map_view import user_place_text

    f = tmp_path / "places.gpx"
    f.write_text(gpx('<wpt lat="46.1" lon="14.1"><name>Summit</name></wpt>'
                     '<wpt lat="46.1" lon="14.1"><time>2020-09-13T10:00:00Z</time>'
                     "<name>Summit</name></wpt>"
                     '<wpt lat="45.7351999" lon="14.3775166"><name>Birds nest</name></wpt>'))
    assert run_import(db, [f]).ok
    conn = sqlite3.connect(db)
    try:
        places = {p.name: p for p in data.user_places(conn)}
    finally:
        conn.close()
    assert user_place_text(places["Birds nest"]) == \
        "Birds nest — your place, from a GPX file (saved without a time)"
    summit = user_place_text(places["Summit"])  # saved once, visited once: 13 Sep 2020
    assert "2020" in summit and "1970" not in summit, summit


def test_a_waypoint_without_a_time_or_a_name_is_said_to_be_so(db: Path) -> None:
    out = run_import(db, [CORPUS / "gpx1.1_with_extensions.gpx"])  # one bare <wpt>
    assert not out.ok
    assert "its only point rejected — waypoint without a time or a name: 1" in out.error
