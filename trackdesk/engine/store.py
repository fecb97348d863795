"""Blocking tracks.db access for the engine and the CLI (SQLAlchemy sessions).

Everything here blocks: the engine calls it through its single database thread, never on
the loop thread. The CLI and the REST API may insert tasks and requests directly: the
database is the queue.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from trackdesk.engine.records import TaskRecord
from trackdesk.tracks.db import connect_raw, open_db
from trackdesk.tracks.schema import (
    AnalysisTask,
    ChainTemplate,
    TaskArchive,
    TaskLog,
    TaskRequest,
    ThresholdProfile,
)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class LogRecord:
    id: int
    task_id: int
    ts: float
    stream: str
    level: str
    message: str


@dataclass(frozen=True)
class RequestRecord:
    id: int
    task_id: int | None
    action: str
    payload: dict[str, Any]
    handled: bool
    outcome: dict[str, Any] | None


_TASK_COLUMNS = frozenset(c.name for c in AnalysisTask.__table__.columns) - {"id"}


def _sql_time(value: Any) -> Any:
    """Datetimes as SQLAlchemy's SQLite DateTime type stores them (naive UTC text)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


# task_attempts (migration 8): one row per run of a task's worker, as it ended.
ATTEMPT_FIELDS = ("task_id", "task_type", "launcher", "started_at", "ended_at", "outcome",
                  "exit_reason", "error", "processed_points", "failed_points",
                  "total_points", "progress_percent", "peak_memory_mb", "cpu_time_s",
                  "result_summary")
# The attempt number is the task's next one, counted in the same transaction; a row for
# the same end (a run recorded again when it is rerun) is not written twice.
_ATTEMPT_INSERT = (
    "INSERT INTO task_attempts (attempt, " + ", ".join(ATTEMPT_FIELDS) + ") "
    "SELECT (SELECT COALESCE(MAX(attempt), 0) + 1 FROM task_attempts WHERE task_id = "
    ":task_id), " + ", ".join(f":{f}" for f in ATTEMPT_FIELDS) +
    " WHERE NOT EXISTS (SELECT 1 FROM task_attempts WHERE task_id = :task_id "
    "AND ended_at = :ended_at)")


def _delete_attempts(s: Session, ids: Sequence[int]) -> None:
    for start in range(0, len(ids), 500):
        part = list(ids[start:start + 500])
        s.execute(text(f"DELETE FROM task_attempts WHERE task_id IN "
                       f"({','.join(str(int(i)) for i in part)})"))


class UnknownTaskError(LookupError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"no task with id {task_id}")
        self.task_id = task_id


class TaskStore:
    def __init__(self, db_path: Path | str, create: bool = True,
                 read_only: bool = False) -> None:
        self.db_path = Path(db_path).expanduser().resolve()
        self.read_only = read_only
        self.sa: Engine = open_db(self.db_path, create=create, read_only=read_only)
        self._read = sessionmaker(self.sa, expire_on_commit=False)
        self._write = sessionmaker(self.sa.execution_options(immediate=True),
                                   expire_on_commit=False)
        # The engine's steady work (a progress write a few times a second, a look for
        # new tasks and requests twice a second) goes through one plain connection:
        # SQLAlchemy's checkout, events and result set-up per statement cost several
        # times what SQLite itself does for these tiny statements.
        self._plain: sqlite3.Connection | None = None

    def close(self) -> None:
        if self._plain is not None:
            self._plain.close()
            self._plain = None
        self.sa.dispose()

    def _conn(self) -> sqlite3.Connection:
        if self._plain is None:
            self._plain = connect_raw(self.db_path, self.read_only)
        return self._plain

    def news(self, known_max: int, seen_version: int | None = None
             ) -> tuple[list[int], bool, int]:
        """Ids of the tasks the caller may not know yet (it drops those it knows),
        whether requests are open, and the db's data version to pass back next time.

        Exact with several writers: a row another process inserted is pending until an
        engine adopts it, so "not known" is every pending row not in ``known`` plus any
        row above ``known_max`` (a watermark alone loses a row inserted just before the
        caller's own, higher one). Cheap when nothing is new: PRAGMA data_version moves
        only when another connection commits, and the id look-up reads the status
        index's pending range, not the table.
        """
        conn = self._conn()
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if seen_version is not None and version == seen_version:
            return [], False, version
        rows = conn.execute(
            "SELECT id FROM analysis_tasks WHERE status = 'pending' "
            "UNION SELECT id FROM analysis_tasks WHERE id > ?", (known_max,)).fetchall()
        asked = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM task_requests WHERE handled_at IS NULL)"
        ).fetchone()[0]
        return [i for (i,) in rows], bool(asked), version

    def load_ids(self, ids: Sequence[int]) -> list[TaskRecord]:
        """The tasks with these ids (plain rows, as load_all), in id order."""
        out: list[TaskRecord] = []
        for start in range(0, len(ids), 500):
            part = list(ids[start:start + 500])
            marks = ",".join("?" * len(part))
            out += self._records(f"SELECT * FROM analysis_tasks WHERE id IN ({marks}) "
                                 "ORDER BY id", part)
        return out

    # -- tasks ------------------------------------------------------------------------
    def load_all(self) -> list[TaskRecord]:
        # Plain rows on the plain connection, not ORM objects nor SQLAlchemy's DateTime
        # (a regular expression per stored time): opening years of history stays quick.
        return self._records("SELECT * FROM analysis_tasks ORDER BY id")

    def load(self, task_id: int) -> TaskRecord:
        with self._read() as s:
            row = s.get(AnalysisTask, task_id)
            if row is None:
                raise UnknownTaskError(task_id)
            return TaskRecord.from_row(row)

    def load_after(self, after_id: int) -> list[TaskRecord]:
        return self._records("SELECT * FROM analysis_tasks WHERE id > ? ORDER BY id",
                             (after_id,))

    def load_many(self, ids: Iterable[int]) -> list[TaskRecord]:
        ids = list(ids)
        if not ids:
            return []
        with self._read() as s:
            return [TaskRecord.from_row(r) for r in s.scalars(
                select(AnalysisTask).where(AnalysisTask.id.in_(ids)))]

    def _records(self, sql: str, params: Sequence[Any] = ()) -> list[TaskRecord]:
        cur = self._conn().execute(sql, params)
        names = [d[0] for d in cur.description]
        return [TaskRecord.from_row(dict(zip(names, row, strict=True))) for row in cur]

    def max_id(self) -> int:
        with self._read() as s:
            return int(s.scalar(select(func.coalesce(func.max(AnalysisTask.id), 0))))

    def insert_tasks(self, records: Sequence[TaskRecord],
                     local_deps: Sequence[Sequence[int]] = ()) -> list[TaskRecord]:
        """Insert new tasks in one transaction and return them with their ids.

        ``records[i].depends_on_task_ids`` name existing tasks; ``local_deps[i]`` names
        positions in ``records`` (a chain inserted at once). Upstream tasks get the new
        ids in their ``blocks_task_ids`` in the same transaction, so the two lists never
        disagree.
        """
        now = _now()
        with self._write() as s, s.begin():
            existing = {d for r in records for d in r.depends_on_task_ids}
            found = set(s.scalars(select(AnalysisTask.id).where(AnalysisTask.id.in_(existing))))
            missing = sorted(existing - found)
            if missing:
                raise UnknownTaskError(missing[0])
            rows = []
            for rec in records:
                values = rec.to_row()
                values.pop("id")
                values["created_at"] = values["updated_at"] = now
                row = AnalysisTask(**values)
                s.add(row)
                rows.append(row)
            s.flush()
            for i, deps in enumerate(local_deps):
                if deps:
                    ids = list(json.loads(rows[i].depends_on_task_ids))
                    ids += [rows[j].id for j in deps]
                    rows[i].depends_on_task_ids = json.dumps(ids)
            blocks: dict[int, list[int]] = {}
            for row in rows:
                for dep in json.loads(row.depends_on_task_ids):
                    blocks.setdefault(dep, []).append(row.id)
            for dep, new_ids in blocks.items():
                up = s.get(AnalysisTask, dep)
                merged = list(json.loads(up.blocks_task_ids or "[]"))
                merged += [i for i in new_ids if i not in merged]
                up.blocks_task_ids = json.dumps(merged)
                up.updated_at = now
            s.flush()
            return [TaskRecord.from_row(r) for r in rows]

    def update_many(self, changes: dict[int, dict[str, Any]]) -> None:
        """Write only the changed columns of each task, in one transaction."""
        self.write_batch(changes, [])

    def write_batch(self, changes: dict[int, dict[str, Any]],
                    lines: Sequence[tuple[int, float, str, str, str]],
                    attempts: Sequence[dict[str, Any]] = ()) -> None:
        """The engine's periodic write: changed task columns and new log lines, in one
        transaction. Plain SQL on the plain connection: this runs a few times a second
        for the whole life of the app, and the ORM's, then SQLAlchemy Core's,
        per-statement work was most of the engine's own cost per task."""
        if not changes and not lines and not attempts:
            return
        now = _sql_time(_now())
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for task_id, values in changes.items():
                cols = [c for c in values if c in _TASK_COLUMNS]
                sql = ("UPDATE analysis_tasks SET " +
                       "".join(f"{c} = ?, " for c in cols) + "updated_at = ? WHERE id = ?")
                conn.execute(sql, [_sql_time(values[c]) for c in cols] + [now, task_id])
            if lines:
                conn.executemany(
                    "INSERT INTO task_logs (task_id, ts, stream, level, message) "
                    "VALUES (?, ?, ?, ?, ?)", lines)
            for a in attempts:
                conn.execute(_ATTEMPT_INSERT, {k: _sql_time(a.get(k)) for k in ATTEMPT_FIELDS})
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def archive_tasks(self, tasks: Sequence[TaskRecord]) -> None:
        """Move finished tasks to task_archive (as JSON) and out of analysis_tasks."""
        now = _now()
        # The attempts go with the task into its archived JSON (their rows go with it).
        attempts = self.attempts([t.id for t in tasks])
        with self._write() as s, s.begin():
            s.execute(TaskArchive.__table__.insert(), [
                {"id": t.id, "archived_at": now, "skill_name": t.skill_name,
                 "status": t.status.value, "end_time": t.to_row()["end_time"],
                 "task_json": json.dumps({**t.to_dict(), "attempts": attempts.get(t.id, [])},
                                         default=str)} for t in tasks])
            ids = [t.id for t in tasks]
            _delete_attempts(s, ids)
            s.execute(delete(TaskLog).where(TaskLog.task_id.in_(ids)))
            s.execute(delete(AnalysisTask).where(AnalysisTask.id.in_(ids)))

    def delete_tasks(self, ids: Sequence[int]) -> None:
        with self._write() as s, s.begin():
            _delete_attempts(s, ids)
            s.execute(delete(TaskLog).where(TaskLog.task_id.in_(ids)))
            s.execute(delete(AnalysisTask).where(AnalysisTask.id.in_(ids)))

    # -- attempts ---------------------------------------------------------------------
    def attempts(self, task_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        """Every recorded attempt of these tasks, oldest first, by task id."""
        out: dict[int, list[dict[str, Any]]] = {}
        conn = self._conn()
        ids = list(task_ids)
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            cur = conn.execute(
                f"SELECT * FROM task_attempts WHERE task_id IN ({','.join('?' * len(part))})"
                " ORDER BY task_id, attempt", part)
            names = [d[0] for d in cur.description]
            for row in cur:
                a = dict(zip(names, row, strict=True))
                a.pop("id", None)
                if a.get("result_summary"):
                    try:
                        a["result_summary"] = json.loads(a["result_summary"])
                    except ValueError:
                        pass
                for key in ("started_at", "ended_at"):
                    if isinstance(a.get(key), str):
                        a[key] = a[key].replace(" ", "T") + "Z"
                out.setdefault(a["task_id"], []).append(a)
        return out

    # -- logs -------------------------------------------------------------------------
    def append_logs(self, lines: Sequence[tuple[int, float, str, str, str]]) -> None:
        self.write_batch({}, lines)

    def read_log(self, task_id: int, after_id: int = 0, limit: int = 1000,
                 tail: bool = False) -> list[LogRecord]:
        with self._read() as s:
            q = select(TaskLog).where(TaskLog.task_id == task_id, TaskLog.id > after_id)
            if tail:
                rows = list(s.scalars(q.order_by(TaskLog.id.desc()).limit(limit)))[::-1]
            else:
                rows = list(s.scalars(q.order_by(TaskLog.id).limit(limit)))
            return [LogRecord(r.id, r.task_id, r.ts, r.stream, r.level, r.message)
                    for r in rows]

    def profile_ids(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Ids of the threshold profiles named (skill, profile name) that exist."""
        wanted = set(pairs)
        if not wanted:
            return {}
        with self._read() as s:
            rows = s.execute(select(ThresholdProfile.skill_name, ThresholdProfile.name,
                                    ThresholdProfile.id)
                             .where(ThresholdProfile.name.in_({n for _, n in wanted}))).all()
        return {(sk, n): i for sk, n, i in rows if (sk, n) in wanted}

    def log_counts(self, task_id: int, since: float) -> dict[str, int]:
        """Lines stored per stream for a task from ``since`` (epoch seconds) on."""
        with self._read() as s:
            rows = s.execute(select(TaskLog.stream, func.count())
                             .where(TaskLog.task_id == task_id, TaskLog.ts >= since)
                             .group_by(TaskLog.stream)).all()
            return {stream: int(n) for stream, n in rows}

    # -- requests from other processes ------------------------------------------------
    def add_request(self, action: str, task_id: int | None = None,
                    payload: dict[str, Any] | None = None) -> int:
        with self._write() as s, s.begin():
            row = TaskRequest(task_id=task_id, action=action,
                              payload_json=json.dumps(payload or {}), created_at=_now())
            s.add(row)
            s.flush()
            return row.id

    def open_requests(self) -> list[RequestRecord]:
        with self._read() as s:
            rows = s.scalars(select(TaskRequest).where(TaskRequest.handled_at.is_(None))
                             .order_by(TaskRequest.id))
            return [self._request(r) for r in rows]

    def get_request(self, request_id: int) -> RequestRecord:
        with self._read() as s:
            return self._request(s.get(TaskRequest, request_id))

    def finish_request(self, request_id: int, outcome: dict[str, Any]) -> None:
        with self._write() as s, s.begin():
            s.execute(update(TaskRequest).where(TaskRequest.id == request_id)
                      .values(handled_at=_now(), outcome=json.dumps(outcome)))

    @staticmethod
    def _request(r: TaskRequest) -> RequestRecord:
        return RequestRecord(r.id, r.task_id, r.action, json.loads(r.payload_json or "{}"),
                             r.handled_at is not None,
                             json.loads(r.outcome) if r.outcome else None)

    # -- chain templates --------------------------------------------------------------
    def list_templates(self) -> list[dict[str, Any]]:
        with self._read() as s:
            return [{"id": r.id, "name": r.name, "version": r.version,
                     "document": json.loads(r.document), "read_only": r.read_only}
                    for r in s.scalars(select(ChainTemplate).order_by(ChainTemplate.name))]

    def get_template(self, name: str) -> dict[str, Any] | None:
        with self._read() as s:
            r = s.scalar(select(ChainTemplate).where(ChainTemplate.name == name))
            if r is None:
                return None
            return {"id": r.id, "name": r.name, "version": r.version,
                    "document": json.loads(r.document), "read_only": r.read_only}

    def save_template(self, name: str, document: dict[str, Any], version: int = 1,
                      read_only: bool = False, overwrite_read_only: bool = False) -> None:
        now = _now()
        with self._write() as s, s.begin():
            r = s.scalar(select(ChainTemplate).where(ChainTemplate.name == name))
            if r is None:
                s.add(ChainTemplate(name=name, version=version, document=json.dumps(document),
                                    read_only=read_only, created_at=now, updated_at=now))
                return
            if r.read_only and not overwrite_read_only:
                raise PermissionError(f"chain template {name!r} is read-only; copy it first")
            r.document = json.dumps(document)
            r.version = version
            r.read_only = read_only
            r.updated_at = now

    def delete_template(self, name: str) -> bool:
        with self._write() as s, s.begin():
            r = s.scalar(select(ChainTemplate).where(ChainTemplate.name == name))
            if r is None:
                return False
            if r.read_only:
                raise PermissionError(f"chain template {name!r} is read-only")
            s.delete(r)
            return True

    def session(self) -> Session:
        return self._read()
