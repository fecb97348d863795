"""The app's settings: a plain dataclass, stored with QSettings, applied to the engine.

QSettings on Linux writes ``$XDG_CONFIG_HOME/trackdesk/trackdesk.ini``. Window
geometry, splitter and column layout live in the same file under ``window/``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings

if TYPE_CHECKING:  # the engine loads after the window shows
    from trackdesk.engine.engine import EngineSettings

ORG = "trackdesk"
APP = "trackdesk"
ON_QUIT_CHOICES = ("stop", "leave")


@dataclass
class AppSettings:
    db_path: str = ""  # empty: the default tracks.db in the user's data folder
    default_launcher: str = "local"
    concurrency: int = 2
    batch_size: int = 50_000
    on_quit: str = "stop"  # running tasks on quit: "stop" (resume later) or "leave"
    serve_api: bool = False
    api_port: int = 8765
    notify: bool = True
    # History hygiene: finished tasks older than N days / beyond the newest N (0: no limit)
    history_days: int = 0
    history_keep: int = 0
    history_archive: bool = True  # archive (task_archive table) rather than remove
    history_at_start: bool = False
    # issue 21: the map's basemap, local days, countries (docs/VIEWS.md)
    basemap: str = "osm"  # "osm" (web tiles), "file" (MBTiles/PMTiles), "offline", "off"
    basemap_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    basemap_file: str = ""
    day_start_hour: int = 0  # local hour a day starts, for night owls and night shifts
    country_min_minutes: int = 60  # a day counts for a country after this long there

    def prune_args(self) -> dict[str, Any] | None:
        """``engine.prune`` arguments for the history settings; None when both are off."""
        if self.history_days <= 0 and self.history_keep <= 0:
            return None
        return {"older_than_s": self.history_days * 86400.0 if self.history_days > 0
                else None,
                "keep": self.history_keep if self.history_keep > 0 else None,
                "archive": self.history_archive}

    def apply(self, engine_settings: EngineSettings) -> None:
        """Push what the engine reads live into its settings."""
        engine_settings.default_launcher = self.default_launcher
        engine_settings.concurrency = max(1, int(self.concurrency))
        engine_settings.batch_size = max(1, int(self.batch_size))
        # footprint_stats' days start where the views' do (issue 21)
        engine_settings.skill_params["footprint_stats"] = {
            "day_start_hour": min(max(int(self.day_start_hour), 0), 23)}

    def engine_settings(self) -> EngineSettings:
        from trackdesk.engine.engine import EngineSettings

        s = EngineSettings()
        self.apply(s)
        return s

    def basemap_config(self) -> Any:
        """The map's basemap. TRACKDESK_NO_NETWORK=1 (the tests, CI, screenshots) turns web
        tiles into the offline map: nothing is ever sent to a public tile server."""
        import os

        from trackdesk.ui.views.basemap import BasemapConfig

        mode = self.basemap
        if mode == "osm" and os.environ.get("TRACKDESK_NO_NETWORK") == "1":
            mode = "offline"
        return BasemapConfig(mode, self.basemap_url or BasemapConfig.url, self.basemap_file)

    @property
    def db(self) -> Path | None:
        return Path(self.db_path).expanduser() if self.db_path else None


def default_db_path() -> Path:
    """The default tracks.db (imported late: trackdesk.tracks.db loads SQLAlchemy)."""
    from trackdesk.tracks.db import default_db_path as default

    return default()


def qsettings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORG, APP)


def load(store: QSettings) -> AppSettings:
    out = AppSettings()
    for f in fields(AppSettings):
        raw = store.value(f"settings/{f.name}")
        if raw is None:
            continue
        setattr(out, f.name, _coerce(raw, getattr(out, f.name)))
    if out.on_quit not in ON_QUIT_CHOICES:
        out.on_quit = "stop"
    if out.default_launcher not in ("local", "docker"):
        out.default_launcher = "local"
    if out.basemap not in ("osm", "file", "offline", "off"):
        out.basemap = "osm"
    out.day_start_hour = min(max(int(out.day_start_hour), 0), 23)
    return out


def save(store: QSettings, settings: AppSettings) -> None:
    for f in fields(AppSettings):
        store.setValue(f"settings/{f.name}", getattr(settings, f.name))
    store.sync()


def _coerce(raw: Any, default: Any) -> Any:
    # INI files hand everything back as strings.
    try:
        if isinstance(default, bool):
            return raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(raw)
        return str(raw)
    except (TypeError, ValueError):
        return default
