"""User skills: analysis skills a person writes, without touching trackdesk's code.

A user skill is a folder in the user skills folder (``$TRACKDESK_SKILLS_DIR``, else
``$XDG_DATA_HOME/trackdesk/skills``, i.e. ``~/.local/share/trackdesk/skills``)::

    night_points/
        skill.py            the spec (the @skill decorator) and the batch function
        requirements.txt    optional: packages it needs beyond Python, numpy and pandas
        test_skill.py       optional: its own test (``trackdesk skills new`` writes one)

``skill.py`` declares its spec with a decorator on the batch function::

    from trackdesk.skills.user import Param, skill

    @skill(name="night_points", version="1.0.0", upstream=("outlier_detection",),
           params=[Param("start_hour", "int", 0, 0, 23, "h")],
           columns={"local_hour": "INTEGER"})
    def process(batch):
        return [{"point_id": p.id, "local_hour": ...} for p in batch]

The function gets a :class:`Batch` of points and returns rows for the skill's own table
``user_<name>`` in tracks.db (one row per point at most, keyed by ``point_id``). The worker
(:mod:`trackdesk.skills.user_worker`) runs it batch by batch, INCREMENTAL (only points it
has not seen) or FULL_RECOMPUTE (table cleared first).

Loading never stops at a broken skill: a syntax error, a bad spec, a missing function or a
name taken by a built-in is a :class:`SkillProblem` (file, line, reason) and the other
skills still load. Only the standard library here: this module runs in the app, the CLI and
in slim worker containers.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

from trackdesk.worker.spec import Param, ParamError, SkillSpec

__all__ = [
    "Batch", "LoadReport", "Param", "Point", "SkillProblem", "UserSkill", "declare", "load_skill",
    "load_user_skills", "reload_into", "scaffold", "skill", "skills_dir",
]

SKILLS_DIR_ENV = "TRACKDESK_SKILLS_DIR"
WORKER_MODULE = "trackdesk.skills.user_worker"
SKILL_FILE = "skill.py"
REQUIREMENTS_FILE = "requirements.txt"
TABLE_PREFIX = "user_"
# Lower-case identifiers: the name is also a table name, a module name and a docker tag.
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
COLUMN_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
COLUMN_TYPES = {"INTEGER": "INTEGER", "REAL": "REAL", "TEXT": "TEXT", "BLOB": "BLOB",
                int: "INTEGER", bool: "INTEGER", float: "REAL", str: "TEXT", bytes: "BLOB"}
# Modules of user skills live under this package name, so two skills never collide.
MODULE_PREFIX = "trackdesk_user_skills"


def skills_dir() -> Path:
    """The user skills folder: $TRACKDESK_SKILLS_DIR, else $XDG_DATA_HOME/trackdesk/skills."""
    env = os.environ.get(SKILLS_DIR_ENV)
    if env:
        return Path(env).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "trackdesk" / "skills"


def table_name(name: str) -> str:
    """``user_<name>``: the skill's own results table in tracks.db."""
    return f"{TABLE_PREFIX}{name}"


# ====================================================================== points ======
class Point(NamedTuple):
    """One row of ``points`` as a user skill sees it (``ts``: UTC epoch seconds)."""

    id: int
    ts: float
    lat: float
    lon: float
    altitude: float | None
    speed: float | None
    accuracy: float | None
    heading: float | None
    source: str | None
    is_outlier: int  # 1 when flagged by outlier_detection (0 when it has not run)


class Batch:
    """What the batch function gets: points (sorted by id), parameters, and ways to report.

    Iterating gives :class:`Point` s. ``fail(point, reason)`` counts a point the skill could
    not analyse (the task's failed points); ``log(message)`` writes to the task's log.
    """

    def __init__(self, points: list[Point], params: dict[str, Any],
                 log: Callable[[str], None] = lambda message: None,
                 task_type: str = "INCREMENTAL") -> None:
        self.points = points
        self.params = params
        self.task_type = task_type
        self.failed: dict[int, str] = {}
        self._log = log
        self._zones: dict[str, tzinfo | None] = {}

    def __iter__(self) -> Iterator[Point]:
        return iter(self.points)

    def __len__(self) -> int:
        return len(self.points)

    def fail(self, point: Point | int, reason: str = "") -> None:
        pid = point.id if isinstance(point, Point) else int(point)
        self.failed[pid] = reason

    def log(self, message: str) -> None:
        self._log(str(message))

    def local_time(self, point: Point, zone: str = "local") -> datetime:
        """The point's time in ``zone`` (an IANA name, ``UTC`` or ``local``: the machine's)."""
        try:
            tz = self._zones[zone]
        except KeyError:  # looked up once per batch, not per point
            tz = self._zones[zone] = _zone(zone)
        return datetime.fromtimestamp(point.ts, tz)

    def columns(self) -> dict[str, Any]:
        """The batch as numpy arrays (id, ts, lat, lon, accuracy), for vectorised skills."""
        import numpy as np

        acc = [math.nan if p.accuracy is None else p.accuracy for p in self.points]
        return {"id": np.array([p.id for p in self.points], dtype=np.int64),
                "ts": np.array([p.ts for p in self.points], dtype=np.float64),
                "lat": np.array([p.lat for p in self.points], dtype=np.float64),
                "lon": np.array([p.lon for p in self.points], dtype=np.float64),
                "accuracy": np.array(acc, dtype=np.float64)}


def _zone(name: str) -> tzinfo | None:
    if name in ("", "local"):
        return None  # fromtimestamp(ts, None): the machine's zone (TZ in a container)
    if name.upper() == "UTC":
        return UTC
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


# ================================================================= declaring ========
class SpecError(ValueError):
    """A bad spec in a @skill(...) declaration; ``line`` is the declaration's line."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Declaration:
    """What @skill(...) recorded: the spec's fields and where it was written."""

    fields: dict[str, Any]
    columns: tuple[tuple[str, str], ...]
    line: int
    file: str


def skill(*, name: str, version: str, title: str = "", description: str = "",
          upstream: Sequence[str] = (), params: Sequence[Param | Mapping[str, Any]] = (),
          columns: Mapping[str, Any] | None = None, retries: int = 0,
          timeout_s: float | None = None, cpu: float = 1.0, memory_mb: int = 512,
          max_concurrency: int | None = None,
          retry_delays: Sequence[float] = (1.0, 5.0, 30.0),
          ) -> Callable[[Callable[[Batch], Any]], Callable[[Batch], Any]]:
    """Declare the decorated function a user skill's batch function, with its spec.

    ``columns``: name -> SQL type (``"INTEGER"``, ``"REAL"``, ``"TEXT"``, ``"BLOB"``) or
    Python type (int, float, str, bool, bytes) of the ``user_<name>`` table, whose key is
    ``point_id``. Errors in the spec are raised here, so they point at this line.
    """
    decl = _declare(sys._getframe(1), dict(
        name=name, version=version, title=title, description=description,
        upstream=upstream, params=params, retries=retries, timeout_s=timeout_s, cpu=cpu,
        memory_mb=memory_mb, max_concurrency=max_concurrency, retry_delays=retry_delays),
        columns)
    line = decl.line

    def decorate(fn: Callable[[Batch], Any]) -> Callable[[Batch], Any]:
        if not callable(fn):
            raise SpecError("@skill(...) must decorate the batch function "
                            "(def process(batch): ...)", line)
        fn.__trackdesk_skill__ = decl  # type: ignore[attr-defined]
        return fn

    return decorate


def declare(*, name: str, version: str, columns: Mapping[str, Any] | None = None,
            **fields: Any) -> Declaration:
    """The class-attribute form of :func:`skill`: ``spec = declare(name=..., ...)`` in a
    class whose ``process(self, batch)`` is the batch function. Same arguments."""
    allowed = {"title", "description", "upstream", "params", "retries", "timeout_s", "cpu",
               "memory_mb", "max_concurrency", "retry_delays"}
    caller = sys._getframe(1)
    unknown = set(fields) - allowed
    if unknown:
        raise SpecError(f"bad spec: unknown argument(s) {', '.join(sorted(unknown))}",
                        caller.f_lineno)
    defaults: dict[str, Any] = {
        "title": "", "description": "", "upstream": (), "params": (), "retries": 0,
        "timeout_s": None, "cpu": 1.0, "memory_mb": 512, "max_concurrency": None,
        "retry_delays": (1.0, 5.0, 30.0)}
    return _declare(caller, {**defaults, **fields, "name": name, "version": version},
                    columns)


def _declare(caller: Any, fields: dict[str, Any],
             columns: Mapping[str, Any] | None) -> Declaration:
    line, file = caller.f_lineno, caller.f_code.co_filename
    return Declaration(_check_fields(fields, line), _check_columns(columns or {}, line),
                       line, file)


def _check_fields(f: dict[str, Any], line: int | None) -> dict[str, Any]:
    def bad(msg: str) -> SpecError:
        return SpecError(f"bad spec: {msg}", line)

    name = f["name"]
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise bad(f"name {name!r} must be lower-case letters, digits and _ (a letter "
                  "first, 40 at most), e.g. 'night_points'")
    version = f["version"]
    if not isinstance(version, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$",
                                                    version):
        raise bad(f"version {version!r} must be a string like '1.0.0'")
    if isinstance(f["upstream"], str):
        f["upstream"] = (f["upstream"],)
    upstream = tuple(f["upstream"])
    for up in upstream:
        if not isinstance(up, str) or not up:
            raise bad(f"upstream must be skill names, not {up!r}")
    if name in upstream:
        raise bad("a skill cannot be its own upstream")
    f["upstream"] = upstream
    params: list[Param] = []
    for p in f["params"]:
        try:
            param = p if isinstance(p, Param) else Param(**dict(p))
            param.coerce(param.default)
        except ParamError as exc:
            raise bad(f"the default of parameter {getattr(p, 'name', p)!r}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise bad(f"parameter {p!r}: {exc}") from None
        if any(q.name == param.name for q in params):
            raise bad(f"parameter {param.name!r} is declared twice")
        params.append(param)
    f["params"] = tuple(params)
    if isinstance(f["retries"], bool) or not isinstance(f["retries"], int) or not (
            0 <= f["retries"] <= 10):
        raise bad(f"retries must be a whole number from 0 to 10, not {f['retries']!r}")
    if f["timeout_s"] is not None and (not _number(f["timeout_s"]) or f["timeout_s"] <= 0):
        raise bad(f"timeout_s must be a positive number of seconds or None, not "
                  f"{f['timeout_s']!r}")
    if not _number(f["cpu"]) or not 0.01 <= f["cpu"] <= 256:
        raise bad(f"cpu must be a number of CPUs from 0.01 to 256, not {f['cpu']!r}")
    if isinstance(f["memory_mb"], bool) or not isinstance(f["memory_mb"], int) or not (
            32 <= f["memory_mb"] <= 1_048_576):
        raise bad(f"memory_mb must be a whole number of MB from 32 up, not "
                  f"{f['memory_mb']!r}")
    mc = f["max_concurrency"]
    if mc is not None and (isinstance(mc, bool) or not isinstance(mc, int) or mc < 1):
        raise bad(f"max_concurrency must be a whole number from 1 or None, not {mc!r}")
    delays = tuple(f["retry_delays"])
    if not all(_number(d) and d >= 0 for d in delays):
        raise bad(f"retry_delays must be seconds, not {f['retry_delays']!r}")
    f["retry_delays"] = tuple(float(d) for d in delays)
    for key in ("title", "description"):
        if not isinstance(f[key], str):
            raise bad(f"{key} must be text")
    return f


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _check_columns(columns: Mapping[str, Any], line: int | None) -> tuple[tuple[str, str], ...]:
    if not isinstance(columns, Mapping):
        raise SpecError("bad spec: columns must be a dict of name -> type", line)
    out = []
    for col, kind in columns.items():
        if not isinstance(col, str) or not COLUMN_RE.match(col) or col == "point_id":
            raise SpecError(f"bad spec: column name {col!r} must be a lower-case identifier "
                            "other than point_id", line)
        sql = COLUMN_TYPES.get(kind.upper() if isinstance(kind, str) else kind)
        if sql is None:
            raise SpecError(f"bad spec: column {col!r} has type {kind!r}; use INTEGER, "
                            "REAL, TEXT, BLOB or int, float, str, bool, bytes", line)
        out.append((col, sql))
    return tuple(out)


# =================================================================== loading ========
@dataclass(frozen=True)
class UserSkill:
    """A loaded user skill: its spec, batch function, table columns and folder."""

    spec: SkillSpec
    process: Callable[[Batch], Any] | None  # None: spec read without running skill.py
    columns: tuple[tuple[str, str], ...]
    folder: Path
    line: int
    # The module skill.py could not import when the spec was read from its source.
    missing_module: str = ""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def file(self) -> Path:
        return self.folder / SKILL_FILE

    @property
    def table(self) -> str:
        return table_name(self.spec.name)

    @property
    def requirements(self) -> list[str]:
        return requirement_lines(self.folder / REQUIREMENTS_FILE)


@dataclass(frozen=True)
class SkillProblem:
    """Why a skill folder did not load (or loaded with a caveat, ``fatal=False``)."""

    folder: str
    file: str
    line: int | None
    reason: str
    fatal: bool = True

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"folder": self.folder, "file": self.file, "line": self.line,
                "reason": self.reason, "fatal": self.fatal}


class SkillLoadError(Exception):
    def __init__(self, problem: SkillProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass
class LoadReport:
    """The outcome of loading the user skills folder."""

    folder: Path
    skills: list[UserSkill] = field(default_factory=list)
    problems: list[SkillProblem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"folder": str(self.folder),
                "skills": [{"name": s.name, "version": s.spec.version,
                            "file": str(s.file)} for s in self.skills],
                "problems": [p.to_dict() for p in self.problems]}


def skill_folders(folder: Path | None = None) -> list[Path]:
    """The sub-folders holding a skill.py, sorted by name (hidden and _private skipped)."""
    root = folder or skills_dir()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / SKILL_FILE).is_file()
                  and not p.name.startswith((".", "_")))


def load_skill(folder: Path, allow_static: bool = False) -> UserSkill:
    """Run ``folder/skill.py`` and return its skill, or raise SkillLoadError.

    ``allow_static``: when skill.py imports a package that is not installed here, read the
    spec from the source instead (the app can list, chain and ship to Docker a skill whose
    requirements exist only in its image); the skill then has no ``process``.
    """
    file = folder / SKILL_FILE
    fname = str(file)

    def problem(reason: str, line: int | None = None, fatal: bool = True) -> SkillLoadError:
        return SkillLoadError(SkillProblem(folder.name, fname, line, reason, fatal))

    try:
        source = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise problem(f"cannot read it: {exc}") from None
    try:
        code = compile(source, fname, "exec")
    except SyntaxError as exc:
        raise problem(f"syntax error: {exc.msg}", exc.lineno) from None
    module_name = f"{MODULE_PREFIX}.{folder.name}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up here
    # Helper modules next to skill.py import as plain modules, as in any script.
    sys.path.insert(0, str(folder))
    before = set(sys.modules)
    try:
        exec(code, module.__dict__)  # noqa: S102 - running the user's skill is the point
    except SpecError as exc:
        sys.modules.pop(module_name, None)
        raise problem(str(exc), exc.line or _line_in(exc, fname)) from None
    except ModuleNotFoundError as exc:
        sys.modules.pop(module_name, None)
        missing = exc.name or str(exc)
        if allow_static:
            try:
                decl = static_declaration(source, fname)
            except SpecError:
                decl = None
            if decl is not None:
                return _build(decl, None, folder, missing)
        raise problem(_missing_message(folder.name, missing, folder),
                      _line_in(exc, fname)) from None
    except BaseException as exc:  # noqa: BLE001 - any failure of user code is a report
        sys.modules.pop(module_name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise problem(f"{type(exc).__name__}: {exc}", _line_in(exc, fname)) from None
    finally:
        try:
            sys.path.remove(str(folder))
        except ValueError:
            pass
        _forget_helpers(before, folder)
    found = [(k, v) for k, v in module.__dict__.items()
             if callable(v) and not isinstance(v, type)
             and isinstance(getattr(v, "__trackdesk_skill__", None), Declaration)]
    for k, cls in list(module.__dict__.items()):
        # The class form: `spec = declare(...)` and a process(self, batch) method.
        if isinstance(cls, type) and cls.__module__ == module_name \
                and isinstance(cls.__dict__.get("spec"), Declaration):
            decl = cls.__dict__["spec"]
            method = getattr(cls, "process", None)
            if not callable(method):
                raise problem(f"class {k} declares a spec but no batch function: add "
                              "def process(self, batch): ...", decl.line)
            try:
                bound = cls().process
            except Exception as exc:  # noqa: BLE001 - the user's __init__
                raise problem(f"class {k} cannot be created: {type(exc).__name__}: {exc}",
                              _line_in(exc, fname) or decl.line) from None
            bound.__func__.__trackdesk_skill__ = decl  # type: ignore[attr-defined]
            found.append((k, bound))
    if not found:
        decl_line = _decorator_line(source)
        if decl_line is not None:
            raise problem("@skill(...) decorates no function: put it right above the batch "
                          "function (def process(batch): ...)", decl_line)
        raise problem("no skill declared: decorate the batch function with "
                      "@skill(name=..., version=...) from trackdesk.skills.user (or give "
                      "a class spec = declare(...) and a process(self, batch) method)")
    if len(found) > 1:
        raise problem(f"declares {len(found)} skills ({', '.join(k for k, _ in found)}); "
                      "one skill per folder", _decl_of(found[1][1]).line)
    fn = found[0][1]
    return _build(_decl_of(fn), fn, folder)


def _decl_of(fn: Any) -> Declaration:
    return getattr(fn, "__trackdesk_skill__", None) or fn.__func__.__trackdesk_skill__


def _forget_helpers(before: set[str], folder: Path) -> None:
    """Drop this folder's helper modules from sys.modules: two skills may both have a
    ``helpers.py``, and a reload must read the edited one."""
    root = str(folder.resolve())
    for name in set(sys.modules) - before:
        file = getattr(sys.modules.get(name), "__file__", None) or ""
        if file and os.path.abspath(file).startswith(root + os.sep):
            sys.modules.pop(name, None)


def _build(decl: Declaration, fn: Callable[[Batch], Any] | None, folder: Path,
           missing_module: str = "") -> UserSkill:
    f = decl.fields
    if f["name"] != folder.name:
        raise SkillLoadError(SkillProblem(
            folder.name, str(folder / SKILL_FILE), decl.line,
            f"the skill is named {f['name']!r} but its folder is {folder.name!r}: rename one "
            "so they match"))
    spec = SkillSpec(
        name=f["name"], version=f["version"], title=f["title"] or f["name"],
        description=f["description"], upstream=f["upstream"], params=f["params"],
        timeout_s=None if f["timeout_s"] is None else float(f["timeout_s"]),
        retries=f["retries"], retry_delays=f["retry_delays"], cpu=float(f["cpu"]),
        memory_mb=f["memory_mb"], max_concurrency=f["max_concurrency"],
        module=WORKER_MODULE, kind="user", docker=True, source=str(folder / SKILL_FILE))
    return UserSkill(spec, fn, decl.columns, folder, decl.line, missing_module)


def _line_in(exc: BaseException, fname: str) -> int | None:
    """The line of ``fname`` deepest in the traceback (where the user's code failed)."""
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == fname:
            line = lineno
    return line


def _decorator_line(source: str) -> int | None:
    for m in re.finditer(r"^\s*@(?:\w+\.)*skill\s*\(", source, re.M):
        return source.count("\n", 0, m.start()) + 1
    return None


def _missing_message(name: str, module: str, folder: Path) -> str:
    package = module.split(".")[0]
    listed = any(_req_name(r) == _norm(package) for r in requirement_lines(
        folder / REQUIREMENTS_FILE))
    hint = "" if listed else f" (and list it in {folder / REQUIREMENTS_FILE})"
    return f"skill {name} needs package {package}: pip install {package}{hint}"


# -- reading a spec without running skill.py (its imports may exist only in its image) --
_STATIC_CALLS: dict[str, Callable[..., Any]] = {"Param": Param, "dict": dict,
                                                "tuple": tuple, "list": list}
_STATIC_NAMES: dict[str, Any] = {"int": int, "float": float, "str": str, "bool": bool,
                                 "bytes": bytes, "None": None, "True": True, "False": False}


def static_declaration(source: str, fname: str) -> Declaration | None:
    """The @skill(...) of ``source`` evaluated from literals only, or None if there is none."""
    tree = ast.parse(source, fname)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and [getattr(t, "id", "") for t in
                                                     stmt.targets] == ["spec"] \
                        and isinstance(stmt.value, ast.Call) \
                        and _call_name(stmt.value.func) == "declare":
                    return _static_call(stmt.value, fname)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for deco in node.decorator_list:
            if isinstance(deco, ast.Call) and _call_name(deco.func) == "skill":
                return _static_call(deco, fname)
    return None


def _static_call(deco: ast.Call, fname: str) -> Declaration:
    """A ``skill(...)`` / ``declare(...)`` call's keyword arguments, from literals."""
    if deco.args:
        raise SpecError("the spec takes keyword arguments only", deco.lineno)
    kwargs = {k.arg: _static_eval(k.value, deco.lineno) for k in deco.keywords
              if k.arg is not None}
    columns = kwargs.pop("columns", None) or {}
    defaults = {"title": "", "description": "", "upstream": (), "params": (),
                "retries": 0, "timeout_s": None, "cpu": 1.0, "memory_mb": 512,
                "max_concurrency": None, "retry_delays": (1.0, 5.0, 30.0)}
    unknown = set(kwargs) - set(defaults) - {"name", "version"}
    if unknown or "name" not in kwargs or "version" not in kwargs:
        raise SpecError("the spec needs name and version, and only known arguments",
                        deco.lineno)
    fields = _check_fields({**defaults, **kwargs}, deco.lineno)
    return Declaration(fields, _check_columns(columns, deco.lineno), deco.lineno, fname)


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _static_eval(node: ast.expr, line: int) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Tuple | ast.List):
        return tuple(_static_eval(e, line) for e in node.elts)
    if isinstance(node, ast.Dict):
        return {_static_eval(k, line): _static_eval(v, line)
                for k, v in zip(node.keys, node.values, strict=True) if k is not None}
    if isinstance(node, ast.Name) and node.id in _STATIC_NAMES:
        return _STATIC_NAMES[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_static_eval(node.operand, line)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Add | ast.Sub):
        a, b = _static_eval(node.left, line), _static_eval(node.right, line)
        return a * b if isinstance(node.op, ast.Mult) else (
            a + b if isinstance(node.op, ast.Add) else a - b)
    if isinstance(node, ast.Call) and _call_name(node.func) in _STATIC_CALLS:
        fn = _STATIC_CALLS[_call_name(node.func)]
        args = [_static_eval(a, line) for a in node.args]
        kwargs = {k.arg: _static_eval(k.value, line) for k in node.keywords if k.arg}
        return fn(*args, **kwargs)
    raise SpecError("the spec uses something other than plain values", line)


# -- requirements ----------------------------------------------------------------------
def requirement_lines(path: Path) -> list[str]:
    """The requirement lines of a requirements.txt (comments, blanks and options dropped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            out.append(line)
    return out


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _req_name(requirement: str) -> str:
    m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return _norm(m.group(1)) if m else ""


def missing_requirements(us: UserSkill | Path) -> list[str]:
    """Distribution names of the skill's requirements (a skill or its folder) that are not
    installed here."""
    folder = us if isinstance(us, Path) else us.folder
    missing = []
    for req in requirement_lines(folder / REQUIREMENTS_FILE):
        name = _req_name(req)
        if not name:
            continue
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    return missing


# ============================================================ the whole folder ======
def load_user_skills(folder: Path | None = None, builtin: Iterable[str] = (),
                     allow_static: bool = True) -> LoadReport:
    """Every skill of the user skills folder; broken ones become problems, not errors.

    ``builtin``: names the user skills may not take. Unknown upstream skills are reported
    too (after all folders loaded, since a user skill may follow another).
    """
    root = folder or skills_dir()
    report = LoadReport(root)
    taken = set(builtin)
    loaded: list[UserSkill] = []
    for sub in skill_folders(root):
        try:
            us = load_skill(sub, allow_static=allow_static)
        except SkillLoadError as exc:
            report.problems.append(exc.problem)
            continue
        if us.name in taken:
            report.problems.append(SkillProblem(
                sub.name, str(us.file), us.line,
                f"the name {us.name!r} is taken by a built-in skill: rename the skill and "
                "its folder"))
            continue
        if us.process is None:
            dists = missing_requirements(us)  # pip's names, when requirements.txt has them
            what = (f"skill {us.name} needs package {', '.join(dists)}: pip install "
                    f"{' '.join(dists)}" if dists
                    else _missing_message(us.name, us.missing_module, us.folder))
            report.problems.append(SkillProblem(
                sub.name, str(us.file), us.line,
                f"{what}; until then it runs with the Docker launcher only (its image "
                "installs requirements.txt)", fatal=False))
        loaded.append(us)
    known = taken | {u.name for u in loaded}
    for us in loaded:
        unknown = [u for u in us.spec.upstream if u not in known]
        if unknown:
            report.problems.append(SkillProblem(
                us.folder.name, str(us.file), us.line,
                f"unknown upstream skill {', '.join(unknown)} (known: "
                f"{', '.join(sorted(known - {us.name}))})"))
        else:
            report.skills.append(us)
    return report


def reload_into(registry: Any, folder: Path | None = None) -> LoadReport:
    """Replace the user skills of ``registry`` (a SkillRegistry) with the folder's now.

    Mutates the registry in place, so the engine, the API and the canvas that hold it see
    the new skills at once. The report is also kept as ``registry.problems``.
    """
    builtin = [s.name for s in registry.specs() if s.kind != "user"]
    report = load_user_skills(folder, builtin)
    apply_report(registry, report)
    return report


def apply_report(registry: Any, report: LoadReport) -> None:
    """Swap the registry's user skills for those of ``report`` (cheap; call on the loop)."""
    for spec in list(registry.specs()):
        if spec.kind == "user":
            registry.remove(spec.name)
    for us in report.skills:
        registry.add(us.spec)
    registry.problems = list(report.problems)


async def reload_async(registry: Any, folder: Path | None = None) -> dict[str, Any]:
    """:func:`reload_into` for a coroutine: user code runs on a thread, the swap on the loop."""
    import asyncio

    builtin = [s.name for s in registry.specs() if s.kind != "user"]
    report = await asyncio.to_thread(load_user_skills, folder, builtin)
    apply_report(registry, report)
    return report.to_dict()


# ================================================================ scaffolding =======
class ScaffoldError(ValueError):
    pass


def scaffold(name: str, folder: Path | None = None, builtin: Iterable[str] = ()) -> Path:
    """Create ``<skills folder>/<name>/`` with skill.py, requirements.txt, test_skill.py."""
    if not NAME_RE.match(name):
        raise ScaffoldError(f"{name!r} is not a skill name: use lower-case letters, digits "
                            "and _, a letter first (e.g. night_points)")
    if name in set(builtin):
        raise ScaffoldError(f"{name!r} is a built-in skill: choose another name")
    target = (folder or skills_dir()) / name
    if target.exists():
        raise ScaffoldError(f"{target} already exists")
    target.mkdir(parents=True)
    title = name.replace("_", " ").capitalize()
    (target / SKILL_FILE).write_text(SKILL_TEMPLATE.format(name=name, title=title),
                                     encoding="utf-8")
    (target / REQUIREMENTS_FILE).write_text(REQUIREMENTS_TEMPLATE, encoding="utf-8")
    (target / "test_skill.py").write_text(TEST_TEMPLATE.format(name=name), encoding="utf-8")
    return target


SKILL_TEMPLATE = '''"""{title}: a trackdesk user skill.

Flags the points recorded at night (between start_hour and end_hour, local time). Edit
the spec and process() to make it yours; bump the version whenever results would change,
so trackdesk recomputes them and rebuilds its Docker image.
Run its test: python {name}/test_skill.py (or pytest).
"""

from trackdesk.skills.user import Param, skill


@skill(
    name="{name}",
    version="1.0.0",
    title="{title}",
    description="Flags points recorded between start_hour and end_hour local time.",
    upstream=("outlier_detection",),  # runs after it in a chain; sees p.is_outlier
    params=[
        Param("start_hour", "int", 0, 0, 23, "h", "First night hour (inclusive)"),
        Param("end_hour", "int", 5, 0, 24, "h", "Night ends at this hour (exclusive)"),
        Param("timezone", "str", "local", help="IANA time zone, UTC or local"),
        Param("skip_outliers", "bool", True, help="Write no row for outliers"),
    ],
    columns={{"local_hour": "INTEGER", "is_night": "INTEGER"}},
    retries=1,
    timeout_s=600,
    cpu=1.0,
    memory_mb=256,
)
def process(batch):
    """Rows for the table user_{name}: one dict per point, keyed by point_id.

    batch: the points (p.id, p.ts in UTC epoch seconds, p.lat, p.lon, p.accuracy,
    p.is_outlier, ...) and batch.params. A point you cannot analyse: batch.fail(p, why).
    Import extra packages inside this function (and list them in requirements.txt), so
    trackdesk can read the spec even where they are not installed.
    """
    start, end = batch.params["start_hour"], batch.params["end_hour"]
    rows = []
    for p in batch:
        if p.is_outlier and batch.params["skip_outliers"]:
            continue
        if not (-90 <= p.lat <= 90 and -180 <= p.lon <= 180):
            batch.fail(p, "coordinates out of range")
            continue
        hour = batch.local_time(p, batch.params["timezone"]).hour
        rows.append({{"point_id": p.id, "local_hour": hour,
                      "is_night": int(start <= hour < end)}})
    return rows
'''

REQUIREMENTS_TEMPLATE = """\
# Packages this skill needs beyond Python, numpy and pandas, one per line (pip syntax),
# e.g. timezonefinder==6.5.2. Locally: pip install -r requirements.txt. Docker images get
# them as wheels downloaded on this machine (`trackdesk skills build`).
"""

TEST_TEMPLATE = '''"""Runs the {name} skill on a few generated points, as its worker does.

    python test_skill.py      or      pytest test_skill.py
"""

import sqlite3
import tempfile
from pathlib import Path

from trackdesk.skills.user import load_skill, table_name
from trackdesk.skills.user_worker import run_on_points

HERE = Path(__file__).resolve().parent


def generated_points():
    """(ts, lat, lon): one point an hour for a day from 2026-01-01 00:30 UTC."""
    t0 = 1_767_225_600.0 + 1800
    return [(t0 + 3600 * h, 48.137 + 0.001 * h, 11.575) for h in range(24)]


def test_{name}():
    skill = load_skill(HERE)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "tracks.db"
        summary = run_on_points(skill, db, generated_points(), params={{"timezone": "UTC"}})
        assert summary["processed"] == 24
        with sqlite3.connect(db) as conn:
            rows = conn.execute(
                f"SELECT point_id, local_hour, is_night FROM {{table_name(skill.name)}} "
                "ORDER BY point_id").fetchall()
    assert len(rows) == 24
    assert [r[2] for r in rows] == [1] * 5 + [0] * 19  # 00:30 ... 04:30 are night


if __name__ == "__main__":
    test_{name}()
    print("ok")
'''
