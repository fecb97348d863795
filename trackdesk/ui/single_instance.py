"""One trackdesk window per user: a second start hands its files to the running one.

A file manager starts ``trackdesk FILE`` for every double-clicked track file. The first
instance listens on a local socket (QLocalServer); a later one connects, sends the file
list as one JSON line, waits for the answer and exits, and the running window imports the
files (or just comes to the front when there are none).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket


def instance_name() -> str:
    """The socket name: per user (and overridable, so tests never meet a real app)."""
    override = os.environ.get("TRACKDESK_INSTANCE_NAME")
    if override:
        return override
    user = getpass.getuser()
    name = "trackdesk-" + hashlib.sha1(user.encode()).hexdigest()[:12]
    # In the user's private runtime folder (mode 0700) other users cannot reach it.
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return str(Path(runtime) / name) if runtime and Path(runtime).is_dir() else name


def hand_over(files: list[Path], name: str | None = None, timeout_ms: int = 3000) -> bool:
    """Give ``files`` to a running trackdesk; False when none is listening."""
    sock = QLocalSocket()
    sock.connectToServer(name or instance_name())
    if not sock.waitForConnected(timeout_ms):
        return False
    sock.write((json.dumps({"files": [str(f) for f in files]}) + "\n").encode())
    sock.flush()
    sock.waitForBytesWritten(timeout_ms)
    answered = sock.waitForReadyRead(timeout_ms) and sock.readLine().data().strip() == b"ok"
    sock.disconnectFromServer()
    return answered


class InstanceServer(QObject):
    """Listens for later instances; emits the files each one hands over."""

    filesReceived = Signal(list)

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name or instance_name()
        # No UserAccessOption: with it Qt silently replaces a live instance's socket.
        self.server = QLocalServer(self)
        self.server.newConnection.connect(self._on_connection)

    def listen(self) -> bool:
        if self.server.listen(self.name):
            return True
        # A socket file left by a crashed instance: nobody answers on it, so take it over.
        probe = QLocalSocket()
        probe.connectToServer(self.name)
        if probe.waitForConnected(500):
            probe.disconnectFromServer()
            return False
        QLocalServer.removeServer(self.name)
        return self.server.listen(self.name)

    def close(self) -> None:
        self.server.close()

    def _on_connection(self) -> None:
        while self.server.hasPendingConnections():
            sock = self.server.nextPendingConnection()
            sock.setParent(self)
            sock.readyRead.connect(lambda s=sock: self._read(s))
            sock.disconnected.connect(sock.deleteLater)

    def _read(self, sock: QLocalSocket) -> None:
        if not sock.canReadLine():
            return
        line = sock.readLine().data()
        try:
            files = [Path(f) for f in json.loads(line.decode("utf-8"))["files"]]
        except (ValueError, KeyError, TypeError):
            sock.write(b"bad request\n")
            return
        sock.write(b"ok\n")
        sock.flush()
        self.filesReceived.emit(files)
