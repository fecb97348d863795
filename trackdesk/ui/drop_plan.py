"""Sort the files a user dropped or chose, in a process of its own (no Qt here).

Sorting reads the first bytes of every file (and walks folders, peeks into zips). Done in
the window process, that would open tracks.db, -wal and -shm when the user picks the
folder holding them, and closing those descriptors drops SQLite's POSIX locks for the
whole process (docs/ENGINE.md, "Why the window never opens the database files"). A
short-lived child reads them instead: its descriptors and locks are its own.

    python -m trackdesk.ui.drop_plan   (stdin: {"paths": [...], "skip": [...]})
    stdout: {"paths": [...], "files": N, "unsupported": [[name, why], ...]}

``skip`` names files to pass over silently wherever they turn up (the open database and
its companions), compared by device and inode.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def plan(paths: list[str], skip: list[str]) -> dict:
    """What an import of ``paths`` takes (see the module's docstring); reads files."""
    from trackdesk.tracks import formats

    skipped_ids = {i for i in map(_identity, skip) if i is not None}
    absolute = [Path(p).expanduser().resolve() for p in paths]
    supported, refused = formats.expand(absolute)
    unsupported = [(s.name, s.reason) for s in refused if _identity(s.name) not in skipped_ids]
    sources = {f.path for f in supported}
    keep = [str(p) for p in absolute
            if p in sources or (p.is_dir() and any(_under(s, p) for s in sources))]
    return {"paths": keep, "files": len(supported), "unsupported": unsupported}


def _under(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def plan_in_child(paths: list[Path], skip: list[Path], timeout: float = 600.0) -> dict:
    """``plan`` run by a child process (blocking: call it from an executor thread)."""
    import subprocess

    request = json.dumps({"paths": [str(p) for p in paths], "skip": [str(p) for p in skip]})
    done = subprocess.run([sys.executable, "-m", "trackdesk.ui.drop_plan"], input=request,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise OSError(f"sorting the files failed: {last}")
    return json.loads(done.stdout)


def main() -> int:
    request = json.loads(sys.stdin.read() or "{}")
    json.dump(plan([str(p) for p in request.get("paths", [])],
                   [str(p) for p in request.get("skip", [])]), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
