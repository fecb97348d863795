"""Every format, from files the tests write, including the odd ones people have."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.tracks.conftest import points, run_import
from tests.tracks.fitwriter import fit_file
from trackdesk.tracks.formats import expand
from trackdesk.tracks.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02

T0 = 1_600_000_000  # 2020-09-13T12:26:40Z


def gpx(body: str, version: str = "1.1", header: str = '<?xml version="1.0"?>\n') -> str:
    ns = f"http://www.topografix.com/GPX/{version.replace('.', '/')}"
    return f'{header}<gpx version="{version}" xmlns="{ns}" creator="t">{body}</gpx>\n'


def trkpts(n: int, start: int = T0, lat: float = 46.0) -> str:
    out = []
    for i in range(n):
        ts = f"2020-09-13T12:{26 + (40 + i) // 60:02d}:{(40 + i) % 60:02d}Z"
        out.append(f'<trkpt lat="{lat + i * 1e-4:.7f}" lon="14.5"><ele>{300 + i}</ele>'
                   f"<time>{ts}</time></trkpt>")
    return "".join(out)


# -- GPX --------------------------------------------------------------------------------
def test_gpx_track_route_and_waypoints(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "walk.gpx"
    f.write_text(gpx(
        '<wpt lat="46.1" lon="14.1"><time>2020-09-13T10:00:00Z</time></wpt>'
        f"<trk><name>x</name><trkseg>{trkpts(3)}</trkseg></trk>"
        '<rte><rtept lat="46.2" lon="14.2"/></rte>'), encoding="utf-8")
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["new"] == 4
    # Issue 19: a route point without a time is said to be a plan, not "no timestamp".
    assert out.summary["rejected_reasons"] == {
        "route point without a time (a planned route, not where you were)": 1}
    rows = points(db)
    assert rows[1][:4] == (float(T0), 46.0, 14.5, 300.0)
    assert rows[0][7] == "gpx"


def test_gpx_bom_unicode_name_and_gpx10_speed(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "Šmarna gora 東京 ☃.gpx"
    body = ('<trk><name>Ünïcödé ☃</name><trkseg><trkpt lat="46.1" lon="14.4">'
            "<time>2020-09-13T12:00:00Z</time><speed>2.5</speed><course>90</course>"
            "</trkpt></trkseg></trk>")
    f.write_bytes(b"\xef\xbb\xbf" + gpx(body, "1.0").encode("utf-8"))
    out = run_import(db, [f])
    assert out.ok, out.error
    (row,) = points(db)
    assert row[4] == 2.5 and row[6] == 90.0


def test_gpx_missing_times_empty_segments_and_mixed_zones(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "mixed.gpx"
    f.write_text(gpx(
        "<trk><trkseg></trkseg><trkseg>"
        '<trkpt lat="46.0" lon="14.0"><time>2020-09-13T14:00:00+02:00</time></trkpt>'
        '<trkpt lat="46.1" lon="14.0"><time>2020-09-13T07:00:01-05:00</time></trkpt>'
        '<trkpt lat="46.2" lon="14.0"><time>2020-09-13T12:00:02.5Z</time></trkpt>'
        '<trkpt lat="46.3" lon="14.0"><time>2020-09-13T12:00:03</time></trkpt>'
        '<trkpt lat="46.4" lon="14.0"></trkpt>'
        '<trkpt lat="46.5" lon="14.0"><time>yesterday</time></trkpt>'
        "</trkseg><trkseg/></trk>"), encoding="utf-8")
    out = run_import(db, [f])
    assert out.ok, out.error
    base = 1_600_000_000 - 26 * 60 - 40  # 12:00:00Z
    assert [r[0] for r in points(db)] == [base, base + 1, base + 2.5, base + 3]
    assert out.summary["rejected_reasons"] == {"no timestamp": 1, "unreadable timestamp": 1}
    assert out.summary["notes"] == {"times without a zone, taken as UTC": 1}


def test_gpx_huge_and_invalid_coordinates_are_rejected(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "huge.gpx"
    pts = [("1e308", "14"), ("46", "9999999999"), ("-91", "0"), ("nan", "1"), ("x", "1"),
           ("0", "0"), ("89.9999999", "-179.9999999")]
    f.write_text(gpx("<trk><trkseg>" + "".join(
        f'<trkpt lat="{la}" lon="{lo}"><time>2020-09-13T12:00:{i:02d}Z</time></trkpt>'
        for i, (la, lo) in enumerate(pts)) + "</trkseg></trk>"), encoding="utf-8")
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["new"] == 1
    assert out.summary["rejected_reasons"] == {
        "latitude out of range": 2, "longitude out of range": 1,
        "unreadable coordinates": 2, "placeholder position 0,0": 1}


def test_gpx_ignores_extensions_and_comments(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "ext.gpx"
    f.write_text(gpx(
        '<trk><trkseg><!-- c --><trkpt lat="46" lon="14"><time>2020-09-13T12:00:00Z</time>'
        "<extensions><gpxtpx:TrackPointExtension xmlns:gpxtpx='urn:x'><gpxtpx:hr>140"
        "</gpxtpx:hr></gpxtpx:TrackPointExtension></extensions></trkpt></trkseg></trk>"))
    out = run_import(db, [f])
    assert out.ok and out.summary["new"] == 1


def test_gpx_that_is_not_gpx_is_refused(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "x.gpx"
    f.write_text("<html><body>hello</body></html>")
    out = run_import(db, [f])
    assert not out.ok
    assert "x.gpx" in out.error and "not a GPX file" in out.error


# -- KML / KMZ --------------------------------------------------------------------------
KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2">
<Document><Folder>
 <Placemark><name>Track</name><gx:Track>
  <when>2020-09-13T12:00:00Z</when><when>2020-09-13T12:00:05Z</when>
  <gx:coord>14.5 46.0 300</gx:coord><gx:coord>14.5001 46.0001 301</gx:coord>
 </gx:Track></Placemark>
 <Placemark><TimeStamp><when>2020-09-13T13:00:00+01:00</when></TimeStamp>
  <Point><coordinates>14.6,46.1,0</coordinates></Point></Placemark>
 <Placemark><TimeSpan><begin>2020-09-13T14:00:00Z</begin><end>2020-09-13T14:00:10Z</end>
  </TimeSpan><LineString><coordinates>14.0,46.0 14.0,46.001 14.0,46.003</coordinates>
  </LineString></Placemark>
 <Placemark><LineString><coordinates>15,47 15.1,47.1</coordinates></LineString></Placemark>
</Folder></Document></kml>
"""


def test_kml_track_point_and_linestring(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "history.kml"
    f.write_text(KML, encoding="utf-8")
    out = run_import(db, [f])
    assert out.ok, out.error
    rows = points(db)
    base = T0 - 26 * 60 - 40
    assert {r[0] for r in rows} >= {base, base + 5, base + 7200, base + 7210}
    assert out.summary["new"] == 6
    assert out.summary["rejected_reasons"] == {"no timestamp": 2}
    line = [r for r in rows if r[2] == 14.0]
    # Spread by distance: the middle vertex is a third of the way.
    assert [round(r[0] - line[0][0], 1) for r in line] == [0.0, 3.3, 10.0]


def test_kmz_and_kml_inside_a_zip(db: Path, tmp_path: Path) -> None:
    kmz = tmp_path / "trip.kmz"
    with zipfile.ZipFile(kmz, "w") as zf:
        zf.writestr("doc.kml", KML)
    out = run_import(db, [kmz])
    assert out.ok, out.error
    assert out.summary["new"] == 6
    outer = tmp_path / "bundle.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        zf.write(kmz, "inner/trip.kmz")
    out = run_import(db, [outer])
    assert out.ok and out.summary["new"] == 0 and out.summary["duplicates"] == 6


# -- GeoJSON ----------------------------------------------------------------------------
def test_geojson_points_and_lines_with_times(db: Path, tmp_path: Path) -> None:
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"time": "2020-09-13T12:00:00Z"},
         "geometry": {"type": "Point", "coordinates": [14.5, 46.0, 300]}},
        {"type": "Feature", "properties": {"timestamp": T0 * 1000 + 500},
         "geometry": {"type": "Point", "coordinates": [14.6, 46.1]}},
        {"type": "Feature", "properties": {"coordTimes": ["2020-09-13T12:01:00Z",
                                                          "2020-09-13T12:01:01Z"]},
         "geometry": {"type": "LineString", "coordinates": [[14, 46], [14.1, 46.1]]}},
        {"type": "Feature", "properties": {},
         "geometry": {"type": "MultiLineString",
                      "coordinates": [[[13, 45, 0, T0 + 10], [13.1, 45, 0, T0 + 11]]]}},
        {"type": "Feature", "properties": {"name": "no time"},
         "geometry": {"type": "Point", "coordinates": [1, 2]}},
        {"type": "Feature", "properties": {"time": "2020-09-13T12:00:00Z"},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 1]]]}},
    ]}
    f = tmp_path / "p.geojson"
    f.write_text(json.dumps(doc))
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["new"] == 6
    assert out.summary["rejected_reasons"] == {"no timestamp": 1}
    assert float(T0) + 0.5 in [r[0] for r in points(db)]


def test_geojson_single_feature_json_extension(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "one.json"
    f.write_text(json.dumps({"type": "Feature", "properties": {"time": T0},
                             "geometry": {"type": "Point", "coordinates": [14, 46]}}))
    out = run_import(db, [f])
    assert out.ok, out.error
    assert points(db)[0][:3] == (float(T0), 46.0, 14.0)


# -- CSV --------------------------------------------------------------------------------
LIFETIME = ("dataTime,locType,longitude,latitude,heading,accuracy,speed,distance,"
            "isBackForeground,stepType,altitude\n")


def test_lifetime_footprint_csv(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "一生足迹.csv"
    f.write_text(LIFETIME
                 + f"{T0},1,116.391,39.907,-1,10,1.5,0,0,0,50\n"
                 + "-1,1,116.391,39.907,-1,10,1.5,0,0,0,50\n"
                 + f"{T0 + 1},1,116.392,39.908,90,-1,-1,3,1,0,51.5\n", encoding="utf-8")
    out = run_import(db, [f])
    assert out.ok, out.error
    rows = points(db)
    assert rows[0] == (float(T0), 39.907, 116.391, 50.0, 1.5, 10.0, None, "csv")
    assert rows[1][4:7] == (None, None, 90.0)
    assert out.summary["rejected_reasons"] == {"unknown time (dataTime -1)": 1}


def test_lifetime_footprint_gcj02_option(db: Path, tmp_path: Path) -> None:
    true_lat, true_lon = 39.9087, 116.3975  # Tiananmen, WGS-84
    glat, glon = wgs84_to_gcj02(true_lat, true_lon)
    assert abs(glat - true_lat) + abs(glon - true_lon) > 1e-3  # hundreds of metres off
    f = tmp_path / "export.csv"
    f.write_text(LIFETIME + f"{T0},1,{glon:.9f},{glat:.9f},-1,10,1,0,0,0,50\n")
    out = run_import(db, [f], gcj02=True)
    assert out.ok, out.error
    (row,) = points(db)
    assert abs(row[1] - true_lat) < 2e-7 and abs(row[2] - true_lon) < 2e-7
    assert gcj02_to_wgs84(48.1, 11.5) == (48.1, 11.5)  # outside China: untouched


@pytest.mark.parametrize("text, n", [
    ("lat,lon,time\n46.0,14.0,2020-09-13T12:00:00Z\n46.1,14.1,1600000001\n", 2),
    ("Breite;Länge;Zeit;Höhe\n46,5;14,5;2020-09-13 12:00:00;300,5\n", 1),
    ("纬度,经度,时间,海拔\n39.9,116.4,2020-09-13 20:00:00+08:00,50\n", 1),
    ("Latitude (deg)\tLongitude (deg)\tTimestamp\n46\t14\t1600000000000\n", 1),
    ("date,time,latitud,longitud\n2020-09-13,12:00:00,40.4,-3.7\n", 1),
    ("широта|долгота|время\n55.75|37.61|2020-09-13T15:00:00+03:00\n", 1),
])
def test_generic_csv_in_many_languages(db: Path, tmp_path: Path, text: str, n: int) -> None:
    f = tmp_path / "any.csv"
    f.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["new"] == n, out.summary


def test_csv_utf16_and_naive_times(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "excel.csv"
    f.write_bytes("lat\tlon\ttime\n46\t14\t2020-09-13 12:00:00\n".encode("utf-16"))
    out = run_import(db, [f])
    assert out.ok, out.error
    assert points(db)[0][0] == float(T0 - 26 * 60 - 40)


def test_csv_without_position_columns_is_refused_with_its_header(db: Path,
                                                                 tmp_path: Path) -> None:
    f = tmp_path / "budget.csv"
    f.write_text("item,price\nbread,2\n")
    out = run_import(db, [f])
    assert not out.ok
    assert "budget.csv" in out.error and "item, price" in out.error


# -- Google -----------------------------------------------------------------------------
def test_google_records_json(db: Path, tmp_path: Path) -> None:
    doc = {"locations": [
        {"latitudeE7": 460000000, "longitudeE7": 145000000, "accuracy": 12,
         "timestampMs": str(T0 * 1000), "altitude": 300, "velocity": 3, "heading": 10},
        {"latitudeE7": 460001000, "longitudeE7": 145001000,
         "timestamp": "2020-09-13T12:26:41.500Z"},
        {"latitudeE7": 4294967296 - 10, "longitudeE7": 145001000,
         "timestamp": "2020-09-13T12:26:42Z"},
        {"latitudeE7": 460001000, "longitudeE7": 145001000},
        "junk",
    ]}
    f = tmp_path / "Records.json"
    f.write_text(json.dumps(doc, indent=1))
    out = run_import(db, [f])
    assert out.ok, out.error
    rows = points(db)
    assert rows[0] == (float(T0), 46.0, 14.5, 300.0, 3.0, 12.0, 10.0, "google-records")
    assert rows[1][0] == T0 + 1.5
    assert rows[2][1] == -1e-6  # unsigned overflow wrapped back
    assert out.summary["rejected_reasons"] == {"no timestamp": 1,
                                               "not a location record": 1}


def test_google_semantic_history(db: Path, tmp_path: Path) -> None:
    doc = {"timelineObjects": [
        {"placeVisit": {"location": {"latitudeE7": 460000000, "longitudeE7": 145000000},
                        "duration": {"startTimestamp": "2020-09-13T12:00:00Z",
                                     "endTimestamp": "2020-09-13T13:00:00Z"}}},
        {"activitySegment": {
            "startLocation": {"latitudeE7": 460000000, "longitudeE7": 145000000},
            "endLocation": {"latitudeE7": 461000000, "longitudeE7": 146000000},
            "duration": {"startTimestampMs": str((T0 + 3600) * 1000),
                         "endTimestampMs": str((T0 + 7200) * 1000)},
            "waypointPath": {"waypoints": [{"latE7": 460500000, "lngE7": 145500000}]},
            "simplifiedRawPath": {"points": [{"latE7": 460600000, "lngE7": 145600000,
                                              "timestampMs": str((T0 + 5000) * 1000)}]}}},
    ]}
    f = tmp_path / "2020_SEPTEMBER.json"
    f.write_text(json.dumps(doc))
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["new"] == 5


def test_google_timeline_json_on_device(db: Path, tmp_path: Path) -> None:
    doc = {"semanticSegments": [
        {"startTime": "2020-09-13T14:00:00.000+02:00", "endTime": "2020-09-13T15:00:00+02:00",
         "timelinePath": [{"point": "46.0000001°, 14.5°", "time": "2020-09-13T14:10:00+02:00"},
                          {"point": "bad", "time": "2020-09-13T14:11:00+02:00"}]},
        {"startTime": "2020-09-13T15:00:00+02:00", "endTime": "2020-09-13T16:00:00+02:00",
         "visit": {"topCandidate": {"placeLocation": {"latLng": "46.2°, 14.6°"}}}},
        {"startTime": "2020-09-13T16:00:00+02:00", "endTime": "2020-09-13T16:30:00+02:00",
         "activity": {"start": {"latLng": "46.2°, 14.6°"}, "end": {"latLng": "46.3°, 14.7°"}}},
    ], "rawSignals": [
        {"position": {"LatLng": "46.5°, 14.9°", "accuracyMeters": 13, "altitudeMeters": 320,
                      "source": "GPS", "timestamp": "2020-09-13T12:00:00.000Z",
                      "speedMetersPerSecond": 1.25}},
        {"wifiScan": {"deliveryTime": "2020-09-13T12:00:00Z"}},
    ], "userLocationProfile": {"frequentPlaces": []}}
    f = tmp_path / "Timeline.json"
    f.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    out = run_import(db, [f])
    assert out.ok, out.error
    # path point, visit arrival + departure, activity start (= departure, a duplicate)
    # and end, raw signal
    assert out.summary["new"] == 5 and out.summary["duplicates"] == 1
    assert out.summary["rejected_reasons"] == {"unreadable coordinates": 1}
    raw = [r for r in points(db) if r[5] == 13.0]
    assert raw[0][3:6] == (320.0, 1.25, 13.0)


# -- FIT, TCX, OwnTracks ----------------------------------------------------------------
def test_fit_records(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "ride.fit"
    f.write_bytes(fit_file([(T0 + i, 46.5 + i * 1e-4, 14.5, 300.0) for i in range(5)]
                           + [(T0 + 9, None, None, None)]))
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["new"] == 5
    assert out.summary["rejected_reasons"] == {"no position (indoor or sensor-only record)": 1}
    assert points(db)[0][:4] == (float(T0), 46.5, 14.5, 300.0)


TCX = """<?xml version="1.0" encoding="UTF-8"?>
<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2">
<Activities><Activity Sport="Running"><Lap StartTime="2020-09-13T12:00:00Z"><Track>
<Trackpoint><Time>2020-09-13T12:00:00Z</Time><Position><LatitudeDegrees>46.0</LatitudeDegrees>
<LongitudeDegrees>14.5</LongitudeDegrees></Position><AltitudeMeters>300</AltitudeMeters>
<HeartRateBpm><Value>120</Value></HeartRateBpm></Trackpoint>
<Trackpoint><Time>2020-09-13T12:00:01Z</Time><HeartRateBpm><Value>121</Value></HeartRateBpm>
</Trackpoint>
</Track></Lap></Activity></Activities></TrainingCenterDatabase>
"""


def test_tcx_trackpoints(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "run.tcx"
    f.write_text(TCX)
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["new"] == 1
    assert out.summary["rejected_reasons"] == {"no position (indoor or sensor-only point)": 1}


def test_owntracks_rec(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "2020-09.rec"
    lines = [
        f'2020-09-13T12:26:40Z\t*                 \t{{"_type":"location","lat":46.0,'
        f'"lon":14.5,"tst":{T0},"acc":10,"alt":300,"vel":36,"cog":90}}',
        '2020-09-13T12:26:41Z\t*                 \t{"_type":"transition","event":"enter"}',
        f'2020-09-13T12:26:42Z\t*                 \t{{"_type":"location","lat":46.1,'
        f'"lon":14.6,"tst":{T0 + 2}}}',
    ]
    f.write_text("\n".join(lines) + "\n")
    out = run_import(db, [f])
    assert out.ok, out.error
    assert points(db)[0] == (float(T0), 46.0, 14.5, 300.0, 10.0, 10.0, 90.0, "owntracks")


# -- folders, zips and what is not a track ----------------------------------------------
def test_folder_and_zip_expand_with_reasons(tmp_path: Path) -> None:
    d = tmp_path / "export"
    (d / "sub").mkdir(parents=True)
    (d / "a.gpx").write_text(gpx(f"<trk><trkseg>{trkpts(2)}</trkseg></trk>"))
    (d / "sub" / "notes.txt").write_text("hello")
    (d / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    (d / ".hidden.gpx").write_text("x")
    (d / "misc.json").write_text('{"a": 1}')
    z = tmp_path / "takeout.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("Takeout/Location History/Records.json", '{"locations": []}')
        zf.writestr("__MACOSX/._Records.json", "x")
        zf.writestr("readme.html", "<html></html>")
    files, skipped = expand([d, z, tmp_path / "missing.gpx"])
    assert [(f.format, Path(f.member or f.path).name) for f in files] == [
        ("gpx", "a.gpx"), ("google-records", "Records.json")]
    reasons = {Path(s.name).name: (s.reason, s.explicit) for s in skipped}
    assert reasons["missing.gpx"] == ("no such file or folder", True)
    assert "JSON file of no known track kind" in reasons["misc.json"][0]
    assert set(reasons) == {"missing.gpx", "misc.json", "notes.txt", "photo.jpg",
                            "readme.html"}


def test_nothing_importable_is_one_clear_message(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "report.docx"
    f.write_bytes(b"PK\x03\x04 not really")
    out = run_import(db, [f])
    assert not out.ok and out.error.startswith("nothing to import")
    assert "report.docx" in out.error


# -- GPX fast path == full reader -------------------------------------------------------
def _variants() -> dict[str, str]:
    plain = trkpts(40)
    return {
        "plain": gpx(f"<trk><trkseg>{plain}</trkseg></trk>"),
        "waypoint at the end": gpx(f"<trk><trkseg>{plain}</trkseg></trk>"
                                   '<wpt lat="46.9" lon="14.9"><time>2020-09-13T13:00:00Z'
                                   "</time></wpt>"),
        "comment hiding a point": gpx(f"<trk><trkseg>{plain}<!-- <trkpt lat=\"1\" lon=\"1\">"
                                      "<time>2020-09-13T13:00:00Z</time></trkpt> -->"
                                      "</trkseg></trk>"),
        "CDATA hiding a point": gpx(f"<trk><desc><![CDATA[<trkpt lat=\"1\" lon=\"1\"><time>"
                                    "2020-09-13T13:00:00Z</time></trkpt>]]></desc><trkseg>"
                                    f"{plain}</trkseg></trk>"),
        "lon before lat": gpx("<trk><trkseg>" + plain.replace(
            'lat="46.0039000" lon="14.5"', 'lon="14.5" lat="46.0039000"') + "</trkseg></trk>"),
        "entity in a value": gpx("<trk><trkseg>" + plain.replace(
            "<ele>339</ele>", "<ele>3&#51;9</ele>") + "</trkseg></trk>"),
        "prefixed namespace": plain and (
            '<?xml version="1.0"?><g:gpx xmlns:g="http://www.topografix.com/GPX/1/1">'
            "<g:trk><g:trkseg>" + trkpts(5).replace("<trkpt", "<g:trkpt").replace(
                "</trkpt>", "</g:trkpt>").replace("<ele>", "<g:ele>").replace(
                "</ele>", "</g:ele>").replace("<time>", "<g:time>").replace(
                "</time>", "</g:time>") + "</g:trkseg></g:trk></g:gpx>"),
        "speed child": gpx("<trk><trkseg>" + plain.replace(
            "</time></trkpt>", "</time><speed>3</speed></trkpt>", 1) + "</trkseg></trk>",
            "1.0"),
        "zoned and odd times": gpx("<trk><trkseg>" + plain.replace(
            "2020-09-13T12:27:00Z", "2020-09-13T14:27:00+02:00").replace(
            "2020-09-13T12:27:01Z", "2020-09-13T12:27:01.250Z").replace(
            "2020-09-13T12:27:02Z", "garbage") + "</trkseg></trk>"),
    }


@pytest.mark.parametrize("name", list(_variants()))
def test_gpx_fast_path_gives_what_the_full_reader_gives(tmp_path: Path, name: str) -> None:
    from tests.tracks.conftest import new_db
    from trackdesk.tracks import gpx as gpx_mod
    from trackdesk.tracks.base import CountingReader, Points

    text = _variants()[name]
    f = tmp_path / "v.gpx"
    f.write_text(text, encoding="utf-8")
    rows: list[tuple] = []
    full = Points(gpx_mod.COLUMNS, rows.extend)
    with open(f, "rb") as fh:
        gpx_mod.read_full(CountingReader(fh), full)
    full.flush()
    # Through the importer with tiny batches, so a late surprise forces a restart.
    db = new_db(tmp_path / "t.db")
    out = run_import(db, [f], batch_size=7)
    assert out.ok, out.error
    assert out.summary["rejected_reasons"] == dict(full.rejected)
    got = [r[:4] for r in points(db)]
    assert got == sorted((r[0], r[1], r[2], r[3]) for r in rows)


def test_non_finite_numbers_are_rejected_not_fatal(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "nan.csv"
    f.write_text(LIFETIME + "nan,1,14,46,-1,5,1,0,0,0,1\ninf,1,14,46,-1,5,1,0,0,0,1\n"
                 f"{T0},1,nan,46,-1,5,1,0,0,0,1\n{T0},1,14,46,nan,nan,nan,0,0,0,nan\n")
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["new"] == 1 and out.summary["rejected"] == 3
    assert points(db)[0][3:7] == (None, None, None, None)


def test_google_timeline_ios_array(db: Path, tmp_path: Path) -> None:
    doc = [
        {"startTime": "2020-09-13T14:00:00.000+02:00", "endTime": "2020-09-13T15:00:00+02:00",
         "visit": {"topCandidate": {"placeLocation": "geo:46.100000,14.500000"}}},
        {"startTime": "2020-09-13T15:00:00.000+02:00", "endTime": "2020-09-13T16:00:00+02:00",
         "timelinePath": [{"point": "geo:46.2,14.6", "durationMinutesOffsetFromStartTime": "5"}]},
    ]
    f = tmp_path / "location-history.json"
    f.write_text(json.dumps(doc))
    out = run_import(db, [f])
    assert out.ok, out.error
    base = T0 - 26 * 60 - 40  # 12:00Z
    assert [r[:3] for r in points(db)] == [(base, 46.1, 14.5), (base + 3600, 46.1, 14.5),
                                           (base + 3900, 46.2, 14.6)]


def test_gpx_fast_path_rounds_long_decimals_like_the_full_reader(tmp_path: Path) -> None:
    from tests.tracks.conftest import new_db

    pts = "".join(f'<trkpt lat="46.123456789{i}" lon="14.00000005"><ele>nan</ele>'
                  f"<time>2020-09-13T12:00:{i:02d}Z</time></trkpt>" for i in range(5))
    f = tmp_path / "long.gpx"
    f.write_text(gpx(f"<trk><trkseg>{pts}</trkseg></trk>"))
    db = new_db(tmp_path / "t.db")
    out = run_import(db, [f])
    assert out.ok, out.error
    assert {r[1:4] for r in points(db)} == {(46.1234568, 14.0, None)}


def test_gpx_fast_path_switch_after_slow_rows_were_flushed(tmp_path: Path) -> None:
    """Zoned times go through Points.add, which flushes; a waypoint met later must
    restart the file, not replay it on top of what was written."""
    from tests.tracks.conftest import new_db

    pts = "".join(f'<trkpt lat="46.{i:04d}" lon="14.5"><time>2020-09-13T14:00:{i:02d}+02:00'
                  "</time></trkpt>" for i in range(40))
    f = tmp_path / "zoned.gpx"
    f.write_text(gpx(f"<trk><trkseg>{pts}</trkseg></trk>" + "<!-- x -->" * 200000
                     + '<wpt lat="47" lon="15"><time>2020-09-13T12:10:00Z</time></wpt>'))
    db = new_db(tmp_path / "t.db")
    # gcj02 (a no-op outside China) sends every point through Points.add.
    out = run_import(db, [f], batch_size=7, gcj02=True)
    assert out.ok, out.error
    s = out.summary
    assert (s["points_read"], s["new"], s["duplicates"]) == (41, 41, 0)
