"""Issue 19: tolerant readers of the formats trackdesk already knows. Each file is one a
user can have (written here to the shape the issue describes) and each test failed on the
readers as they were."""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.tracks.conftest import count, points, run_import
from tests.tracks.fitwriter import FIT_EPOCH, crc16, fit_file
from tests.tracks.test_formats import gpx, trkpts

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_600_000_000
RIDE = [(T0 + i, 46.5 + i * 1e-4, 14.5, 300.0) for i in range(200)]


# -- FIT --------------------------------------------------------------------------------
def test_fit_without_its_final_crc_keeps_every_record(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "nocrc.fit"
    f.write_bytes(fit_file(RIDE)[:-2])
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["new"] == 200
    assert any("without its final CRC" in n for n in out.summary["notes"])


def test_a_truncated_fit_keeps_the_records_before_the_cut(db: Path, tmp_path: Path) -> None:
    data = fit_file(RIDE)
    f = tmp_path / "cut.fit"
    f.write_bytes(data[: 14 + 18 + 100 * 15 + 7])  # header, definition, 100 records, a piece
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["new"] == 100
    assert any("middle of a message" in n for n in out.summary["notes"])


def test_a_fit_with_a_bad_crc_keeps_its_valid_records(db: Path, tmp_path: Path) -> None:
    data = bytearray(fit_file(RIDE[:5]))
    data[40] ^= 0x80  # the sign bit of the first record's latitude: off the globe
    f = tmp_path / "bad.fit"
    f.write_bytes(bytes(data))
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["new"] == 4
    assert out.summary["rejected_reasons"] == {"latitude out of range": 1}


def misaligned_fit(n: int) -> bytes:
    """Records whose ``distance`` (a uint32) is declared 1 byte wide, as a real Coros
    file does: fitdecode's strict mode refuses the file at the definition."""
    fields = [(253, 4, 0x86), (0, 4, 0x85), (1, 4, 0x85), (5, 1, 0x86)]
    body = bytes([0x40, 0, 0]) + struct.pack("<HB", 20, len(fields))
    for num, size, base in fields:
        body += bytes([num, size, base])
    for i in range(n):
        body += bytes([0]) + struct.pack("<IiiB", T0 + i - FIT_EPOCH,
                                         round((46.5 + i * 1e-4) / 180 * 2**31),
                                         round(14.5 / 180 * 2**31), i % 256)
    header = struct.pack("<BBHI4s", 14, 0x10, 2093, len(body), b".FIT")
    header += struct.pack("<H", crc16(header))
    data = header + body
    return data + struct.pack("<H", crc16(data))


def test_a_fit_with_misaligned_field_sizes_is_read(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "coros.fit"
    f.write_bytes(misaligned_fit(50))
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["new"] == 50
    assert any("invalid field size 1" in n for n in out.summary["notes"])


def test_a_file_that_is_not_fit_at_all_is_still_refused(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "x.fit"
    f.write_bytes(b"hello, this is not a FIT file at all\n" * 3)
    out = run_import(db, [f])
    assert not out.ok and "x.fit" in out.error and "FIT" in out.error


# -- GPX --------------------------------------------------------------------------------
def test_gpx_with_blank_lines_or_a_bom_before_the_declaration(db: Path,
                                                             tmp_path: Path) -> None:
    body = gpx(f"<trk><trkseg>{trkpts(3)}</trkseg></trk>")
    variants = {"nl.gpx": b"\n" + body.encode(), "ws.gpx": b"  \r\n\t" + body.encode(),
                "bom.gpx": b"\xef\xbb\xbf\n" + body.encode()}
    for name, data in variants.items():
        (tmp_path / name).write_bytes(data)
        out = run_import(db, [tmp_path / name])
        assert out.ok, (name, out.error)
        assert out.summary["read"] if "read" in out.summary else out.summary["points_read"] == 3
    assert count(db) == 3


# -- KML --------------------------------------------------------------------------------
KML_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2"'
            ' xmlns:gx="http://www.google.com/kml/ext/2.2"><Document>')


def test_kml_year_and_month_times_are_read_alike_in_timestamp_and_timespan(
        db: Path, tmp_path: Path) -> None:
    f = tmp_path / "dates.kml"
    f.write_text(KML_HEAD + """
<Placemark><TimeStamp><when>2007</when></TimeStamp><Point><coordinates>14,46</coordinates>
</Point></Placemark>
<Placemark><TimeStamp><when>2009-02</when></TimeStamp><Point><coordinates>14.1,46</coordinates>
</Point></Placemark>
<Placemark><TimeSpan><begin>2009-02</begin><end>2009-03</end></TimeSpan>
<Point><coordinates>14.2,46</coordinates></Point></Placemark>
<Placemark><TimeSpan><begin>2007</begin></TimeSpan><Point><coordinates>14.3,46</coordinates>
</Point></Placemark>
<Placemark><TimeSpan><end>2009-02</end></TimeSpan><Point><coordinates>14.4,46</coordinates>
</Point></Placemark>
</Document></kml>""")
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["rejected"] == 0
    ts = sorted(r[0] for r in points(db))
    y2007, feb2009 = 1167609600.0, 1233446400.0
    assert ts == [y2007, y2007, feb2009, feb2009, feb2009]


def test_kml_track_without_gx_and_multigeometry_points(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "multi.kml"
    f.write_text(KML_HEAD + """
<Placemark><Track><when>2020-09-13T12:00:00Z</when><when>2020-09-13T12:00:01Z</when>
<coord>14 46 1</coord><coord>14.001 46 2</coord></Track></Placemark>
<Placemark><TimeStamp><when>2020-09-13T13:00:00Z</when></TimeStamp><MultiGeometry>
<Point><coordinates>15,47</coordinates></Point><Point><coordinates>15.1,47.1</coordinates>
</Point></MultiGeometry></Placemark>
<Placemark><gx:MultiTrack><gx:Track><when>2020-09-13T14:00:00Z</when>
<gx:coord>16 48 0</gx:coord></gx:Track><gx:Track><when>2020-09-13T14:00:05Z</when>
<gx:coord>16.1 48 0</gx:coord></gx:Track></gx:MultiTrack></Placemark>
</Document></kml>""")
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["new"] == 6


def test_a_kmz_whose_doc_kml_is_a_bare_placemark(db: Path, tmp_path: Path) -> None:
    kmz = tmp_path / "sample.kmz"
    with zipfile.ZipFile(kmz, "w") as zf:
        zf.writestr("doc.kml", '<?xml version="1.0" encoding="UTF-8"?>\n'
                    '<Placemark xmlns="http://www.opengis.net/kml/2.2"><name>x</name>'
                    "<TimeStamp><when>2020-09-13T12:00:00Z</when></TimeStamp>"
                    "<Point><coordinates>-122.08,37.42,0</coordinates></Point></Placemark>")
    out = run_import(db, [kmz])
    assert out.ok, out.error
    assert out.summary["new"] == 1


# -- GeoJSON ----------------------------------------------------------------------------
def test_geojson_numeric_strings_as_coordinates(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "export.geojson"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"timestamp": T0 + i},
         "geometry": {"type": "Point", "coordinates": [f"14.{i}", "46.1", "300"]}}
        for i in range(3)]}))
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["new"] == 3
    assert points(db)[0][:4] == (float(T0), 46.1, 14.0, 300.0)


def test_overland_points_with_properties_timestamp(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "overland.json"
    f.write_text(json.dumps({"locations": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-122.03, 37.33]},
         "properties": {"timestamp": f"2020-09-13T12:0{i}:00-0700", "altitude": 80,
                        "speed": 4, "horizontal_accuracy": 5, "motion": ["driving"]}}
        for i in range(4)]}))
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["new"] == 4
    assert points(db)[0][0] == 1600023600.0  # 12:00 at -07:00 is 19:00Z


def test_geojson_without_a_single_timed_point_is_not_a_silent_success(
        db: Path, tmp_path: Path) -> None:
    f = tmp_path / "shapes.geojson"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 1]]]}}]}))
    out = run_import(db, [f])
    assert not out.ok
    assert "shapes.geojson" in out.error and "no track points" in out.error


# -- OwnTracks --------------------------------------------------------------------------
def test_owntracks_minus_one_speed_and_course_are_unknown(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "2020-09.rec"
    f.write_text(f'2020-09-13T12:26:40Z\t*\t{{"_type":"location","lat":46.0,"lon":14.5,'
                 f'"tst":{T0},"acc":10,"alt":300,"vel":-1,"cog":-1}}\n')
    out = run_import(db, [f])
    assert out.ok, out.error
    assert points(db)[0][3:7] == (300.0, None, 10.0, None)


# -- CSV --------------------------------------------------------------------------------
def test_trackintel_positionfixes_csv(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "positionfixes.csv"
    f.write_text("id,user_id,tracked_at,latitude,longitude,elevation,accuracy\n" + "".join(
        f"{i},0,2020-09-13 12:00:0{i}+00:00,46.{i},14.5,300,5\n" for i in range(5)))
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["new"] == 5
    assert points(db)[0][:6] == (1599998400.0, 46.0, 14.5, 300.0, None, 5.0)


def test_csv_with_quoted_headers_and_hemisphere_letters(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "quoted.csv"
    f.write_text('"Date Time", "Latitude", "Longitude"\n'
                 '"2020-09-13T12:00:00Z", "48.1351689N", "11.5368030E"\n'
                 '"2020-09-13T12:00:01Z", "33.8688S", "151.2093E"\n'
                 '"2020-09-13T12:00:02Z", "40.7128 N", "74.0060 W"\n')
    out = run_import(db, [f])
    assert out.ok, out.error
    assert [r[1:3] for r in points(db)] == [(48.1351689, 11.536803), (-33.8688, 151.2093),
                                            (40.7128, -74.006)]


def test_gpslogger_csv(db: Path, tmp_path: Path) -> None:
    # GPSLogger for Android's CSV header (its docs and source: the columns it writes).
    f = tmp_path / "20200913.csv"
    f.write_text("time,lat,lon,elevation,accuracy,bearing,speed,satellites,provider,hdop,"
                 "vdop,pdop,geoidheight,ageofdgpsdata,dgpsid,activity,battery,annotation,"
                 "timestamp_ms,time_offset,distance,starttimestamp_ms,profile_name,"
                 "battery_charging\n"
                 "2020-09-13T12:00:00.000Z,46.1,14.5,301.0,4.0,90.0,1.5,9,gps,,,,,,,,88,,"
                 "1600084800000,2020-09-13T14:00:00.000+02:00,0.0,1600084700000,Default,"
                 "false\n")
    out = run_import(db, [f])
    assert out.ok, out.error
    assert points(db)[0][:7] == (1599998400.0, 46.1, 14.5, 301.0, 1.5, 4.0, 90.0)


def test_csv_refusal_names_what_is_missing_and_what_was_recognised(db: Path,
                                                                   tmp_path: Path) -> None:
    f = tmp_path / "odd.csv"
    f.write_text("when_seen,lat,lng,note\n2020-09-13T12:00:00Z,46,14,x\n")
    out = run_import(db, [f])
    assert not out.ok
    assert "no time column recognised" in out.error
    assert "latitude = 'lat'" in out.error and "longitude = 'lng'" in out.error
    assert "latitude column" not in out.error  # only what is really missing
    assert "--option time_column=NAME" in out.error
    out = run_import(db, [f], time_column="when_seen")
    assert out.ok, out.error
    assert out.summary["new"] == 1
    out = run_import(db, [f], time_column="nope")
    assert not out.ok and "time_column=nope: no such column" in out.error


def test_lat_and_lon_columns_can_be_named_too(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "xy.csv"
    f.write_text("t,northing,easting\n2020-09-13T12:00:00Z,46.5,14.5\n")
    out = run_import(db, [f], time_column="t", lat_column="northing", lon_column="easting")
    assert out.ok, out.error
    assert points(db)[0][:3] == (1599998400.0, 46.5, 14.5)


def _cli(db: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "trackdesk", "--db", str(db), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_cli_option_time_column_and_a_refused_file_among_others(tmp_path: Path) -> None:
    odd = tmp_path / "odd.csv"
    odd.write_text("when_seen,lat,lng\n2020-09-13T12:00:00Z,46,14\n")
    good = tmp_path / "good.gpx"
    good.write_text(gpx(f"<trk><trkseg>{trkpts(3)}</trkseg></trk>"))
    other = tmp_path / "notes.txt"
    other.write_text("nothing to see\n")
    db = tmp_path / "tracks.db"
    r = _cli(db, "import", str(good), str(other), "--wait")
    # The others are imported; the refused one is named, the batch is not refused.
    assert r.returncode == 0, r.stderr
    assert "notes.txt" in r.stderr
    assert "completed with 1 of 2 file(s) not imported" in r.stderr
    r = _cli(db, "import", str(odd), "--option", "time_column=when_seen", "--wait")
    assert r.returncode == 0, r.stderr
    conn = sqlite3.connect(db)
    n = conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    reason = conn.execute("SELECT status_reason FROM analysis_tasks ORDER BY id LIMIT 1"
                          ).fetchone()[0]
    conn.close()
    assert n == 4
    assert "1 refused" in reason
