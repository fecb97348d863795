"""``python -m trackdesk.skills SKILL ...``: run one built-in analysis skill as a worker."""

from __future__ import annotations

import importlib
import sys

from trackdesk.skills.registry import BUILTIN_SPECS
from trackdesk.worker import EXIT_USAGE, run_worker, single_thread_blas


def main() -> None:
    if len(sys.argv) < 2:
        print("usage: python -m trackdesk.skills SKILL --task-id N --db-path PATH", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    name = sys.argv[1]
    specs = {s.name: s for s in BUILTIN_SPECS if s.module == "trackdesk.skills"}
    if name not in specs:
        from trackdesk.skills.user import SKILL_FILE, skills_dir

        if (skills_dir() / name / SKILL_FILE).is_file():  # a user skill: the same argv
            from trackdesk.skills.user_worker import main as user_main

            user_main()
        print(f"unknown skill {name!r}; built-in skills: {', '.join(specs)}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    single_thread_blas()
    module = importlib.import_module(f"trackdesk.skills.{name}")
    # A built-in skill has closed its connection by the time it returns: nothing to
    # finalize, so the worker leaves as soon as its result is out.
    run_worker(specs[name], module.run, fast_exit=True)


if __name__ == "__main__":
    main()
