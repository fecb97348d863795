"""The ``import`` skill's worker: ``python -m trackdesk.tracks.worker import --task-id N
--db-path PATH --params '{"paths": "[\\"a.gpx\\", \\"folder\\"]", "gcj02": false}'``.

Runs through :func:`trackdesk.worker.run_worker` with the ``import`` spec, so it speaks
the worker protocol (docs/PROTOCOL.md). sqlite3 only: no SQLAlchemy, no Qt, no engine.

Batch rule (docs/IMPORT.md): every file is its own transaction. A broken file is rolled
back whole and the others are still imported. When some files were imported and others
not, the task completes with a ``status_reason`` saying so and a summary listing every
file; when none was, it fails with a message naming each broken file, where and why.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections import Counter
from typing import Any

from trackdesk.protocol import Resources
from trackdesk.tracks.formats import expand
from trackdesk.tracks.importer import (
    ANNOTATIONS_KEPT,
    CHILD_PEAK_MB,
    FileResult,
    Importer,
    WriteError,
)
from trackdesk.tracks.migrations import NotATracksDb, migrate
from trackdesk.tracks.spec import IMPORT_SPEC
from trackdesk.worker import SkillError, WorkerContext, run_worker, single_thread_blas

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
    options = reader_options(ctx.params)
    files, skipped = expand(paths, options=options)
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
                        total_bytes=total_bytes, options=options)
    results: list[FileResult] = []
    try:
        for k, src in enumerate(files, 1):
            ctx.check_stop()
            # A line as each file starts and ends: the log of a long import moves (#18).
            ctx.log(f"[{k}/{len(files)}] reading {src.name} ({src.size / 1e6:.1f} MB, "
                    f"{src.format})")
            res = importer.import_file(src)
            results.append(res)
            if res.status == "imported":
                ctx.log(f"[{k}/{len(files)}] {res.name}: {res.new} new, "
                        f"{res.duplicates} duplicate, {res.n_rejected} rejected"
                        + _reasons(res.rejected) + _notes(res.notes))
            else:
                ctx.log(f"[{k}/{len(files)}] failed, {res.rolled_back} point(s) rolled "
                        f"back: {res.error}", "error")
    except WriteError as exc:
        raise SkillError(str(exc)) from None
    finally:
        conn.close()
        _report_child_memory(ctx)
    ctx.progress(importer.processed, importer.processed, importer.failed, force=True)
    summary = summarise(results, skipped, time.perf_counter() - t0)
    failed = [r for r in results if r.status == "failed"]
    refused = [s for s in skipped if s.explicit]
    if failed or refused:
        problems = [r.error for r in failed] + [f"{s.name}: {s.reason}" for s in refused]
        n_all = len(results) + len(refused)
        if not summary["files_imported"]:
            head = (f"{len(problems)} of {n_all} file(s) not imported: "
                    if len(problems) > 1 else "not imported: ")
            # The engine keeps only the message of a failed task: it carries the reasons.
            raise SkillError(head + "; ".join(str(p) for p in problems[:10]))
        # Some files imported, some not: the task completed, and says so (issue 18): the
        # summary lists every file, status_reason is the line the table shows.
        summary["outcome"] = "completed with files not imported"
        summary["status_reason"] = (
            f"completed with {len(problems)} of {n_all} file(s) not imported "
            f"({len(failed)} failed, {len(refused)} refused): {summary['new']} new points "
            f"from {summary['files_imported']} file(s)")
        for p in problems:
            ctx.log(f"not imported: {p}", "warning")
    else:
        summary["outcome"] = "completed"
        why = nothing_new(summary)
        if why:
            # Shown beside the status and printed by --wait: "completed" alone would
            # read as "your points are in" (issue 19).
            summary["status_reason"] = why
    return summary


def nothing_new(summary: dict[str, Any]) -> str | None:
    """The line for a completed import that added no point: what it did instead (kept
    places or labels, found every point already there); None when points were added."""
    if summary["new"]:
        return None
    from trackdesk.tracks.gpx import N_UNTIMED_PLACES

    notes = summary.get("notes") or {}
    kept = []
    if notes.get(N_UNTIMED_PLACES):
        kept.append(f"{notes[N_UNTIMED_PLACES]} waypoint(s) kept as your places"
                    + ("" if notes.get(ANNOTATIONS_KEPT) else " (already there)"))
    other = notes.get(ANNOTATIONS_KEPT, 0) - notes.get(N_UNTIMED_PLACES, 0)
    if other > 0:
        kept.append(f"{other} label(s) kept (activities, places)")
    if summary["duplicates"]:
        head = (f"completed: no new points ({summary['duplicates']} already in tracks.db"
                + (f", {summary['rejected']} rejected)" if summary["rejected"] else ")"))
    else:
        head = "completed: no track points"
        if summary["rejected"]:
            head += f" ({summary['rejected']} rejected)"
    return head + ("; " + ", ".join(kept) if kept else "")


def reader_options(params: dict[str, Any]) -> dict[str, str]:
    """The readers' options among the task's parameters (CSV column names)."""
    return {k: str(params[k]).strip() for k in ("time_column", "lat_column", "lon_column")
            if str(params.get(k) or "").strip()}


def _report_child_memory(ctx: WorkerContext) -> None:
    """The peak of the reading children (big files are read in a forked child): the
    engine keeps the highest peak a task reports, so its figure covers them (#17)."""
    if CHILD_PEAK_MB[0] > 0:
        ctx.send(Resources(peak_rss_mb=round(CHILD_PEAK_MB[0], 1)))


def _notes(notes: dict[str, int]) -> str:
    if not notes:
        return ""
    return "; " + ", ".join(f"{why}: {n}" for why, n in sorted(notes.items()))


def _reasons(rejected: dict[str, int]) -> str:
    if not rejected:
        return ""
    return " (" + ", ".join(f"{n} {why}" for why, n in sorted(rejected.items())) + ")"


def summarise(results: list[FileResult], skipped: list, seconds: float) -> dict[str, Any]:
    """Totals and one entry per file. The counts reconcile, per file and in total:
    points_read = new + duplicates + rejected + rolled_back (docs/IMPORT.md)."""
    ok = [r for r in results if r.status == "imported"]
    refused = [s for s in skipped if s.explicit]
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
        "files_refused": len(refused),
        "points_read": sum(r.read for r in results),
        "rolled_back": sum(r.rolled_back for r in results),
        "new": sum(r.new for r in ok),
        "duplicates": sum(r.duplicates for r in ok),
        "rejected": sum(reasons.values()),
        "rejected_reasons": dict(reasons),
        "first_ts": min(firsts) if firsts else None,
        "last_ts": max(lasts) if lasts else None,
        "seconds": round(seconds, 3),
        "per_file": ([r.to_dict() for r in results]
                     + [{"name": s.name, "status": "refused", "reason": s.reason}
                        for s in refused])[:MAX_LISTED],
        "skipped": [s.to_dict() for s in skipped[:MAX_LISTED]],
        "skipped_count": len(skipped),
    }
    if notes:
        summary["notes"] = dict(notes)
    if CHILD_PEAK_MB[0] > 0:
        summary["reader_peak_mb"] = round(CHILD_PEAK_MB[0], 1)
    return summary


def main(argv: list[str] | None = None) -> None:
    single_thread_blas()  # before the fast paths load numpy
    args = sys.argv[1:] if argv is None else argv
    run_worker(IMPORT_SPEC, run, args)


if __name__ == "__main__":
    main()
