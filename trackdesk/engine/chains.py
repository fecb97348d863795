"""Chains of skills: the model behind chain templates, chain runs and the chain canvas (no Qt).

A chain is nodes (a skill with parameters) and links (upstream -> downstream). Every edit
the canvas offers is a method here, checked here: :meth:`Chain.check_connect` raises a
typed error, :meth:`Chain.can_connect` says why not for hover feedback. Chains are stored
as a versioned JSON document; :func:`load_document` parses one into plain descriptors
first, then builds what it can and reports the rest as warnings (an unknown skill or a
newer format never makes a template unreadable). Running a chain makes one task per node.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from trackdesk.skills.registry import DEFAULT_CHAIN, SkillRegistry
from trackdesk.skills.spec import ParamError

CHAIN_FORMAT = "trackdesk-chain"
CHAIN_FORMAT_VERSION = 1
DEFAULT_CHAIN_NAME = "default"
LAUNCHERS = ("local", "docker")
# Auto-layout grid: a node is about 190 x 74 scene units; chains flow downwards (a long
# chain of wide nodes fits a landscape window better in rows than in columns).
LAYER_SPACING = 112.0
ROW_SPACING = 230.0


class ChainError(ValueError):
    """A chain edit or document the model refuses; the message says why."""


class CycleError(ChainError):
    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__("dependency cycle: " + " -> ".join(str(c) for c in cycle))


class DuplicateLinkError(ChainError):
    pass


class SelfLinkError(ChainError):
    pass


class UnknownSkillInChainError(ChainError):
    pass


class ReadOnlyTemplateError(ChainError):
    """The default chain (and any other read-only template) is copied, never changed."""


@dataclass
class Node:
    id: str
    skill: str
    params: dict[str, Any] = field(default_factory=dict)
    launcher: str | None = None
    x: float = 0.0
    y: float = 0.0
    # Name of the threshold profile the params came from (informative; params rule).
    profile: str | None = None

    def copy(self) -> Node:
        return Node(self.id, self.skill, dict(self.params), self.launcher, self.x, self.y,
                    self.profile)


@dataclass(frozen=True)
class Problem:
    """Something that keeps a chain from running, tied to a node when it is about one."""

    node_id: str | None
    message: str


@dataclass
class Chain:
    name: str = "untitled"
    nodes: list[Node] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)

    # ------------------------------------------------------------------ queries ----
    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise ChainError(f"no node {node_id!r} in chain {self.name!r}")

    def has_node(self, node_id: str) -> bool:
        return any(n.id == node_id for n in self.nodes)

    def upstream_of(self, node_id: str) -> list[str]:
        return [a for a, b in self.links if b == node_id]

    def downstream_of(self, node_id: str) -> list[str]:
        return [b for a, b in self.links if a == node_id]

    def links_of(self, node_id: str) -> list[tuple[str, str]]:
        return [(a, b) for a, b in self.links if node_id in (a, b)]

    def topological_order(self) -> list[Node]:
        """Nodes with every upstream first; raises CycleError naming the cycle."""
        order = find_order([n.id for n in self.nodes], self.links)
        by_id = {n.id: n for n in self.nodes}
        return [by_id[i] for i in order]

    def copy(self, name: str | None = None) -> Chain:
        return Chain(self.name if name is None else name, [n.copy() for n in self.nodes],
                     list(self.links))

    # ------------------------------------------------------------------ links -----
    def check_connect(self, upstream: str, downstream: str,
                      registry: SkillRegistry | None = None) -> None:
        """Raise the typed reason a link ``upstream -> downstream`` cannot be drawn."""
        if upstream == downstream:
            raise SelfLinkError(f"a skill cannot depend on itself ({upstream})")
        a, b = self.node(upstream), self.node(downstream)
        if registry is not None:
            for n in (a, b):
                if n.skill not in registry:
                    raise UnknownSkillInChainError(
                        f"node {n.id!r} runs the unknown skill {n.skill!r}")
        if (upstream, downstream) in self.links:
            raise DuplicateLinkError(f"{upstream} already feeds {downstream}")
        path = self._path(downstream, upstream)
        if path is not None:
            # downstream already reaches upstream: the new link would close the loop.
            raise CycleError([*path, downstream])

    def can_connect(self, upstream: str, downstream: str,
                    registry: SkillRegistry | None = None) -> tuple[bool, str]:
        """(True, "") or (False, why) — for hover feedback while a link is dragged."""
        try:
            self.check_connect(upstream, downstream, registry)
        except ChainError as exc:
            return False, str(exc)
        return True, ""

    def add_link(self, upstream: str, downstream: str,
                 registry: SkillRegistry | None = None, index: int | None = None) -> None:
        self.check_connect(upstream, downstream, registry)
        link = (upstream, downstream)
        self.links.insert(len(self.links) if index is None else index, link)

    def remove_link(self, upstream: str, downstream: str) -> int:
        """Remove a link; returns where it was (so an undo puts it back in place)."""
        try:
            index = self.links.index((upstream, downstream))
        except ValueError:
            raise ChainError(f"no link {upstream} -> {downstream}") from None
        del self.links[index]
        return index

    def _path(self, start: str, goal: str) -> list[str] | None:
        """A path start -> ... -> goal along links, or None."""
        parents: dict[str, str | None] = {start: None}
        queue = [start]
        while queue:
            cur = queue.pop(0)
            if cur == goal:
                path = [cur]
                while parents[path[-1]] is not None:
                    path.append(parents[path[-1]])  # type: ignore[arg-type]
                return path[::-1]
            for nxt in self.downstream_of(cur):
                if nxt not in parents:
                    parents[nxt] = cur
                    queue.append(nxt)
        return None

    # ------------------------------------------------------------------ nodes -----
    def new_node_id(self, skill: str) -> str:
        """``skill``, or ``skill_2``, ``skill_3``... : ids read well in logs and files."""
        taken = {n.id for n in self.nodes}
        if skill not in taken:
            return skill
        i = 2
        while f"{skill}_{i}" in taken:
            i += 1
        return f"{skill}_{i}"

    def add_node(self, skill: str, x: float = 0.0, y: float = 0.0,
                 params: dict[str, Any] | None = None, node_id: str | None = None,
                 registry: SkillRegistry | None = None, launcher: str | None = None) -> Node:
        if registry is not None and skill not in registry:
            raise UnknownSkillInChainError(f"unknown skill {skill!r}")
        if launcher is not None and launcher not in LAUNCHERS:
            raise ChainError(f"unknown launcher {launcher!r} (local or docker)")
        node_id = node_id or self.new_node_id(skill)
        if self.has_node(node_id):
            raise ChainError(f"the chain already has a node {node_id!r}")
        node = Node(node_id, skill, dict(params or {}), launcher, x, y)
        self.nodes.append(node)
        return node

    def insert_node(self, node: Node, index: int | None = None) -> None:
        """Put a removed node back (undo): same id, same place in the list."""
        if self.has_node(node.id):
            raise ChainError(f"the chain already has a node {node.id!r}")
        self.nodes.insert(len(self.nodes) if index is None else index, node)

    def remove_node(self, node_id: str) -> tuple[Node, int, list[tuple[int, tuple[str, str]]]]:
        """Remove a node and its links; returns what an undo needs to restore them."""
        node = self.node(node_id)
        index = self.nodes.index(node)
        gone = [(i, link) for i, link in enumerate(self.links) if node_id in link]
        self.links = [link for link in self.links if node_id not in link]
        del self.nodes[index]
        return node, index, gone

    def restore_links(self, gone: list[tuple[int, tuple[str, str]]]) -> None:
        for i, link in sorted(gone):
            self.links.insert(min(i, len(self.links)), link)

    # ------------------------------------------------------------------ checks ----
    def validate(self, registry: SkillRegistry, default_launcher: str = "local") -> list[Problem]:
        """Everything that would stop a run: empty chain, unknown skills, bad parameters,
        launchers a skill cannot use, cycles. An empty list means the chain can run."""
        problems: list[Problem] = []
        if not self.nodes:
            problems.append(Problem(None, "the chain has no skills"))
        for n in self.nodes:
            if n.skill not in registry:
                problems.append(Problem(n.id, f"{n.id}: unknown skill {n.skill!r}"))
                continue
            spec = registry.get(n.skill)
            for name, value in n.params.items():
                try:
                    spec.param(name).coerce(value)
                except ParamError as exc:
                    problems.append(Problem(n.id, f"{n.id}: {exc}"))
            launcher = n.launcher or default_launcher
            if launcher not in LAUNCHERS:
                problems.append(Problem(n.id, f"{n.id}: unknown launcher {launcher!r}"))
            elif launcher == "docker" and not spec.docker:
                problems.append(Problem(n.id, f"{n.id}: {n.skill} runs only with the local "
                                        "launcher"))
        try:
            self.topological_order()
        except ChainError as exc:
            problems.append(Problem(None, str(exc)))
        return problems

    def param_errors(self, node_id: str, registry: SkillRegistry) -> dict[str, str]:
        """Parameter name -> why its value is refused (the inspector marks these)."""
        node = self.node(node_id)
        if node.skill not in registry:
            return {}
        spec = registry.get(node.skill)
        out: dict[str, str] = {}
        for name, value in node.params.items():
            try:
                spec.param(name).coerce(value)
            except ParamError as exc:
                out[name] = str(exc)
        return out

    def launchers_used(self, default_launcher: str = "local") -> set[str]:
        return {n.launcher or default_launcher for n in self.nodes}

    # ------------------------------------------------------------------ documents -
    def to_document(self) -> dict[str, Any]:
        nodes = []
        for n in self.nodes:
            raw: dict[str, Any] = {"id": n.id, "skill": n.skill, "params": n.params,
                                   "launcher": n.launcher, "x": n.x, "y": n.y}
            if n.profile:
                raw["profile"] = n.profile
            nodes.append(raw)
        return {
            "format": CHAIN_FORMAT,
            "version": CHAIN_FORMAT_VERSION,
            "name": self.name,
            "nodes": nodes,
            "links": [[a, b] for a, b in self.links],
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Chain:
        """Strict: the document as it is (the engine, the CLI and the API use it; a run
        refuses what is wrong). The canvas loads through :func:`load_document`."""
        if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list):
            raise ChainError("not a trackdesk chain document (no node list)")
        nodes = []
        for raw in doc["nodes"]:
            if not isinstance(raw, dict) or "id" not in raw or "skill" not in raw:
                raise ChainError(f"a node needs an id and a skill: {raw!r}")
            nodes.append(Node(str(raw["id"]), str(raw["skill"]), dict(raw.get("params") or {}),
                              raw.get("launcher"), float(raw.get("x", 0)),
                              float(raw.get("y", 0)), raw.get("profile") or None))
        links = [(str(a), str(b)) for a, b in doc.get("links", [])]
        return cls(str(doc.get("name", "untitled")), nodes, links)


def find_order(ids: list[Any], links: list[tuple[Any, Any]]) -> list[Any]:
    """Kahn's order of ``ids`` under ``links`` (a -> b: a first); CycleError on a cycle."""
    downstream: dict[Any, list[Any]] = {i: [] for i in ids}
    indegree = {i: 0 for i in ids}
    for a, b in links:
        downstream[a].append(b)
        indegree[b] += 1
    ready = [i for i in ids if indegree[i] == 0]
    order: list[Any] = []
    while ready:
        i = ready.pop(0)
        order.append(i)
        for b in downstream[i]:
            indegree[b] -= 1
            if indegree[b] == 0:
                ready.append(b)
    if len(order) < len(ids):
        raise CycleError(_a_cycle([i for i in ids if indegree[i] > 0], downstream))
    return order


def _a_cycle(remaining: list[Any], downstream: dict[Any, list[Any]]) -> list[Any]:
    left = set(remaining)
    start = remaining[0]
    path: list[Any] = [start]
    seen = {start: 0}
    node = start
    while True:
        node = next(b for b in downstream[node] if b in left)
        if node in seen:
            cycle = path[seen[node]:]
            return cycle + [node]
        seen[node] = len(path)
        path.append(node)


def default_chain(registry: SkillRegistry) -> Chain:
    """The design's default chain, links taken from each skill's declared upstream."""
    names = [n for n in DEFAULT_CHAIN if n in registry]
    nodes = [Node(n, n, {}, None, 0.0, 0.0) for n in names]
    links = [(up, n) for n in names for up in registry.get(n).upstream if up in names]
    chain = Chain(DEFAULT_CHAIN_NAME, nodes, links)
    positions = layered_layout(chain)  # laid out as the canvas would (columns by depth)
    for node in chain.nodes:
        node.x, node.y = positions[node.id]
    return chain


# ====================================================================== layout ========
def layered_layout(chain: Chain) -> dict[str, tuple[float, float]]:
    """Positions by topological depth: a node's layer (its row, top to bottom) is its
    longest path from a source; places within a layer follow the mean place of the
    upstream nodes (fewer crossings), centred. A chain with a cycle (only a loaded,
    broken one) keeps its node order in one column."""
    try:
        order = [n.id for n in chain.topological_order()]
    except CycleError:
        return {n.id: (0.0, i * LAYER_SPACING) for i, n in enumerate(chain.nodes)}
    depth: dict[str, int] = {}
    for i in order:
        depth[i] = max((depth[u] + 1 for u in chain.upstream_of(i)), default=0)
    layers: dict[int, list[str]] = {}
    for i in order:
        layers.setdefault(depth[i], []).append(i)
    row: dict[str, float] = {}
    out: dict[str, tuple[float, float]] = {}
    for d in sorted(layers):
        ids = layers[d]
        if d > 0:
            def key(i: str) -> float:
                ups = [row[u] for u in chain.upstream_of(i) if u in row]
                return sum(ups) / len(ups) if ups else 0.0
            ids = sorted(ids, key=key)
        for k, i in enumerate(ids):
            row[i] = k - (len(ids) - 1) / 2.0  # centred on the chain's axis
            out[i] = (row[i] * ROW_SPACING, d * LAYER_SPACING)
    return out


# ====================================================================== loading =======
@dataclass(frozen=True)
class NodeDescriptor:
    """A node as the document states it, before anything is checked against skills."""

    id: str
    skill: str
    params: dict[str, Any]
    launcher: str | None
    x: float
    y: float
    profile: str | None


@dataclass
class LoadResult:
    """What a document became: the chain built from it and what had to be left out."""

    chain: Chain
    warnings: list[str] = field(default_factory=list)
    version: int = CHAIN_FORMAT_VERSION
    unknown_skills: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.warnings


def _number(value: Any, default: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value) if value == value and abs(value) < 1e9 else default


def parse_document(doc: Any) -> tuple[str, int, list[NodeDescriptor], list[tuple[str, str]],
                                      list[str]]:
    """Stage one: the document's shape into plain descriptors, and warnings for the
    entries that cannot even be read. Raises ChainError when it is no chain at all."""
    if not isinstance(doc, dict):
        raise ChainError("not a trackdesk chain document (not a JSON object)")
    fmt = doc.get("format", CHAIN_FORMAT)
    if fmt != CHAIN_FORMAT:
        raise ChainError(f"not a trackdesk chain document (format {fmt!r})")
    if not isinstance(doc.get("nodes"), list):
        raise ChainError("not a trackdesk chain document (no node list)")
    warnings: list[str] = []
    version = doc.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        warnings.append(f"unreadable format version {version!r}; read as version 1")
        version = 1
    name = doc.get("name")
    name = name if isinstance(name, str) and name.strip() else "untitled"
    nodes: list[NodeDescriptor] = []
    for k, raw in enumerate(doc["nodes"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("skill"), str):
            warnings.append(f"node {k + 1} has no skill and was left out")
            continue
        node_id = raw.get("id")
        node_id = str(node_id) if isinstance(node_id, str | int) and str(node_id) else ""
        raw_params = raw.get("params")
        params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
        if raw.get("params") not in (None, {}) and not isinstance(raw.get("params"), dict):
            warnings.append(f"node {node_id or k + 1}: unreadable parameters were reset")
        launcher = raw.get("launcher")
        if launcher is not None and launcher not in LAUNCHERS:
            warnings.append(f"node {node_id or k + 1}: unknown launcher {launcher!r}; "
                            "the default launcher is used")
            launcher = None
        profile = raw.get("profile") if isinstance(raw.get("profile"), str) else None
        nodes.append(NodeDescriptor(node_id, raw["skill"], dict(params), launcher,
                                    _number(raw.get("x")), _number(raw.get("y")), profile))
    links: list[tuple[str, str]] = []
    raw_links = doc.get("links", [])
    if not isinstance(raw_links, list):
        warnings.append("the link list is unreadable; no links were loaded")
        raw_links = []
    for raw in raw_links:
        if (isinstance(raw, list | tuple) and len(raw) == 2
                and all(isinstance(x, str | int) for x in raw)):
            links.append((str(raw[0]), str(raw[1])))
        else:
            warnings.append(f"an unreadable link {raw!r} was left out")
    return name, version, nodes, links, warnings


def load_document(doc: Any, registry: SkillRegistry | None = None) -> LoadResult:
    """Stage two: build a chain from a document, keeping all it can.

    Left out, each with a warning: nodes of skills the registry does not know (and their
    links), unknown parameters, duplicate node ids, links to missing nodes, duplicate and
    self links, links that would close a cycle. A newer format version is read as far as
    this version understands it, and says so. Raises ChainError only when the document is
    no chain at all."""
    name, version, descriptors, links, warnings = parse_document(doc)
    if version > CHAIN_FORMAT_VERSION:
        warnings.insert(0, f"this chain was saved by a newer trackdesk (format version "
                        f"{version}, this one reads {CHAIN_FORMAT_VERSION}); what this "
                        "version understands was loaded")
    chain = Chain(name)
    unknown: list[str] = []
    dropped: set[str] = set()
    for d in descriptors:
        if registry is not None and d.skill not in registry:
            unknown.append(d.skill)
            dropped.add(d.id)
            warnings.append(f"node {d.id or d.skill!r} uses the unknown skill {d.skill!r} "
                            "and was left out")
            continue
        node_id = d.id or chain.new_node_id(d.skill)
        if chain.has_node(node_id):
            warnings.append(f"a second node with id {node_id!r} was left out")
            continue
        params = dict(d.params)
        if registry is not None:
            spec = registry.get(d.skill)
            known = {p.name for p in spec.params}
            extra = sorted(set(params) - known)
            if extra:
                warnings.append(f"node {node_id!r}: unknown parameter"
                                f"{'s' if len(extra) > 1 else ''} {', '.join(extra)} "
                                "left out")
                params = {k: v for k, v in params.items() if k in known}
        node = chain.add_node(d.skill, d.x, d.y, params, node_id, launcher=d.launcher)
        node.profile = d.profile
    for a, b in links:
        if a in dropped or b in dropped:
            continue  # already said: its node was left out
        try:
            chain.add_link(a, b)
        except ChainError as exc:
            warnings.append(f"link {a} -> {b} left out: {exc}")
    return LoadResult(chain, warnings, version, sorted(set(unknown)))


def load_json(text: str, registry: SkillRegistry | None = None) -> LoadResult:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ChainError(f"not a chain file: {exc}") from None
    return load_document(doc, registry)


# ====================================================================== files =========
def _write_atomic(path: Path, text: str, fsync: bool = True) -> None:
    """Write then rename: a crash mid-write leaves the old file, never half a new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def export_chain(chain: Chain, path: Path | str) -> Path:
    """Write the chain as a .json chain document."""
    path = Path(path)
    _write_atomic(path, json.dumps(chain.to_document(), indent=2, ensure_ascii=False) + "\n")
    return path


def import_chain(path: Path | str, registry: SkillRegistry | None = None) -> LoadResult:
    """Read a .json chain document (the chain is named after the file when unnamed)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ChainError(f"cannot read {path.name}: {exc}") from None
    result = load_json(text, registry)
    if result.chain.name == "untitled":
        result.chain.name = path.stem
    return result


class RecoveryFile:
    """The unsaved chain of the canvas, written on every edit so it survives a crash."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def write(self, chain: Chain, template: str | None, db_path: str | None = None) -> None:
        payload = {"template": template, "db_path": db_path, "document": chain.to_document()}
        # No fsync: written on every edit from the GUI thread, and the rename alone is
        # enough to survive a crash of the app (not of the machine).
        _write_atomic(self.path, json.dumps(payload, ensure_ascii=False), fsync=False)

    def read(self) -> dict[str, Any] | None:
        """The saved payload, or None when there is none or it is unreadable."""
        try:
            payload = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("document"), dict):
            return None
        return payload

    def exists(self) -> bool:
        return self.path.is_file()

    def clear(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


# ====================================================================== templates =====
class TemplateStore(Protocol):
    """The blocking template calls of :class:`trackdesk.engine.store.TaskStore`."""

    def list_templates(self) -> list[dict[str, Any]]: ...
    def get_template(self, name: str) -> dict[str, Any] | None: ...
    def save_template(self, name: str, document: dict[str, Any], version: int = 1,
                      read_only: bool = False, overwrite_read_only: bool = False) -> None: ...
    def delete_template(self, name: str) -> bool: ...


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    read_only: bool
    nodes: int
    version: int


TEMPLATE_NAME = re.compile(r"^[\w][\w .\-()]{0,99}$")


def check_template_name(name: str) -> str:
    name = name.strip()
    if not TEMPLATE_NAME.match(name):
        raise ChainError("a template name has 1 to 100 letters, digits, spaces, dots, "
                         "dashes or brackets")
    return name


class ChainTemplates:
    """Chain templates in tracks.db: every call blocks (the UI runs them on the engine's
    database thread). The default chain is read-only: it is copied, never changed."""

    def __init__(self, store: TemplateStore, registry: SkillRegistry | None = None) -> None:
        self.store = store
        self.registry = registry

    def list(self) -> list[TemplateInfo]:
        out = []
        for t in self.store.list_templates():
            doc = t["document"] if isinstance(t["document"], dict) else {}
            nodes = doc.get("nodes")
            out.append(TemplateInfo(t["name"], bool(t["read_only"]),
                                    len(nodes) if isinstance(nodes, list) else 0,
                                    int(t.get("version") or 1)))
        return out

    def names(self) -> builtins.list[str]:
        return [t.name for t in self.list()]

    def is_read_only(self, name: str) -> bool:
        t = self.store.get_template(name)
        return bool(t and t["read_only"])

    def load(self, name: str) -> LoadResult:
        t = self.store.get_template(name)
        if t is None:
            raise ChainError(f"no chain template named {name!r}")
        result = load_document(t["document"], self.registry)
        result.chain.name = name
        return result

    def save(self, chain: Chain, name: str | None = None, overwrite: bool = True) -> str:
        """Store ``chain`` under ``name`` (default: its own); refuses a read-only one."""
        name = check_template_name(name or chain.name)
        current = self.store.get_template(name)
        if current is not None:
            if current["read_only"]:
                raise ReadOnlyTemplateError(f"chain template {name!r} is read-only; save "
                                            "a copy under another name")
            if not overwrite:
                raise ChainError(f"a chain template named {name!r} exists already")
        doc = chain.copy(name).to_document()
        self.store.save_template(name, doc, version=CHAIN_FORMAT_VERSION)
        return name

    def rename(self, old: str, new: str) -> str:
        new = check_template_name(new)
        t = self.store.get_template(old)
        if t is None:
            raise ChainError(f"no chain template named {old!r}")
        if t["read_only"]:
            raise ReadOnlyTemplateError(f"chain template {old!r} is read-only; duplicate it "
                                        "instead")
        if new == old:
            return new
        if self.store.get_template(new) is not None:
            raise ChainError(f"a chain template named {new!r} exists already")
        doc = dict(t["document"])
        doc["name"] = new
        # Written first, removed after: a failure in between leaves two, never none.
        self.store.save_template(new, doc, version=int(t.get("version") or 1))
        self.store.delete_template(old)
        return new

    def duplicate(self, name: str, new: str | None = None) -> str:
        t = self.store.get_template(name)
        if t is None:
            raise ChainError(f"no chain template named {name!r}")
        new = check_template_name(new or unique_name(f"{name} copy", self.names()))
        if self.store.get_template(new) is not None:
            raise ChainError(f"a chain template named {new!r} exists already")
        doc = dict(t["document"])
        doc["name"] = new
        self.store.save_template(new, doc, version=int(t.get("version") or 1))
        return new

    def delete(self, name: str) -> None:
        t = self.store.get_template(name)
        if t is None:
            raise ChainError(f"no chain template named {name!r}")
        if t["read_only"]:
            raise ReadOnlyTemplateError(f"chain template {name!r} is read-only")
        self.store.delete_template(name)


def unique_name(base: str, taken: Iterable[str]) -> str:
    taken = set(taken)
    if base not in taken:
        return base
    i = 2
    while f"{base} {i}" in taken:
        i += 1
    return f"{base} {i}"
