"""Writing imported points into tracks.db: one transaction per file, deduplicated.

sqlite3 only (the worker's contract). Each file is read as a stream; its points go into
``points`` with ``INSERT OR IGNORE`` against the unique key ``(ts, lat, lon)``
(migration 2), so a point already present is counted as a duplicate and nothing is
written twice. The whole file is one transaction: when the reader fails part-way the
transaction is rolled back and none of that file's points stay (docs/IMPORT.md).
"""

from __future__ import annotations

import contextlib
import json
import lzma
import os
import signal
import sqlite3
import struct
import sys
import time
import traceback
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from trackdesk.tracks.annotations import write_annotations
from trackdesk.tracks.base import (
    CountingReader,
    ImportFailure,
    JsonValueGuard,
    Points,
    Restart,
    big_pipe,
)
from trackdesk.tracks.formats import FORMATS, SourceFile
from trackdesk.worker import StopRequested, parent_death_signal

ProgressFn = Callable[[int, int | None, int], None]
# Files larger than this are staged outside tracks.db before being copied in (see
# import_file). Below it, writing straight into the file's transaction is faster, and the
# write lock is held for the few seconds such a file takes. A 1M-point GPX is ~100 MB.
STAGE_ABOVE_BYTES = 256 << 20
# Files from this size on are read by a forked child while this process writes: on two
# cores the parse and SQLite's inserts then overlap (bench/import). Below it, the fork
# and the pickling cost more than they save.
PIPE_ABOVE_BYTES = 16 << 20
# Rows per INSERT for the fast paths' blocks (bench/import: 20-50 rows a statement write
# 1M points in about two thirds of the time of one row a statement).
BLOCK_ROWS = 32
# Progress while a file is read, at least this often (issue 18: ~0.5 s).
PROGRESS_EVERY_S = 0.4


ANNOTATIONS_KEPT = "annotations kept (activities, places)"  # the summary's note


class WriteError(Exception):
    """tracks.db itself refused the write (disk full, locked too long): stop the task."""


@dataclass
class FileResult:
    name: str
    format: str
    status: str  # imported | failed
    read: int = 0
    new: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    first_ts: float | None = None
    last_ts: float | None = None
    seconds: float = 0.0
    notes: dict[str, int] = field(default_factory=dict)
    notes_annotations: int = 0  # annotation rows this file added
    rolled_back: int = 0  # points read from a failed file, none of them kept

    @property
    def n_rejected(self) -> int:
        return sum(self.rejected.values())

    def to_dict(self) -> dict[str, Any]:
        # "points_read" is the name the totals and import_files use; "read" is kept for
        # readers of older summaries (the same number).
        d = {"name": self.name, "format": self.format, "status": self.status,
             "points_read": self.read, "read": self.read, "new": self.new,
             "duplicates": self.duplicates,
             "rejected": self.n_rejected, "seconds": round(self.seconds, 3)}
        if self.rejected:
            d["rejected_reasons"] = dict(self.rejected)
        if self.error:
            d["error"] = self.error
        if self.notes:
            d["notes"] = dict(self.notes)
        if self.status == "failed":
            d["rolled_back"] = self.rolled_back
        return d


class Importer:
    """Imports files one by one into an open sqlite3 connection (autocommit mode)."""

    def __init__(self, conn: sqlite3.Connection, task_id: int | None = None,
                 gcj02: bool = False, progress: ProgressFn | None = None,
                 check_stop: Callable[[], None] | None = None, batch: int = 50_000,
                 total_bytes: int = 0, stage_above: int | None = None,
                 options: dict[str, Any] | None = None) -> None:
        self.conn = conn
        # Reader options the user gave (CSV column names): handed to the readers on the
        # collector, which a forked reading child copies.
        self.options = dict(options or {})
        self._last_total: int | None = None
        self._next_tick = 0.0
        self.task_id = task_id
        self.gcj02 = gcj02
        self._progress = progress
        self._check_stop = check_stop
        self.batch = batch
        self.stage_above = STAGE_ABOVE_BYTES if stage_above is None else stage_above
        # Big files are read in a child process while this one writes (read_in_child).
        self.pipe_above = PIPE_ABOVE_BYTES if hasattr(os, "fork") else None
        # Progress: points are counted as they are read; the total is estimated from
        # the bytes still to read at the points-per-byte rate seen so far.
        self.total_bytes = total_bytes
        self.bytes_done = 0
        self.processed = 0
        self.failed = 0
        # A big cache keeps the unique index's pages in memory during a large import.
        conn.execute("PRAGMA cache_size=-65536")

    def _report(self, cur_read: int, cur_rejected: int, cur_pos: int) -> None:
        if self._progress is None:
            return
        processed = self.processed + cur_read
        done_bytes = self.bytes_done + cur_pos
        total = None
        if done_bytes > 0 and processed > 0 and self.total_bytes:
            rest = max(self.total_bytes - done_bytes, 0)
            total = processed + int(processed / done_bytes * rest)
            # The estimate only grows while the import runs (issue 18: a total that
            # jumps down and up is no total); the exact count replaces it at the end.
            if self._last_total is not None and total < self._last_total:
                total = self._last_total
            self._last_total = total
        self._progress(processed, total, self.failed + cur_rejected)

    def _tick(self, out: Points, counter: CountingReader | None) -> None:
        """Progress from inside a long read, at least every PROGRESS_EVERY_S seconds
        (a FIT file or a slow format flushes a batch only every few seconds)."""
        now = time.monotonic()
        if now >= self._next_tick:
            self._next_tick = now + PROGRESS_EVERY_S
            self._report(out.read, sum(out.rejected.values()), counter.pos if counter else 0)

    def import_file(self, src: SourceFile) -> FileResult:
        fmt = FORMATS[src.format]
        read_fn, columns = fmt.reader()
        started = time.time()
        t0 = time.perf_counter()
        conn = self.conn
        state = {"in_tx": False, "new": 0, "file_id": None}
        counter: CountingReader | None = None
        cols = ", ".join(("ts", "lat", "lon", *columns))

        def begin() -> int:
            conn.execute("BEGIN IMMEDIATE")
            state["in_tx"] = True
            cur = conn.execute(
                "INSERT INTO import_files (task_id, path, member, format, size, mtime, "
                "status, started_at) VALUES (?, ?, ?, ?, ?, ?, 'importing', ?)",
                (self.task_id, str(src.path), src.member, src.format, src.size,
                 _mtime(src), started))
            state["file_id"] = cur.lastrowid
            return cur.lastrowid

        sql: dict[tuple[tuple[str, ...], int], str] = {}

        def insert_sql(names: tuple[str, ...], per: int = 1) -> str:
            """INSERT for rows of values for ``names``, ``per`` rows a statement: a reader
            may leave optional columns off its rows (fewer bound parameters is measurably
            faster)."""
            if (names, per) not in sql:
                if staged:
                    one = f"({', '.join('?' * len(names))})"
                    sql[names, per] = (f"INSERT INTO temp.import_stage ({', '.join(names)}) "
                                       f"VALUES {', '.join([one] * per)}")
                else:
                    one = (f"({', '.join('?' * len(names))}, '{src.format}', "
                           f"{int(state['file_id'])})")
                    sql[names, per] = (f"INSERT OR IGNORE INTO points ({', '.join(names)}, "
                                       f"source, import_file_id) VALUES "
                                       f"{', '.join([one] * per)}")
            return sql[names, per]

        all_names = ("ts", "lat", "lon", *columns)
        staged = src.size > self.stage_above
        if staged:
            # A very large file is parsed into a private TEMP table first (no lock on
            # tracks.db) and copied in one statement at the end, so other writers (the
            # engine's task updates) wait seconds, not the whole parse.
            conn.execute("DROP TABLE IF EXISTS temp.import_stage")
            conn.execute(f"CREATE TEMP TABLE import_stage ({cols})")

        def flush(rows: list[tuple] | Any) -> None:
            if self._check_stop is not None:
                self._check_stop()
            if not staged and not state["in_tx"]:
                begin()
            before = conn.total_changes
            if not isinstance(rows, list):  # a fast path's block (2-D float array)
                block, kept = _present(rows)
                names = tuple(all_names[k] for k in kept)
                write_block(conn, block, insert_sql(names, BLOCK_ROWS), insert_sql(names))
            else:
                for n, part in _by_width(rows):
                    conn.executemany(insert_sql(all_names[:n]), part)
            if not staged:
                state["new"] += conn.total_changes - before
            self._report(out.read, sum(out.rejected.values()),
                         counter.pos if counter else 0)

        out = Points(columns, flush, gcj02=self.gcj02, batch=self.batch)
        out.size_hint = src.size
        out.options = self.options  # type: ignore[attr-defined]
        result = FileResult(src.name, src.format, "imported")
        try:
            try:
                with src.open() as raw:
                    raw = value_guard(raw, src.format)
                    if self.pipe_above is not None and src.size >= self.pipe_above:
                        counter = CountingReader(raw)  # the child ticks through the pipe
                        read_in_child(read_fn, counter, out, self._check_stop,
                                      lambda: self._tick(out, counter))
                    else:
                        counter = CountingReader(raw, lambda _pos: self._tick(out, counter))
                        read_fn(counter, out)
            except Restart as restart:
                # A fast path gave up after writing: start the file over, fully.
                self._rollback(state)
                state.update(new=0, file_id=None)
                sql.clear()
                out.reset()
                if staged:
                    conn.execute("DELETE FROM temp.import_stage")
                with src.open() as raw:
                    counter = CountingReader(value_guard(raw, src.format),
                                             lambda _pos: self._tick(out, counter))
                    restart.reader(counter, out)
            out.flush()
            if out.accepted == 0 and not out.annotations:
                # One rule for every format (issues 17, 19): a file that yields not one
                # point is refused with a reason, never "completed" with 0 points. A file
                # of labels only (GeoLife's labels.txt) or of named waypoints yields
                # annotations: it is data. A file whose every point was rejected keeps
                # nothing either: it fails, saying why (a route without times, a reset
                # clock), rather than "completed" with 0 new points.
                raise ImportFailure(nothing_kept(src.format, out))
            if staged:
                file_id = begin()
                before = conn.total_changes
                conn.execute(f"INSERT OR IGNORE INTO points ({cols}, source, import_file_id) "
                             f"SELECT {cols}, '{src.format}', {int(file_id)} "
                             "FROM temp.import_stage ORDER BY rowid")
                state["new"] = conn.total_changes - before
            if not state["in_tx"]:
                begin()  # nothing accepted: still record that the file was read
            if out.annotations:
                result.notes_annotations = write_annotations(conn, out.annotations,
                                                             state["file_id"])
            result.read = out.read
            result.new = state["new"]
            result.rejected = dict(out.rejected)
            result.duplicates = out.accepted - result.new
            if out.max_ts >= out.min_ts:
                result.first_ts, result.last_ts = out.min_ts, out.max_ts
            notes = Counter(out.notes)
            if out.times.naive:
                notes["times without a zone, taken as UTC"] += out.times.naive
            if result.notes_annotations:
                notes[ANNOTATIONS_KEPT] += result.notes_annotations
            result.notes = dict(notes)
            conn.execute(
                "UPDATE import_files SET status='imported', points_read=?, points_new=?, "
                "points_duplicate=?, points_rejected=?, rejected_json=?, first_ts=?, "
                "last_ts=?, finished_at=? WHERE id=?",
                (result.read, result.new, result.duplicates, result.n_rejected,
                 json.dumps(result.rejected, ensure_ascii=False), result.first_ts,
                 result.last_ts, time.time(), state["file_id"]))
            conn.execute("COMMIT")
            state["in_tx"] = False
        except StopRequested:
            self._rollback(state)
            raise
        except ImportFailure as exc:
            self._rollback(state)
            result = self._failed(src, str(exc), out, started)
        except sqlite3.Error as exc:
            self._rollback(state)
            raise WriteError(f"tracks.db refused the points of {src.name}: {exc}") from None
        except BaseException as exc:
            self._rollback(state)
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt, SystemExit: the file is rolled back
            result = self._failed(src, _read_failure(exc, counter), out, started)
        if staged:
            try:
                conn.execute("DROP TABLE IF EXISTS temp.import_stage")
            except sqlite3.Error:
                pass
        result.seconds = time.perf_counter() - t0
        self.processed += out.read
        # A failed file keeps none of its points: all of them count as failed (rolled
        # back), so processed = new + duplicates + rejected + rolled back (issue 18).
        self.failed += out.read if result.status == "failed" else sum(out.rejected.values())
        self.bytes_done += src.size
        self._report(0, 0, 0)
        return result

    def _rollback(self, state: dict) -> None:
        if state["in_tx"]:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            state["in_tx"] = False

    def _failed(self, src: SourceFile, message: str, out: Points,
                started: float) -> FileResult:
        # A reader's message may quote the file (a library's error text): bounded, so a
        # message never carries more than a short excerpt of it (issue 17).
        msg = f"{src.name}: {message if len(message) <= 400 else message[:400] + '…'}"
        try:
            self.conn.execute(
                "INSERT INTO import_files (task_id, path, member, format, size, mtime, "
                "status, error, points_read, started_at, finished_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 'failed', ?, ?, ?, ?)",
                (self.task_id, str(src.path), src.member, src.format, src.size, _mtime(src),
                 msg, out.read, started, time.time()))
        except sqlite3.Error:
            pass  # the record is a courtesy; the task's error message says it all
        # Nothing of a failed file is kept: the points read are all rolled back.
        return FileResult(src.name, src.format, "failed", read=out.read, error=msg,
                          rolled_back=out.read)


_READ_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, struct.error, EOFError,
                OSError, UnicodeError, ValueError, RuntimeError, NotImplementedError)


def read_in_child(read_fn: Callable[[Any, Points], None], counter: CountingReader,
                  out: Points, check_stop: Callable[[], None] | None,
                  tick: Callable[[], None] | None = None) -> None:
    """``read_fn(counter, out)``, run in a forked child that sends ``out``'s batches
    back through a pipe; this process hands them to ``out``'s flush (SQLite writes) as
    they come, so reading the file and writing the points use both cores.

    The child only reads and computes: it never touches tracks.db (its copy of the
    connection is left alone, and it leaves with ``os._exit``, running no finaliser).
    Whatever it meets comes back as the same exception the reader would have raised
    here: ImportFailure (with the same message and position), Restart, or a failure
    naming the byte. A stop request here kills the child. The child's peak memory (its
    own high-water mark, from wait4's rusage) goes to CHILD_PEAK_MB.
    """
    from multiprocessing.connection import Connection

    r_fd, w_fd = big_pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(r_fd)
        _child(read_fn, counter, out, Connection(w_fd, readable=False))
    os.close(w_fd)
    # The blocks' writer needs numpy: loaded while the child reads its first batch, not
    # after it (0.1-0.2 s off the critical path).
    import numpy  # noqa: F401

    pipe = Connection(r_fd, writable=False)
    done = False
    try:
        while True:
            while not pipe.poll(0.2):
                if check_stop is not None:
                    check_stop()
                if tick is not None:
                    tick()
            try:
                msg = pipe.recv()
            except EOFError:
                raise ImportFailure(f"near byte {counter.pos}: internal error, please "
                                    "report it (the reader process ended without a word)") \
                    from None
            kind = msg[0]
            if kind == "tick":  # the child's counts while it reads a long stretch
                _, state, counter.pos = msg
                _take_state(out, state)
                if tick is not None:
                    tick()
            elif kind == "batch":
                _, data, state, counter.pos = msg
                _take_state(out, state)
                out._flush(data)
            elif kind == "block":  # the array's bytes follow, raw: no pickling
                _, shape, dtype, state, counter.pos = msg
                _take_state(out, state)
                out._flush(_read_array(r_fd, shape, dtype))
            elif kind == "done":
                _take_state(out, msg[1])
                done = True
                break
            elif kind == "restart":
                raise Restart(msg[1])
            else:
                raise ImportFailure(msg[1], msg[2])
    finally:
        pipe.close()
        if not done:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        CHILD_PEAK_MB[0] = max(CHILD_PEAK_MB[0], _reap(pid))


# The highest peak memory (MB) of a reading child in this process: the worker reports it
# with its own, so a task's peak is the peak of all its processes (issue 17).
CHILD_PEAK_MB = [0.0]


def _reap(pid: int) -> float:
    """Wait for the child; its peak resident memory in MB (0 where unknown)."""
    try:
        _, _, usage = os.wait4(pid, 0)
    except (AttributeError, ChildProcessError):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        return 0.0
    return usage.ru_maxrss / 1024  # KB on Linux


# JSON formats: ijson builds each value whole, so one value's size is bounded here
# (JsonValueGuard). XML values are bounded by libxml2 itself (gpx.MAX_XML_VALUE), lines
# by LineGuard.
_JSON_FORMATS = frozenset({"geojson", "google-records", "google-semantic", "google-timeline",
                           "dawarich"})


def value_guard(raw: Any, fmt: str) -> Any:
    """``raw``, wrapped so that one overlong value fails the file early (issue 19)."""
    return JsonValueGuard(raw) if fmt in _JSON_FORMATS else raw


def nothing_kept(fmt: str, out: Points) -> str:
    """Why a file gave nothing to keep, for a person: no position at all, or every
    point rejected, with the reasons (the commonest first)."""
    if out.read == 0 and fmt == "gpx":
        return ("no track points in it: the GPX holds no point at all (no <trkpt>, "
                "<rtept> or named <wpt>: an empty track, or a file of settings only)")
    if out.read == 0 and fmt == "geolife-labels":
        return ("no label in it: no row of Start Time, End Time and Transportation Mode "
                "with a mode trackdesk knows (GeoLife's labels.txt)")
    if out.read == 0:
        return (f"no track points in it: nothing this {fmt} reader recognises as a "
                "position (a track, a timed point) was found; docs/IMPORT.md lists what "
                "is read")
    reasons = "; ".join(f"{why}: {n}" for why, n in out.rejected.most_common(4))
    if len(out.rejected) > 4:
        reasons += "; ..."
    every = "its only point" if out.read == 1 else f"all {out.read} points"
    return f"no usable track points in it, {every} rejected — {reasons}; nothing imported"


def _read_failure(exc: Exception, counter: CountingReader | None) -> str:
    """What a reader's unexpected exception means for a person, with the position.

    Damaged archives and streams get the libraries' own words; an error nobody foresaw
    is an internal error, and its traceback goes to the task's log (stderr) for a bug
    report."""
    where = f"near byte {counter.pos}" if counter else "opening it"
    if isinstance(exc, _READ_ERRORS):
        return f"{where}: {_plain(exc)}"
    traceback.print_exc(file=sys.stderr)
    return f"{where}: internal error, please report it ({type(exc).__name__}: {exc})"


def _read_array(fd: int, shape: tuple, dtype: str) -> Any:
    """An array of ``shape`` read straight from the pipe into its own memory."""
    import numpy as np

    arr = np.empty(shape, dtype=dtype)
    view = memoryview(arr).cast("B")
    got = 0
    while got < len(view):
        n = os.readv(fd, [view[got:]])
        if n == 0:
            raise ImportFailure("internal error, please report it (the reader process "
                                "ended in the middle of a batch)")
        got += n
    return arr


def _state(out: Points) -> tuple:
    # Annotations travel once: the ones kept since the last message, then forgotten here.
    annotations = out.annotations[:]
    out.annotations.clear()
    return (out.read, dict(out.rejected), out.min_ts, out.max_ts, dict(out.notes),
            out.times.naive, out.flushes, annotations)


def _take_state(out: Points, state: tuple) -> None:
    (read, rejected, out.min_ts, out.max_ts, notes, out.times.naive, out.flushes,
     annotations) = state
    out.annotations.extend(annotations)
    out.read = read
    out.rejected = Counter(rejected)
    out.notes = Counter(notes)


def _child(read_fn: Callable[[Any, Points], None], counter: CountingReader, out: Points,
           pipe: Any) -> NoReturn:
    code = 0
    try:
        parent_death_signal(signal.SIGKILL)  # gone with its parent, whatever kills it

        def send(data: Any) -> None:
            if isinstance(data, list):
                pipe.send(("batch", data, _state(mine), counter.pos))
                return
            data = data if data.flags.c_contiguous else data.copy()
            pipe.send(("block", data.shape, data.dtype.str, _state(mine), counter.pos))
            view = memoryview(data).cast("B")
            while view:
                view = view[os.write(pipe.fileno(), view):]

        mine = Points(out.columns, send, gcj02=out.gcj02, batch=out.batch)
        mine.size_hint = out.size_hint
        mine.options = getattr(out, "options", {})  # type: ignore[attr-defined]
        next_tick = [time.monotonic() + PROGRESS_EVERY_S]

        def tick(_pos: int) -> None:
            now = time.monotonic()
            if now >= next_tick[0]:
                next_tick[0] = now + PROGRESS_EVERY_S
                pipe.send(("tick", _state(mine), counter.pos))

        counter._on_read = tick
        try:
            read_fn(counter, mine)
            mine.flush()
            pipe.send(("done", _state(mine)))
        except Restart as restart:
            pipe.send(("restart", restart.reader))
        except ImportFailure as exc:
            pipe.send(("failure", exc.message, exc.position))
        except Exception as exc:
            pipe.send(("failure", _read_failure(exc, counter), None))
    except BaseException:
        code = 1  # the pipe is gone (the parent stopped): nothing to say to anyone
    finally:
        os._exit(code)


def _present(block: Any) -> tuple[Any, list[int]]:
    """The block without its optional columns that hold no value at all (a phone that
    never reports a heading): NULL either way, and fewer parameters to bind."""
    import numpy as np

    empty = np.isnan(block[:, 3:]).all(axis=0)
    if not empty.any():
        return block, list(range(block.shape[1]))
    kept = [0, 1, 2] + [3 + k for k in np.flatnonzero(~empty).tolist()]
    return np.ascontiguousarray(block[:, kept]), kept


def write_block(conn: sqlite3.Connection, block: Any, many_sql: str, one_sql: str) -> None:
    """A block's rows, ``BLOCK_ROWS`` to a statement: per row, executemany's own work
    (reset, step, bookkeeping) costs as much as SQLite's insert, and binding a flat list
    of floats made by numpy costs little. NaN binds as NULL (SQLite's rule)."""
    n = len(block)
    whole = n - n % BLOCK_ROWS
    if whole:
        conn.executemany(many_sql, block[:whole].reshape(whole // BLOCK_ROWS, -1).tolist())
    if whole < n:
        conn.executemany(one_sql, block[whole:].tolist())


def _by_width(rows: list[tuple]) -> list[tuple[int, list[tuple]]]:
    """Rows grouped by their number of values (almost always one group: no copy)."""
    widths = set(map(len, rows))
    if len(widths) == 1:
        return [(widths.pop(), rows)]
    return [(n, [r for r in rows if len(r) == n]) for n in sorted(widths)]


def _mtime(src: SourceFile) -> float | None:
    try:
        return os.stat(src.path).st_mtime
    except OSError:
        return None


def _plain(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, UnicodeError):
        return f"text encoding error ({text})"
    if isinstance(exc, zipfile.BadZipFile | zlib.error | lzma.LZMAError | struct.error):
        return f"damaged compressed data ({text})"
    if isinstance(exc, EOFError):
        return f"the file ends too early ({text})"
    return text
