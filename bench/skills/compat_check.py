"""The whole chain, INCREMENTAL over two imports vs FULL_RECOMPUTE, on stdlib + numpy only.

Run by compat_numpy124.sh in a venv holding nothing but numpy 1.24 (the worker image's
version): no pandas, no SQLAlchemy. Exits non-zero when the results differ.
"""

from __future__ import annotations

import importlib
import io
import os
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from trackdesk.skills.groundtruth import evaluate, generate, insert_points  # noqa: E402
from trackdesk.skills.registry import BUILTIN_SPECS, DEFAULT_CHAIN  # noqa: E402
from trackdesk.tracks.migrations import migrate  # noqa: E402
from trackdesk.worker import WorkerContext  # noqa: E402

SPECS = {s.name: s for s in BUILTIN_SPECS}
TABLES = ("stays", "trips", "mode_segments", "grid_cells", "footprint_days", "render_tracks",
          "places", "outlier_flags", "synthetic_points")


def chain(path: str, task_type: str) -> None:
    for name in DEFAULT_CHAIN:
        params = {"timezone": "UTC"} if name in ("footprint_stats", "stay_stats") else {}
        ctx = WorkerContext(name, 1, path, task_type, SPECS[name].validate_params(params),
                            out=io.StringIO())
        importlib.import_module(f"trackdesk.skills.{name}").run(ctx)


def snapshot(conn: sqlite3.Connection) -> list[list[tuple]]:
    out = [conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES]
    out.append(conn.execute("SELECT * FROM point_analysis ORDER BY ts, point_id").fetchall())
    return out


def main() -> int:
    print("numpy", np.__version__)
    path = os.path.join(tempfile.mkdtemp(), "tracks.db")
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    truth = generate(days=2, seed=3)
    n = len(truth)
    insert_points(conn, truth, np.arange(n // 2))
    chain(path, "INCREMENTAL")
    insert_points(conn, truth, np.arange(n // 2, n))
    chain(path, "INCREMENTAL")
    incremental = snapshot(conn)
    chain(path, "FULL_RECOMPUTE")
    same = incremental == snapshot(conn)
    print("incremental == full:", same)
    print(evaluate(truth, conn))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
