"""The worker protocol as code (trackdesk/protocol.py) and as prose (docs/PROTOCOL.md) agree,
and every message survives its own encode/decode."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from trackdesk import protocol
from trackdesk.protocol import (
    MESSAGE_TYPES,
    Error,
    ExitCode,
    FailureKind,
    Log,
    Priority,
    Progress,
    Resources,
    Result,
    Status,
    StopReason,
    TaskType,
    decode,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "PROTOCOL.md"


def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def section(title: str) -> str:
    text = doc()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_every_message_and_each_of_its_fields_is_documented():
    table = section("stdout")
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \| `[A-Z]\w*` \|.*$", table,
                                                    re.M)}
    # Both ways: no message the code sends is missing, none documented is gone.
    assert set(rows) == set(MESSAGE_TYPES)
    for kind, cls in MESSAGE_TYPES.items():
        row = rows[kind]
        assert f"`{cls.__name__}`" in row, kind
        for f in dataclasses.fields(cls):
            assert f"`{f.name}`" in row, f"{kind}.{f.name} is not in its row of PROTOCOL.md"
            # ... and explained below the table.
            assert re.search(rf"^- `{kind}`:.*`{f.name}`", table, re.M | re.S), f.name


def test_every_exit_code_is_documented_by_name_and_number():
    table = section("Exit codes")
    for code in ExitCode:
        assert re.search(rf"^\| {code.value} \| `{code.name}` \|", table, re.M), code
    for name in ("EXIT_COMPLETED", "EXIT_FAILED", "EXIT_USAGE", "EXIT_STOPPED"):
        assert f"`{name}`" in table
        assert getattr(protocol, name) is ExitCode[name.removeprefix("EXIT_")]


@pytest.mark.parametrize("enum", [Status, TaskType, Priority, StopReason, FailureKind])
def test_every_value_of_the_shared_enums_is_documented(enum):
    text = section("The shared enums")
    assert f"**`{enum.__name__}`**" in text
    for member in enum:
        assert f"`{member.value}`" in text, f"{enum.__name__}.{member.name}"


@pytest.mark.parametrize("message", [
    Progress(processed=1200, failed=3, total=5000),
    Progress(processed=7, failed=0),
    Log(message="reading a.gpx (1.2 MB, gpx)", level="warning"),
    Result(summary={"files": 2, "per_file": [{"name": "a.gpx", "new": 3}]}),
    Error(message="nothing to import: no track file found"),
    Resources(peak_rss_mb=123.4, cpu_time_s=0.25),
    Resources(peak_rss_mb=80.0),
])
def test_a_message_decodes_to_itself(message):
    line = message.encode()
    assert "\n" not in line
    assert decode(line) == message


def test_what_decode_refuses_is_left_to_the_log():
    for line in ("plain output", "[1, 2]", '"text"', '{"type": "telemetry", "x": 1}', "{"):
        assert decode(line) is None, line
    # Unknown keys are ignored; counts that are not numbers are dropped, not guessed.
    assert decode('{"type":"progress","processed":5,"failed":"x","new":1}') == Progress(
        processed=5)
    assert decode('{"type":"result","summary":[1]}') == Result(summary={"value": [1]})
    assert decode('{"type":"resources","peak_rss_mb":true}') == Resources()


def test_the_examples_in_the_doc_are_what_the_code_writes():
    text = section("stdout")
    assert f"# '{Progress(processed=1200, failed=3, total=5000).encode()}'" in text
    example = decode('{"type":"log","message":"hi"}')
    assert f"decode('{{\"type\":\"log\",\"message\":\"hi\"}}')  # {example!r}" in text


def _status_literals(path: Path) -> list[str]:
    """Lines of ``path`` that compare with a status spelled as a string, or list two or more
    statuses as strings (a copy of the Status enum)."""
    import ast

    names = {s.value for s in Status}
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
            consts = [c for p in parts for c in ([p] if isinstance(p, ast.Constant)
                                                  else getattr(p, "elts", []))]
            if any(isinstance(c, ast.Constant) and c.value in names for c in consts):
                found.append(f"{path.name}:{node.lineno}")
        elif isinstance(node, ast.Tuple | ast.List | ast.Set):
            if sum(isinstance(e, ast.Constant) and e.value in names for e in node.elts) >= 2:
                found.append(f"{path.name}:{node.lineno}")
    return found


def test_the_cli_and_the_api_use_the_status_enum_not_its_spellings():
    root = Path(__file__).resolve().parents[1] / "trackdesk"
    files = [root / "cli.py", root / "cli_user_skills.py", *sorted((root / "api").glob("*.py"))]
    assert [hit for f in files for hit in _status_literals(f)] == []
