"""The app's session: the tracks.db open now, its engine, and who follows it. No Qt.

The desktop app has one engine at a time; File → New/Open and Settings switch it. The
session owns that engine and announces every change to its listeners, in the order they
subscribed: the table, the detail pane, the welcome page, the monitor, the views and the
REST API each follow the engine by subscribing here, so nobody has to know every pane
(napari's split: a plain-Python model that announces, Qt widgets that follow).

A listener is called with the new engine once it has started, and with ``None`` before
the old one stops, so a follower lets go of an engine while it still runs (the REST API
closes its socket before the engine it serves goes). A listener may be a coroutine
function; the session awaits it before it goes on.

Settings live here too: the engine settings are applied from them when an engine
starts and whenever they change, and settings listeners hear of every change.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # SQLAlchemy loads with the engine: the window imports this first
    from trackdesk.engine.engine import Engine, EngineSettings

log = logging.getLogger(__name__)

EngineListener = Callable[["Engine | None"], "Awaitable[None] | None"]
SettingsListener = Callable[[Any, Any], None]
EngineFactory = Callable[[Path], "Engine"]


class SessionSettings(Protocol):
    """What the session reads of the app's settings (``trackdesk.ui.settings.AppSettings``)."""

    on_quit: str  # running tasks on close: "stop" or "leave"

    def apply(self, engine_settings: EngineSettings) -> None:
        """Push what the engine reads live into its settings."""


def load_engine_modules() -> None:
    """Import the engine (and SQLAlchemy with it): a good part of a second, so the
    session does it on an executor thread and the window paints meanwhile."""
    import trackdesk.engine.engine  # noqa: F401
    import trackdesk.tracks.db  # noqa: F401


def default_engine(path: Path) -> Engine:
    from trackdesk.engine.engine import Engine

    return Engine(path)


class Session:
    """One engine at a time, announced to whoever follows it."""

    def __init__(self, settings: SessionSettings,
                 engine_factory: EngineFactory | None = None) -> None:
        self.settings: Any = settings
        self._factory = engine_factory or default_engine
        self._engine: Engine | None = None
        self._listeners: list[EngineListener] = []
        self._settings_listeners: list[SettingsListener] = []
        # One open or close at a time: a second File → Open waits for the first.
        self._switching = asyncio.Lock()

    @property
    def engine(self) -> Engine | None:
        """The engine of the open tracks.db (None: none is open)."""
        return self._engine

    @property
    def db_path(self) -> Path | None:
        return self._engine.db_path if self._engine is not None else None

    # ------------------------------------------------------------ listeners -----------
    def subscribe(self, listener: EngineListener) -> Callable[[], None]:
        """Call ``listener(engine)`` on every change (``None``: closed); returns the
        function that unsubscribes. A listener subscribed while an engine is open is
        told of it at once (when it is a plain function)."""
        self._listeners.append(listener)
        if self._engine is not None:
            result = listener(self._engine)
            if inspect.isawaitable(result):
                asyncio.ensure_future(result)
        return lambda: self._listeners.remove(listener) if listener in self._listeners \
            else None

    def subscribe_settings(self, listener: SettingsListener) -> Callable[[], None]:
        """Call ``listener(old, new)`` whenever the settings change."""
        self._settings_listeners.append(listener)
        return lambda: self._settings_listeners.remove(listener) \
            if listener in self._settings_listeners else None

    async def _announce(self, engine: Engine | None) -> None:
        for listener in list(self._listeners):
            result = listener(engine)
            if inspect.isawaitable(result):
                await result

    # ------------------------------------------------------------ settings ------------
    def update_settings(self, new: SessionSettings) -> None:
        """Take ``new`` as the settings: the running engine follows at once."""
        old, self.settings = self.settings, new
        if self._engine is not None:
            new.apply(self._engine.settings)
        for listener in list(self._settings_listeners):
            listener(old, new)

    # ------------------------------------------------------------ the engine ----------
    async def open(self, path: Path) -> Engine:
        """Close the open tracks.db (as the settings say), start an engine on ``path``
        and announce it. Raises what the engine raises when it cannot start
        (EngineLockedError: another trackdesk drives it; NotATracksDb; OSError); then
        no tracks.db is open and the listeners have heard ``None``."""
        async with self._switching:
            await self._close()
            await asyncio.get_running_loop().run_in_executor(None, load_engine_modules)
            engine = self._factory(Path(path))
            self.settings.apply(engine.settings)
            await engine.start()
            self._engine = engine
            await self._announce(engine)
            return engine

    async def close(self, running: str | None = None) -> Engine | None:
        """Announce ``None``, then stop the engine: running tasks stop or go on
        (``running``: "stop" or "leave"; default: the settings' ``on_quit``). Returns
        the engine that stopped (None when no tracks.db was open)."""
        async with self._switching:
            return await self._close(running)

    async def _close(self, running: str | None = None) -> Engine | None:
        engine, self._engine = self._engine, None
        if engine is None:
            return None
        try:
            await self._announce(None)
        finally:
            await engine.stop(running=running or self.settings.on_quit)
        return engine


__all__ = ["EngineFactory", "EngineListener", "Session", "SessionSettings", "default_engine",
           "load_engine_modules"]
