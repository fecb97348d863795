"""The first run: an empty data folder shows the welcome page; "Try the demo" imports the
shipped tracks and runs the default chain on them with real workers and a real tracks.db."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.ui.conftest import insert, record, run, until
from trackdesk.engine.chains import default_chain
from trackdesk.engine.states import Status
from trackdesk.tracks.db import default_db_path
from trackdesk.ui.welcome import demo_files


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user with no trackdesk data yet: XDG folders inside tmp_path, no TRACKDESK_DB."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("TRACKDESK_DB", raising=False)
    path = default_db_path()
    assert path.is_relative_to(tmp_path) and not path.exists()
    return path


def test_demo_tracks_are_small_and_of_two_formats():
    files = demo_files()
    assert {p.suffix for p in files} >= {".gpx", ".csv"}
    assert sum(p.stat().st_size for p in files) < 1_000_000


def test_welcome_cards_show_no_missing_glyph_box(make_window, loop, empty_home):
    """A card's symbol is drawn from the font only when the font has it; otherwise the
    style's picture is shown (an empty box looked broken on a plain Linux font set)."""
    from PySide6.QtGui import QFontMetrics
    from PySide6.QtWidgets import QLabel

    w = make_window(open_db=False)
    assert run(loop, w.open_db())
    run(loop, until(lambda: w.welcome.showing, what="the welcome page"))
    cards = w.welcome.page.findChildren(QLabel)
    symbols = [lab for lab in cards if lab.pixmap() is not None and not lab.pixmap().isNull()
               or (lab.text() and len(lab.text()) <= 2)]
    assert len(symbols) == 3
    for lab in symbols:
        if lab.pixmap() is None or lab.pixmap().isNull():
            assert all(QFontMetrics(lab.font()).inFontUcs4(ord(c)) for c in lab.text())


def test_first_run_shows_welcome_and_the_demo_runs_the_default_chain(
        make_window, loop, empty_home):
    w = make_window(open_db=False)
    assert run(loop, w.open_db())  # no --db, nothing in the settings: the default db
    assert w.engine is not None and w.engine.db_path == empty_home.resolve()
    run(loop, until(lambda: w.welcome.showing, what="the welcome page"))
    page = w.welcome.page
    assert page.isVisible() and not w.views.isVisible()
    assert str(empty_home.resolve()) in page.db_label.text()
    assert page.demo_button.isEnabled()

    page.demo_button.click()
    assert not page.demo_button.isEnabled()  # a second click does not start a second demo
    chain_len = len(default_chain(w.engine.registry).topological_order())
    assert chain_len == 9
    run(loop, until(lambda: len(w.engine.tasks) == 1 + chain_len, what="the demo's tasks"))
    run(loop, until(lambda: not w.welcome.showing, what="the task table"))
    assert w.view.isVisible()
    tasks = sorted(w.engine.tasks.values(), key=lambda t: t.id)
    imp, chain = tasks[0], tasks[1:]
    assert imp.skill_name == "import"
    assert {t.chain_run_id for t in chain} != {None} and len({t.chain_run_id for t in chain}) == 1
    roots = [t for t in chain if not any(d != imp.id for d in t.depends_on_task_ids)]
    assert roots and all(imp.id in t.depends_on_task_ids for t in roots)

    def finished() -> bool:
        return all(t.status in (Status.COMPLETED, Status.FAILED, Status.SKIPPED,
                                Status.CANCELLED, Status.INTERRUPTED)
                   for t in w.engine.tasks.values())

    run(loop, until(finished, timeout=170, what="the demo chain"), timeout=180)
    outcome = {t.skill_name: (t.status, t.error_message) for t in w.engine.tasks.values()}
    assert all(s == Status.COMPLETED for s, _ in outcome.values()), outcome
    with sqlite3.connect(empty_home) as conn:
        points = conn.execute("SELECT count(*) FROM points").fetchone()[0]
        stays = conn.execute("SELECT count(*) FROM stays").fetchone()[0]
        trips = conn.execute("SELECT count(*) FROM trips").fetchone()[0]
    assert points > 1000 and stays > 5 and trips > 5


def test_a_db_with_tasks_opens_on_the_task_table(make_window, loop, db_path):
    insert(db_path, record(status=Status.COMPLETED))
    w = make_window()
    assert not w.welcome.showing
    assert w.view.isVisible()


def test_a_db_with_points_but_no_tasks_opens_on_the_task_table(make_window, loop, db_path):
    w = make_window()
    run(loop, until(lambda: w.welcome.showing, what="the welcome page on an empty db"))
    run(loop, w.close_db("stop"))
    with sqlite3.connect(db_path) as conn:
        conn.execute("INSERT INTO points (ts, lat, lon, source) VALUES (1.0e9, 48.1, 11.5, 't')")
    assert run(loop, w.open_db(db_path))
    run(loop, until(lambda: w.welcome._check is None or w.welcome._check.done(),
                    what="the emptiness check"))
    assert not w.welcome.showing
