"""Worker specs: what a kind of task is called, what it needs and which parameters it takes.

Every worker has one: the import (trackdesk/tracks/spec.py), the built-in skills
(trackdesk/skills/registry.py) and the user skills. The engine schedules and launches by
it, the CLI and the canvas show it, and the worker runtime validates the task's parameters
against it before the worker's code runs. (The class keeps its historical name SkillSpec:
to the engine the import is one more skill.)

Plain Python on purpose: a worker must start in a container that holds only Python, numpy
and pandas.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PARAM_TYPES = ("int", "float", "bool", "str", "choice")


class ParamError(ValueError):
    """A parameter value the skill cannot take; the message is meant for a person."""


@dataclass(frozen=True)
class Param:
    """One typed parameter of a skill, with its default, bounds, unit and help."""

    name: str
    type: str
    default: Any
    min: float | None = None
    max: float | None = None
    unit: str = ""
    help: str = ""
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in PARAM_TYPES:
            raise ValueError(f"parameter {self.name}: unknown type {self.type!r}")

    def coerce(self, value: Any) -> Any:
        """Return ``value`` converted to this parameter's type, or raise ParamError."""
        where = f"parameter {self.name!r}"
        try:
            if self.type == "bool":
                if isinstance(value, bool):
                    out: Any = value
                elif isinstance(value, str) and value.strip().lower() in (
                    "1", "true", "yes", "on"):
                    out = True
                elif isinstance(value, str) and value.strip().lower() in (
                    "0", "false", "no", "off"):
                    out = False
                elif isinstance(value, int | float) and value in (0, 1):
                    out = bool(value)
                else:
                    raise ParamError(f"{where} must be true or false, not {value!r}")
            elif self.type == "int":
                if isinstance(value, bool):
                    raise ParamError(f"{where} must be a whole number, not {value!r}")
                if isinstance(value, float) and not value.is_integer():
                    raise ParamError(f"{where} must be a whole number, not {value!r}")
                out = int(value)
            elif self.type == "float":
                if isinstance(value, bool):
                    raise ParamError(f"{where} must be a number, not {value!r}")
                out = float(value)
                if not math.isfinite(out):
                    raise ParamError(f"{where} must be a finite number, not {value!r}")
            elif self.type == "choice":
                out = str(value)
                if out not in self.choices:
                    raise ParamError(
                        f"{where} must be one of {', '.join(self.choices)}, not {value!r}")
            else:
                out = str(value)
        except ParamError:
            raise
        except (TypeError, ValueError):
            kind = {"int": "a whole number", "float": "a number"}.get(self.type, self.type)
            raise ParamError(f"{where} must be {kind}, not {value!r}") from None
        if self.type in ("int", "float"):
            unit = f" {self.unit}" if self.unit else ""
            if self.min is not None and out < self.min:
                raise ParamError(f"{where} is {out}{unit}, below its minimum {self.min}{unit}")
            if self.max is not None and out > self.max:
                raise ParamError(f"{where} is {out}{unit}, above its maximum {self.max}{unit}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "type": self.type, "default": self.default, "min": self.min,
            "max": self.max, "unit": self.unit, "help": self.help,
            "choices": list(self.choices),
        }


@dataclass(frozen=True)
class SkillSpec:
    """Everything the engine, the CLI and the canvas need to know about a skill.

    ``module`` is the Python module run with ``python -m``; the worker argv is
    ``python -m MODULE NAME --task-id N --db-path PATH ...``, locally and in a container.
    """

    name: str
    version: str
    title: str = ""
    description: str = ""
    upstream: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    timeout_s: float | None = None
    retries: int = 0
    retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0)
    cpu: float = 1.0
    memory_mb: int = 1024
    max_concurrency: int | None = None
    # A running task silent for longer than this is flagged as stuck.
    stuck_after_s: float = 300.0
    module: str = "trackdesk.skills"
    kind: str = "builtin"  # builtin | user | test
    # Whether the skill may run in a container at all (import reads host files).
    docker: bool = True
    source: str = field(default="", compare=False)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise ParamError(f"skill {self.name!r} has no parameter {name!r}")

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def validate_params(self, values: Mapping[str, Any] | None) -> dict[str, Any]:
        """Defaults overlaid with ``values``, each coerced and bound-checked."""
        out = self.defaults()
        for key, value in (values or {}).items():
            out[key] = self.param(key).coerce(value)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version, "title": self.title or self.name,
            "description": self.description, "upstream": list(self.upstream),
            "params": [p.to_dict() for p in self.params], "timeout_s": self.timeout_s,
            "retries": self.retries, "retry_delays": list(self.retry_delays),
            "cpu": self.cpu, "memory_mb": self.memory_mb,
            "max_concurrency": self.max_concurrency, "kind": self.kind,
            "docker": self.docker,
        }
