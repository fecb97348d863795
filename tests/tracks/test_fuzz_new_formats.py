"""The fuzz test's rules (tests/tracks/test_fuzz.py) for the readers issue 19 added: a
GeoLife .plt, labels.txt, trackintel CSVs, the Dawarich export, and a GPX with types.
Whatever the bytes: a consistent summary or one clear message, nothing half-written."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tests.tracks.test_fuzz import FUZZ, check

T0 = 1_600_000_000
SEEDS: dict[str, tuple[str, bytes]] = {
    "plt": ("plt", (
        "Geolife trajectory\r\nWGS 84\r\nAltitude is in Feet\r\nReserved 3\r\n"
        "0,2,255,My Track,0,0,2,8421376\r\n0\r\n" + "".join(
            f"39.98{i:02d},116.31,0,492,39744.12{i:02d},2008-10-23,02:53:{i:02d}\r\n"
            for i in range(30))).encode()),
    "labels": ("txt", ("Start Time\tEnd Time\tTransportation Mode\n" + "".join(
        f"2008/04/02 11:{i:02d}:00\t2008/04/02 11:{i:02d}:30\tbus\n"
        for i in range(20))).encode()),
    "trackintel": ("csv", ("id,user_id,started_at,finished_at,geom,mode\n" + "".join(
        f'{i},1,2020-09-13 12:{i:02d}:00+00:00,2020-09-13 12:{i:02d}:30+00:00,'
        f'"LINESTRING (14.{i} 46.0, 14.{i} 46.1)",walk\n' for i in range(20))).encode()),
    "dawarich": ("json", json.dumps({"counts": {}, "points": [
        {"lonlat": f"POINT (13.{i} 52.5)", "timestamp": T0 + i} for i in range(20)],
        "visits": [{"name": "x", "started_at": T0, "ended_at": T0 + 9}]}).encode()),
    "gpxtype": ("gpx", (
        '<?xml version="1.0"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">'
        "<trk><type>running</type><trkseg>" + "".join(
            f'<trkpt lat="46.{i}" lon="14"><time>2020-09-13T12:00:{i:02d}Z</time></trkpt>'
            for i in range(30)) + "</trkseg></trk></gpx>").encode()),
}
kind = st.sampled_from(sorted(SEEDS))


@FUZZ
@given(kind, st.floats(0, 1))
def test_truncated(kind: str, frac: float) -> None:
    ext, data = SEEDS[kind]
    check(ext, data[: int(len(data) * frac)])


@FUZZ
@given(kind, st.lists(st.tuples(st.floats(0, 0.999), st.integers(0, 255)), max_size=8))
def test_corrupted(kind: str, edits: list[tuple[float, int]]) -> None:
    ext, data = SEEDS[kind]
    buf = bytearray(data)
    for where, byte in edits:
        buf[int(where * len(buf))] = byte
    check(ext, bytes(buf))


@FUZZ
@given(kind, st.floats(0, 1), st.binary(min_size=1, max_size=40))
def test_inserted_garbage(kind: str, where: float, junk: bytes) -> None:
    ext, data = SEEDS[kind]
    at = int(len(data) * where)
    check(ext, data[:at] + junk + data[at:])
