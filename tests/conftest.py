"""Shared fixtures: Qt offscreen, the repo on PYTHONPATH for worker processes."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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

# Tests never ask a public tile server for anything (the map's basemap goes offline).
os.environ["TRACKDESK_NO_NETWORK"] = "1"

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    """In CI a skipped docker test is a failure, whatever skipped it and wherever it is."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and item.get_closest_marker("docker") is not None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"docker test skipped in CI, which counts as a failure: {reason}"
