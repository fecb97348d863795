"""Threshold profiles: named parameter sets of one skill, kept in tracks.db (no Qt).

A profile holds only the parameters it sets (the skill's defaults fill the rest), checked
against the skill's spec when saved. Every call blocks: the UI runs them on the engine's
database thread (``await engine._call(profiles.save, ...)``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trackdesk.engine.store import TaskStore
from trackdesk.skills.registry import SkillRegistry
from trackdesk.skills.spec import ParamError
from trackdesk.tracks.schema import ThresholdProfile


class ProfileError(ValueError):
    """A profile the store refuses; the message is meant for a person."""


@dataclass(frozen=True)
class Profile:
    id: int
    skill: str
    name: str
    params: dict[str, Any]


class ThresholdProfiles:
    def __init__(self, store: TaskStore, registry: SkillRegistry) -> None:
        self.store = store
        self.registry = registry

    def _session(self) -> Session:
        return Session(self.store.sa, expire_on_commit=False)

    @staticmethod
    def _profile(row: ThresholdProfile) -> Profile:
        try:
            params = json.loads(row.params_json or "{}")
        except ValueError:
            params = {}
        return Profile(row.id, row.skill_name, row.name, params if isinstance(params, dict)
                       else {})

    def list(self, skill: str | None = None) -> list[Profile]:
        with self._session() as s:
            q = select(ThresholdProfile).order_by(ThresholdProfile.skill_name,
                                                  ThresholdProfile.name)
            if skill is not None:
                q = q.where(ThresholdProfile.skill_name == skill)
            return [self._profile(r) for r in s.scalars(q)]

    def get(self, skill: str, name: str) -> Profile | None:
        with self._session() as s:
            row = s.scalar(select(ThresholdProfile).where(
                ThresholdProfile.skill_name == skill, ThresholdProfile.name == name))
            return None if row is None else self._profile(row)

    def save(self, skill: str, name: str, params: dict[str, Any]) -> Profile:
        """Create or replace the profile ``name`` of ``skill`` (values checked first)."""
        name = name.strip()
        if not name or len(name) > 200:
            raise ProfileError("a profile name has 1 to 200 characters")
        try:
            spec = self.registry.get(skill)
        except KeyError as exc:
            raise ProfileError(str(exc)) from None
        try:
            checked = {k: spec.param(k).coerce(v) for k, v in params.items()}
        except ParamError as exc:
            raise ProfileError(f"profile {name!r} not saved: {exc}") from None
        with self._session() as s, s.begin():
            row = s.scalar(select(ThresholdProfile).where(
                ThresholdProfile.skill_name == skill, ThresholdProfile.name == name))
            if row is None:
                row = ThresholdProfile(skill_name=skill, name=name,
                                       created_at=datetime.now(UTC).replace(tzinfo=None))
                s.add(row)
            row.params_json = json.dumps(checked)
            s.flush()
            return self._profile(row)

    def delete(self, skill: str, name: str) -> bool:
        with self._session() as s, s.begin():
            row = s.scalar(select(ThresholdProfile).where(
                ThresholdProfile.skill_name == skill, ThresholdProfile.name == name))
            if row is None:
                return False
            s.delete(row)
            return True
