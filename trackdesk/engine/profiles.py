"""Threshold profiles: named parameter sets of one skill, kept in tracks.db (no Qt).

A profile holds only the parameters it sets (the skill's defaults fill the rest), checked
against the skill's spec when saved. Every call blocks: the UI runs them on the engine's
database thread (``await engine.profiles.save(...)``, engine/services.py).
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from trackdesk.engine.store import TaskStore, sql_time
from trackdesk.skills.registry import SkillRegistry
from trackdesk.skills.spec import ParamError


class ProfileError(ValueError):
    """A profile the store refuses; the message is meant for a person."""


@dataclass(frozen=True)
class Profile:
    id: int
    skill: str
    name: str
    params: dict[str, Any]


class ThresholdProfiles:
    """The threshold_profiles table's one owner: plain SQL on the task store's
    connection (docs/ENGINE.md, "Storage")."""

    def __init__(self, store: TaskStore, registry: SkillRegistry) -> None:
        self.store = store
        self.registry = registry

    @staticmethod
    def _profile(row: tuple[Any, ...]) -> Profile:
        profile_id, skill, name, params_json = row
        try:
            params = json.loads(params_json or "{}")
        except ValueError:
            params = {}
        return Profile(profile_id, skill, name, params if isinstance(params, dict) else {})

    _SELECT = "SELECT id, skill_name, name, params_json FROM threshold_profiles"

    def list(self, skill: str | None = None) -> builtins.list[Profile]:
        if skill is None:
            rows = self.store.conn.execute(self._SELECT + " ORDER BY skill_name, name")
        else:
            rows = self.store.conn.execute(self._SELECT + " WHERE skill_name = ? "
                                           "ORDER BY skill_name, name", (skill,))
        return [self._profile(r) for r in rows.fetchall()]

    def get(self, skill: str, name: str) -> Profile | None:
        row = self.store.conn.execute(self._SELECT + " WHERE skill_name = ? AND name = ?",
                                      (skill, name)).fetchone()
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
        with self.store.writing() as conn:
            found = conn.execute("SELECT id FROM threshold_profiles WHERE skill_name = ? "
                                 "AND name = ?", (skill, name)).fetchone()
            if found is None:
                cur = conn.execute("INSERT INTO threshold_profiles (skill_name, name, "
                                   "params_json, created_at) VALUES (?, ?, ?, ?)",
                                   (skill, name, json.dumps(checked),
                                    sql_time(datetime.now(UTC))))
                assert cur.lastrowid is not None
                profile_id = cur.lastrowid
            else:
                profile_id = found[0]
                conn.execute("UPDATE threshold_profiles SET params_json = ? WHERE id = ?",
                             (json.dumps(checked), profile_id))
        return Profile(profile_id, skill, name, checked)

    def delete(self, skill: str, name: str) -> bool:
        with self.store.writing() as conn:
            cur = conn.execute("DELETE FROM threshold_profiles WHERE skill_name = ? AND "
                               "name = ?", (skill, name))
            return cur.rowcount > 0
