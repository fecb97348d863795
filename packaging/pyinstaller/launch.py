"""The bundle's entry point: the app and CLI, and ``-m MODULE`` for worker processes.

The engine starts workers as ``sys.executable -m trackdesk.skills SKILL ...``; in a
frozen bundle ``sys.executable`` is this program, so it must understand ``-m`` itself.
"""

import runpy
import sys


def main() -> None:
    # The map draws tiles in a spawned process: in a bundle that child re-runs this
    # executable, and freeze_support() turns it into the worker instead of a new app.
    import multiprocessing

    multiprocessing.freeze_support()
    if len(sys.argv) >= 3 and sys.argv[1] == "-m":
        module = sys.argv[2]
        sys.argv = [module, *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return
    from trackdesk.cli import main as cli_main

    sys.exit(cli_main())


if __name__ == "__main__":
    main()
