"""Where the worker runtime sits (issue 22): beside the protocol, below both the importer
and the skills, on the standard library alone, and inside every worker image."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "trackdesk"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in ``path``, lazy ones inside functions too;
    ``from a import b`` yields ``a``."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom):  # relative: resolve against the package
            package = path.relative_to(ROOT.parent).with_suffix("").parts[:-node.level]
            out.append((node.lineno, ".".join(package + ((node.module,) if node.module
                                                         else ()))))
    return out


def test_the_tracks_package_never_imports_the_skills():
    # The importer and the skills share the worker runtime; the data layer does not reach
    # into the analysis (the import spec, the corrections' kinds live in tracks).
    bad = [f"{p.relative_to(ROOT)}:{line}: {mod}" for p in sorted((ROOT / "tracks").glob("*.py"))
           for line, mod in _imports(p)
           if mod == "trackdesk.skills" or mod.startswith("trackdesk.skills.")]
    assert bad == []


def _runtime_files() -> list[Path]:
    return [ROOT / "protocol.py", *sorted((ROOT / "worker").rglob("*.py"))]


def test_the_protocol_and_the_runtime_import_only_the_standard_library():
    assert (ROOT / "worker" / "__init__.py").is_file()
    allowed = set(sys.stdlib_module_names) | {"__future__"}
    bad = [f"{p.relative_to(ROOT)}:{line}: {mod}" for p in _runtime_files()
           for line, mod in _imports(p)
           if mod.split(".")[0] not in allowed and mod != "trackdesk.protocol"
           and mod != "trackdesk.worker" and not mod.startswith("trackdesk.worker.")]
    assert bad == []


def test_importing_the_runtime_loads_nothing_beyond_the_standard_library():
    # In a process, as a worker starts: what the modules pull in transitively counts too.
    code = ("import sys; import trackdesk.worker, trackdesk.protocol; "
            "std = set(sys.stdlib_module_names); "
            "print(sorted({m.split('.')[0] for m in sys.modules} - std - {'trackdesk', '__main__'}))")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(ROOT.parent)})
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_worker_image_carries_every_trackdesk_module_its_code_imports():
    # The images copy a list of files, not the package (no engine, UI or SQLAlchemy in a
    # container): every trackdesk import of a copied file must be a copied file too, or a
    # skill fails in Docker only.
    from trackdesk.engine.images import _app_files

    copied = {rel for rel, _ in _app_files()}
    assert {"trackdesk/protocol.py", "trackdesk/worker/runtime.py",
            "trackdesk/skills/__main__.py"} <= copied
    missing = []
    for rel, path in _app_files():
        if not rel.endswith(".py"):
            continue
        for line, mod in _imports(path):
            if mod.split(".")[0] != "trackdesk":
                continue
            stem = mod.replace(".", "/")
            if f"{stem}.py" not in copied and f"{stem}/__init__.py" not in copied:
                missing.append(f"{rel}:{line}: {mod}")
    assert missing == []


def test_skills_written_against_the_old_sdk_module_get_the_same_objects():
    # docs/USER_SKILLS.md and users' own code import trackdesk.skills.sdk / .spec: the
    # names must be the runtime's own, or `except SkillError` would miss the runtime's.
    import trackdesk.skills.sdk as old
    import trackdesk.skills.spec as old_spec
    import trackdesk.worker as new
    from trackdesk.worker import runtime, spec

    for name in old.__all__:
        assert getattr(old, name) is getattr(runtime, name, getattr(spec, name, None)), name
    for name in ("WorkerContext", "run_worker", "SkillError", "StopRequested",
                 "PhaseProgress", "EXIT_STOPPED", "EXIT_USAGE"):
        assert getattr(old, name) is getattr(new, name)
    assert old_spec.SkillSpec is new.SkillSpec and old_spec.Param is new.Param


def test_a_mode_correction_takes_exactly_the_modes_the_skills_know():
    # corrections.py checks a "mode" against the annotations' activities (tracks) since it
    # no longer imports the skills' MODES: the two vocabularies must stay one set.
    from trackdesk.skills.geo import MODES
    from trackdesk.tracks.annotations import ACTIVITIES

    assert sorted(ACTIVITIES) == sorted(MODES)
