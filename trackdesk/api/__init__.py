"""The local REST API: the original analysis endpoints, served by the engine's own loop.

The names below load ``trackdesk.api.server`` (aiohttp, the engine) on first use, so the
desktop app can import ``trackdesk.api.host`` before its window paints.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["API_PREFIX", "ApiConfigError", "ApiServer", "build_app", "start_api"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module("trackdesk.api.server"), name)
    raise AttributeError(f"module 'trackdesk.api' has no attribute {name!r}")
