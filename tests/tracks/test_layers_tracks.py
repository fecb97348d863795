"""The importers and the import worker: stdlib, lxml, fitdecode, ijson; never SQLAlchemy,
the engine or Qt (docs/CONTRACTS.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.test_layers import imports_of

TRACKS = Path(__file__).resolve().parents[2] / "trackdesk" / "tracks"
BANNED = ("sqlalchemy", "trackdesk.engine", "trackdesk.ui", "trackdesk.tracks.db",
          "trackdesk.tracks.schema", "PySide6", "shiboken6", "qasync")
# db.py and schema.py are the SQLAlchemy face of tracks.db, used by the engine only.
NOT_IMPORTERS = {"db.py", "schema.py"}


def test_importers_use_no_sqlalchemy_engine_or_qt() -> None:
    bad = [f"{p.name}: {n}" for p, names in imports_of(TRACKS).items()
           if p.name not in NOT_IMPORTERS for n in sorted(names)
           if n.startswith(BANNED)]
    assert bad == []


def test_the_import_worker_starts_without_them() -> None:
    code = ("import sys, trackdesk.tracks.worker, trackdesk.tracks.formats; "
            "from trackdesk.tracks.formats import FORMATS; "
            "[f.reader() for f in FORMATS.values()]; "
            "print([m for m in sys.modules if m.split('.')[0] in "
            "('sqlalchemy', 'PySide6', 'qasync', 'docker', 'aiohttp')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=TRACKS.parents[1])
    assert out.stdout.strip() == "[]"
