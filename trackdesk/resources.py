"""Where the shipped files are: beside the package in a checkout, inside a bundle."""

from __future__ import annotations

import sys
from pathlib import Path


def root() -> Path:
    """The folder that holds ``resources/`` and ``packaging/``."""
    bundle = getattr(sys, "_MEIPASS", None)  # a PyInstaller bundle unpacks data here
    if bundle:
        return Path(bundle)
    return Path(__file__).resolve().parents[1]


def resource(*parts: str) -> Path:
    return root().joinpath("resources", *parts)


def packaging(*parts: str) -> Path:
    return root().joinpath("packaging", *parts)
