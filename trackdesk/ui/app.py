"""Start the desktop app: one asyncio loop on the Qt main thread (qasync), the engine on it.

This is the composition root. ``compose`` makes the parts and wires them: the session
(``trackdesk.session.Session``: the open tracks.db and its engine), the REST API host
(``trackdesk.api.host.ApiHost``) and the main window, whose panes follow the session.
Nothing else makes them or knows all of them.

``run_app`` is what ``trackdesk`` without a command calls. The main coroutine shows the
window at once, then opens the tracks.db (a long history fills the table in batches),
waits until the user quits, stops the REST API and the engine as the settings say and
returns.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from trackdesk.api.host import ApiHost, api_available
from trackdesk.session import EngineFactory, Session

if TYPE_CHECKING:
    from trackdesk.engine.engine import Engine
    from trackdesk.ui.main_window import MainWindow
    from trackdesk.ui.settings import AppSettings

log = logging.getLogger("trackdesk.ui")


class ErrorReporter:
    """Logs every uncaught error and shows it, one box at a time, instead of dying silently.

    Installed as ``sys.excepthook`` (errors in Qt slots and in qasync's ``asyncSlot``
    land there) and as the loop's exception handler (errors in forgotten tasks and
    callbacks)."""

    def __init__(self, parent: Callable[[], QWidget | None] = lambda: None) -> None:
        self.parent = parent
        self.box: QMessageBox | None = None
        self.count = 0
        self._previous_hook = sys.excepthook

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        sys.excepthook = self.excepthook
        if loop is not None:
            loop.set_exception_handler(self.loop_handler)

    def uninstall(self) -> None:
        sys.excepthook = self._previous_hook

    def excepthook(self, exc_type: type[BaseException], exc: BaseException,
                   tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self._previous_hook(exc_type, exc, tb)
            return
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("uncaught error:\n%s", text)
        self.show(f"{exc_type.__name__}: {exc}", text)

    def loop_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = context.get("message", "error in the event loop")
        if exc is not None:
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            log.error("%s\n%s", message, text)
            self.show(f"{type(exc).__name__}: {exc}", f"{message}\n\n{text}")
        else:
            log.error("%s", message)
            self.show(message, repr(context))

    def show(self, summary: str, detail: str) -> None:
        if QApplication.instance() is None:
            return
        self.count += 1
        try:
            if self.box is not None and self.box.isVisible():
                # One box gathers a burst of errors instead of a stack of windows.
                self.box.setText(f"{self.count} unexpected errors. The latest:\n\n{summary}")
                self.box.setDetailedText(f"{detail}\n\n---\n\n{self.box.detailedText()}"
                                         [:100_000])
                return
            box = QMessageBox(QMessageBox.Icon.Critical, "trackdesk: unexpected error",
                              f"Something went wrong inside trackdesk:\n\n{summary}\n\n"
                              "The app keeps running; the details are in the log file.",
                              QMessageBox.StandardButton.Ok, self.parent())
            box.setDetailedText(detail)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.finished.connect(self._closed)
            self.box = box
            box.open()
        except Exception:  # noqa: BLE001 - the reporter must never raise itself
            log.exception("could not show an error")

    def _closed(self, *_args: Any) -> None:
        self.box = None
        self.count = 0


def log_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "trackdesk" / "trackdesk.log"


def setup_logging() -> None:
    root = logging.getLogger()
    if any(getattr(h, "_trackdesk", False) for h in root.handlers):
        return
    root.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    try:
        path = log_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(
            path, maxBytes=2_000_000, backupCount=3, encoding="utf-8"))
    except OSError:
        pass
    for h in handlers:
        h.setFormatter(fmt)
        h._trackdesk = True  # type: ignore[attr-defined]
        root.addHandler(h)


def make_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("trackdesk")
    app.setOrganizationName("trackdesk")
    app.setApplicationDisplayName("trackdesk")
    app.setDesktopFileName("trackdesk")
    # The engine must stop before the loop ends: quitting goes through the main coroutine.
    app.setQuitOnLastWindowClosed(False)
    return app


class Desktop:
    """The app's parts, owned in one place: the session, the REST API host, the window.

    The API follows the session (a listener awaited before the old engine stops, so it
    never serves a stopped engine) and the settings' "serve the REST API, port"."""

    def __init__(self, session: Session, window: MainWindow,
                 api: ApiHost | None = None) -> None:
        self.session = session
        self.window = window
        self.api = api or ApiHost()
        # Subscribed after the panes: the API serves an engine the window already shows.
        session.subscribe(self._serve_api)
        session.subscribe_settings(self._settings_changed)

    async def _serve_api(self, engine: Engine | None) -> None:
        settings = self.session.settings
        wanted = engine if engine is not None and settings.serve_api and api_available() \
            else None
        port = settings.api_port
        try:
            server = await self.api.serve(wanted, port)
        except (OSError, ValueError) as exc:  # port taken, or a refused configuration
            self.window.show_message(
                QMessageBox.Icon.Warning, "REST API not started",
                f"The REST API could not listen on 127.0.0.1:{port}:\n\n{exc}"
                "\n\nChoose another port in Settings.")
            return
        if server is not None:
            self.window.statusBar().showMessage(f"REST API on {server.url}", 6000)

    def _settings_changed(self, old: AppSettings, new: AppSettings) -> None:
        if (old.serve_api, old.api_port) == (new.serve_api, new.api_port):
            return
        from trackdesk.ui.aio import spawn

        spawn(self._serve_api(self.session.engine), "restarting the REST API",
              self.window.user_error)

    async def shutdown(self, running: str | None = None) -> None:
        """Stop the REST API and the engine, then close the window for good."""
        try:
            await self.window.shutdown(running)  # the session's close stops the API
        finally:
            await self.api.stop()


def compose(store: QSettings | None = None, settings: AppSettings | None = None,
            engine_factory: EngineFactory | None = None) -> Desktop:
    """Make the app's parts and wire them (``store``: where settings and the window
    layout live; default: the user's trackdesk.ini)."""
    from trackdesk.ui import settings as app_settings
    from trackdesk.ui.main_window import MainWindow

    store = store if store is not None else app_settings.qsettings()
    session = Session(settings if settings is not None else app_settings.load(store),
                      engine_factory)
    return Desktop(session, MainWindow(session, store))


async def main(db_path: Path | None, desktop_factory: Callable[[], Desktop] | None = None,
               reporter: ErrorReporter | None = None, files: list[Path] | None = None,
               instance: Any = None) -> int:
    """Show the window, open the tracks.db, run until the user quits, stop the engine.

    ``files`` are imported once the tracks.db is open; ``instance`` (an InstanceServer)
    brings files that later starts hand over."""
    from trackdesk.ui.icons import app_icon

    loop = asyncio.get_running_loop()
    QApplication.setWindowIcon(app_icon())
    desktop = desktop_factory() if desktop_factory is not None else compose()
    window = desktop.window
    if reporter is not None:
        reporter.parent = lambda: window
        reporter.install(loop)
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, window.request_quit)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    window.show()
    if instance is not None:
        instance.filesReceived.connect(lambda paths: _open_files(window, paths))
    await window.open_db(db_path)
    if files:
        window.import_paths(files)
    await window.quit_requested.wait()
    await desktop.shutdown()
    window.deleteLater()
    return 0


def _open_files(window: Any, paths: list[Path]) -> None:
    """Files handed over by a later start: import them, and come to the front."""
    if paths:
        window.import_paths(paths)
    window.showNormal()
    window.raise_()
    window.activateWindow()


def run_app(db_path: Path | None, files: list[Path] | None = None) -> int:
    """Run the desktop app on ``db_path`` (None: the one from the settings, else the
    default tracks.db, created when missing). Returns the process exit status.

    One window per user: when trackdesk already runs, ``files`` (a double-clicked track
    file) are handed to it and this process ends. An explicit ``db_path`` without files
    starts a window of its own."""
    import qasync

    from trackdesk.ui.single_instance import InstanceServer, hand_over

    setup_logging()
    app = make_app()
    if (files or db_path is None) and hand_over(list(files or [])):
        log.info("handed %d file(s) to the running trackdesk", len(files or []))
        return 0
    instance: InstanceServer | None = InstanceServer(parent=app)
    if not instance.listen():  # another window of ours listens: this one runs on its own
        log.info("another trackdesk window receives opened files (%s)", instance.name)
        instance = None
    reporter = ErrorReporter()
    # Python 3.11 has no asyncio.run(loop_factory=...); asyncio.Runner is the same thing.
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        try:
            return runner.run(main(db_path, reporter=reporter, files=files,
                                   instance=instance))
        finally:
            reporter.uninstall()
            if instance is not None:
                instance.close()


if __name__ == "__main__":
    sys.exit(run_app(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
