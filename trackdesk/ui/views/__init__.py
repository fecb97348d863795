"""The footprint views: map, timeline, statistics and coverage (docs/VIEWS.md).

Qt widgets over ``data`` (plain sqlite3 reads, run on reader threads by ``loader``).
"""

from __future__ import annotations

__all__ = ["install_views"]


def install_views(window):  # noqa: ANN001, ANN201 - imported lazily: Qt-heavy modules
    from trackdesk.ui.views.panel import install_views as _install

    return _install(window)
