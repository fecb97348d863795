"""Days where you were in the views (issue 21, item 4): the coverage calendar, the
timeline and the statistics cut each day where it was lived, on a computer set to New
York time, days starting at the hour set in Settings."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QLabel

from devtools import travel_history as travel
from tests.skills.chain import connect, new_db, run_chain
from trackdesk.ui.views.coverage import CoverageView
from trackdesk.ui.views.loader import Loader
from trackdesk.ui.views.statistics import StatisticsView
from trackdesk.ui.views.timeline import TimelineView

WAIT = 60_000
AUTO = {"footprint_stats": {"timezone": "auto"}}


@pytest.fixture
def new_york_computer() -> Any:
    """This process on New York time, as a user's computer set there would be."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture(scope="module")
def tokyo_sf_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tokyo 1-3 July 2026, the flight to San Francisco on the 3rd, analysed by the chain."""
    path = new_db(tmp_path_factory.mktemp("tokyo-views") / "tracks.db")
    parts, _ = travel.tokyo_then_san_francisco()
    conn = connect(path)
    travel.insert(conn, *parts)
    conn.close()
    run_chain(path, "FULL_RECOMPUTE", AUTO)
    return path


@pytest.fixture(scope="module")
def night_out_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A night out in Tokyo: 20:00 on 2 July to 02:30 on 3 July, local."""
    z = "Asia/Tokyo"
    path = new_db(tmp_path_factory.mktemp("night-out") / "tracks.db")
    conn = connect(path)
    travel.insert(conn, travel.stay(travel.TOKYO, travel.at(z, 2026, 7, 2, 20),
                                    travel.at(z, 2026, 7, 3, 2, 30), step=60.0))
    conn.close()
    run_chain(path, "FULL_RECOMPUTE", AUTO)
    return path


def open_coverage(qtbot: Any, loader: Loader, db: Path, hour: int = 0) -> CoverageView:
    loader.set_path(db)
    view = CoverageView(loader)
    qtbot.addWidget(view)
    view.resize(1100, 600)
    if hour:
        view.set_day_start(hour)
    view.refresh()
    qtbot.waitUntil(lambda: view.coverage is not None, timeout=WAIT)
    return view


def test_coverage_cells_are_the_days_lived_in_tokyo_and_san_francisco(
        qtbot: Any, loader: Loader, tokyo_sf_db: Path, new_york_computer: Any) -> None:
    """08:00 in Tokyo on 1 July is 30 June in New York, 23:30 in Tokyo 10:30 there, and
    San Francisco's 3 July follows Tokyo's 3 July: the calendar shows 1, 2, 3 July."""
    view = open_coverage(qtbot, loader, tokyo_sf_db)
    cal = view.calendar
    assert view.coverage.data_days == [date(2026, 7, 1), date(2026, 7, 2), date(2026, 7, 3)]
    assert [cal.state(date(2026, 7, d)) for d in (1, 2, 3)] == ["latest"] * 3
    assert cal.state(date(2026, 6, 30)) == "none" and cal.state(date(2026, 7, 4)) == "none"
    assert "<b>3</b> days with data" in view.summary.text()
    # the month table counts the same days
    assert view.months.item(0, 0).text() == "2026-07" and view.months.item(0, 1).text() == "3"
    # the cell of 1 July is where 1 July is drawn, and its tooltip says so
    r = cal._cell(0, date(2026, 7, 1))
    assert cal.day_at(r.center().x(), r.center().y()) == date(2026, 7, 1)
    view.grab()


def test_coverage_with_days_starting_at_four(qtbot: Any, loader: Loader, night_out_db: Path,
                                             new_york_computer: Any) -> None:
    """Until 02:30 on 3 July is still 2 July for a day that starts at 04:00."""
    view = open_coverage(qtbot, loader, night_out_db)
    assert view.coverage.data_days == [date(2026, 7, 2), date(2026, 7, 3)]
    view.set_day_start(4)
    qtbot.waitUntil(lambda: view.coverage is not None and
                    view.coverage.data_days == [date(2026, 7, 2)], timeout=WAIT)
    assert view.calendar.state(date(2026, 7, 3)) == "none"


def test_the_timeline_cuts_each_day_where_it_was_lived(
        qtbot: Any, loader: Loader, tokyo_sf_db: Path, new_york_computer: Any) -> None:
    loader.set_path(tokyo_sf_db)
    view = TimelineView(loader)
    qtbot.addWidget(view)
    view.resize(1100, 500)
    view.show()
    view.show_period(date(2026, 7, 1), date(2026, 7, 4))
    qtbot.waitUntil(lambda: view.strip.timeline is not None, timeout=WAIT)
    tl = view.strip.timeline
    assert tl.data_days == [date(2026, 7, 1), date(2026, 7, 2), date(2026, 7, 3)]
    # 1 July is Tokyo's, midnight to midnight, not New York's
    assert tl.day_bounds(date(2026, 7, 1)) == (travel.at("Asia/Tokyo", 2026, 7, 1),
                                               travel.at("Asia/Tokyo", 2026, 7, 2))
    # 3 July from Tokyo's midnight to San Francisco's: lived twice, one 40-hour row
    assert tl.day_bounds(date(2026, 7, 3)) == (travel.at("Asia/Tokyo", 2026, 7, 3),
                                               travel.at("America/Los_Angeles", 2026, 7, 4))
    assert "3 of 4 days with data" in view.info.text()
    assert "Asia/Tokyo, America/Los_Angeles" in view.info.text()
    # the flight is drawn in the row of 3 July only, as one stretch
    strip = view.strip
    planes = {d: [s for s in strip._spans(d, tl.segments, 0) if s[2] == "plane"]
              for d in strip.days()}
    assert [d for d, s in planes.items() if s] == [date(2026, 7, 3)]
    # hovering San Francisco's afternoon tells San Francisco's clock
    t = travel.at("America/Los_Angeles", 2026, 7, 3, 15)
    a, b = tl.day_bounds(date(2026, 7, 3))
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent

    from trackdesk.ui.views.timeline import ROW_H

    x = strip._x((t - a) / (b - a))
    y = 30 + 2 * strip.row_pitch() + ROW_H / 2
    strip.mouseMoveEvent(QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(x, y), QPointF(x, y),
                                     Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                                     Qt.KeyboardModifier.NoModifier))
    assert strip.toolTip().startswith("Fri 03 Jul 15:0") or \
        strip.toolTip().startswith("Fri 03 Jul 14:5"), strip.toolTip()
    strip.grab()


def test_statistics_count_the_days_lived(qtbot: Any, loader: Loader, tokyo_sf_db: Path,
                                         new_york_computer: Any) -> None:
    loader.set_path(tokyo_sf_db)
    view = StatisticsView(loader)
    qtbot.addWidget(view)
    view.refresh()
    qtbot.waitUntil(lambda: view.stats is not None, timeout=WAIT)
    assert view.stats.summary["days_with_data"] == 3
    july = next(r for r in view.stats.periods["month"] if r["period"] == "2026-07")
    assert july["days_with_data"] == 3 and not any(
        r["period"] == "2026-06" for r in view.stats.periods["month"])


def test_the_day_start_setting_reaches_footprint_stats_in_every_chain_run() -> None:
    """Settings → "A day starts at" is footprint_stats' day_start_hour in the chain runs
    the app starts (unless the chain node sets its own), so "Days with data" and the
    views count the same days."""
    from trackdesk.engine.chains import default_chain
    from trackdesk.engine.engine import Engine, EngineSettings
    from trackdesk.skills.registry import BUILTIN_SPECS, SkillRegistry
    from trackdesk.ui.settings import AppSettings

    engine_settings = EngineSettings()
    AppSettings(day_start_hour=4).apply(engine_settings)
    reg = SkillRegistry(list(BUILTIN_SPECS))
    chain = default_chain(reg)
    records, _ = Engine.chain_records(reg, chain, "INCREMENTAL", "local", "test",
                                      defaults=engine_settings.skill_params)
    params = {r.skill_name: r.params for r in records}
    assert params["footprint_stats"]["day_start_hour"] == 4
    assert params["footprint_stats"]["timezone"] == "auto"
    node = next(n for n in chain.nodes if n.skill == "footprint_stats")
    node.params = {"day_start_hour": 6}
    records, _ = Engine.chain_records(reg, chain, "INCREMENTAL", "local", "test",
                                      defaults=engine_settings.skill_params)
    assert {r.skill_name: r.params for r in records}["footprint_stats"]["day_start_hour"] == 6


def test_a_new_day_start_in_settings_counts_the_days_again(make_window: Any, loop: Any,
                                                           db_path: Path) -> None:
    """Saving Settings with another "A day starts at" queues footprint_stats with that
    hour (its parameter changed, so it recomputes every day) when the tracks.db has been
    analysed; the same hour is in every later chain run."""
    from tests.ui.conftest import insert, record, run, until
    from trackdesk.engine.states import Status
    from trackdesk.ui.settings import AppSettings

    insert(db_path, record("footprint_stats", status=Status.COMPLETED,
                           params={"day_start_hour": 0}))
    w = make_window(hold=["footprint_stats"])
    run(loop, until(lambda: len(w.engine.tasks) == 1, what="the old task"))
    w.apply_settings(AppSettings(day_start_hour=4))
    run(loop, until(lambda: any(t.skill_name == "footprint_stats" and
                                t.params.get("day_start_hour") == 4
                                for t in w.engine.tasks.values()), what="a recount"))
    assert w.engine.settings.skill_params["footprint_stats"] == {"day_start_hour": 4}


def test_a_right_click_in_the_timeline_acts_on_the_moment_drawn_there(
        qtbot: Any, tokyo_sf_db: Path, new_york_computer: Any) -> None:
    """San Francisco's afternoon of the 40-hour 3 July: the corrections menu (split here,
    this was a…) acts on that moment, the one the strip draws and its hover names, not on
    a 24-hour day of the period's main zone."""
    from PySide6.QtCore import QPointF

    from trackdesk.ui.views.corrections_ui import CorrectionsController
    from trackdesk.ui.views.panel import ViewsPanel
    from trackdesk.ui.views.timeline import ROW_H

    panel = ViewsPanel()
    qtbot.addWidget(panel)
    ctl = CorrectionsController(panel)
    panel.set_db(tokyo_sf_db)
    view = panel.timeline
    panel.setCurrentWidget(view)
    view.resize(1100, 500)
    view.show_period(date(2026, 7, 1), date(2026, 7, 4))
    qtbot.waitUntil(lambda: view.strip.timeline is not None, timeout=WAIT)
    strip, tl = view.strip, view.strip.timeline
    a, b = tl.day_bounds(date(2026, 7, 3))
    t = travel.at("America/Los_Angeles", 2026, 7, 3, 15)
    pos = QPointF(strip._x((t - a) / (b - a)), 30 + 2 * strip.row_pitch() + ROW_H / 2)
    hit = ctl.timeline_target(pos)
    assert hit is not None and abs(hit.t - t) < 15 * 60
    panel.shutdown()



def test_a_long_day_summary_never_widens_the_window(qtbot: Any, loader: Loader,
                                                      tokyo_sf_db: Path) -> None:
    """Seen under Xvfb: a history across two zones wrote "… days where you were:
    Asia/Tokyo, Asia/Bangkok", and the Timeline tab made the window wider than the
    screen. The summary takes the room it has, ends in "…", keeps the whole in its
    tooltip, and the view asks for no more width than before it was written."""
    loader.set_path(tokyo_sf_db)
    view = TimelineView(loader)
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    before = view.minimumSizeHint().width()
    long = "27 of 31 days with data, 131 stays, 124 trips · days where you were: " + \
        ", ".join(f"Zone/Number_{i}" for i in range(40))
    view.info.setText(long)
    qtbot.wait(50)  # the layout takes the new text in on the next event loop turn
    assert view.minimumSizeHint().width() == before < 900
    assert view.width() == 900
    assert view.info.text() == long and view.info.toolTip() == long
    shown = QLabel.text(view.info)
    assert shown.endswith("…") and len(shown) < len(long)
    # ... and it is given the room the bar has left, not a sliver of it.
    assert view.info.width() >= 900 - view.legend.geometry().right() - 60
