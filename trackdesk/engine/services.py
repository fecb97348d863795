"""Chain templates and threshold profiles as services of a running engine.

Their storage blocks; these wrappers run every call on the engine's database thread, so
the window and the REST API simply ``await engine.templates.list()`` and never reach
into the engine's executor or its store.
"""

from __future__ import annotations

import builtins
from typing import Any

from trackdesk.engine.chains import Chain, ChainTemplates, LoadResult, TemplateInfo
from trackdesk.engine.persistence import Persistence
from trackdesk.engine.profiles import Profile, ThresholdProfiles
from trackdesk.skills.registry import SkillRegistry


class Templates:
    """Named chain templates in tracks.db (``ChainTemplates`` rules: the default chain
    is read-only, a rename never loses the template)."""

    def __init__(self, db: Persistence, registry: SkillRegistry) -> None:
        self._db = db
        self._registry = registry

    def _blocking(self) -> ChainTemplates:
        return ChainTemplates(self._db.require_store(), self._registry)

    async def list(self) -> list[TemplateInfo]:
        return await self._db.call(self._blocking().list)

    async def load(self, name: str) -> LoadResult:
        return await self._db.call(self._blocking().load, name)

    async def is_read_only(self, name: str) -> bool:
        return await self._db.call(self._blocking().is_read_only, name)

    async def save(self, chain: Chain, name: str | None = None, overwrite: bool = True
                   ) -> str:
        return await self._db.call(self._blocking().save, chain, name, overwrite)

    async def rename(self, old: str, new: str) -> str:
        return await self._db.call(self._blocking().rename, old, new)

    async def duplicate(self, name: str, new: str | None = None) -> str:
        return await self._db.call(self._blocking().duplicate, name, new)

    async def delete(self, name: str) -> None:
        await self._db.call(self._blocking().delete, name)

    # The stored documents as they are (the REST API's view of a template).
    async def documents(self) -> builtins.list[dict[str, Any]]:
        return await self._db.call(self._db.require_store().list_templates)

    async def document(self, name: str) -> dict[str, Any] | None:
        return await self._db.call(self._db.require_store().get_template, name)

    async def put_document(self, name: str, document: dict[str, Any]) -> None:
        """Create or replace; PermissionError for a read-only template."""
        await self._db.call(self._db.require_store().save_template, name, document)

    async def delete_document(self, name: str) -> bool:
        """False when there is none; PermissionError for a read-only template."""
        return await self._db.call(self._db.require_store().delete_template, name)


class Profiles:
    """Threshold profiles: named parameter sets of one skill."""

    def __init__(self, db: Persistence, registry: SkillRegistry) -> None:
        self._db = db
        self._registry = registry

    def _blocking(self) -> ThresholdProfiles:
        return ThresholdProfiles(self._db.require_store(), self._registry)

    async def list(self, skill: str | None = None) -> list[Profile]:
        return await self._db.call(self._blocking().list, skill)

    async def get(self, skill: str, name: str) -> Profile | None:
        return await self._db.call(self._blocking().get, skill, name)

    async def save(self, skill: str, name: str, params: dict[str, Any]) -> Profile:
        return await self._db.call(self._blocking().save, skill, name, params)

    async def delete(self, skill: str, name: str) -> bool:
        return await self._db.call(self._blocking().delete, skill, name)
