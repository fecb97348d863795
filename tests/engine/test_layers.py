"""The engine is used through its public names only, and never imports Qt (issue 22).

The window, the CLI and the REST API once reached into the engine (``engine._call`` in
twenty places, ``engine._adopt``): any change inside the engine could break them
unseen. These tests read the source with ``ast``; they need neither Qt nor a database.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.test_layers import QT, offenders

ROOT = Path(__file__).resolve().parents[2] / "trackdesk"
ENGINE = ROOT / "engine"
# Names that hold the engine or its task store wherever the code base uses them.
HOLDERS = {"engine", "store", "eng", "task_store", "_engine", "_store"}
CLASSES = {"Engine", "TaskStore"}


def _class_name(node: ast.AST | None) -> str | None:
    """``Engine`` for the annotations Engine, "Engine", Engine | None, Optional[Engine]."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return _class_name(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return None
    if isinstance(node, ast.Name):
        return node.id if node.id in CLASSES else None
    if isinstance(node, ast.Attribute):
        return node.attr if node.attr in CLASSES else None
    if isinstance(node, ast.BinOp):
        return _class_name(node.left) or _class_name(node.right)
    if isinstance(node, ast.Subscript):
        return _class_name(node.slice)
    return None


def _bound_names(tree: ast.AST) -> set[str]:
    """Names bound to an engine or a store: ``x = Engine(...)``, ``x: TaskStore``,
    ``def f(x: Engine)``, ``x = TaskStore(...)``."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and \
                _class_name(node.value.func):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and \
                _class_name(node.annotation):
            names.add(node.target.id)
        elif isinstance(node, ast.arg) and _class_name(node.annotation):
            names.add(node.arg)
    return names


def _holds_engine(node: ast.expr, bound: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return node.id in HOLDERS or node.id in bound
    if isinstance(node, ast.Attribute):  # self.engine, window.engine.store, app.store
        return node.attr in HOLDERS
    return False


def private_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bound = _bound_names(tree)
    found = sorted((node.lineno, node.col_offset, ast.unparse(node))
                   for node in ast.walk(tree)
                   if isinstance(node, ast.Attribute) and node.attr.startswith("_")
                   and not node.attr.startswith("__") and _holds_engine(node.value, bound))
    return [f"{path.name}:{line}: {text}" for line, _col, text in found]


def outside_the_engine() -> list[Path]:
    return [p for p in sorted(ROOT.rglob("*.py")) if ENGINE not in p.parents]


def test_nothing_outside_the_engine_uses_a_private_name_of_the_engine_or_its_store():
    offenders = [f"{path.parent.relative_to(ROOT.parent)}/{use}"
                 for path in outside_the_engine() for use in private_uses(path)]
    assert offenders == [], "use a public method of Engine / TaskStore:\n" + \
        "\n".join(offenders)


def test_the_check_sees_every_way_the_engine_is_held(tmp_path):
    # The rule must catch what the code base really wrote, and leave self._x alone.
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from trackdesk.engine.engine import Engine\n"
        "class W:\n"
        "    def a(self, engine):\n"
        "        self._own = 1\n"                                   # fine: its own
        "        return engine._call(engine.store.max_id)\n"        # 1
        "    def b(self):\n"
        "        return self.engine._adopt([])\n"                   # 2
        "    def c(self, e: 'Engine | None'):\n"
        "        return e._running, self.engine.store._conn()\n"   # 3, 4
        "def d(path):\n"
        "    app = Engine(path)\n"
        "    return app._lock, app.tasks\n",                        # 5
        encoding="utf-8")
    found = private_uses(sample)
    assert [f.rsplit(": ", 1)[1] for f in found] == \
        ["engine._call", "self.engine._adopt", "e._running", "self.engine.store._conn",
         "app._lock"]


def test_the_engine_imports_neither_qt_nor_the_window_the_api_or_the_cli():
    assert offenders(ENGINE, QT + ("trackdesk.ui", "trackdesk.api", "trackdesk.cli")) == []
