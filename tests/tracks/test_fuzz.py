"""Fuzzing the importers: random bytes, truncated and corrupted versions of valid files.

Whatever the bytes, the import must end with either a consistent summary or one clear
message naming the file, never an unhandled exception, and never with part of a failed
file's points left in tracks.db.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import zipfile
from io import BytesIO
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tracks.conftest import count, new_db, run_import
from tests.tracks.fitwriter import fit_file
from tests.tracks.test_formats import KML, LIFETIME, T0, TCX, gpx, trkpts


def _kmz() -> bytes:
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("doc.kml", KML)
    return buf.getvalue()


def _zip_of_gpx() -> bytes:
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/track.gpx", gpx(f"<trk><trkseg>{trkpts(20)}</trkseg></trk>"))
        zf.writestr("b.csv", "lat,lon,time\n46,14,2020-09-13T12:00:00Z\n")
    return buf.getvalue()


SEEDS: dict[str, bytes] = {
    "gpx": gpx(f"<trk><trkseg>{trkpts(30)}</trkseg></trk>").encode(),
    "kml": KML.encode(),
    "kmz": _kmz(),
    "zip": _zip_of_gpx(),
    "tcx": TCX.encode(),
    "csv": (LIFETIME + "".join(f"{T0 + i},1,116.{i:03d},39.9,-1,10,1,0,0,0,50\n"
                               for i in range(30))).encode(),
    "geojson": json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"time": T0 + i},
         "geometry": {"type": "Point", "coordinates": [14 + i / 100, 46]}}
        for i in range(20)]}).encode(),
    "json": json.dumps({"locations": [
        {"latitudeE7": 460000000 + i, "longitudeE7": 145000000, "timestampMs": str(
            (T0 + i) * 1000)} for i in range(30)]}).encode(),
    "timeline": json.dumps({"semanticSegments": [
        {"startTime": "2020-09-13T14:00:00+02:00", "endTime": "2020-09-13T15:00:00+02:00",
         "timelinePath": [{"point": f"46.{i}°, 14.5°", "time": "2020-09-13T14:10:00+02:00"}
                          for i in range(10)]}],
        "rawSignals": [{"position": {"LatLng": "46.5°, 14.9°", "timestamp":
                                     "2020-09-13T12:00:00Z"}}]}, ensure_ascii=False).encode(),
    "semantic": json.dumps({"timelineObjects": [
        {"placeVisit": {"location": {"latitudeE7": 460000000 + i, "longitudeE7": 145000000},
                        "duration": {"startTimestamp": "2020-09-13T12:00:00Z",
                                     "endTimestamp": "2020-09-13T13:00:00Z"}}}
        for i in range(10)]}).encode(),
    "fit": fit_file([(T0 + i, 46 + i * 1e-4, 14.5, 300.0) for i in range(30)]),
    "rec": "".join(f'2020-09-13T12:26:40Z\t*\t{{"_type":"location","lat":46.{i},'
                   f'"lon":14,"tst":{T0 + i}}}\n' for i in range(30)).encode(),
}
EXT = {"json": "json", "rec": "rec", "timeline": "json", "semantic": "json"}

_DIR = Path(tempfile.mkdtemp(prefix="trackdesk-fuzz-"))
_DB = new_db(_DIR / "fuzz.db")


def check(ext: str, data: bytes) -> None:
    f = _DIR / f"fuzzed.{ext}"
    f.write_bytes(data)
    before = count(_DB)
    files_before = _import_files()
    out = run_import(_DB, [f])
    after = count(_DB)
    if out.ok:
        s = out.summary
        assert s["new"] + s["duplicates"] + s["rejected"] == s["points_read"]
        assert after - before == s["new"]
    else:
        msg = out.error
        assert msg and "Traceback" not in msg
        assert "fuzzed" in msg, msg  # names the file
        assert "internal error" not in msg, msg  # every failure is one we foresaw
        assert after == before, "a failed file left points behind"
        # The failed file's own import_files row never claims imported points.
        conn = sqlite3.connect(_DB)
        try:
            new = conn.execute("SELECT COALESCE(SUM(points_new), 0) FROM import_files "
                               "WHERE id > ?", (files_before,)).fetchone()[0]
        finally:
            conn.close()
        assert new == 0


def _import_files() -> int:
    conn = sqlite3.connect(_DB)
    try:
        return conn.execute("SELECT COALESCE(MAX(id), 0) FROM import_files").fetchone()[0]
    finally:
        conn.close()


FUZZ = settings(max_examples=100, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
fmt = st.sampled_from(sorted(SEEDS))


@FUZZ
@given(fmt, st.binary(max_size=2000))
def test_random_bytes(kind: str, data: bytes) -> None:
    check(EXT.get(kind, kind), data)


@FUZZ
@given(fmt, st.floats(min_value=0.0, max_value=1.0))
def test_truncated(kind: str, frac: float) -> None:
    seed = SEEDS[kind]
    check(EXT.get(kind, kind), seed[: int(len(seed) * frac)])


@FUZZ
@given(fmt, st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1,
                     max_size=8))
def test_corrupted(kind: str, edits: list[tuple[float, int]]) -> None:
    data = bytearray(SEEDS[kind])
    for where, byte in edits:
        data[min(int(where * len(data)), len(data) - 1)] = byte
    check(EXT.get(kind, kind), bytes(data))


@FUZZ
@given(fmt, st.floats(0, 1), st.binary(min_size=1, max_size=50))
def test_inserted_garbage(kind: str, where: float, junk: bytes) -> None:
    seed = SEEDS[kind]
    i = int(where * len(seed))
    check(EXT.get(kind, kind), seed[:i] + junk + seed[i:])
