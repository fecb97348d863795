"""What the files know besides positions (issue 19): Google's places, semantic types and
activities, kept as annotations; the Google export variants that imported nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.tracks.conftest import count, points, run_import
from trackdesk.tracks.annotations import annotations_at, annotations_between
from trackdesk.tracks.formats import expand

T0 = 1_600_000_000  # 2020-09-13T12:26:40Z


def annotations(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT start_ts, end_ts, kind, value, raw, source, lat, lon, place_id "
            "FROM annotations ORDER BY start_ts, kind, value").fetchall()
    finally:
        conn.close()


def semantic_doc() -> dict:
    return {"timelineObjects": [
        {"placeVisit": {
            "location": {"latitudeE7": 460000000, "longitudeE7": 145000000,
                         "placeId": "ChIJhome", "address": "Street 1, Ljubljana",
                         "name": "Home sweet home", "semanticType": "TYPE_HOME"},
            "duration": {"startTimestamp": str(T0), "endTimestamp": str(T0 + 3600)}}},
        {"activitySegment": {
            # only a start location, times in epoch milliseconds as text
            "startLocation": {"latitudeE7": 460000000, "longitudeE7": 145000000},
            "duration": {"startTimestamp": str((T0 + 3600) * 1000),
                         "endTimestamp": str((T0 + 5400) * 1000)},
            "activityType": "IN_SUBWAY",
            "simplifiedRawPath": {"points": [{"latE7": 460600000, "lngE7": 145600000,
                                              "timestamp": "2020-09-13T13:30:00Z"}]}}},
        {"activitySegment": {
            "startLocation": {"latitudeE7": 461000000, "longitudeE7": 146000000},
            "endLocation": {"latitudeE7": 462000000, "longitudeE7": 147000000},
            "duration": {"startTimestamp": "2020-09-13T13:56:40Z",
                         "endTimestamp": "2020-09-13T14:10:00Z"},
            "activities": [{"activityType": "IN_FERRY", "probability": 80.0}]}},
        {"placeVisit": {
            "location": {"latitudeE7": 462000000, "longitudeE7": 147000000,
                         "placeId": "ChIJwork", "semanticType": "TYPE_WORK",
                         "address": "Office park 3"},
            "duration": {"startTimestampMs": str((T0 + 6600) * 1000),
                         "endTimestampMs": str((T0 + 9000) * 1000)}}},
    ]}


def test_semantic_history_epoch_strings_partial_locations_and_annotations(
        db: Path, tmp_path: Path) -> None:
    f = tmp_path / "2020_SEPTEMBER.json"
    f.write_text(json.dumps(semantic_doc()))
    out = run_import(db, [f])
    assert out.ok, out.error
    # home arrival + departure (= subway start, a duplicate), the raw path point (the
    # subway ride names no end position: no point there), ferry start + end, work
    # arrival + departure
    assert out.summary["rejected"] == 0, out.summary["rejected_reasons"]
    assert out.summary["new"] == 7 and out.summary["duplicates"] == 1
    assert [r[0] for r in points(db)] == [T0 + d for d in (0, 3600, 3800, 5400, 6200,
                                                            6600, 9000)]
    anns = annotations(db)
    assert (T0, T0 + 3600, "place", "Home sweet home", "Home sweet home", "google", 46.0,
            14.5, "ChIJhome") in anns
    assert (T0, T0 + 3600, "semantic", "HOME", "TYPE_HOME", "google", 46.0, 14.5,
            "ChIJhome") in anns
    assert (T0 + 3600, T0 + 5400, "activity", "train", "IN_SUBWAY", "google", 46.0, 14.5,
            None) in anns
    # no name: the address names the place
    assert (T0 + 6600, T0 + 9000, "place", "Office park 3", None, "google", 46.2, 14.7,
            "ChIJwork") in anns
    assert ("semantic", "WORK") in {(a[2], a[3]) for a in anns}
    # a ferry is none of trackdesk's activities: counted, not stored
    assert "ferry" not in {a[4] for a in anns if a[4]}
    assert out.summary["notes"]["activity labels not kept (no trackdesk activity for them)"] \
        == 1
    assert out.summary["notes"]["annotations kept (activities, places)"] == len(anns) == 5


def test_importing_twice_adds_no_annotation_twice(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "2020_SEPTEMBER.json"
    f.write_text(json.dumps(semantic_doc()))
    assert run_import(db, [f]).ok
    first = annotations(db)
    again = run_import(db, [f])
    assert again.ok and again.summary["new"] == 0
    assert annotations(db) == first


def test_phone_export_with_segment_keys_in_another_order_is_imported(
        db: Path, tmp_path: Path) -> None:
    """The phone's Timeline export as tools rewrite it: a first segment whose long
    timelinePath comes before its startTime (more than the 16 KB sniffed)."""
    path = [{"point": f"46.{i:07d}°, 14.5°", "time": f"2020-09-13T12:{i // 60:02d}:"
             f"{i % 60:02d}.000Z"} for i in range(600)]
    doc = [
        {"timelinePath": path, "startTime": "2020-09-13T12:00:00.000Z",
         "endTime": "2020-09-13T12:10:00.000Z"},
        {"endTime": "2020-09-13T14:00:00.000Z", "startTime": "2020-09-13T12:10:00.000Z",
         "visit": {"hierarchyLevel": "0", "probability": "0.9",
                   "topCandidate": {"placeID": "ChIJcafe", "semanticType": "Inferred Work",
                                    "probability": "0.7",
                                    "placeLocation": "geo:46.300000,14.600000"}}},
        {"endTime": "2020-09-13T14:30:00.000Z", "startTime": "2020-09-13T14:00:00.000Z",
         "activity": {"start": "geo:46.300000,14.600000", "end": "geo:46.400000,14.700000",
                      "topCandidate": {"type": "in passenger vehicle",
                                       "probability": "0.95"},
                      "distanceMeters": "12000"}},
    ]
    f = tmp_path / "phone-takeout.json"
    f.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    files, skipped = expand([f])
    assert [x.format for x in files] == ["google-timeline"], skipped
    out = run_import(db, [f])
    assert out.ok, out.error
    assert count(db) == 600 + 2 + 1  # path, visit arrival/departure, activity end
    base = T0 - 26 * 60 - 40
    anns = annotations(db)
    assert (base + 600, base + 7200, "place", "ChIJcafe", None, "google", 46.3, 14.6,
            "ChIJcafe") in anns
    assert (base + 600, base + 7200, "semantic", "INFERRED_WORK", "Inferred Work", "google",
            46.3, 14.6, "ChIJcafe") in anns
    assert (base + 7200, base + 9000, "activity", "car", "in passenger vehicle", "google",
            46.3, 14.6, None) in anns


def test_on_device_object_export_keeps_activities_and_home(db: Path,
                                                           tmp_path: Path) -> None:
    doc = {"semanticSegments": [
        {"startTime": "2020-09-13T14:00:00.000+02:00", "endTime": "2020-09-13T15:00:00+02:00",
         "visit": {"topCandidate": {"placeId": "ChIJh", "semanticType": "HOME",
                                    "placeLocation": {"latLng": "46.2°, 14.6°"}}}},
        {"startTime": "2020-09-13T15:00:00+02:00", "endTime": "2020-09-13T15:30:00+02:00",
         "activity": {"start": {"latLng": "46.2°, 14.6°"}, "end": {"latLng": "46.3°, 14.7°"},
                      "topCandidate": {"type": "CYCLING", "probability": 0.9}}},
        {"startTime": "2020-09-13T15:30:00+02:00", "endTime": "2020-09-13T16:30:00+02:00",
         "activity": {"start": {"latLng": "46.3°, 14.7°"}, "end": {"latLng": "48.3°, 16.7°"},
                      "topCandidate": {"type": "FLYING"}}},
    ]}
    f = tmp_path / "Timeline.json"
    f.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    out = run_import(db, [f])
    assert out.ok, out.error
    base = T0 - 26 * 60 - 40
    got = {(a[0] - base, a[1] - base, a[2], a[3]) for a in annotations(db)}
    assert got == {(0, 3600, "place", "ChIJh"), (0, 3600, "semantic", "HOME"),
                   (3600, 5400, "activity", "bike"), (5400, 9000, "activity", "plane")}


def test_query_api_overlaps_and_filters(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "2020_SEPTEMBER.json"
    f.write_text(json.dumps(semantic_doc()))
    assert run_import(db, [f]).ok
    conn = sqlite3.connect(db)
    try:
        everything = annotations_between(conn)
        assert len(everything) == 5
        # an instant inside the subway ride: only the ride covers it
        (ride,) = annotations_at(conn, T0 + 4000)
        assert (ride.kind, ride.value, ride.raw, ride.source) == (
            "activity", "train", "IN_SUBWAY", "google")
        assert ride.import_file_id is not None
        # a range touching the end of the home visit and the ride
        kinds = [(a.kind, a.value) for a in annotations_between(conn, T0 + 3000, T0 + 3700)]
        assert kinds == [("place", "Home sweet home"), ("semantic", "HOME"),
                         ("activity", "train")]
        assert [a.value for a in annotations_between(conn, kind="semantic")] == ["HOME",
                                                                                  "WORK"]
        assert annotations_between(conn, T0 + 20_000, None) == []
    finally:
        conn.close()


def test_query_api_on_a_database_without_the_table(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.db")
    try:
        assert annotations_between(conn, 0, 1e10) == []
    finally:
        conn.close()
