"""The worker SDK under its old name: a re-export of :mod:`trackdesk.worker`.

The worker runtime moved to ``trackdesk.worker`` (issue 22) so that the import worker and
the skills share it without the importer reaching into the skills. Skills written against
``trackdesk.skills.sdk`` (docs/USER_SKILLS.md) keep working: every public name is still
here and is the same object as in ``trackdesk.worker.runtime`` (so ``except SkillError``
and ``isinstance`` agree across both names). New code imports ``trackdesk.worker``.
"""

from trackdesk.worker.runtime import (
    EXIT_COMPLETED,
    EXIT_FAILED,
    EXIT_STOPPED,
    EXIT_USAGE,
    TASK_TYPES,
    ExitCode,
    PhaseProgress,
    RunFunction,
    SkillError,
    StopRequested,
    WorkerContext,
    die_with_parent,
    keep_freed_memory,
    parent_death_signal,
    parse_args,
    run_worker,
    single_thread_blas,
)
from trackdesk.worker.spec import ParamError, SkillSpec

__all__ = [
    "EXIT_COMPLETED", "EXIT_FAILED", "EXIT_STOPPED", "EXIT_USAGE", "TASK_TYPES", "ExitCode",
    "ParamError", "PhaseProgress", "RunFunction", "SkillError", "SkillSpec",
    "StopRequested", "WorkerContext", "die_with_parent", "keep_freed_memory",
    "parent_death_signal", "parse_args", "run_worker", "single_thread_blas",
]
