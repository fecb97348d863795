"""New tasks: validated records for one skill, or for every node of a chain run.

Blocking and engine-free, so that a process without an engine (the CLI queuing work for
the app's engine) builds exactly the rows the engine would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from trackdesk.engine.chains import DEFAULT_CHAIN_NAME, Chain, default_chain
from trackdesk.engine.lifecycle import EngineError
from trackdesk.engine.records import TaskRecord
from trackdesk.engine.states import Priority, TaskType
from trackdesk.engine.store import TaskStore
from trackdesk.skills.registry import SkillRegistry

#: What names a chain to run: a template's name, a chain, or a chain document.
ChainRef = str | Chain | dict[str, Any] | None


class UnknownChainError(EngineError):
    """No chain template has the name asked for."""


def new_record(
    registry: SkillRegistry,
    skill: str,
    task_type: str = "INCREMENTAL",
    params: dict[str, Any] | None = None,
    priority: str | int = "normal",
    depends_on: Iterable[int] = (),
    launcher: str = "local",
    created_by: str | None = None,
    threshold_profile_id: int | None = None,
    timeout_s: float | None = None,
    max_retries: int | None = None,
    chain_run_id: str | None = None,
    batch_size: int | None = None,
) -> TaskRecord:
    """A validated, not yet stored task (shared by the engine, the CLI and the API)."""
    try:
        spec = registry.get(skill)
    except KeyError as exc:
        raise EngineError(str(exc)) from None
    try:
        ttype = TaskType(task_type).value
    except ValueError:
        raise EngineError(f"unknown task type {task_type!r} "
                          "(INCREMENTAL or FULL_RECOMPUTE)") from None
    try:
        checked = spec.validate_params(params)
        prio = Priority.parse(priority)
    except ValueError as exc:
        raise EngineError(f"{skill}: {exc}") from None
    if launcher not in ("local", "docker"):
        raise EngineError(f"unknown launcher {launcher!r} (local or docker)")
    if launcher == "docker" and not spec.docker:
        raise EngineError(f"skill {skill!r} runs only with the local launcher")
    return TaskRecord(
        id=0, skill_name=skill, task_type=ttype, params=checked,
        threshold_profile_id=threshold_profile_id,
        depends_on_task_ids=sorted(set(depends_on)), created_by=created_by,
        priority=prio.rank, launcher=launcher,
        max_retries=spec.retries if max_retries is None else max_retries,
        retry_delays=list(spec.retry_delays),
        timeout_s=spec.timeout_s if timeout_s is None else timeout_s,
        chain_run_id=chain_run_id, batch_size=batch_size,
    )


def chain_records(registry: SkillRegistry, chain: Chain, task_type: str, launcher: str,
                  created_by: str | None, batch_size: int | None = None,
                  profile_ids: dict[tuple[str, str], int] | None = None,
                  defaults: dict[str, dict[str, Any]] | None = None
                  ) -> tuple[list[TaskRecord], list[list[int]]]:
    """Records for a chain run, in dependency order, with positional dependencies.

    A node's params are what runs; a node whose params came from a threshold profile
    (``node.profile``) also records that profile's id when ``profile_ids`` knows it
    (TaskStore.profile_ids), so the table and the API can say where they came from.
    """
    order = chain.topological_order()
    position = {n.id: i for i, n in enumerate(order)}
    run_id = uuid.uuid4().hex[:12]
    ids = profile_ids or {}
    under = defaults or {}  # EngineSettings.skill_params: the node's own params win
    records = [new_record(registry, n.skill, task_type,
                          {**under.get(n.skill, {}), **(n.params or {})}, "normal", (),
                          n.launcher or launcher, created_by,
                          threshold_profile_id=ids.get((n.skill, n.profile or "")),
                          chain_run_id=run_id, batch_size=batch_size)
               for n in order]
    local = [[position[u] for u in chain.upstream_of(n.id)] for n in order]
    return records, local


def resolve_chain(store: TaskStore, registry: SkillRegistry, ref: ChainRef) -> Chain:
    """The chain ``ref`` names (None: the default chain); UnknownChainError when no
    template has that name."""
    if isinstance(ref, Chain):
        return ref
    if isinstance(ref, dict):
        return Chain.from_document(ref)
    name = ref or DEFAULT_CHAIN_NAME
    tpl = store.get_template(name)
    if tpl is not None:
        return Chain.from_document(tpl["document"])
    if name == DEFAULT_CHAIN_NAME:  # a new tracks.db no engine has opened yet
        return default_chain(registry)
    raise UnknownChainError(f"no chain template named {name!r}")


def plan_chain_run(store: TaskStore, registry: SkillRegistry, ref: ChainRef,
                   task_type: str = "INCREMENTAL", launcher: str = "local",
                   created_by: str | None = None, batch_size: int | None = None,
                   defaults: dict[str, dict[str, Any]] | None = None
                   ) -> tuple[list[TaskRecord], list[list[int]]]:
    """The records of one run of a chain (by name, as a Chain or as a document): one
    task per node, dependencies as positions, one chain-run id. Blocking."""
    chain = resolve_chain(store, registry, ref)
    profiles = store.profile_ids([(n.skill, n.profile) for n in chain.nodes if n.profile])
    return chain_records(registry, chain, task_type, launcher, created_by, batch_size,
                         profiles, defaults)
