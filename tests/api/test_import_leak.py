"""Issue 17 §4 through the REST API: importing a folder of the workspace that holds a link
to a file outside it shows nothing of that file (task, log, API JSON)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.api.conftest import P, Served, serving
from tests.engine.conftest import run
from tests.tracks.test_import_safety import MARKER, secret_folder


async def ended(s: Served, tid: int) -> dict:
    """GET /tasks/ID until the task completed or failed (a minute at most): the body."""
    for _ in range(600):
        _, out = await s.call("GET", f"{P}/tasks/{tid}")
        if out["data"]["status"] in ("completed", "failed"):
            break
        await asyncio.sleep(0.1)
    return out


def test_api_import_of_a_folder_with_a_link_out_leaks_nothing(tmp_path: Path) -> None:
    folder, _ = secret_folder(tmp_path)
    db = tmp_path / "ws" / "tracks.db"

    async def main() -> list[str]:
        seen: list[str] = []
        async with serving(db) as s:
            status, out = await s.call("POST", f"{P}/tasks", json={
                "skill_name": "import", "params": {"paths": ["tracks"]}})
            assert status == 200, out
            seen.append(json.dumps(out))
            tid = out["data"]["id"]
            out = await ended(s, tid)
            seen.append(json.dumps(out))
            assert out["data"]["status"] == "completed", out
            await asyncio.sleep(0.3)  # the engine's log flush
            for path in (f"{P}/tasks/{tid}/log", f"{P}/tasks"):
                status, body = await s.call("GET", path)
                assert status == 200
                seen.append(json.dumps(body))
        return seen

    seen = run(main(), timeout=120)
    assert "notes.csv" in "".join(seen)  # it is named, as skipped, with the reason
    for text in seen:
        assert MARKER not in text


def test_api_import_takes_the_csv_column_options(tmp_path: Path) -> None:
    db = tmp_path / "tracks.db"
    (tmp_path / "odd.csv").write_text("when_seen,lat,lng\n2020-09-13T12:00:00Z,46,14\n")

    async def main() -> dict:
        async with serving(db) as s:
            status, out = await s.call("POST", f"{P}/tasks", json={
                "skill_name": "import",
                "params": {"paths": ["odd.csv"], "time_column": "when_seen"}})
            assert status == 200, out
            return (await ended(s, out["data"]["id"]))["data"]

    task = run(main(), timeout=120)
    assert task["status"] == "completed", task
    summary = task["result_summary"]
    summary = summary if isinstance(summary, dict) else json.loads(summary)
    assert summary["new"] == 1
