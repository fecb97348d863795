"""The ``import`` skill's worker: ``python -m trackdesk.tracks.worker import --task-id N
--db-path PATH --params '{"paths": "[\\"a.gpx\\", \\"folder\\"]", "gcj02": false}'``.

Runs through :func:`trackdesk.skills.sdk.run_worker` with the ``import`` spec, so it speaks
the worker protocol (docs/PROTOCOL.md). sqlite3 only: no SQLAlchemy, no Qt, no engine.

Batch rule (docs/IMPORT.md): every file is its own transaction. A broken file is rolled
back whole and the others are still imported; at the end the task fails with a message
naming each broken file, where it broke and why, and what was imported.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections import Counter
from typing import Any

from trackdesk.skills.sdk import SkillError, WorkerContext, run_worker, single_thread_blas
from trackdesk.tracks.formats import expand
from trackdesk.tracks.importer import FileResult, Importer, WriteError
from trackdesk.tracks.migrations import NotATracksDb, migrate

MAX_LISTED = 200  # per-file entries kept in the summary; the rest are only counted


def parse_paths(value: Any) -> list[str]:
    """The ``paths`` parameter: a JSON list of paths (the spec's type is str), or a list."""
    if isinstance(value, list | tuple):
        items = list(value)
    else:
        text = str(value).strip()
        if not text:
            items = []
        elif text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError as exc:
                raise SkillError(f"parameter 'paths' is not a JSON list: {exc}") from None
        else:
            items = [text]  # one plain path
    if not isinstance(items, list) or not all(isinstance(p, str) for p in items):
        raise SkillError("parameter 'paths' must be a JSON list of file or folder paths")
    return items


def run(ctx: WorkerContext) -> dict[str, Any]:
    t0 = time.perf_counter()
    paths = parse_paths(ctx.params.get("paths", "[]"))
    if not paths:
        raise SkillError("nothing to import: no file or folder given")
    files, skipped = expand(paths)
    for s in skipped:
        ctx.log(f"skipped {s.name}: {s.reason}", "warning" if s.explicit else "info")
    if not files:
        reasons = "; ".join(f"{s.name}: {s.reason}" for s in skipped[:10])
        raise SkillError(f"nothing to import: {reasons or 'no track file found'}")
    total_bytes = sum(f.size for f in files)
    ctx.log(f"importing {len(files)} file(s), {total_bytes / 1e6:.1f} MB")
    try:
        conn = ctx.connect()
        migrate(conn)  # a no-op under the engine; makes a bare worker run safe too
    except (sqlite3.Error, NotATracksDb) as exc:
        raise SkillError(f"cannot open tracks.db {ctx.db_path}: {exc}") from None
    importer = Importer(conn, ctx.task_id, gcj02=bool(ctx.params.get("gcj02")),
                        progress=lambda p, t, f: ctx.progress(p, t, f),
                        check_stop=ctx.check_stop, batch=ctx.batch_size,
                        total_bytes=total_bytes)
    results: list[FileResult] = []
    try:
        for src in files:
            ctx.check_stop()
            res = importer.import_file(src)
            results.append(res)
            if res.status == "imported":
                ctx.log(f"{res.name}: {res.new} new, {res.duplicates} duplicate, "
                        f"{res.n_rejected} rejected" + _reasons(res.rejected))
            else:
                ctx.log(f"failed: {res.error}", "error")
    except WriteError as exc:
        raise SkillError(str(exc)) from None
    finally:
        conn.close()
    ctx.progress(importer.processed, importer.processed, importer.failed, force=True)
    summary = summarise(results, skipped, time.perf_counter() - t0)
    failed = [r for r in results if r.status == "failed"]
    refused = [s for s in skipped if s.explicit]
    if failed or refused:
        problems = [r.error for r in failed] + [f"{s.name}: {s.reason}" for s in refused]
        head = (f"{len(problems)} of {len(results) + len(refused)} file(s) not imported: "
                if len(problems) > 1 else "not imported: ")
        done = (f" — the other {summary['files_imported']} file(s) were imported: "
                f"{summary['new']} new points, {summary['duplicates']} duplicates, "
                f"{summary['rejected']} rejected" if summary["files_imported"] else "")
        # The engine keeps only the message of a failed task: it carries the counts.
        raise SkillError(head + "; ".join(str(p) for p in problems[:10]) + done)
    return summary


def _reasons(rejected: dict[str, int]) -> str:
    if not rejected:
        return ""
    return " (" + ", ".join(f"{n} {why}" for why, n in sorted(rejected.items())) + ")"


def summarise(results: list[FileResult], skipped: list, seconds: float) -> dict[str, Any]:
    ok = [r for r in results if r.status == "imported"]
    reasons: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    for r in ok:
        reasons.update(r.rejected)
        notes.update(r.notes)
    firsts = [r.first_ts for r in ok if r.first_ts is not None]
    lasts = [r.last_ts for r in ok if r.last_ts is not None]
    summary: dict[str, Any] = {
        "files": len(results),
        "files_imported": len(ok),
        "files_failed": len(results) - len(ok),
        "points_read": sum(r.read for r in ok),
        "new": sum(r.new for r in ok),
        "duplicates": sum(r.duplicates for r in ok),
        "rejected": sum(reasons.values()),
        "rejected_reasons": dict(reasons),
        "first_ts": min(firsts) if firsts else None,
        "last_ts": max(lasts) if lasts else None,
        "seconds": round(seconds, 3),
        "per_file": [r.to_dict() for r in results[:MAX_LISTED]],
        "skipped": [s.to_dict() for s in skipped[:MAX_LISTED]],
        "skipped_count": len(skipped),
    }
    if notes:
        summary["notes"] = dict(notes)
    return summary


def main(argv: list[str] | None = None) -> None:
    # Imported here: the registry is the single source of the import spec.
    from trackdesk.skills.registry import BUILTIN_SPECS

    spec = next(s for s in BUILTIN_SPECS if s.name == "import")
    single_thread_blas()  # before the fast paths load numpy
    args = sys.argv[1:] if argv is None else argv
    run_worker(spec, run, args)


if __name__ == "__main__":
    main()
