"""The import task through the real engine: the spec, the worker module, the summary."""

from __future__ import annotations

import json
from pathlib import Path

from tests.engine.conftest import finished, run
from tests.tracks.test_formats import gpx, trkpts
from trackdesk.engine.engine import Engine, EngineSettings
from trackdesk.engine.states import Status
from trackdesk.skills.registry import load_registry


def test_engine_runs_an_import_task_to_its_summary(tmp_path: Path) -> None:
    good = tmp_path / "a.gpx"
    good.write_text(gpx(f"<trk><trkseg>{trkpts(12)}</trkseg></trk>"))
    broken = tmp_path / "b.gpx"
    broken.write_text(gpx(f"<trk><trkseg>{trkpts(5, lat=47)}</trkseg></trk>")[:300])

    async def go() -> tuple:
        e = Engine(tmp_path / "tracks.db", registry=load_registry(),
                   settings=EngineSettings(poll_interval_s=0.1, flush_interval_s=0.1))
        await e.start()
        ok = await e.create_task("import", params={"paths": json.dumps([str(good)])})
        bad = await e.create_task("import", params={"paths": json.dumps([str(broken)])})
        await finished(e, ok.id, bad.id, timeout=60)
        await e.stop()
        return e.tasks[ok.id], e.tasks[bad.id]

    ok, bad = run(go(), timeout=90)
    assert ok.status == Status.COMPLETED, ok.error_message
    summary = ok.result_summary if isinstance(ok.result_summary, dict) else json.loads(
        ok.result_summary)
    assert summary["new"] == 12
    assert ok.processed_points == 12
    assert bad.status == Status.FAILED
    assert "b.gpx" in bad.error_message and "line" in bad.error_message
