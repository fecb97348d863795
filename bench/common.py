"""Helpers shared by the benchmarks: machine description and docs/BENCHMARKS.md sections."""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "docs" / "BENCHMARKS.md"
HEADER = """# Benchmarks

Written by `make bench`; every figure below comes from one run of `bench/*/run.py` on the
machine named in its section, with the reference measured side by side in the same run.
No test asserts a timing: the machine is shared and noisy; these numbers are the record.
"""


def machine() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section between <!-- bench:NAME --> markers."""
    text = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else HEADER
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else \
        text.rstrip() + "\n\n" + block + "\n"
    BENCHMARKS.parent.mkdir(parents=True, exist_ok=True)
    BENCHMARKS.write_text(text, encoding="utf-8")
