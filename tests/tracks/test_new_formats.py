"""The formats issue 19 found missing: a GeoLife user folder (``.plt`` + ``labels.txt``),
trackintel's staypoints/triplegs CSVs, Dawarich's JSON export, and the activity a GPX
``<type>`` names; the ``trackdesk annotations list`` command."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.tracks.conftest import count, points, run_import
from trackdesk.cli import main as cli_main
from trackdesk.tracks import gpxtype
from trackdesk.tracks.formats import expand

PLT_HEADER = ("Geolife trajectory\r\nWGS 84\r\nAltitude is in Feet\r\nReserved 3\r\n"
              "0,2,255,My Track,0,0,2,8421376\r\n0\r\n")
# 2008-10-23T02:53:04Z
T_GEOLIFE = 1224730384


def annotations(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT start_ts, end_ts, kind, value, raw, source "
                            "FROM annotations ORDER BY start_ts, kind").fetchall()
    finally:
        conn.close()


def geolife_user(root: Path) -> Path:
    user = root / "Data" / "010"
    (user / "Trajectory").mkdir(parents=True)
    (user / "Trajectory" / "20081023025304.plt").write_text(
        PLT_HEADER
        + "39.984702,116.318417,0,492,39744.1201851852,2008-10-23,02:53:04\r\n"
        + "39.984683,116.31845,0,-777,39744.1202546296,2008-10-23,02:53:10\r\n"
        + "39.984686,116.318417,0,492\r\n"                       # too few fields
        + "91.5,116.318417,0,492,39744.1203125,2008-10-23,02:53:15\r\n", newline="")
    (user / "labels.txt").write_text(
        "Start Time\tEnd Time\tTransportation Mode\r\n"
        "2008/10/23 02:53:04\t2008/10/23 02:53:10\tsubway\r\n"
        "2008/10/23 03:00:00\t2008/10/23 03:30:00\ttaxi\r\n"
        "2008/10/23 04:00:00\t2008/10/23 04:30:00\tboat\r\n", newline="")
    return user


def test_geolife_user_folder_points_and_labels(db: Path, tmp_path: Path) -> None:
    user = geolife_user(tmp_path)
    files, skipped = expand([user])
    assert sorted(f.format for f in files) == ["geolife-labels", "plt"], skipped
    out = run_import(db, [user])
    assert out.ok, out.error
    rows = points(db)
    assert [r[:4] for r in rows] == [(T_GEOLIFE, 39.984702, 116.318417, 149.962),
                                     (T_GEOLIFE + 6, 39.984683, 116.31845, None)]
    assert out.summary["rejected_reasons"] == {"row with too few fields": 1,
                                               "latitude out of range": 1}
    assert rows[0][7] == "plt"
    assert annotations(db) == [
        (T_GEOLIFE, T_GEOLIFE + 6, "activity", "train", "subway", "geolife"),
        (T_GEOLIFE + 416, T_GEOLIFE + 2216, "activity", "car", "taxi", "geolife")]
    assert out.summary["notes"][
        "activity labels not kept (no trackdesk activity for them)"] == 1  # boat


def test_a_plt_that_is_not_a_track_is_refused_with_its_reason(db: Path,
                                                              tmp_path: Path) -> None:
    f = tmp_path / "plot.plt"
    f.write_text("set terminal png\nplot sin(x)\n")
    files, skipped = expand([f])
    assert files == [] and "not a GeoLife or OziExplorer track" in skipped[0].reason
    out = run_import(db, [f])
    assert not out.ok and "not a GeoLife or OziExplorer track" in out.error


STAYPOINTS = (
    "id,user_id,started_at,finished_at,geom,elevation,purpose\n"
    "0,1,2008-10-23 02:53:04+00:00,2008-10-23 04:08:07+00:00,POINT (116.3184 39.9847),"
    "45.2,home\n"
    "1,1,2008-10-23 05:00:00+00:00,2008-10-23 05:00:00+00:00,POINT (116.2 39.9),,\n"
    '2,1,2008-10-23 06:00:00+00:00,2008-10-23 07:00:00+00:00,"POLYGON ((1 1, 2 2, 1 1))",,\n')
TRIPLEGS = (
    "id,user_id,started_at,finished_at,geom,mode\n"
    '0,1,2008-10-23 04:08:07+00:00,2008-10-23 04:18:07+00:00,'
    '"LINESTRING (116.3 39.98, 116.31 39.98, 116.33 39.98)",bus\n'
    '1,1,2008-10-23 05:00:00+00:00,,"LINESTRING (116.3 39.98, 116.31 39.98)",'
    "slow_mobility\n")


def test_trackintel_staypoints_and_triplegs(db: Path, tmp_path: Path) -> None:
    sp = tmp_path / "staypoints.csv"
    sp.write_text(STAYPOINTS)
    tpl = tmp_path / "triplegs.csv"
    tpl.write_text(TRIPLEGS)
    files, skipped = expand([sp, tpl])
    assert [f.format for f in files] == ["trackintel", "trackintel"], skipped
    out = run_import(db, [sp, tpl])
    assert out.ok, out.error
    rows = [r[:4] for r in points(db)]
    arrive, leave = T_GEOLIFE, T_GEOLIFE + 4503
    # staypoint 0: arrival and departure; staypoint 1: one instant; the polygon is
    # rejected; tripleg 0: three points spread by distance (the first leg is half as
    # long as the second); tripleg 1 has no end time: its points are rejected
    assert rows == [
        (arrive, 39.9847, 116.3184, 45.2),
        (leave, 39.98, 116.3, None),                       # the bus leaves ...
        (leave, 39.9847, 116.3184, 45.2),                  # ... as the stay ends
        (pytest.approx(leave + 200, abs=0.01), 39.98, 116.31, None),
        (leave + 600, 39.98, 116.33, None),
        (T_GEOLIFE + 7616, 39.9, 116.2, None)]
    assert out.summary["rejected_reasons"] == {
        "a geometry that is neither POINT nor LINESTRING": 1, "no timestamp": 2}
    assert out.summary["notes"]["tripleg times spread along its line (trackintel)"] == 3
    assert annotations(db) == [
        (arrive, leave, "semantic", "HOME", "home", "trackintel"),
        (leave, leave + 600, "activity", "bus", "bus", "trackintel")]


def test_dawarich_json_export(db: Path, tmp_path: Path) -> None:
    doc = {"counts": {"points": 3, "visits": 1}, "settings": {"distance_unit": "km"},
           "areas": [], "points": [
               {"lonlat": "POINT (13.4050 52.5200)", "timestamp": 1700000000,
                "altitude": 34, "velocity": "1.5", "accuracy": 8, "battery": 81},
               {"latitude": "52.5201", "longitude": "13.4051", "timestamp": "1700000060"},
               {"lonlat": "POINT (13.4052 52.5202)"}],
           "visits": [{"name": "Office", "started_at": "2023-11-14T22:13:20Z",
                       "ended_at": "2023-11-14T23:13:20Z", "status": "confirmed",
                       "place": {"name": "Office", "latitude": 52.52, "longitude": 13.405}}]}
    f = tmp_path / "dawarich-export.json"
    f.write_text(json.dumps(doc))
    files, skipped = expand([f])
    assert [x.format for x in files] == ["dawarich"], skipped
    out = run_import(db, [f])
    assert out.ok, out.error
    rows = points(db)
    assert [r[:5] for r in rows] == [(1700000000, 52.52, 13.405, 34.0, 1.5),
                                     (1700000060, 52.5201, 13.4051, None, None)]
    assert out.summary["rejected_reasons"] == {"no timestamp": 1}
    assert annotations(db) == [(1700000000, 1700003600, "place", "Office", "Office",
                                "dawarich")]


GPX_TYPED = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">
<wpt lat="46.0" lon="14.0"><time>2020-09-13T10:00:00Z</time><type>Restaurant</type></wpt>
<trk><name>morning</name><link href="http://x"><type>text/html</type></link>
<type>cycling</type><trkseg>{ride}</trkseg></trk>
<trk><name>then</name><type>Walk</type><trkseg>{walk}</trkseg></trk>
</gpx>
"""


def _trkpts(n: int, t0: int, lat: float) -> str:
    from datetime import UTC, datetime

    return "".join(
        f'<trkpt lat="{lat + i * 1e-4:.7f}" lon="14.5"><ele>300</ele><time>'
        f'{datetime.fromtimestamp(t0 + i, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}</time></trkpt>'
        for i in range(n))


# A small file; one read in many chunks; one above PIPE_ABOVE_BYTES (16 MB), read in a
# forked child whose annotations must cross the pipe.
@pytest.mark.parametrize("n", [3, 30_000, 190_000])
def test_gpx_track_types_cover_each_tracks_range(db: Path, tmp_path: Path, n: int) -> None:
    t0 = 1_600_000_000
    f = tmp_path / "two.gpx"
    f.write_text(GPX_TYPED.format(ride=_trkpts(n, t0, 46.0),
                                  walk=_trkpts(3, t0 + n + 100, 47.0)))
    if n > 100_000:
        from trackdesk.tracks.importer import PIPE_ABOVE_BYTES

        assert f.stat().st_size >= PIPE_ABOVE_BYTES
    out = run_import(db, [f])
    assert out.ok, out.error
    assert count(db) == n + 3 + 1
    assert annotations(db) == [(t0, t0 + n - 1, "activity", "bike", "cycling", "gpx"),
                               (t0 + n + 100, t0 + n + 102, "activity", "walk", "Walk",
                                "gpx")]


@pytest.mark.parametrize("times, lo, hi", [
    # Text order is time order only for times written alike: 12:00:00.5Z sorts before
    # 12:00:00Z as text, and 12:00:01+02:00 is two hours earlier than it reads.
    (["2020-09-13T12:00:00Z", "2020-09-13T12:00:00.5Z", "2020-09-13T11:59:59Z"],
     1599998399.0, 1599998400.5),
    (["2020-09-13T10:30:00.0000Z", "2020-09-13T12:00:01+02:00", "2020-09-13T11:00:00.0000Z"],
     1599991201.0, 1599994800.0),
    # An impossible date, the smallest as text, is passed over, not taken as the start.
    (["2020-09-13T12:00:00Z", "2020-02-30T00:00:00Z", "2020-09-13T12:00:09Z"],
     1599998400.0, 1599998409.0),
])
def test_a_gpx_types_range_is_its_earliest_and_latest_time(
        times: list[str], lo: float, hi: float) -> None:
    import io

    data = ('<gpx><trk><type>running</type><trkseg>' + "".join(
        f'<trkpt lat="46" lon="14"><time>{t}</time></trkpt>' for t in times)
        + "</trkseg></trk></gpx>").encode()
    w = gpxtype._Watch(io.BytesIO(data))
    while w.read(1 << 16):
        pass
    assert w.found == [("running", lo, hi)]


def test_gpx_type_survives_the_fast_path_restart(db: Path, tmp_path: Path) -> None:
    """A plain file that the fast path gives up on after writing (a waypoint far into
    the file): the full reader starts over, and each track's type is still kept once."""
    t0 = 1_600_000_000
    f = tmp_path / "restart.gpx"
    f.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="t" '
        'xmlns="http://www.topografix.com/GPX/1/1">\n'
        f"<trk><type>cycling</type><trkseg>{_trkpts(120_000, t0, 46.0)}</trkseg></trk>"
        f"<trk><type>Walk</type><trkseg>{_trkpts(3, t0 + 200_000, 47.0)}</trkseg></trk>"
        '<wpt lat="46.0" lon="14.0"><time>2020-09-13T10:00:00Z</time></wpt></gpx>\n')
    restarts = []
    real = gpxtype.read_with

    def spy(inner: Any, stream: Any, out: Any) -> None:
        restarts.append(inner)
        real(inner, stream, out)

    gpxtype.read_with = spy  # what the Restart's partial calls
    try:
        out = run_import(db, [f], batch_size=10_000)
    finally:
        gpxtype.read_with = real
    assert out.ok, out.error
    assert len(restarts) == 2  # the fast path, then the full reader from byte 0
    assert count(db) == 120_000 + 3 + 1
    assert annotations(db) == [(t0, t0 + 119_999, "activity", "bike", "cycling", "gpx"),
                               (t0 + 200_000, t0 + 200_002, "activity", "walk", "Walk",
                                "gpx")]


def test_cli_annotations_list(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture
                              ) -> None:
    user = geolife_user(tmp_path)
    assert run_import(db, [user]).ok
    assert cli_main(["--db", str(db), "annotations", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(a["value"], a["raw"], a["source"]) for a in listed] == [
        ("train", "subway", "geolife"), ("car", "taxi", "geolife")]
    assert cli_main(["--db", str(db), "annotations", "list", "--from",
                     "2008-10-23T03:10:00Z"]) == 0
    text = capsys.readouterr().out
    assert "taxi" in text and "subway" not in text
    assert "2008-10-23 03:00:00  2008-10-23 03:30:00  activity car (taxi)  [geolife]" \
        in text
    assert cli_main(["--db", str(db), "annotations", "list", "--from", "soon"]) == 2
    assert "not a time" in capsys.readouterr().err


def test_a_geojson_with_lonlat_properties_stays_geojson(tmp_path: Path) -> None:
    """Dawarich's GeoJSON export carries point fields in properties: it is GeoJSON."""
    f = tmp_path / "dawarich.geojson.json"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [13.4, 52.5]},
         "properties": {"timestamp": 1700000000, "lonlat": "POINT (13.4 52.5)",
                        "points": 1}}]}))
    files, _ = expand([f])
    assert [x.format for x in files] == ["geojson"]


def test_trackintel_semicolon_separated(db: Path, tmp_path: Path) -> None:
    """trackintel's examples read and write ';'-separated files."""
    f = tmp_path / "triplegs.csv"
    f.write_text("id;user_id;started_at;finished_at;geom\n"
                 "0;1;2008-10-23T04:08:07Z;2008-10-23T04:18:07Z;"
                 "LINESTRING (116.3 39.98, 116.33 39.98)\n")
    out = run_import(db, [f])
    assert out.ok, out.error
    assert [r[:3] for r in points(db)] == [(T_GEOLIFE + 4503, 39.98, 116.3),
                                           (T_GEOLIFE + 5103, 39.98, 116.33)]
