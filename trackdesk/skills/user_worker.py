"""``python -m trackdesk.skills.user_worker SKILL ...``: run one user skill as a worker.

Same argv and protocol as the built-in workers (docs/PROTOCOL.md). The skill is loaded
from ``<user skills folder>/SKILL/skill.py`` (in a container: the copy baked into its
image, ``TRACKDESK_SKILLS_DIR=/opt/trackdesk/user-skills``), and its batch function runs
over the points, batch by batch:

- INCREMENTAL: only points with ``id > point_watermark`` (``skill_state``, per skill; ids
  only grow, so a later import of older points is seen too), plus the points from the
  earliest change an upstream skill logged since (``skill_changes``), whose rows are redone;
- FULL_RECOMPUTE (asked for, first run, or the version, parameters or table columns
  changed): the table ``user_<name>`` is cleared first.

Each batch of new points commits with the watermark, so a stopped run keeps its finished
batches and the next one goes on from there; the redo of upstream changes is one
transaction. Only the standard library: a worker imports neither the engine, Qt nor
SQLAlchemy.
"""

from __future__ import annotations

import io
import json
import sqlite3
import sys
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from trackdesk.protocol import Error
from trackdesk.skills.user import (
    Batch,
    Point,
    SkillLoadError,
    UserSkill,
    load_skill,
    missing_requirements,
    skills_dir,
)
from trackdesk.worker import (
    EXIT_FAILED,
    EXIT_USAGE,
    SkillError,
    StopRequested,
    WorkerContext,
    run_worker,
)

NEG_INF = -1.0e300  # "everything changed" (as trackdesk.skills.store)
LOG_FAILED_MAX = 20  # failed points named in the log; the rest are only counted

_POINT_SQL = ("SELECT p.id, p.ts, p.lat, p.lon, p.altitude, p.speed, p.accuracy, p.heading, "
              "p.source, {outlier} FROM points p{join}")


# ============================================================ table and state ======
def ensure_table(conn: sqlite3.Connection, us: UserSkill) -> bool:
    """Create ``user_<name>``; recreate it when its columns changed. True if (re)created."""
    want = [("point_id", "INTEGER")] + list(us.columns)
    have = [(r[1], (r[2] or "").upper()) for r in
            conn.execute(f'PRAGMA table_info("{us.table}")')]
    if have == want:
        return False
    cols = ", ".join(f'"{c}" {t}' for c, t in us.columns)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f'DROP TABLE IF EXISTS "{us.table}"')
        conn.execute(f'CREATE TABLE "{us.table}" (point_id INTEGER PRIMARY KEY'
                     f'{", " + cols if cols else ""})')
        # The old rows are gone: the next run must not believe it has seen any point.
        conn.execute("DELETE FROM skill_state WHERE skill = ?", (us.name,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return True


def upstream_closure(us: UserSkill) -> tuple[str, ...]:
    """The skills upstream of ``us``, transitively where their specs are known here."""
    from trackdesk.skills.registry import BUILTIN_SPECS
    from trackdesk.skills.user import load_user_skills

    specs = {s.name: s for s in BUILTIN_SPECS}
    if any(u not in specs for u in us.spec.upstream):
        # Another user skill upstream: its own upstreams, if its folder is here (in a
        # container only this skill's folder is; its direct upstream still counts).
        specs.update({u.name: u.spec for u in load_user_skills(allow_static=True).skills})
    seen: list[str] = []
    todo = list(us.spec.upstream)
    while todo:
        up = todo.pop()
        if up in seen or up == us.name:
            continue
        seen.append(up)
        if up in specs:
            todo.extend(specs[up].upstream)
    return tuple(sorted(seen))


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() \
        is not None


# ================================================================= the run ==========
class _Runner:
    def __init__(self, ctx: WorkerContext, us: UserSkill) -> None:
        assert us.process is not None
        self.ctx = ctx
        self.us = us
        self.conn = ctx.connect()
        self.started = time.monotonic()
        self.rows_written = 0
        self.failed_logged = 0
        outlier = ("(o.point_id IS NOT NULL)" if _has_table(self.conn, "outlier_flags")
                   else "0")
        join = (" LEFT JOIN outlier_flags o ON o.point_id = p.id" if outlier != "0" else "")
        self.point_sql = _POINT_SQL.format(outlier=outlier, join=join)
        names = "".join(f', "{c}"' for c, _ in us.columns)
        marks = ", ".join("?" * (len(us.columns) + 1))
        self.insert_sql = f'INSERT OR REPLACE INTO "{us.table}" (point_id{names}) VALUES ({marks})'
        self.col_names = [c for c, _ in us.columns]
        self.allowed = frozenset(["point_id", *self.col_names])

    def plan(self) -> tuple[bool, str, int, int, float | None, tuple | None]:
        """(full, reason, max point id, max change id, upstream redo from_ts, state)."""
        conn, us = self.conn, self.us
        recreated = ensure_table(conn, us)
        wm = conn.execute("SELECT COALESCE(MAX(id), 0) FROM points").fetchone()[0]
        change_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM skill_changes").fetchone()[0]
        state = conn.execute(
            "SELECT version, params_json, point_watermark, seen_change_id FROM skill_state "
            "WHERE skill = ?", (us.name,)).fetchone()
        params = json.dumps(self.ctx.params, sort_keys=True)
        if self.ctx.full_recompute:
            return True, "full recompute requested", wm, change_id, None, state
        if recreated:
            return True, "the result table's columns changed", wm, change_id, None, state
        if state is None:
            return True, "first run", wm, change_id, None, state
        if state[0] != us.spec.version:
            return (True, f"skill version changed ({state[0]} -> {us.spec.version})", wm,
                    change_id, None, state)
        if state[1] != params:
            return True, "parameters changed since the last run", wm, change_id, None, state
        t_up = None
        upstream = upstream_closure(us)
        if upstream:
            marks = ",".join("?" * len(upstream))
            t_up = conn.execute(
                f"SELECT MIN(from_ts) FROM skill_changes WHERE id > ? AND id <= ? "
                f"AND skill IN ({marks})", (state[3], change_id, *upstream)).fetchone()[0]
        if t_up is not None and t_up <= NEG_INF:
            return True, "an upstream skill recomputed everything", wm, change_id, None, state
        return False, "incremental", wm, change_id, t_up, state

    # -- points and rows ---------------------------------------------------------------
    def fetch(self, where: str, args: tuple, after_id: int, limit: int) -> list[Point]:
        rows = self.conn.execute(
            f"{self.point_sql} WHERE {where} AND p.id > ? ORDER BY p.id LIMIT ?",
            (*args, after_id, limit)).fetchall()
        # The SQL gives is_outlier as 0/1: _make skips a Python-level constructor call.
        return list(map(Point._make, rows))

    def process(self, points: list[Point]) -> tuple[list[tuple], int]:
        """Run the batch function; return (rows to insert, failed points)."""
        us = self.us
        batch = Batch(points, self.ctx.params, self.ctx.log, self.ctx.task_type)
        try:
            out = us.process(batch)  # type: ignore[misc]
        except (StopRequested, SkillError):
            raise
        except ModuleNotFoundError as exc:
            package = (exc.name or str(exc)).split(".")[0]
            raise SkillError(f"skill {us.name} needs package {package}: pip install "
                             f"{package}") from None
        except Exception as exc:  # noqa: BLE001 - the user's bug, said with its line
            traceback.print_exc(file=sys.stderr)
            raise SkillError(f"{us.name}: {type(exc).__name__}: {exc}{_where(exc, us)}"
                             ) from None
        ids = {p.id for p in points}
        allowed = self.allowed
        cols = self.col_names
        rows = []
        # Checked per row, but with C-level operations: this loop runs once per result.
        for row in _rows(out, us.name):
            pid = row.get("point_id")
            if pid not in ids:
                raise SkillError(f"{us.name} returned a row for point_id {pid!r}, which is "
                                 "not a point of the batch")
            if not row.keys() <= allowed:
                unknown = set(row) - allowed
                raise SkillError(f"{us.name} returned unknown column(s) "
                                 f"{', '.join(sorted(unknown))}; declared: "
                                 f"{', '.join(cols) or 'none'}")
            rows.append((pid, *map(row.get, cols)))
        for pid, reason in batch.failed.items():
            if self.failed_logged < LOG_FAILED_MAX:
                self.ctx.log(f"point {pid} failed: {reason or 'no reason given'}", "warning")
                self.failed_logged += 1
        failed_ids = set(batch.failed) & ids
        if failed_ids:
            rows = [r for r in rows if r[0] not in failed_ids]
        return rows, len(failed_ids)

    def write(self, rows: list[tuple]) -> None:
        if not rows:
            return
        try:
            # sqlite3 binds int, float (numpy's too), str, bytes, None and bool natively.
            self.conn.executemany(self.insert_sql, rows)
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
            # Something else (a numpy int, a list...): converted, the slow way. Rows the
            # failed executemany already wrote are simply replaced (INSERT OR REPLACE).
            self.conn.executemany(self.insert_sql,
                                  [tuple(_sql_value(v) for v in r) for r in rows])
        self.rows_written += len(rows)

    # -- the run -----------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        ctx, conn, us = self.ctx, self.conn, self.us
        full, reason, wm, change_id, t_up, state = self.plan()
        params = json.dumps(ctx.params, sort_keys=True)
        start_id = 0 if full else state[2]
        redo_n = 0
        if t_up is not None:
            redo_n = conn.execute("SELECT COUNT(*) FROM points WHERE ts >= ? AND id <= ?",
                                  (t_up, start_id)).fetchone()[0]
        new_n = conn.execute("SELECT COUNT(*) FROM points WHERE id > ? AND id <= ?",
                             (start_id, wm)).fetchone()[0]
        total = redo_n + new_n
        if not full and total == 0:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE skill_state SET seen_change_id = ?, updated_at = ? "
                         "WHERE skill = ?", (change_id, time.time(), us.name))
            conn.execute("COMMIT")
            ctx.progress(0, 0, 0, force=True)
            return self.summary("noop", "nothing new")
        ctx.log(f"{us.name}: {reason}, {total} points")
        ctx.progress(0, total, 0, force=True)
        if full:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(f'DELETE FROM "{us.table}"')
            conn.execute(
                "INSERT OR REPLACE INTO skill_state (skill, version, params_json, "
                "point_watermark, seen_change_id, updated_at) VALUES (?, ?, ?, 0, ?, ?)",
                (us.name, us.spec.version, params, change_id, time.time()))
            conn.execute("INSERT INTO skill_changes (skill, from_ts, task_id, created_at) "
                         "VALUES (?, ?, ?, ?)", (us.name, NEG_INF, ctx.task_id, time.time()))
            conn.execute("COMMIT")
        elif t_up is not None:
            self.redo(t_up, start_id, change_id)
        self.new_points(start_id, wm, change_id)
        return self.summary("full" if full else "incremental", reason)

    def redo(self, t_up: float, old_wm: int, change_id: int) -> None:
        """Points an upstream change may have changed: their rows again, in one transaction."""
        ctx, conn, us = self.ctx, self.conn, self.us
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f'DELETE FROM "{us.table}" WHERE point_id IN '
                         "(SELECT id FROM points WHERE ts >= ? AND id <= ?)", (t_up, old_wm))
            last = 0
            while True:
                ctx.check_stop()
                points = self.fetch("p.ts >= ? AND p.id <= ?", (t_up, old_wm), last,
                                    ctx.batch_size)
                if not points:
                    break
                rows, failed = self.process(points)
                self.write(rows)
                last = points[-1].id
                ctx.advance(len(points), failed)
            ctx.check_stop()
            conn.execute("UPDATE skill_state SET seen_change_id = ?, updated_at = ? "
                         "WHERE skill = ?", (change_id, time.time(), us.name))
            conn.execute("INSERT INTO skill_changes (skill, from_ts, task_id, created_at) "
                         "VALUES (?, ?, ?, ?)", (us.name, t_up, ctx.task_id, time.time()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def new_points(self, after_id: int, wm: int, change_id: int) -> None:
        """Points not seen yet, by id; each batch commits with the watermark."""
        ctx, conn, us = self.ctx, self.conn, self.us
        last = after_id
        while True:
            ctx.check_stop()  # between batches: the last one is committed whole
            points = self.fetch("p.id <= ?", (wm,), last, ctx.batch_size)
            if not points:
                break
            rows, failed = self.process(points)
            conn.execute("BEGIN IMMEDIATE")
            try:
                self.write(rows)
                last = points[-1].id
                conn.execute("UPDATE skill_state SET point_watermark = ?, seen_change_id = ?, "
                             "updated_at = ? WHERE skill = ?",
                             (last, change_id, time.time(), us.name))
                conn.execute("INSERT INTO skill_changes (skill, from_ts, task_id, created_at)"
                             " VALUES (?, ?, ?, ?)",
                             (us.name, min(p.ts for p in points), ctx.task_id, time.time()))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            ctx.advance(len(points), failed)
        # Nothing new but state written: record the upstream changes as seen.
        conn.execute("UPDATE skill_state SET seen_change_id = ? WHERE skill = ?",
                     (change_id, us.name))

    def summary(self, mode: str, reason: str) -> dict[str, Any]:
        return {"mode": mode, "reason": reason, "processed": self.ctx.processed,
                "failed": self.ctx.failed, "rows_written": self.rows_written,
                "table": self.us.table, "seconds": round(time.monotonic() - self.started, 3)}

    def close(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        self.conn.close()


def _rows(out: Any, name: str) -> Iterable[Mapping[str, Any]]:
    if out is None:
        return []
    if isinstance(out, Mapping):  # {point_id: {column: value}}
        return [{"point_id": k, **v} for k, v in out.items()]
    rows = list(out)
    for row in rows:
        if type(row) is not dict and not isinstance(row, Mapping):  # dict: the fast case
            raise SkillError(f"{name} must return dicts with point_id and its columns, got "
                             f"{type(row).__name__}")
    return rows


def _sql_value(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if v is None or isinstance(v, int | float | str | bytes):
        return v
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    return json.dumps(v, default=str)


def _where(exc: BaseException, us: UserSkill) -> str:
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == str(us.file):
            line = lineno
    return f" ({us.file}:{line})" if line else ""


def run_skill(ctx: WorkerContext, us: UserSkill) -> dict[str, Any]:
    """Run ``us`` over the points of ``ctx``'s tracks.db (the worker's run function)."""
    missing = missing_requirements(us)
    if missing:
        raise SkillError(f"skill {us.name} needs package {missing[0]}: pip install "
                         f"{' '.join(missing)} (listed in {us.folder / 'requirements.txt'})")
    if us.process is None:  # pragma: no cover - load_skill without allow_static
        raise SkillError(f"skill {us.name} could not be loaded")
    runner = _Runner(ctx, us)
    try:
        return runner.run()
    finally:
        runner.close()


# ============================================================ test helper ==========
_TEST_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (id INTEGER PRIMARY KEY, ts FLOAT NOT NULL,
    lat FLOAT NOT NULL, lon FLOAT NOT NULL, altitude FLOAT, speed FLOAT, accuracy FLOAT,
    heading FLOAT, source TEXT);
CREATE TABLE IF NOT EXISTS skill_state (skill VARCHAR(100) PRIMARY KEY,
    version VARCHAR(20) NOT NULL, params_json TEXT NOT NULL,
    point_watermark INTEGER NOT NULL DEFAULT 0, seen_change_id INTEGER NOT NULL DEFAULT 0,
    updated_at FLOAT);
CREATE TABLE IF NOT EXISTS skill_changes (id INTEGER PRIMARY KEY, skill VARCHAR(100) NOT NULL,
    from_ts FLOAT NOT NULL, task_id INTEGER, created_at FLOAT);
CREATE TABLE IF NOT EXISTS outlier_flags (point_id INTEGER PRIMARY KEY, ts FLOAT NOT NULL,
    reasons INTEGER NOT NULL);
"""


def run_on_points(us: UserSkill, db_path: Path, points: Sequence[Sequence[float]],
                  params: Mapping[str, Any] | None = None,
                  task_type: str = "FULL_RECOMPUTE") -> dict[str, Any]:
    """Insert ``points`` ((ts, lat, lon[, accuracy]) each) into ``db_path`` and run ``us``.

    For a skill's own test: the tables it reads are created when missing (the same columns
    as a real tracks.db), so no trackdesk workspace is needed.
    """
    conn = sqlite3.connect(db_path)
    conn.executescript(_TEST_SCHEMA)
    conn.executemany("INSERT INTO points (ts, lat, lon, accuracy, source) VALUES (?,?,?,?,?)",
                     [(p[0], p[1], p[2], p[3] if len(p) > 3 else None, "test")
                      for p in points])
    conn.commit()
    conn.close()
    ctx = WorkerContext(us.name, 0, str(db_path), task_type,
                        us.spec.validate_params(dict(params or {})), out=io.StringIO())
    return run_skill(ctx, us)


# ================================================================= entry ============
def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        print("usage: python -m trackdesk.skills.user_worker SKILL --task-id N --db-path PATH",
              file=sys.stderr)
        sys.exit(EXIT_USAGE)
    name = sys.argv[1]
    folder = skills_dir() / name
    if not (folder / "skill.py").is_file():
        _fail_early(f"no user skill {name!r}: {folder / 'skill.py'} does not exist")
    missing = missing_requirements(folder)
    if missing:  # before skill.py runs: its imports would fail less clearly
        _fail_early(f"skill {name} needs package {missing[0]}: pip install "
                    f"{' '.join(missing)} (listed in {folder / 'requirements.txt'})")
    try:
        us = load_skill(folder)
    except SkillLoadError as exc:
        _fail_early(f"the skill {name} does not load: {exc.problem}")
    # Helper modules next to skill.py stay importable while the batch function runs.
    sys.path.insert(0, str(folder))
    run_worker(us.spec, lambda ctx: run_skill(ctx, us))


def _fail_early(message: str) -> None:
    # Before run_worker owns stdout: the protocol's error line, then exit "failed".
    sys.stdout.write(Error(message=message).encode() + "\n")
    sys.stdout.flush()
    sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    main()
