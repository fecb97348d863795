"""``trackdesk skills new`` and ``trackdesk skills reload``: the user skills from the CLI.

Kept out of trackdesk/cli.py so the user skills' commands change in one place; the
folder, the loading and the scaffold themselves are in :mod:`trackdesk.skills.user`.
"""

from __future__ import annotations

import argparse
import json
import sys

from trackdesk.cli import EXIT_OK, EXIT_TASK_FAILED, UsageError, _db_path, _engine_running
from trackdesk.skills.registry import BUILTIN_SPECS
from trackdesk.skills.user import ScaffoldError, load_user_skills, scaffold, skills_dir


def cmd_new(args: argparse.Namespace) -> int:
    """Scaffold ``<user skills folder>/NAME`` and say what to do next."""
    try:
        folder = scaffold(args.name, builtin=[s.name for s in BUILTIN_SPECS])
    except ScaffoldError as exc:
        raise UsageError(str(exc)) from None
    print(f"created {folder}/")
    for name in ("skill.py", "requirements.txt", "test_skill.py"):
        print(f"  {name}")
    print(f"next: edit skill.py, run `python {folder / 'test_skill.py'}`, then "
          "`trackdesk skills reload` (or Chains > Reload skills in the app)")
    return EXIT_OK


def cmd_reload(args: argparse.Namespace) -> int:
    """Load the folder, report each skill and each problem; a running engine reloads too.

    Exit status 1 when a skill is broken, so a script (or an editor's save hook) notices.
    """
    report = load_user_skills(builtin=[s.name for s in BUILTIN_SPECS])
    engine_said = None
    path = _db_path(args)
    if _engine_running(path) is not None:
        from trackdesk.cli import control

        engine_said = control(path, "reload_skills", None, {})
    if args.json:
        out = report.to_dict()
        out["engine"] = engine_said
        print(json.dumps(out, indent=2))
    else:
        print(f"user skills folder: {skills_dir()}")
        for us in report.skills:
            print(f"  {us.name:<22} {us.spec.version:<8} {us.file}")
        if not report.skills:
            print("  (no user skills: `trackdesk skills new NAME` creates one)")
        for problem in report.problems:
            lead = "broken" if problem.fatal else "note"
            print(f"{lead}: {problem}", file=sys.stderr)
        if engine_said is not None:
            status = "reloaded" if engine_said.get("ok") else \
                f"did not reload: {engine_said.get('message')}"
            print(f"the running engine on {path} {status}")
    return EXIT_TASK_FAILED if any(p.fatal for p in report.problems) else EXIT_OK
