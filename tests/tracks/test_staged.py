"""Large files are staged in a TEMP table and copied in at the end: same promises."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from tests.tracks.conftest import count, points, run_import
from tests.tracks.test_formats import T0, _variants, gpx, trkpts
from trackdesk.tracks import importer


@pytest.fixture(autouse=True)
def stage_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "STAGE_ABOVE_BYTES", 0)


def test_staged_import_is_idempotent_and_counts(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "a.gpx"
    f.write_text(gpx(f"<trk><trkseg>{trkpts(50)}</trkseg></trk>"))
    first = run_import(db, [f], batch_size=7)
    second = run_import(db, [f], batch_size=7)
    assert (first.summary["new"], first.summary["duplicates"]) == (50, 0)
    assert (second.summary["new"], second.summary["duplicates"]) == (0, 50)
    assert count(db) == 50


def test_staged_broken_file_leaves_nothing(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "cut.csv"
    f.write_text("lat,lon,time\n" + "".join(f"46.{i:04d},14,{T0 + i}\n" for i in range(500))
                 + '46,"14')
    out = run_import(db, [f], batch_size=50)
    assert not out.ok and "cut.csv" in out.error
    assert count(db) == 0


def test_staged_restart_of_the_fast_gpx_path(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "w.gpx"
    f.write_text(_variants()["waypoint at the end"])
    out = run_import(db, [f], batch_size=7)
    assert out.ok and out.summary["new"] == 41


def test_staging_does_not_hold_the_write_lock_while_parsing(db: Path, tmp_path: Path,
                                                           monkeypatch) -> None:
    """Another writer gets through while a staged file is still being read."""
    from trackdesk.tracks import csvfile

    f = tmp_path / "slow.csv"
    f.write_text("lat,lon,time\n" + "".join(f"46.{i:04d},14,{T0 + i}\n" for i in range(200)))
    reading = threading.Event()
    release = threading.Event()
    original = csvfile._read_generic

    def slow(reader, header, delim, out):  # noqa: ANN001
        rows = iter(reader)

        def paced():
            for i, row in enumerate(rows):
                if i == 100:
                    reading.set()
                    release.wait(10)
                yield row

        return original(paced(), header, delim, out)

    monkeypatch.setattr(csvfile, "_read_generic", slow)
    result = {}
    t = threading.Thread(target=lambda: result.update(out=run_import(db, [f], batch_size=10)))
    t.start()
    assert reading.wait(10)
    other = sqlite3.connect(db, timeout=0.5, isolation_level=None)
    start = time.monotonic()
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO points (ts, lat, lon, source) VALUES (1e9, 1, 1, 'other')")
    other.execute("COMMIT")
    other.close()
    assert time.monotonic() - start < 0.5
    release.set()
    t.join(20)
    assert result["out"].ok and result["out"].summary["new"] == 200
    assert len(points(db)) == 201
