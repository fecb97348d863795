"""Fixtures for the window's tests: a qasync loop that fails the test on any loop error,
a window factory over a real Engine on a tmp tracks.db, and a widget-leak check."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import time
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any

import pytest
import qasync
from PySide6.QtCore import QEvent, QSettings
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from devtools import views_demo as demo
from tests.engine.workers import SPECS
from trackdesk.engine.engine import Engine, EngineSettings
from trackdesk.engine.records import TaskRecord
from trackdesk.engine.states import Status
from trackdesk.engine.store import TaskStore
from trackdesk.skills.registry import BUILTIN_SPECS, SkillRegistry
from trackdesk.ui.app import Desktop, compose
from trackdesk.ui.main_window import MainWindow
from trackdesk.ui.settings import AppSettings
from trackdesk.ui.views.loader import Loader
from trackdesk.ui.views.map_view import MapView

DEMO_DAYS = 3  # the days of the views' demo history (demo_db)


def registry() -> SkillRegistry:
    return SkillRegistry(list(BUILTIN_SPECS) + SPECS)


class _TestLoop(qasync.QEventLoop):
    """qasync's run_until_complete ends with one processEvents() after it has cleared the
    running loop: a timer firing then would step an engine coroutine with no running loop
    and kill it. A test runs many short run_until_complete calls, so the loop stays the
    running loop for the whole test (the app runs one, so it does not need this)."""

    def run_forever(self) -> Any:
        try:
            return super().run_forever()
        finally:
            asyncio.events._set_running_loop(self)


@pytest.fixture
def loop(qapp: QApplication) -> Any:
    """A qasync loop per test (as in qasync's own tests); a loop error fails the test."""
    lp = _TestLoop(qapp)
    asyncio.set_event_loop(lp)
    asyncio.events._set_running_loop(lp)
    errors: list[dict[str, Any]] = []
    lp.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    yield lp
    lp.run_until_complete(asyncio.sleep(0.01))
    asyncio.events._set_running_loop(None)
    lp.close()
    asyncio.set_event_loop(None)
    if errors:
        pytest.fail(f"errors in the event loop: {errors}")


def run(loop: Any, coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


async def until(pred: Callable[[], Any], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or pred}")
        await asyncio.sleep(0.02)


@pytest.fixture(autouse=True)
def no_leaked_widgets(qapp: QApplication) -> Any:
    """Every window, menu and dialog a test opens must be gone after it."""
    before = {id(w) for w in QApplication.topLevelWidgets()}
    yield
    for _ in range(3):
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        qapp.processEvents()
        gc.collect()
    leaked = [w for w in QApplication.topLevelWidgets()
              if id(w) not in before and type(w).__name__ not in ("QTipLabel",)]
    for w in leaked:
        w.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not leaked, f"widgets left behind: {[type(w).__name__ for w in leaked]}"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The views' demo history (DEMO_DAYS days, seed 11), built once per test module."""
    db = tmp_path_factory.mktemp("views") / "tracks.db"
    demo.build(db, days=DEMO_DAYS, seed=11)
    return db


@pytest.fixture
def loader(qapp: Any) -> Any:
    ld = Loader()
    yield ld
    ld.shutdown()


def q(db: Path, sql: str, *args: Any) -> Any:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


@pytest.fixture
def map_view(qtbot: Any, loader: Loader, demo_db: Path) -> MapView:
    loader.set_path(demo_db)
    view = MapView(loader)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    view.refresh()
    qtbot.waitUntil(lambda: view.basics is not None, timeout=30_000)
    return view


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "tracks.db"


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "trackdesk.ini"


@pytest.fixture
def make_desktop(loop: Any, db_path: Path, store_path: Path) -> Any:
    """make(hold=skills) -> the app composed as trackdesk.ui.app does it (session, REST
    API host, window), its tracks.db open; held skills never start."""
    desktops: list[Desktop] = []

    def make(hold: Iterable[str] = (), settings: AppSettings | None = None,
             open_db: bool = True, path: Path | None = None, **engine: Any) -> Desktop:
        held = {name: 0 for name in hold}

        def factory(p: Path) -> Engine:
            base = {"poll_interval_s": 0.1, "flush_interval_s": 0.1, "cancel_grace_s": 1.0,
                    "per_skill_limits": held}
            base.update(engine)
            return Engine(p, registry=registry(), settings=EngineSettings(**base))

        store = QSettings(str(store_path), QSettings.Format.IniFormat)
        desktop = compose(store, settings or AppSettings(), factory)
        desktops.append(desktop)
        desktop.window.show()
        if open_db:
            assert run(loop, desktop.window.open_db(path or db_path))
        return desktop

    yield make
    for desktop in desktops:
        w = desktop.window
        if not _valid(w):
            run(loop, desktop.api.stop())
            continue  # main() already closed and deleted it
        if not w._may_close:
            run(loop, desktop.shutdown("stop"), timeout=30)
        w.deleteLater()


@pytest.fixture
def make_window(make_desktop: Any) -> Any:
    """make(hold=skills) -> an opened MainWindow (of a composed app); held skills never
    start."""

    def make(*args: Any, **kwargs: Any) -> MainWindow:
        return make_desktop(*args, **kwargs).window

    return make


def insert(db: Path, *records: TaskRecord, deps: list[list[int]] | None = None
           ) -> list[TaskRecord]:
    """Write task rows straight into a tracks.db (as the CLI or an old session would)."""
    store = TaskStore(db)
    try:
        return store.insert_tasks(list(records), deps or [])
    finally:
        store.close()


def record(skill: str = "count", status: Status = Status.PENDING, **kw: Any) -> TaskRecord:
    return TaskRecord(id=0, skill_name=skill, status=status, **kw)


def boxes(window: QWidget, cls: type = QMessageBox) -> list[Any]:
    """The message boxes the window has open now."""
    return [d for d in getattr(window, "open_dialogs", [])
            if isinstance(d, cls) and _valid(d) and d.isVisible()]


def _valid(w: QWidget) -> bool:
    import shiboken6

    return shiboken6.isValid(w)


def answer(box: QMessageBox, button: QMessageBox.StandardButton) -> None:
    box.button(button).click()
