"""Shared fixtures: Qt offscreen, the repo on PYTHONPATH for worker processes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Worker processes run test skills as `python -m tests.engine.workers`.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# Tests never touch the user's real data folder.
os.environ.setdefault("XDG_DATA_HOME", str(ROOT / ".pytest_cache" / "xdg-data"))
os.environ.setdefault("XDG_CONFIG_HOME", str(ROOT / ".pytest_cache" / "xdg-config"))
