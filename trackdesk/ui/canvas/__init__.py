"""The chain canvas: build analysis chains visually and watch them run.

The chain model and its checks live in :mod:`trackdesk.engine.chains` (no Qt); this
package only mirrors it (``ChainScene``), edits it through undoable commands
(``ChainDocument``) and runs it through the engine (``CanvasWindow``).
"""

from trackdesk.ui.canvas.document import ChainDocument
from trackdesk.ui.canvas.scene import ChainScene
from trackdesk.ui.canvas.view import MIME_SKILL, ChainView
from trackdesk.ui.canvas.window import CanvasWindow, default_recovery_path, open_canvas

__all__ = ["MIME_SKILL", "CanvasWindow", "ChainDocument", "ChainScene", "ChainView",
           "default_recovery_path", "open_canvas"]
