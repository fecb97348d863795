"""Per-user Linux desktop integration: menu entry, icons, and the track MIME types.

``trackdesk --install-desktop`` writes into the XDG data folder (no root needed) so a
double-clicked GPX, KML/KMZ, GeoJSON, FIT or TCX file opens in trackdesk and is imported;
``--uninstall-desktop`` removes exactly what it wrote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from trackdesk.resources import packaging, resource

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
MIME_TYPES = (
    "application/gpx+xml", "application/vnd.google-earth.kml+xml",
    "application/vnd.google-earth.kmz", "application/geo+json", "application/vnd.ant.fit",
    "application/vnd.garmin.tcx+xml",
)


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def launcher_command() -> str:
    """The absolute command that starts this trackdesk (venv script or bundle)."""
    if getattr(sys, "frozen", False):
        return sys.executable
    # The entry-point script installed beside this interpreter (a venv's bin/), else PATH.
    beside = Path(sys.executable).with_name("trackdesk")
    script = str(beside) if beside.exists() else shutil.which("trackdesk")
    if script:
        return str(Path(script).absolute())
    return f"{sys.executable} -m trackdesk"


def installed_paths(base: Path | None = None) -> list[Path]:
    base = base or data_home()
    return ([base / "applications" / "trackdesk.desktop",
             base / "mime" / "packages" / "trackdesk.xml"] +
            [base / "icons" / "hicolor" / f"{s}x{s}" / "apps" / "trackdesk.png"
             for s in ICON_SIZES] +
            [base / "icons" / "hicolor" / "scalable" / "apps" / "trackdesk.svg"])


def desktop_entry(command: str) -> str:
    template = packaging("linux", "trackdesk.desktop").read_text(encoding="utf-8")
    lines = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            line = f"Exec={command} %F"
        elif line.startswith("TryExec="):
            line = f"TryExec={command.split()[0]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _refresh(base: Path) -> None:
    # Each tool is optional: a desktop without them still reads the files at login.
    for argv in (["update-mime-database", str(base / "mime")],
                 ["update-desktop-database", str(base / "applications")],
                 ["gtk-update-icon-cache", "-f", "-t", str(base / "icons" / "hicolor")]):
        if shutil.which(argv[0]):
            subprocess.run(argv, capture_output=True, check=False)
    if shutil.which("xdg-mime"):
        subprocess.run(["xdg-mime", "default", "trackdesk.desktop", *MIME_TYPES],
                       capture_output=True, check=False)


def install(base: Path | None = None, command: str | None = None) -> list[Path]:
    """Write the menu entry, icons and MIME types; returns the files written."""
    base = base or data_home()
    desktop, mime, *icons = installed_paths(base)
    for path in (desktop, mime, *icons):
        path.parent.mkdir(parents=True, exist_ok=True)
    desktop.write_text(desktop_entry(command or launcher_command()), encoding="utf-8")
    shutil.copyfile(packaging("linux", "trackdesk-mime.xml"), mime)
    for size, target in zip(ICON_SIZES, icons, strict=False):
        shutil.copyfile(resource("icons", f"trackdesk-{size}.png"), target)
    shutil.copyfile(resource("icons", "trackdesk.svg"), icons[-1])
    _refresh(base)
    return [desktop, mime, *icons]


def uninstall(base: Path | None = None) -> list[Path]:
    """Remove what :func:`install` wrote; returns the files removed."""
    base = base or data_home()
    removed = []
    for path in installed_paths(base):
        if path.exists():
            path.unlink()
            removed.append(path)
    _refresh(base)
    return removed
