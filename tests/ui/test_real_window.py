"""The real app on a real X server (Xvfb), driven with xdotool as a person would, while
another process imports into the same tracks.db (issue 17 §1).

Qt's file dialog used to open tracks.db, -wal and -shm as plain files to guess their MIME
type; closing those descriptors dropped every POSIX lock SQLite held in the window
process, so a CLI closing its connection checkpointed and deleted the WAL the engine still
wrote to: "database disk image is malformed" and lost tasks. Here the dialogs are opened
on the database's folder, navigated and refreshed while `trackdesk --db DB import FILE`
runs again and again; afterwards the database must pass `PRAGMA integrity_check` and hold
every task the CLI queued, ended.

Needs Xvfb and xdotool (`bash scripts/sysdeps-x11.sh` installs them; `make test` runs it).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

MISSING = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"{' and '.join(MISSING)} not installed: the real-window tests "
    "need a virtual X server (bash scripts/sysdeps-x11.sh installs it)")

CLI_IMPORTS = 10
ROOT = Path(__file__).resolve().parents[2]


def csv_track(path: Path, n: int, seed: int) -> Path:
    lines = ["time,lat,lon"]
    for i in range(n):
        lines.append(f"2024-03-{1 + seed % 28:02d}T{8 + i // 3600 % 12:02d}:"
                     f"{i // 60 % 60:02d}:{i % 60:02d}Z,{48.1 + seed * 0.01 + i * 1e-5:.6f},"
                     f"{11.5 + i * 1e-5:.6f}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def display(tmp_path: Path) -> Iterator[str]:
    """A fresh Xvfb (and openbox when installed: dialogs get a window manager)."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1400x900x24",
                             "-nolisten", "tcp"], pass_fds=(write,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as fh:
        number = fh.readline().strip()
    assert number, "Xvfb did not start"
    name = f":{number}"
    wm = None
    if shutil.which("openbox"):
        wm = subprocess.Popen(["openbox"], env={**os.environ, "DISPLAY": name},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield name
    finally:
        for proc in (wm, xvfb):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


class App:
    """The trackdesk window as a separate process, and xdotool to drive it."""

    def __init__(self, display: str, home: Path, db: Path) -> None:
        self.display = display
        home.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "DISPLAY": display, "HOME": str(home),
                    "XDG_CONFIG_HOME": str(home / ".config"),
                    "XDG_STATE_HOME": str(home / ".state"),
                    "XDG_RUNTIME_DIR": "", "QT_QPA_PLATFORM": "xcb",
                    "TRACKDESK_INSTANCE_NAME": f"trackdesk-test-{os.getpid()}-{display[1:]}",
                    "PYTHONPATH": os.pathsep.join(
                        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(
                            os.pathsep) if p])}
        self.log = (home / "app.log").open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "trackdesk", "--db", str(db)],
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT)

    def xdo(self, *args: str) -> str:
        out = subprocess.run(["xdotool", *args], env=self.env, capture_output=True,
                             text=True, timeout=30)
        return out.stdout.strip()

    def wait_window(self, pattern: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the app died:\n{self.log_text()}"
            ids = self.xdo("search", "--onlyvisible", "--name", pattern).split()
            if ids:
                return ids[-1]
            time.sleep(0.2)
        raise AssertionError(f"no window named {pattern!r}:\n{self.log_text()}")

    def close(self, window: str, pattern: str, timeout: float = 30.0) -> None:
        """Escape until the dialog is gone (the first may only close a completer popup)."""
        deadline = time.monotonic() + timeout
        while self.xdo("search", "--onlyvisible", "--name", pattern):
            assert time.monotonic() < deadline, f"window {pattern!r} still open"
            self.keys(window, "Escape")
            time.sleep(0.3)

    def keys(self, window: str, *keys: str) -> None:
        self.xdo("windowactivate", "--sync", window)
        self.xdo("key", "--clearmodifiers", *keys)

    def type(self, window: str, text: str) -> None:
        self.xdo("windowactivate", "--sync", window)
        self.xdo("type", "--delay", "15", text)

    def log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def quit(self, main: str) -> int:
        if self.proc.poll() is None:
            self.keys(main, "ctrl+q")
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(30)
        self.log.close()
        return self.proc.returncode


def cli_imports(db: Path, files: list[Path], env: dict[str, str], queued: list[int],
                errors: list[str]) -> None:
    """`trackdesk --db DB import FILE`, one process after another."""
    for f in files:
        out = subprocess.run([sys.executable, "-m", "trackdesk", "--db", str(db), "import",
                              str(f)], env=env, capture_output=True, text=True, timeout=120)
        found = re.search(r"queued tasks? ([\d, ]+)", out.stderr + out.stdout)
        if out.returncode != 0 or not found:
            errors.append(f"exit {out.returncode}: {out.stderr.strip()[-500:]}")
            continue
        queued.extend(int(x) for x in found.group(1).replace(",", " ").split())


def foreign_opens(strace_log: str, db: Path) -> list[str]:
    """The opens of tracks.db, -wal or -shm that are not SQLite's own: SQLite's unix VFS
    always passes O_NOFOLLOW; Qt's MIME sniffing and Python's open() do not. (A failed
    open gives no descriptor, so it unlocks nothing.)"""
    names = {f'"{db}"', f'"{db}-wal"', f'"{db}-shm"', f'"{db}-journal"'}
    return [line for line in strace_log.splitlines()
            if "open" in line and any(n in line for n in names)
            and "O_NOFOLLOW" not in line and " = -1 " not in line]


def tasks_of(db: Path) -> dict[int, str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return dict(conn.execute("SELECT id, status FROM analysis_tasks").fetchall())
    finally:
        conn.close()


def test_file_dialogs_on_the_db_folder_never_damage_it_while_the_cli_imports(
        display: str, tmp_path: Path) -> None:
    start = tmp_path / "start" / "first.db"
    start.parent.mkdir()
    folder = tmp_path / "library"
    folder.mkdir()
    db = folder / "tracks.db"
    tracks = tmp_path / "tracks"
    tracks.mkdir()
    files = [csv_track(tracks / f"day{i}.csv", 400, i) for i in range(CLI_IMPORTS)]
    # A track file beside the database: the Import dialog lists it with the db files.
    csv_track(folder / "beside.csv", 50, 99)

    app = App(display, tmp_path / "home", start)
    main = app.wait_window("first.db — trackdesk")
    quitted = False
    try:
        # File → New tracks.db, in the folder the dialogs will then show.
        app.keys(main, "ctrl+n")
        dialog = app.wait_window("^New tracks.db")
        app.keys(dialog, "ctrl+a")
        app.type(dialog, str(db))
        app.keys(dialog, "Return")
        main = app.wait_window("^tracks.db — trackdesk")
        deadline = time.monotonic() + 60
        while not db.exists():
            assert time.monotonic() < deadline, "New tracks.db created nothing"
            time.sleep(0.2)

        # strace sees what no widget test can: every file the window process opens.
        trace = tmp_path / "window.strace"
        tracer = None
        if shutil.which("strace"):
            tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=open,openat",
                                       "-o", str(trace), "-p", str(app.proc.pid)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # attached to every thread before the dialogs open
        queued: list[int] = []
        errors: list[str] = []
        worker = threading.Thread(target=cli_imports, args=(db, files, app.env | {
            "QT_QPA_PLATFORM": "offscreen"}, queued, errors))
        worker.start()
        rounds = 0
        try:
            # While the CLI imports: the Import dialog on the db's folder, navigated to
            # again and again (each time Qt lists the folder anew), and the folder dialog.
            while worker.is_alive() or rounds < 2:
                app.keys(main, "ctrl+i")
                dialog = app.wait_window("^Import tracks")
                for _ in range(3):
                    app.type(dialog, str(folder) + "/")
                    app.keys(dialog, "Return")
                    time.sleep(0.4)
                app.close(dialog, "^Import tracks")
                app.keys(main, "ctrl+shift+i")
                dialog = app.wait_window("^Import a folder")
                # Typing the path lists the folder (Return would choose it).
                app.type(dialog, str(folder) + "/")
                time.sleep(0.6)
                app.close(dialog, "^Import a folder")
                rounds += 1
        finally:
            worker.join(300)
        if tracer is not None:
            tracer.terminate()
            tracer.wait(30)
            assert trace.exists(), "strace could not attach to the window"
            assert not foreign_opens(trace.read_text(), db), (
                "the window opened the database files outside SQLite")
        assert not errors, errors
        assert len(queued) == CLI_IMPORTS

        # The window's engine runs what the CLI queued: wait until every task ended.
        deadline = time.monotonic() + 180
        while True:
            try:
                status = tasks_of(db)
            except sqlite3.DatabaseError as exc:
                pytest.fail(f"tracks.db damaged while the window ran: {exc}")
            if all(status.get(i) in ("completed", "failed", "cancelled", "skipped")
                   for i in queued):
                break
            assert time.monotonic() < deadline, (
                f"tasks never ended: {[(i, status.get(i)) for i in queued]}\n"
                f"{app.log_text()}")
            time.sleep(0.5)
        assert app.quit(main) == 0, app.log_text()
        quitted = True
    finally:
        if not quitted:
            app.proc.kill()
            app.proc.wait(30)

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        status = dict(conn.execute("SELECT id, status FROM analysis_tasks").fetchall())
        points = conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    finally:
        conn.close()
    assert {i: status.get(i) for i in queued} == {i: "completed" for i in queued}
    assert points == 400 * CLI_IMPORTS
