"""Skill specs under their old name: a re-export of :mod:`trackdesk.worker.spec`.

The spec moved beside the worker runtime (issue 22): the import worker has one too, and
the runtime validates every worker's parameters against it. Code and user skills that
import ``trackdesk.skills.spec`` keep working; the classes are the same objects.
"""

from trackdesk.worker.spec import PARAM_TYPES, Param, ParamError, SkillSpec

__all__ = ["PARAM_TYPES", "Param", "ParamError", "SkillSpec"]
