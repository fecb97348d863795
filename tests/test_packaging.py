"""What ships: the app, not the tools it is developed with (issue 22, item 5).

Screenshot scripts, demo tracks.dbs and the stand-in workers that only count live in
``devtools/`` at the top of the checkout; the wheel and the PyInstaller bundle leave them
out, and no module of the app may need them.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from setuptools import find_namespace_packages

ROOT = Path(__file__).resolve().parents[1]
TOOLING = re.compile(r"(screenshots?|shots|demo)\.py$")


def test_the_wheel_packages_leave_the_developer_tools_out():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    find = conf["tool"]["setuptools"]["packages"]["find"]
    # What setuptools puts in the wheel (pyproject's packages.find: namespaces on).
    packages = find_namespace_packages(str(ROOT), include=find.get("include", ["*"]),
                                       exclude=find.get("exclude", []))
    assert "trackdesk.ui" in packages and "trackdesk.ui.views" in packages
    assert [p for p in packages if not p.startswith("trackdesk")] == []
    assert (ROOT / "devtools" / "demo.py").is_file()  # the tools are there, just not shipped


def test_the_bundle_leaves_the_developer_tools_out():
    spec = (ROOT / "packaging" / "pyinstaller" / "trackdesk.spec").read_text(encoding="utf-8")
    excludes = ast.literal_eval(re.search(r"excludes=(\[.*?\])", spec, re.S).group(1))
    assert "devtools" in excludes


def test_no_module_of_the_app_is_or_imports_a_developer_tool():
    found = []
    for path in (ROOT / "trackdesk").rglob("*.py"):
        rel = path.relative_to(ROOT)
        if TOOLING.search(path.name):
            found.append(f"{rel}: a tool inside the app")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{rel}: imports {n}" for n in names if n.split(".")[0] == "devtools"]
    assert found == []
