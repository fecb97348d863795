"""Chains of skills: the model behind chain templates and chain runs (no Qt).

A chain is nodes (a skill with parameters) and links (upstream -> downstream). Stored
as a versioned JSON document; running one makes one task per node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trackdesk.skills.registry import DEFAULT_CHAIN, SkillRegistry

CHAIN_FORMAT_VERSION = 1
DEFAULT_CHAIN_NAME = "default"


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


@dataclass
class Node:
    id: str
    skill: str
    params: dict[str, Any] = field(default_factory=dict)
    launcher: str | None = None
    x: float = 0.0
    y: float = 0.0


@dataclass
class Chain:
    name: str = "untitled"
    nodes: list[Node] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)

    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise ChainError(f"no node {node_id!r} in chain {self.name!r}")

    def upstream_of(self, node_id: str) -> list[str]:
        return [a for a, b in self.links if b == node_id]

    def topological_order(self) -> list[Node]:
        """Nodes with every upstream first; raises CycleError naming the cycle."""
        order = find_order([n.id for n in self.nodes], self.links)
        by_id = {n.id: n for n in self.nodes}
        return [by_id[i] for i in order]

    def to_document(self) -> dict[str, Any]:
        return {
            "format": "trackdesk-chain",
            "version": CHAIN_FORMAT_VERSION,
            "name": self.name,
            "nodes": [{"id": n.id, "skill": n.skill, "params": n.params,
                       "launcher": n.launcher, "x": n.x, "y": n.y} for n in self.nodes],
            "links": [[a, b] for a, b in self.links],
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Chain:
        if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list):
            raise ChainError("not a trackdesk chain document (no node list)")
        nodes = []
        for raw in doc["nodes"]:
            if not isinstance(raw, dict) or "id" not in raw or "skill" not in raw:
                raise ChainError(f"a node needs an id and a skill: {raw!r}")
            nodes.append(Node(str(raw["id"]), str(raw["skill"]), dict(raw.get("params") or {}),
                              raw.get("launcher"), float(raw.get("x", 0)),
                              float(raw.get("y", 0))))
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
    nodes = [Node(n, n, {}, None, 220.0 * i, 0.0) for i, n in enumerate(names)]
    links = [(up, n) for n in names for up in registry.get(n).upstream if up in names]
    return Chain(DEFAULT_CHAIN_NAME, nodes, links)
