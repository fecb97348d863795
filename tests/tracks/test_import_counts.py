"""Issue 18 for imports: a partly failed import is its own outcome, every file is listed,
the counts reconcile, the total only grows, the log and the progress move as files are
read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.conftest import finished, run
from tests.tracks.conftest import count, run_import
from tests.tracks.fitwriter import fit_file
from tests.tracks.test_formats import gpx, trkpts
from trackdesk.engine.engine import Engine, EngineSettings
from trackdesk.engine.states import Status
from trackdesk.skills.registry import load_registry

T0 = 1_600_000_000


def mixed(tmp_path: Path) -> list[Path]:
    """good (20), the same again (duplicates), a CSV with 2 bad rows, a GPX broken after
    many batches (rolled back), and a file of no known kind named explicitly."""
    good = tmp_path / "good.gpx"
    good.write_text(gpx(f"<trk><trkseg>{trkpts(20)}</trkseg></trk>"))
    again = tmp_path / "again.gpx"
    again.write_text(gpx(f"<trk><trkseg>{trkpts(20)}</trkseg></trk>"))
    rej = tmp_path / "some.csv"
    rej.write_text("lat,lon,time\n" + "".join(f"47.{i:04d},14,{T0 + i}\n" for i in range(10))
                   + "91,14,1600000100\n47,14,not-a-time\n")
    broken = tmp_path / "broken.gpx"
    text = gpx(f"<trk><trkseg>{trkpts(300, lat=48)}</trkseg></trk>")
    broken.write_text(text[: len(text) * 2 // 3])
    other = tmp_path / "notes.txt"
    other.write_text("just some notes, not a track\n")
    return [good, again, rej, broken, other]


def test_a_partly_failed_import_completes_lists_every_file_and_reconciles(
        db: Path, tmp_path: Path) -> None:
    out = run_import(db, mixed(tmp_path), batch_size=10)
    assert out.ok, out.error
    s = out.summary
    assert s["outcome"] == "completed with files not imported"
    assert s["status_reason"].startswith("completed with 2 of 5 file(s) not imported "
                                         "(1 failed, 1 refused)")
    files = {Path(f["name"]).name: f for f in s["per_file"]}
    assert [files[n]["status"] for n in ("good.gpx", "again.gpx", "some.csv", "broken.gpx",
                                         "notes.txt")] == \
        ["imported", "imported", "imported", "failed", "refused"]
    assert (files["again.gpx"]["new"], files["again.gpx"]["duplicates"]) == (0, 20)
    assert files["some.csv"]["rejected_reasons"] == {"latitude out of range": 1,
                                                    "unreadable timestamp": 1}
    assert "not a track file" in files["notes.txt"]["reason"]
    assert files["broken.gpx"]["rolled_back"] > 0
    for f in s["per_file"]:
        if f["status"] != "refused":
            assert f["read"] == f["new"] + f["duplicates"] + f["rejected"] + \
                f.get("rolled_back", 0), f
    assert s["points_read"] == s["new"] + s["duplicates"] + s["rejected"] + s["rolled_back"]
    assert count(db) == s["new"] == 30
    last = [m for m in out.messages if m["type"] == "progress"][-1]
    # processed = every point read; failed = rejected + rolled back; the rest is stored.
    assert last["processed"] == s["points_read"]
    assert last["failed"] == s["rejected"] + s["rolled_back"]
    assert last["processed"] - last["failed"] == s["new"] + s["duplicates"]


def test_the_engine_shows_a_partly_failed_import_as_completed_with_its_reason(
        tmp_path: Path) -> None:
    paths = mixed(tmp_path)

    async def go():  # noqa: ANN202
        e = Engine(tmp_path / "tracks.db", registry=load_registry(),
                   settings=EngineSettings(poll_interval_s=0.1, flush_interval_s=0.1))
        await e.start()
        t = await e.create_task("import", params={"paths": json.dumps([str(p) for p in paths])})
        await finished(e, t.id, timeout=60)
        await e.stop()
        return e.tasks[t.id]

    rec = run(go(), timeout=90)
    assert rec.status == Status.COMPLETED, rec.error_message
    assert rec.status_reason.startswith("completed with 2 of 5 file(s) not imported")
    assert rec.processed_points - rec.failed_points == 50  # 30 new + 20 duplicates
    summary = rec.result_summary if isinstance(rec.result_summary, dict) else json.loads(
        rec.result_summary)
    assert len(summary["per_file"]) == 5


def test_the_total_only_grows_while_a_mixed_folder_imports(
        db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trackdesk.worker import runtime

    monkeypatch.setattr(runtime, "PROGRESS_INTERVAL_S", 0.0)  # every report is seen
    # Dense first (few bytes a point), then verbose (hundreds of bytes a point): the old
    # bytes-based estimate fell as the verbose file was read.
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.csv").write_text("lat,lon,time\n" + "".join(
        f"46.{i:05d},14,{T0 + i}\n" for i in range(4000)))
    ext = "<extensions>" + "<x>padding</x>" * 40 + "</extensions>"
    pts = trkpts(400, lat=40).replace("</trkpt>", ext + "</trkpt>")
    (folder / "b.gpx").write_text(gpx(f"<trk><trkseg>{pts}</trkseg></trk>"))
    out = run_import(db, [folder], batch_size=50)
    totals = [m["total"] for m in out.messages if m["type"] == "progress" and "total" in m]
    assert len(totals) > 3
    assert totals[:-1] == sorted(totals[:-1]), totals
    assert totals[-1] == 4400


def test_the_log_names_each_file_as_it_starts(db: Path, tmp_path: Path) -> None:
    paths = mixed(tmp_path)[:3]
    out = run_import(db, paths)
    logs = [m["message"] for m in out.messages if m["type"] == "log"]
    for p in paths:
        starts = [i for i, m in enumerate(logs) if "reading" in m and p.name in m]
        ends = [i for i, m in enumerate(logs) if "new," in m and p.name in m]
        assert starts and ends and starts[0] < ends[0], logs


def test_progress_is_reported_while_one_long_file_is_read(db: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    from trackdesk.tracks import importer
    from trackdesk.worker import runtime

    # Every chance to report is taken: the test sees each report the pacing would allow.
    monkeypatch.setattr(importer, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(runtime, "PROGRESS_INTERVAL_S", 0.0)
    f = tmp_path / "ride.fit"
    f.write_bytes(fit_file([(T0 + i, 46 + i * 1e-5, 14.0, 300.0) for i in range(3000)]))
    out = run_import(db, [f])  # one batch of 50,000: no flush until the end
    assert out.ok, out.error
    during = [m["processed"] for m in out.messages if m["type"] == "progress"
              and 0 < m["processed"] < 3000]
    assert during, "no progress while the file was read"
