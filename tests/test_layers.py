"""The dependency direction of the design, checked on the source and in a process."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "trackdesk"
QT = ("PySide6", "shiboken6", "qasync", "pyqtgraph", "superqt")


def imports_of(package: Path) -> dict[Path, set[str]]:
    found: dict[Path, set[str]] = {}
    for path in package.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[path] = names
    return found


def offenders(package: Path, banned: tuple[str, ...]) -> list[str]:
    return [f"{p.relative_to(ROOT)}: {n}" for p, names in imports_of(package).items()
            for n in sorted(names) if n.split(".")[0] in banned or n.startswith(banned)]


def qt_loaded_by(modules: str) -> list[str]:
    """The Qt modules a fresh interpreter holds after ``import modules``."""
    code = (f"import sys, {modules}; print([m for m in sys.modules if m.split('.')[0] in "
            "('PySide6', 'shiboken6', 'qasync')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return ast.literal_eval(out.stdout.strip())


def test_the_engine_never_imports_qt():
    assert offenders(ROOT / "engine", QT + ("trackdesk.ui",)) == []


def test_workers_import_neither_engine_qt_nor_sqlalchemy():
    banned = QT + ("sqlalchemy", "trackdesk.engine", "trackdesk.ui", "trackdesk.tracks.db",
                   "trackdesk.tracks.schema")
    assert offenders(ROOT / "skills", banned) == []


def test_importing_the_engine_loads_no_qt_module():
    assert qt_loaded_by("trackdesk.engine.engine, trackdesk.cli") == []


def test_a_worker_starts_with_only_the_standard_library_numpy_and_pandas():
    code = ("import sys, trackdesk.skills.sdk, trackdesk.skills.registry; "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('sqlalchemy', 'PySide6', 'qasync', 'docker', 'psutil', 'aiohttp')]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_the_session_and_the_api_host_never_import_qt():
    """The composition's model half (napari's split): the open tracks.db, its engine and
    the REST API host are plain Python; only trackdesk.ui is Qt."""
    found = imports_of(ROOT)
    bad = [f"{p.name}: {n}" for p in (ROOT / "session.py", ROOT / "api" / "host.py")
           for n in sorted(found[p]) if n.split(".")[0] in QT or n.startswith("trackdesk.ui")]
    assert bad == []
    assert qt_loaded_by("trackdesk.session, trackdesk.api.host") == []
