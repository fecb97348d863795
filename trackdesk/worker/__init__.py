"""The worker runtime: what every worker process runs on, the import and the skills alike.

``trackdesk.worker`` sits beside :mod:`trackdesk.protocol` and, like it, imports only the
standard library: a worker starts in a slim container (Python, numpy, pandas) that holds
neither the engine, Qt nor SQLAlchemy (tests/test_layers.py checks both).

* :mod:`trackdesk.worker.runtime`: :func:`run_worker` (argv, parameters, signals, exit
  code), :class:`WorkerContext` (the database connection, progress, log, stop requests),
  :class:`PhaseProgress`, :class:`SkillError`, :class:`StopRequested`.
* :mod:`trackdesk.worker.spec`: :class:`SkillSpec` and :class:`Param`, the spec a worker's
  parameters are validated against.

The messages and exit codes themselves are :mod:`trackdesk.protocol` (docs/PROTOCOL.md).
``trackdesk.skills.sdk`` re-exports this package for skills written against it.
"""

from trackdesk.protocol import (
    EXIT_COMPLETED,
    EXIT_FAILED,
    EXIT_STOPPED,
    EXIT_USAGE,
    ExitCode,
)
from trackdesk.worker.runtime import (
    TASK_TYPES,
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
from trackdesk.worker.spec import Param, ParamError, SkillSpec

__all__ = [
    "EXIT_COMPLETED", "EXIT_FAILED", "EXIT_STOPPED", "EXIT_USAGE", "TASK_TYPES", "ExitCode",
    "Param", "ParamError", "PhaseProgress", "RunFunction",
    "SkillError", "SkillSpec", "StopRequested", "WorkerContext", "die_with_parent",
    "keep_freed_memory", "parent_death_signal", "parse_args", "run_worker",
    "single_thread_blas",
]
