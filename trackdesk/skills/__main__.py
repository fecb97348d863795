"""``python -m trackdesk.skills SKILL ...``: run one built-in analysis skill as a worker."""

from __future__ import annotations

import importlib
import os
import sys

from trackdesk.skills.registry import BUILTIN_SPECS
from trackdesk.skills.sdk import EXIT_USAGE, run_worker


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
    # The built-in skills do no linear algebra: OpenBLAS need not start a thread per
    # core when numpy loads (~0.05 s of CPU per worker). The environment still wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    module = importlib.import_module(f"trackdesk.skills.{name}")
    # A built-in skill has closed its connection by the time it returns: nothing to
    # finalize, so the worker leaves as soon as its result is out.
    run_worker(specs[name], module.run, fast_exit=True)


if __name__ == "__main__":
    main()
