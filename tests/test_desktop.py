"""Linux desktop integration: a valid desktop file, MIME types, per-user install."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from trackdesk import desktop
from trackdesk.resources import packaging


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None,
                    reason="desktop-file-validate is installed by scripts/test.sh")
@pytest.mark.parametrize("which", ["template", "installed"])
def test_the_desktop_file_validates(tmp_path, which):
    path = packaging("linux", "trackdesk.desktop")
    if which == "installed":
        path = desktop.install(tmp_path, command="/opt/trackdesk/trackdesk")[0]
    out = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "", out.stdout + out.stderr


def test_install_writes_entry_icons_and_mime_types_and_uninstall_removes_them(tmp_path):
    written = desktop.install(tmp_path, command="/opt/trackdesk/trackdesk")
    entry = (tmp_path / "applications" / "trackdesk.desktop").read_text()
    assert "Exec=/opt/trackdesk/trackdesk %F" in entry
    for mime in desktop.MIME_TYPES:
        assert mime in entry
        assert mime in (tmp_path / "mime" / "packages" / "trackdesk.xml").read_text()
    for size in desktop.ICON_SIZES:
        icon = tmp_path / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "trackdesk.png"
        assert icon.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(p.exists() for p in written)
    removed = desktop.uninstall(tmp_path)
    assert sorted(removed) == sorted(written)
    assert not any(p.exists() for p in written)


def test_the_cli_installs_for_the_current_user(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "trackdesk", "--install-desktop"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    entry = (tmp_path / "applications" / "trackdesk.desktop").read_text()
    exec_line = next(line for line in entry.splitlines() if line.startswith("Exec="))
    assert exec_line.endswith(" %F") and "trackdesk" in exec_line
    out = subprocess.run([sys.executable, "-m", "trackdesk", "--uninstall-desktop"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0
    assert not (tmp_path / "applications" / "trackdesk.desktop").exists()
