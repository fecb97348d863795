"""Tools for developing trackdesk, not part of the app (the wheel and the bundle leave
them out): screenshot scripts (``make screenshots``), demo tracks.dbs and stand-in
workers that only count (``devtools.demo``).

Run from a checkout: ``python -m devtools.screenshots docs/screenshots``. The demo workers
run as ``python -m devtools.demo``: the checkout goes on the PYTHONPATH the engine hands
to its workers, so they find this package wherever they start.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

if str(ROOT) not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
