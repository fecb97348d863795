"""A skill's version is what decides that stored results are stale and that a worker
image is rebuilt: the registry's and the skill module's must be one."""

from __future__ import annotations

import importlib

from trackdesk.skills.registry import BUILTIN_SPECS


def test_every_built_in_skill_declares_the_version_its_code_records() -> None:
    differ = {}
    for spec in BUILTIN_SPECS:
        if spec.module != "trackdesk.skills":
            continue  # the import worker is not a skill module
        module = importlib.import_module(f"trackdesk.skills.{spec.name}")
        if module.VERSION != spec.version:
            differ[spec.name] = (spec.version, module.VERSION)
    assert differ == {}, differ
