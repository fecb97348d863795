"""The composition root (issue 22, item 5): one session owns the engine and every pane
follows it; the REST API served from the app goes with the window."""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.ui.conftest import insert, record, run, until
from trackdesk.engine.states import Status
from trackdesk.ui.settings import AppSettings


def _finished(skill: str, status: Status, minutes_ago: float, **kw):
    end = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return record(skill, status, start_time=end - timedelta(seconds=30), end_time=end, **kw)


def _rows(w) -> set[int]:
    return {w.model.task_id(r) for r in range(w.model.rowCount())}


def test_a_db_switch_reaches_every_pane_through_the_session(make_desktop, loop, tmp_path):
    """File → Open on another tracks.db: the table, the detail pane, the interrupted
    bar, the metrics and health docks, the welcome page, the views and an open chain
    canvas all show the new db, and nothing of the old one."""
    first, second = tmp_path / "a" / "tracks.db", tmp_path / "b" / "tracks.db"
    first.parent.mkdir()
    second.parent.mkdir()
    old = insert(first, _finished("count", Status.COMPLETED, 5),
                 _finished("count", Status.COMPLETED, 4))
    new = insert(second, _finished("noop", Status.COMPLETED, 3),
                 _finished("noop", Status.FAILED, 2, error_message="disk on fire"),
                 _finished("count", Status.COMPLETED, 1),
                 _finished("count", Status.INTERRUPTED, 1))
    desktop = make_desktop(path=first)
    w = desktop.window
    run(loop, until(lambda: not w.model.loading and _rows(w) == {t.id for t in old},
                    what="the first db's rows"))
    metrics = w.monitor.show_metrics()
    health = w.monitor.show_health()
    w.act_canvas.trigger()
    canvas = w.chain_canvas
    assert canvas.engine is desktop.session.engine

    assert run(loop, w.switch_db(second), timeout=60)
    engine = desktop.session.engine
    assert engine is not None and engine.db_path == second.resolve()
    assert w.engine is engine

    # The table: the new db's tasks only (ids overlap: compare what the rows say).
    run(loop, until(lambda: not w.model.loading and w.model.rowCount() == len(new),
                    what="the second db's rows"))
    shown = {(w.model.task_id(r), engine.tasks[w.model.task_id(r)].skill_name)
             for r in range(w.model.rowCount())}
    assert shown == {(t.id, t.skill_name) for t in new}
    # The detail pane reads the new engine.
    failed = next(t for t in new if t.status == Status.FAILED)
    w.select_tasks([failed.id])
    assert w.detail.title.text() == f"Task {failed.id} · noop"
    # The interrupted bar names the new db's interrupted task.
    interrupted = next(t for t in new if t.status == Status.INTERRUPTED)
    assert w.interrupted_bar.ids == [interrupted.id]
    # Metrics and health follow the new engine.
    w.monitor.refresh()
    assert w.monitor.last_metrics is not None
    assert w.monitor.last_metrics["finished"] == 3  # completed 2 + failed 1 (interrupted: no)
    assert metrics is w.monitor.metrics_panel
    assert health.engine is engine
    run(loop, until(lambda: health.report is not None, what="the new db's health"))
    assert any("1 interrupted task" in p for p in health.report["problems"])
    # The welcome page knows the new db (it has tasks: the table shows).
    assert w.welcome.engine is engine and not w.welcome.showing
    assert str(second.resolve()) in w.welcome.page.db_label.text()
    # The views read the new tracks.db; the canvas follows the new engine by itself.
    assert Path(w.views.loader.path) == second.resolve()
    assert canvas.engine is engine
    assert w.windowTitle().startswith("tracks.db — ")
    canvas.close()


def test_a_failed_switch_leaves_every_pane_without_an_engine(make_desktop, loop, tmp_path):
    """A tracks.db that cannot open (not SQLite): the panes let go of the old engine
    instead of showing a db that is no longer open."""
    desktop = make_desktop()
    w = desktop.window
    bad = tmp_path / "notes.db"
    bad.write_text("not a database, just notes\n" * 100)
    assert not run(loop, w.switch_db(bad))
    assert desktop.session.engine is None and w.engine is None
    assert w.model.rowCount() == 0
    assert w.detail.engine is None and w.monitor.engine is None
    assert w.welcome.engine is None and w.views.loader.path is None
    assert not w.act_import.isEnabled()


def _port_is_free(port: int) -> bool:
    # SO_REUSEADDR as a restarting server sets it: connections of the old server in
    # TIME_WAIT do not count, a listening socket does.
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_closing_the_window_stops_the_rest_api_and_frees_its_port(make_desktop, loop,
                                                                  db_path):
    pytest.importorskip("aiohttp")
    from trackdesk.ui.app import main

    port = _free_port()
    desktop = make_desktop(settings=AppSettings(serve_api=True, api_port=port), open_db=False)
    w = desktop.window

    def get(path: str) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status

    async def scenario() -> None:
        async def drive() -> None:
            await until(lambda: desktop.api.server is not None, what="the API to listen")
            loop_ = asyncio.get_running_loop()
            assert await loop_.run_in_executor(None, get, "/api/health") == 200
            assert not _port_is_free(port)
            w.close()  # closing the window is quitting

        driver = asyncio.ensure_future(drive())
        assert await main(db_path, lambda: desktop) == 0
        await driver

    run(loop, scenario(), timeout=60)
    assert desktop.api.server is None
    assert _port_is_free(port)
    with pytest.raises(urllib.error.URLError):
        get("/api/health")


def test_a_db_switch_moves_the_rest_api_to_the_new_engine(make_desktop, loop, tmp_path):
    """The API serves the open tracks.db: after File → Open it lists the new db's tasks."""
    pytest.importorskip("aiohttp")
    import json

    from trackdesk.api.server import API_PREFIX

    other = tmp_path / "other.db"
    [task] = insert(other, _finished("noop", Status.COMPLETED, 1))
    port = _free_port()
    desktop = make_desktop(settings=AppSettings(serve_api=True, api_port=port))
    first = desktop.api.server
    assert first is not None

    def tasks() -> list[str]:
        url = f"http://127.0.0.1:{port}{API_PREFIX}/tasks"
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.loads(r.read())
        return [t["skill_name"] for t in body["data"]]

    assert run(loop, asyncio.get_running_loop().run_in_executor(None, tasks)) == []
    assert run(loop, desktop.window.switch_db(other), timeout=60)
    assert desktop.api.server is not None and desktop.api.server is not first
    got = run(loop, asyncio.get_running_loop().run_in_executor(None, tasks))
    assert got == [task.skill_name]
