"""The scheduler: which ready task starts next, within the concurrency limits.

The ready set is the pending tasks whose upstream tasks all completed and whose retry
time has come, highest priority first, then oldest. A global limit and per-skill limits
(settings, else the spec's ``max_concurrency``) bound what runs at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from trackdesk.engine import graph
from trackdesk.engine.lifecycle import Lifecycle
from trackdesk.engine.runner import AttemptRunner
from trackdesk.engine.settings import EngineSettings
from trackdesk.engine.states import Status
from trackdesk.skills.registry import SkillRegistry

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, book: Lifecycle, runner: AttemptRunner, registry: SkillRegistry,
                 settings: EngineSettings) -> None:
        self.book = book
        self.runner = runner
        self.registry = registry
        self.settings = settings
        #: Start nothing more (what runs finishes).
        self.draining = False

    async def loop(self) -> None:
        wake = self.book.wake
        while True:
            wake.clear()
            try:
                next_due = self.dispatch()
            except Exception:  # noqa: BLE001 - the scheduler must survive a bad row
                log.exception("scheduler pass failed")
                next_due = 1.0
            poll = self.settings.poll_interval_s
            timeout = poll if next_due is None else max(0.01, min(next_due, poll))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)

    def dispatch(self) -> float | None:
        """Start what may start; return seconds until the next retry falls due."""
        book = self.book
        if book.stopping or self.draining:
            return None
        now = time.time()
        next_due: float | None = None
        pending = [book.tasks[i] for i in book.pending if i in book.tasks]
        for rec in pending:
            if rec.status == Status.PENDING and rec.next_attempt_at and rec.next_attempt_at > now:
                wait = rec.next_attempt_at - now
                next_due = wait if next_due is None else min(next_due, wait)
        if len(book.running) >= self.settings.concurrency:
            return next_due
        # Highest priority first, then oldest; readiness (dependencies done, retry due)
        # is asked only until the free slots are filled, not of the whole queue.
        pending.sort(key=lambda r: (-r.priority, r.id))
        per_skill: dict[str, int] = {}
        for task_id in book.running:
            name = book.tasks[task_id].skill_name
            per_skill[name] = per_skill.get(name, 0) + 1
        for rec in pending:
            if len(book.running) >= self.settings.concurrency:
                break
            if not graph.ready(rec, book.tasks, now):
                continue
            limit = self.skill_limit(rec.skill_name)
            if limit is not None and per_skill.get(rec.skill_name, 0) >= limit:
                continue
            per_skill[rec.skill_name] = per_skill.get(rec.skill_name, 0) + 1
            self.runner.launch(rec)
        return next_due

    def skill_limit(self, skill: str) -> int | None:
        if skill in self.settings.per_skill_limits:
            return self.settings.per_skill_limits[skill]
        if skill in self.registry:
            return self.registry.get(skill).max_concurrency
        return None
