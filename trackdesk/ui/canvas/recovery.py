"""Where the canvas keeps an unsaved chain, and the start-up offer to get it back.

Light on purpose (no engine import): the main window calls it while it starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def default_recovery_path() -> Path:
    """The recovery file in the user's data folder (XDG on Linux)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "trackdesk" / "recovery" / "chain-canvas.json"


def offer_at_start(window: Any, open_canvas: Callable[[], Any]) -> bool:
    """A chain left unsaved by the last session (a crash, or a quit without saving):
    open the canvas, which asks whether to restore it. True when it did."""
    if not default_recovery_path().is_file() or not window.isVisible():
        return False
    open_canvas()
    return True
