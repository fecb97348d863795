"""Reading and writing analysis results in tracks.db, shared by the nine skills.

Three ideas keep the chain fast and INCREMENTAL runs exact:

* **Change log.** Every run of a skill appends ``skill_changes(skill, from_ts)``: from that
  time on its results may differ from before. A downstream skill's INCREMENTAL run starts
  from the earliest of (the earliest new point it has not seen, every upstream change it
  has not consumed), then each skill widens that to a restart point of its own where its
  state is known (a stay start, a segment start, a day...). Results before the restart are
  kept, everything from it on is deleted and recomputed with context, so the outcome is
  bit-identical to a full recompute. Points are tracked by id (``point_watermark``), so a
  later import of *older* points is seen too.
* **Range and sparse tables, not per-point rows.** Outliers are stored sparse (only the
  flagged points), modes, stays and trips as time ranges, grid cells are computed by the
  ``point_analysis`` view from the point's coordinates. A 1M-point full recompute writes
  thousands of rows, not millions.
* **Column cache.** ``point_cache`` holds the points table as packed numpy columns in
  id-range chunks (65,536 ids each), checked against ``points`` on every read and rebuilt
  chunk by chunk when stale. A full run reads 1M points in ~0.2 s instead of ~1.5 s through
  row-by-row SQLite; incremental runs read just their time window through ``ix_points_ts``.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trackdesk.skills.geo import big_empty
from trackdesk.skills.labels import ALSO_READS, KINDS, fingerprint
from trackdesk.skills.registry import BUILTIN_SPECS
from trackdesk.worker import PhaseProgress, StopRequested, WorkerContext

# Share of a typical full run spent reading, computing and writing (measured on 1M
# points, rounded): what a skill's progress bar moves through.
PHASES = {"read": 0.3, "compute": 0.5, "write": 0.2}
WRITE_BLOCK = 4096  # result rows per executemany between progress reports

CHUNK_BITS = 16
NEG_INF = -1.0e300  # "everything changed", stored as a plain REAL

# Bits of outlier_flags.reasons. The first three depend only on the point itself and its
# predecessor; they decide which points the motion tests look at.
FLAG_INVALID = 1
FLAG_ACCURACY = 2
FLAG_DUPLICATE = 4
FLAG_SPEED = 8
FLAG_ACCEL = 16
FLAG_SPIKE = 32
FLAG_USER = 64  # the user marked the point wrong (a correction)
PRE_FLAGS = FLAG_INVALID | FLAG_ACCURACY | FLAG_DUPLICATE | FLAG_USER


@dataclass
class Points:
    """Points sorted by (ts, id). ``acc`` is -1 where the accuracy is unknown."""

    id: np.ndarray
    ts: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    acc: np.ndarray

    def __len__(self) -> int:
        return len(self.id)

    def take(self, idx: np.ndarray) -> Points:
        return Points(self.id[idx], self.ts[idx], self.lat[idx], self.lon[idx], self.acc[idx])


def _empty_points() -> Points:
    f = np.zeros(0)
    return Points(np.zeros(0, dtype=np.int64), f, f.copy(), f.copy(), f.copy())


def _sorted(ids: np.ndarray, ts: np.ndarray, lat: np.ndarray, lon: np.ndarray,
            acc: np.ndarray) -> Points:
    """Sort rows by (ts, id), the tie order every skill shares."""
    if len(ids) > 1 and not np.all(ids[1:] > ids[:-1]):
        first = np.argsort(ids, kind="stable")
        ids, ts, lat, lon, acc = ids[first], ts[first], lat[first], lon[first], acc[first]
    if len(ts) > 1 and not np.all(ts[1:] >= ts[:-1]):
        # A stable sort by ts of rows in id order gives (ts, id) order; imports are mostly
        # chronological and the stable sort is fast on such runs.
        order = np.argsort(ts, kind="stable")
        ids, ts, lat, lon, acc = ids[order], ts[order], lat[order], lon[order], acc[order]
    return Points(ids, ts, lat, lon, acc)


def _fetch_rows(conn: sqlite3.Connection, sql: str, args: tuple) -> list[np.ndarray]:
    """[id, ts, lat, lon, acc] columns of a 5-column point query."""
    # fromiter over the flattened cursor avoids building a million Python tuples' worth
    # of lists: about twice as fast as fetchall() + np.array on 1M rows.
    cur = conn.execute(sql, args)
    flat = np.fromiter(itertools.chain.from_iterable(cur), dtype=np.float64)
    rows = flat.reshape(-1, 5)
    return [rows[:, 0].astype(np.int64)] + [np.ascontiguousarray(rows[:, k]) for k in range(1, 5)]


_POINT_COLS = "id, ts, lat, lon, COALESCE(accuracy, -1.0)"


def load_points_window(conn: sqlite3.Connection, watermark: int, from_ts: float) -> Points:
    """Points with ``ts >= from_ts`` and ``id <= watermark``, through the ts index."""
    # "+id": keep SQLite on the ts index; a rowid range over "id <= watermark" would
    # scan the whole table.
    cols = _fetch_rows(conn, f"SELECT {_POINT_COLS} FROM points WHERE ts >= ? AND +id <= ?",
                       (from_ts, watermark))
    return _sorted(*cols)


def _cached_columns(conn: sqlite3.Connection, chunk: int, n: int, ncols: int
                    ) -> list[np.ndarray] | None:
    """The first ``ncols`` columns of a cached chunk, or None if it is missing or torn.

    Incremental blob I/O reads just the columns asked for (a column is a contiguous
    8n bytes) and skips SQL's copy of the whole row.
    """
    try:
        with conn.blobopen("point_cache", "data", chunk, readonly=True) as blob:
            if len(blob) != n * 40:
                return None
            buf = blob.read(ncols * 8 * n)
    except sqlite3.OperationalError:  # no such row
        return None
    return [np.frombuffer(buf, dtype=np.int64, count=n)] + [
        np.frombuffer(buf, dtype=np.float64, count=n, offset=n * 8 * k) for k in range(1, ncols)]


def _not_in(ids: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """``~isin(ids, bad)`` for sorted ``bad``, by binary search (bad is small)."""
    if len(bad) == 0:
        return np.ones(len(ids), dtype=bool)
    pos = np.minimum(np.searchsorted(bad, ids), len(bad) - 1)
    return bad[pos] != ids


def _keep_mask(ids: np.ndarray, bad: np.ndarray | None) -> np.ndarray | None:
    """Which of a chunk's rows to keep, or None for all of them."""
    if bad is None or len(ids) == 0:
        return None
    if len(ids) > 1 and not np.all(ids[1:] > ids[:-1]):
        keep = _not_in(ids, bad)
        return None if keep.all() else keep
    # Sorted ids (a rowid range scan wrote them): look the few bad ids up in the chunk
    # rather than every id of the chunk in the bad ones.
    sub = bad[np.searchsorted(bad, ids[0]):np.searchsorted(bad, ids[-1], side="right")]
    if len(sub) == 0:
        return None
    pos = np.searchsorted(ids, sub)
    hit = pos[ids[pos] == sub]
    if len(hit) == 0:
        return None
    keep = np.ones(len(ids), dtype=bool)
    keep[hit] = False
    return keep


def load_all_points(conn: sqlite3.Connection, watermark: int,
                    exclude: np.ndarray | None = None, acc: bool = True,
                    on_chunk: Callable[[int, int], None] | None = None) -> Points:
    """Every point with ``id <= watermark``, through the column cache (refreshed if stale).

    The cache is trusted when its chunks add up to the points table's row count and
    maximum id (points are append-only); otherwise chunks are checked one by one and
    the stale ones rebuilt from ``points``. ``acc=False`` leaves the accuracy column
    unread (all -1, unknown) for skills that do not use it. ``on_chunk(rows read, rows
    to read)`` is called after every chunk (progress of the read phase).
    """
    have = {row[0]: (row[1], row[2]) for row in conn.execute(
        "SELECT chunk, n, max_id FROM point_cache")}
    total = conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    max_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM points").fetchone()[0]
    if (max_id == watermark and have and sum(v[0] for v in have.values()) == total
            and max(v[1] for v in have.values()) == max_id):
        want = [(c, n, m) for c, (n, m) in sorted(have.items())]
    else:
        want = conn.execute(
            f"SELECT id >> {CHUNK_BITS}, COUNT(*), MAX(id) FROM points WHERE id <= ? "
            f"GROUP BY 1 ORDER BY 1", (watermark,)).fetchall()
    ncols = 5 if acc else 4
    bad = None if exclude is None or len(exclude) == 0 else exclude
    # Chunk by chunk straight into the output (sized for all rows, cut to the kept
    # ones at the end), dropping excluded (outlier) ids on the way: one copy, and each
    # chunk's buffer is free for the next.
    cap = sum(w[1] for w in want)
    out = [big_empty(cap, np.int64)] + [big_empty(cap) for _ in range(ncols - 1)]
    at = 0
    stale: list[tuple[int, int, int, bytes]] = []
    wanted_chunks = set()
    for chunk, n, chunk_max in want:
        wanted_chunks.add(chunk)
        cols = None
        if have.get(chunk) == (n, chunk_max):
            cols = _cached_columns(conn, chunk, n, ncols)
        if cols is None:
            lo = chunk << CHUNK_BITS
            cols = _fetch_rows(
                conn, f"SELECT {_POINT_COLS} FROM points WHERE id >= ? AND id < ? AND id <= ?",
                (lo, lo + (1 << CHUNK_BITS), watermark))
            data = b"".join(c.tobytes() for c in cols)
            stale.append((chunk, len(cols[0]), int(cols[0].max()) if len(cols[0]) else 0, data))
        keep = _keep_mask(cols[0], bad)
        if keep is not None:
            keep = np.flatnonzero(keep)
        size = len(cols[0]) if keep is None else len(keep)
        if at + size > cap:  # the table grew since it was counted
            out = [np.concatenate([o[:at], np.empty(at + size - cap, dtype=o.dtype)])
                   for o in out]
            cap = at + size
        for col in range(ncols):
            if keep is None:
                out[col][at:at + size] = cols[col]
            else:
                # take() on the kept indices: several times faster than compress() on
                # the mask ("clip" skips a bounds check the indices do not need).
                cols[col].take(keep, out=out[col][at:at + size], mode="clip")
        at += size
        if on_chunk is not None:
            on_chunk(at, cap)
    dropped = [c for c in have if c not in wanted_chunks]
    if stale or dropped:
        # The cache is an accelerator only: a failed write just means a slower next read.
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR REPLACE INTO point_cache (chunk, n, max_id, data) "
                             "VALUES (?, ?, ?, ?)", stale)
            conn.executemany("DELETE FROM point_cache WHERE chunk = ?", [(c,) for c in dropped])
            conn.execute("COMMIT")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
    if not want:
        return _empty_points()
    cols_out = [o[:at] for o in out]
    if not acc:
        cols_out.append(np.broadcast_to(np.float64(-1.0), (at,)))
    return _sorted(*cols_out)


def load_points(conn: sqlite3.Connection, watermark: int, from_ts: float | None,
                on_chunk: Callable[[int, int], None] | None = None) -> Points:
    if from_ts is None or from_ts <= NEG_INF:
        return load_all_points(conn, watermark, on_chunk=on_chunk)
    return load_points_window(conn, watermark, from_ts)


def flagged_ids(conn: sqlite3.Connection, from_ts: float | None) -> np.ndarray:
    """Sorted ids of outlier points (with ``ts >= from_ts``)."""
    if from_ts is None or from_ts <= NEG_INF:
        rows = conn.execute("SELECT point_id FROM outlier_flags").fetchall()
    else:
        rows = conn.execute("SELECT point_id FROM outlier_flags WHERE ts >= ?",
                            (from_ts,)).fetchall()
    return np.sort(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))


def kept_points(conn: sqlite3.Connection, watermark: int, from_ts: float | None,
                acc: bool = True, on_chunk: Callable[[int, int], None] | None = None
                ) -> Points:
    """Points that outlier_detection did not flag (all of them if it never ran).

    ``acc=False``: the accuracy may be left unread (all -1) on a full load.
    """
    bad = flagged_ids(conn, from_ts)
    if from_ts is None or from_ts <= NEG_INF:
        return load_all_points(conn, watermark, bad, acc, on_chunk)
    pts = load_points_window(conn, watermark, from_ts)
    if len(bad) == 0 or len(pts) == 0:
        return pts
    return pts.take(_not_in(pts.id, bad))


def load_synthetic(conn: sqlite3.Connection, from_ts: float | None) -> Points:
    if from_ts is None or from_ts <= NEG_INF:
        rows = conn.execute("SELECT id, ts, lat, lon FROM synthetic_points").fetchall()
    else:
        rows = conn.execute("SELECT id, ts, lat, lon FROM synthetic_points WHERE ts >= ?",
                            (from_ts,)).fetchall()
    if not rows:
        return _empty_points()
    a = np.array(rows, dtype=np.float64)
    order = np.argsort(a[:, 1], kind="stable")
    a = a[order]
    return Points(-a[:, 0].astype(np.int64), a[:, 1].copy(), a[:, 2].copy(), a[:, 3].copy(),
                  np.full(len(a), -1.0))


def merge_points(a: Points, b: Points) -> Points:
    """Merge two (ts, id)-sorted point sets (synthetic ids are negative: they sort first
    on a tie, which cannot happen as synthetic points lie strictly inside gaps)."""
    if len(b) == 0:
        return a
    if len(a) == 0:
        return b
    cols = [np.concatenate([x, y]) for x, y in zip(
        (a.id, a.ts, a.lat, a.lon, a.acc), (b.id, b.ts, b.lat, b.lon, b.acc), strict=True)]
    order = np.lexsort((cols[0], cols[1]))
    return Points(*(c[order] for c in cols))


def upstream_closure(name: str) -> tuple[str, ...]:
    """Every skill upstream of ``name`` (transitively) in the built-in specs."""
    specs = {s.name: s for s in BUILTIN_SPECS}
    seen: list[str] = []
    todo = list(specs[name].upstream) if name in specs else []
    while todo:
        up = todo.pop()
        if up in seen or up not in specs:
            continue
        seen.append(up)
        todo.extend(specs[up].upstream)
    return tuple(sorted(seen))


@dataclass
class Plan:
    """What this run must do: ``full``, or recompute from ``t0`` on, or nothing."""

    full: bool
    t0: float | None
    watermark: int
    change_id: int
    reason: str


def stored_input(conn: sqlite3.Connection, key: str) -> str | None:
    """The text a skill keeps in ``skill_inputs`` under ``key`` (its fingerprint, a
    personal model, stay anchors), or None: nothing kept, or a tracks.db from before
    migration 6 with no such table."""
    try:
        row = conn.execute("SELECT fingerprint FROM skill_inputs WHERE skill = ?",
                           (key,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else row[0]


class SkillRun:
    """One run of one skill: plans, loads, writes in a single transaction, logs its change."""

    def __init__(self, ctx: WorkerContext, name: str, version: str) -> None:
        self.ctx = ctx
        self.name = name
        self.version = version
        self.conn = ctx.connect()
        # Memory-mapped reads roughly halve the cost of pulling the column cache.
        self.conn.execute("PRAGMA mmap_size=268435456")
        self.upstream = upstream_closure(name)
        self.started = time.monotonic()
        self.prog: PhaseProgress | None = None
        # The user's labels and corrections this skill reads (labels.py): a change of
        # them makes the next run a full one.
        self.inputs = fingerprint(self.conn, name) if (name in KINDS.values()
                                                       or name in ALSO_READS) else ""

    # -- progress ------------------------------------------------------------------------
    def reading(self, done: int, of: int) -> None:
        """Progress of the read phase (``load_all_points``' ``on_chunk``)."""
        if self.prog is None:
            self.prog = self.ctx.phases(of, PHASES)
        self.prog.step("read", done, of)

    def loaded(self, n: int) -> None:
        """The points are read (``n`` of them when no chunked read reported a total)."""
        if self.prog is None:
            self.prog = self.ctx.phases(n, PHASES)
        self.prog.step("read")
        self.ctx.check_stop()

    def computing(self, done: float, of: float = 1.0) -> None:
        if self.prog is not None:
            self.prog.step("compute", done, of)
        self.ctx.check_stop()

    def _stored_inputs(self) -> str | None:
        try:
            row = self.conn.execute("SELECT fingerprint FROM skill_inputs WHERE skill = ?",
                                    (self.name,)).fetchone()
        except sqlite3.OperationalError:  # a tracks.db from before migration 6
            return None
        return "" if row is None else row[0]

    # -- planning ------------------------------------------------------------------------
    def plan(self) -> Plan:
        conn = self.conn
        wm = conn.execute("SELECT COALESCE(MAX(id), 0) FROM points").fetchone()[0]
        change_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM skill_changes").fetchone()[0]
        state = conn.execute(
            "SELECT version, params_json, point_watermark, seen_change_id FROM skill_state "
            "WHERE skill = ?", (self.name,)).fetchone()
        params = json.dumps(self.ctx.params, sort_keys=True)
        if self.ctx.full_recompute:
            return Plan(True, None, wm, change_id, "full recompute requested")
        if state is None:
            return Plan(True, None, wm, change_id, "first run")
        if state[0] != self.version:
            return Plan(True, None, wm, change_id,
                        f"skill version changed ({state[0]} -> {self.version})")
        if state[1] != params:
            return Plan(True, None, wm, change_id, "parameters changed since the last run")
        stored = self._stored_inputs()
        if stored is not None and stored != self.inputs:
            return Plan(True, None, wm, change_id,
                        "your labels or corrections changed since the last run")
        t_new = conn.execute("SELECT MIN(ts) FROM points WHERE id > ? AND id <= ?",
                             (state[2], wm)).fetchone()[0]
        t_up = None
        if self.upstream:
            marks = ",".join("?" * len(self.upstream))
            t_up = conn.execute(
                f"SELECT MIN(from_ts) FROM skill_changes WHERE id > ? AND id <= ? "
                f"AND skill IN ({marks})", (state[3], change_id, *self.upstream)).fetchone()[0]
        cands = [t for t in (t_new, t_up) if t is not None]
        if not cands:
            return Plan(False, None, wm, change_id, "nothing new")
        t0 = min(cands)
        if t0 <= NEG_INF:
            return Plan(True, None, wm, change_id, "an upstream skill recomputed everything")
        return Plan(False, t0, wm, change_id, "incremental")

    # -- writing -------------------------------------------------------------------------
    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def replace_from(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
                     from_ts: float | None, ts_column: str = "start_ts") -> None:
        """Inside the open transaction: drop the rows of ``table`` from ``from_ts`` on (all
        of them when None: a full recompute) and insert ``rows`` in their place."""
        if from_ts is None:
            self.conn.execute(f"DELETE FROM {table}")
        else:
            self.conn.execute(f"DELETE FROM {table} WHERE {ts_column} >= ?", (from_ts,))
        self.write_rows(f"INSERT INTO {table} ({', '.join(columns)}) "
                        f"VALUES ({', '.join('?' * len(columns))})", rows)

    def write_rows(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """``executemany`` in blocks, reporting the write phase between them."""
        rows = rows if isinstance(rows, list) else list(rows)
        n = len(rows)
        for a in range(0, n, WRITE_BLOCK):
            self.conn.executemany(sql, rows[a:a + WRITE_BLOCK])
            if self.prog is not None:
                self.prog.step("write", min(n, a + WRITE_BLOCK), n)

    def finish(self, plan: Plan, from_ts: float | None) -> None:
        """Record state and change inside the open transaction, then commit.

        A stop asked for before the commit rolls the whole run back: results and state
        move together or not at all.
        """
        conn = self.conn
        if self.ctx.stop_requested:
            conn.execute("ROLLBACK")
            raise StopRequested()
        conn.execute(
            "INSERT OR REPLACE INTO skill_state (skill, version, params_json, point_watermark, "
            "seen_change_id, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (self.name, self.version, json.dumps(self.ctx.params, sort_keys=True),
             plan.watermark, plan.change_id, time.time()))
        if self._stored_inputs() is not None:
            conn.execute("INSERT OR REPLACE INTO skill_inputs (skill, fingerprint) "
                         "VALUES (?, ?)", (self.name, self.inputs))
        if from_ts is not None:
            conn.execute("INSERT INTO skill_changes (skill, from_ts, task_id, created_at) "
                         "VALUES (?, ?, ?, ?)",
                         (self.name, NEG_INF if plan.full else from_ts, self.ctx.task_id,
                          time.time()))
        conn.execute("COMMIT")
        if self.prog is not None:
            self.prog.finish()

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def summary(self, plan: Plan, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mode": "full" if plan.full else ("incremental" if plan.t0 is not None else "noop"),
            "reason": plan.reason,
            "seconds": round(time.monotonic() - self.started, 3),
        }
        if plan.t0 is not None:
            out["from_ts"] = plan.t0
        peak = peak_rss_mb()
        if peak is not None:
            out["peak_rss_mb"] = peak
        out.update(extra)
        return out

    def close(self) -> None:
        self.rollback()
        self.conn.close()


def peak_rss_mb() -> float | None:
    """This process's peak resident memory since it started its program (Linux VmHWM).

    Unlike ``ru_maxrss`` it does not include the parent's pages a fork briefly shared.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        return None
    return None


def run_skill(ctx: WorkerContext, name: str, version: str, body: Any) -> dict[str, Any]:
    """Drive ``body(run, plan) -> summary`` with the shared plan / transaction handling."""
    run = SkillRun(ctx, name, version)
    try:
        plan = run.plan()
        if not plan.full and plan.t0 is None:
            # Nothing new: still record the watermark so the next run starts from here.
            run.begin()
            run.finish(plan, None)
            ctx.progress(0, 0, 0, force=True)
            return run.summary(plan)
        ctx.log(f"{name}: {plan.reason}")
        return body(run, plan)
    except BaseException:
        run.rollback()
        raise
    finally:
        run.close()


def insert_many(conn: sqlite3.Connection, sql: str, rows: Any) -> None:
    conn.executemany(sql, rows)
