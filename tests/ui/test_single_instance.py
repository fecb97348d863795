"""A second start hands its files to the running window over a local socket."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from trackdesk.ui.single_instance import InstanceServer, hand_over


def test_a_second_instance_hands_its_files_to_the_first(qtbot, tmp_path):
    name = f"trackdesk-test-{uuid.uuid4().hex[:8]}"
    server = InstanceServer(name)
    assert server.listen()
    track = tmp_path / "ride.gpx"
    track.write_text("<gpx/>")
    code = ("import sys; from pathlib import Path; "
            "from PySide6.QtCore import QCoreApplication; app = QCoreApplication([]); "
            "from trackdesk.ui.single_instance import hand_over; "
            f"sys.exit(0 if hand_over([Path({str(track)!r})], {name!r}) else 1)")
    with qtbot.waitSignal(server.filesReceived, timeout=10_000) as got:
        proc = subprocess.Popen([sys.executable, "-c", code])
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=10_000)
    assert proc.returncode == 0
    assert got.args == [[Path(track)]]
    server.close()


def test_without_a_running_instance_hand_over_says_so(qtbot):
    assert hand_over([Path("/tmp/x.gpx")], f"trackdesk-none-{uuid.uuid4().hex[:8]}",
                     timeout_ms=300) is False


def test_a_socket_left_by_a_crashed_instance_is_taken_over(qtbot):
    name = f"trackdesk-test-{uuid.uuid4().hex[:8]}"
    first = InstanceServer(name)
    assert first.listen()
    second = InstanceServer(name)
    assert second.listen() is False  # the first one answers: it is alive
    first.close()
    assert second.listen() is True
    second.close()
