"""Issue 17 §4: what an import must never do — follow a link out of what the user named,
echo a file's content, store a truncated number, blow up on a zip bomb, or call an empty
file a success."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.tracks.conftest import count, new_db, points, run_import
from trackdesk.tracks.formats import expand

ROOT = Path(__file__).resolve().parents[2]
MARKER = "SECRET-MARKER-7f3a"
T0 = 1_600_000_000


def secret_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A folder to import (one good CSV) and, outside it, a secret reached by links: a
    file link named like a track, a linked subfolder, and a zip whose member is a link."""
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "shadow"
    secret.write_text(f"{MARKER}:20228:0:99999:7:::\nlat,lon,time {MARKER}\n")
    (outside / "more.csv").write_text(f"lat,lon,time\n46,14,{T0}\n# {MARKER}\n")
    folder = tmp_path / "ws" / "tracks"
    folder.mkdir(parents=True)
    (folder / "good.csv").write_text(
        "lat,lon,time\n" + "".join(f"46.{i:04d},14.5,{T0 + i}\n" for i in range(5)))
    (folder / "notes.csv").symlink_to(secret)
    (folder / "linked").symlink_to(outside, target_is_directory=True)
    info = zipfile.ZipInfo("inner.csv")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(folder / "links.zip", "w") as zf:
        zf.writestr(info, str(secret))  # a symlink member: its data is the target path
    return folder, secret


def test_links_out_of_an_imported_folder_are_never_read(tmp_path: Path) -> None:
    folder, secret = secret_folder(tmp_path)
    files, skipped = expand([folder])
    assert [Path(f.name).name for f in files] == ["good.csv"]
    reasons = {Path(s.name).name: s.reason for s in skipped}
    assert "link" in reasons["notes.csv"] and "outside" in reasons["notes.csv"]
    assert "link" in reasons["linked"]
    assert "link" in reasons["inner.csv"]
    db = new_db(tmp_path / "ws" / "tracks.db")
    out = run_import(db, [folder])
    assert out.ok, out.error
    assert count(db) == 5
    assert MARKER not in json.dumps([out.summary, out.messages])
    # The user named the link itself: that is what they meant, so it is followed (and
    # its content, a file of no known kind, is still not echoed beyond the header).
    out = run_import(db, [folder / "notes.csv"])
    assert MARKER not in json.dumps([out.summary, out.error, out.messages])


def test_cli_import_of_a_folder_with_a_link_out_shows_nothing_of_it(tmp_path: Path) -> None:
    folder, _ = secret_folder(tmp_path)
    db = tmp_path / "ws" / "tracks.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = [subprocess.run([sys.executable, "-m", "trackdesk", "--db", str(db), *args],
                           capture_output=True, text=True, env=env, timeout=120)
            for args in (["import", str(folder), "--wait"], ["tasks", "list", "--json"],
                         ["tasks", "show", "1"])]
    assert runs[0].returncode == 0, runs[0].stderr
    assert "'new': 5" in runs[2].stdout
    # Only links: nothing to import, and the refusal names them without their content.
    (folder / "good.csv").unlink()
    runs.append(subprocess.run([sys.executable, "-m", "trackdesk", "--db", str(db), "import",
                                str(folder), "--wait"], capture_output=True, text=True,
                               env=env, timeout=120))
    assert runs[-1].returncode == 2 and "notes.csv" in runs[-1].stderr
    for r in runs:
        assert MARKER not in r.stdout + r.stderr
    conn = sqlite3.connect(db)
    dump = "\n".join(conn.iterdump())
    conn.close()
    assert "notes.csv: a link to outside the folder" in dump  # the task's log says why
    assert MARKER not in dump


def test_a_csv_cut_in_the_middle_of_its_last_number_is_not_stored(db: Path,
                                                                  tmp_path: Path) -> None:
    rows = [f"{T0 + i},48.13516{i:02d},11.53680{i:02d}" for i in range(20)]
    f = tmp_path / "cut.csv"
    f.write_text("time,lat,lon\n" + "\n".join(rows) + "\n" + f"{T0 + 20},48.1351689,11.5")
    out = run_import(db, [f])
    assert out.ok, out.error
    assert count(db) == 20
    assert all(abs(p[2] - 11.5368) < 1e-3 for p in points(db))
    s = out.summary
    assert s["rejected"] == 1
    assert any("cut off" in k for k in s["rejected_reasons"])
    # A complete last line without its line end is a normal file: kept.
    g = tmp_path / "whole.csv"
    g.write_text("time,lat,lon\n" + "\n".join(rows).replace("48.", "47."))
    out = run_import(db, [g])
    assert out.summary["new"] == 20 and out.summary["rejected"] == 0
    # A stop at the end of a ride: a short speed is a value, not a cut (only time,
    # position and the last field are compared).
    h = tmp_path / "stop.csv"
    h.write_text("time,lat,lon,speed,accuracy\n" + "".join(
        f"{T0 + i},45.13516{i:02d},11.53680{i:02d},12.5,5\n" for i in range(5))
        + f"{T0 + 5},45.1351699,11.5368099,0,5")
    out = run_import(db, [h])
    assert out.summary["new"] == 6 and out.summary["rejected"] == 0


def test_the_lifetime_fast_path_rejects_a_cut_last_line_too(db: Path, tmp_path: Path) -> None:
    head = ("dataTime,locType,longitude,latitude,heading,accuracy,speed,distance,"
            "isBackForeground,stepType,altitude\n")
    rows = [f"{T0 + i},1,11.53680{i:02d},48.13516{i:02d},0,5,1,0,0,0,520.5"
            for i in range(50)]
    f = tmp_path / "cut.csv"
    # Cut in the last field (altitude 520.5 -> 52): as many fields as a whole row.
    f.write_text(head + "\n".join(rows) + f"\n{T0 + 60},1,11.5368012,48.1351612,0,5,1,0,0,0,52")
    out = run_import(db, [f])
    assert out.ok, out.error
    assert count(db) == 50 and out.summary["rejected"] == 1


def test_an_empty_file_is_refused_the_same_way_in_every_format(db: Path,
                                                               tmp_path: Path) -> None:
    names = ["a.fit", "a.csv", "a.gpx", "a.kml", "a.geojson", "a.json", "a.tcx", "a.rec"]
    for n in names:
        (tmp_path / n).write_bytes(b"")
    files, skipped = expand([tmp_path / n for n in names])
    assert files == []
    assert {s.reason for s in skipped} == {"an empty file"}
    out = run_import(db, [tmp_path / "a.fit"])
    assert not out.ok and "a.fit: an empty file" in out.error


def test_a_zip_bomb_is_stopped_without_eating_memory(db: Path, tmp_path: Path) -> None:
    # 1 GiB of one line behind a ~1 MB zip: refused before memory follows the data.
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf, \
            zf.open("big.csv", "w", force_zip64=True) as fh:
        fh.write(b"lat,lon,time\n46,14,")
        block = b"1" * (1 << 20)
        for _ in range(1024):
            fh.write(block)
    assert z.stat().st_size < 3 << 20
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    params = json.dumps({"paths": json.dumps([str(z)]), "gcj02": False})
    proc = subprocess.run(
        [sys.executable, "-m", "trackdesk.tracks.worker", "import", "--task-id", "3",
         "--db-path", str(db), "--params", params],
        capture_output=True, text=True, env=env, timeout=300)
    msgs = [json.loads(line) for line in proc.stdout.splitlines()]
    err = [m for m in msgs if m["type"] == "error"]
    assert err and "big.csv" in err[0]["message"]
    assert "expands" in err[0]["message"] or "line longer" in err[0]["message"]
    peak = max(m["peak_rss_mb"] for m in msgs if m["type"] == "resources")
    assert peak < 400, peak  # the task's peak includes the reading child's
    assert count(db) == 0


def test_a_line_longer_than_the_limit_fails_the_file_without_reading_it_whole(
        db: Path, tmp_path: Path) -> None:
    f = tmp_path / "long.csv"
    with open(f, "w") as fh:
        fh.write(f"lat,lon,time\n46,14,{T0}\n46,14,")
        fh.write("1" * (6 << 20))
        fh.write("\n")
    out = run_import(db, [f, tmp_path / "long.csv"])
    assert not out.ok and "long.csv" in out.error and "line longer than 1 MB" in out.error
    assert count(db) == 0


def test_the_reading_childs_peak_memory_is_reported(db: Path, tmp_path: Path,
                                                    monkeypatch) -> None:  # noqa: ANN001
    from trackdesk.tracks import importer

    monkeypatch.setattr(importer, "PIPE_ABOVE_BYTES", 0)  # every file read in a child
    monkeypatch.setattr(importer, "CHILD_PEAK_MB", [0.0])
    from trackdesk.tracks import worker

    monkeypatch.setattr(worker, "CHILD_PEAK_MB", importer.CHILD_PEAK_MB)
    f = tmp_path / "a.csv"
    f.write_text("lat,lon,time\n" + "".join(f"46.{i:04d},14.5,{T0 + i}\n" for i in range(50)))
    out = run_import(db, [f])
    assert out.ok, out.error
    assert out.summary["new"] == 50
    assert out.summary["reader_peak_mb"] > 0
    peaks = [m["peak_rss_mb"] for m in out.messages if m["type"] == "resources"]
    assert peaks and peaks[0] == out.summary["reader_peak_mb"]
