"""The chain canvas: build analysis chains visually and watch them run.

The chain model and its checks live in :mod:`trackdesk.engine.chains` (no Qt); this
package only mirrors it (``ChainScene``), edits it through undoable commands
(``ChainDocument``) and runs it through the engine (``CanvasWindow``). Names load on
first use: the main window imports this package while it starts, before the engine.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "CanvasWindow": "window", "open_canvas": "window", "ChainDocument": "document",
    "ChainScene": "scene", "ChainView": "view", "MIME_SKILL": "view",
    "default_recovery_path": "recovery", "offer_at_start": "recovery",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"trackdesk.ui.canvas.{_EXPORTS[name]}"), name)
    raise AttributeError(name)
