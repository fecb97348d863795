"""Blocking tracks.db access for the engine and the CLI: one plain sqlite3 connection.

Everything here blocks: the engine calls it through its single database thread, never on
the loop thread. The CLI and the REST API may insert tasks and requests directly: the
database is the queue.

One way to the database (docs/ENGINE.md, "Storage"): plain SQL on one ``sqlite3``
connection per store, every time written by :func:`sql_time` (naive UTC text, the format
the tables have always held). ``open_db`` checks and migrates the file first.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trackdesk.engine.records import TaskRecord, column_value
from trackdesk.tracks.db import connect_raw, open_db


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


# Every column of analysis_tasks but the id, in TaskRecord's order (TaskRecord.to_row).
_TASK_COLUMNS = frozenset(column_value(name, None)[0] for name in
                          TaskRecord.__dataclass_fields__) - {"id"}


def sql_time(value: Any) -> Any:
    """A datetime as the tables store times (naive UTC text); anything else as it is.

    The one time format of tracks.db: "2026-03-01 12:00:00.123456", what SQLAlchemy's
    SQLite DateTime wrote when the tables were made, so old rows and new sort together
    and ``datetime.fromisoformat`` reads both."""
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


def _chunks(ids: Sequence[int], size: int = 500) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield [int(i) for i in ids[start:start + size]]


def _marks(part: Sequence[Any]) -> str:
    return ",".join("?" * len(part))


class UnknownTaskError(LookupError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"no task with id {task_id}")
        self.task_id = task_id


class TaskStore:
    def __init__(self, db_path: Path | str, create: bool = True,
                 read_only: bool = False) -> None:
        self.db_path = Path(db_path).expanduser().resolve()
        self.read_only = read_only
        # Checks the file is a tracks.db and applies pending migrations.
        open_db(self.db_path, create=create, read_only=read_only).dispose()
        # SQLAlchemy's checkout, events and result set-up per statement cost several
        # times what SQLite itself does for the engine's tiny statements (a progress
        # write a few times a second, a look for new work twice a second): plain SQL.
        self._conn: sqlite3.Connection | None = connect_raw(self.db_path, read_only)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def conn(self) -> sqlite3.Connection:
        """The store's connection (autocommit; write through :meth:`writing`)."""
        if self._conn is None:
            raise sqlite3.ProgrammingError("the task store is closed")
        return self._conn

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, the lock taken up front (``BEGIN IMMEDIATE``): a
        deferred one upgrading to a write can fail at once with "database is locked"."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
              ) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

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
        conn = self.conn
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

    # -- tasks ------------------------------------------------------------------------
    def _records(self, sql: str, params: Sequence[Any] = ()) -> list[TaskRecord]:
        return [TaskRecord.from_row(r) for r in self._rows(sql, params)]

    def load_ids(self, ids: Iterable[int]) -> list[TaskRecord]:
        """The tasks with these ids, in id order (unknown ids are left out)."""
        out: list[TaskRecord] = []
        for part in _chunks(sorted(set(ids))):
            out += self._records(f"SELECT * FROM analysis_tasks WHERE id IN ({_marks(part)})"
                                 " ORDER BY id", part)
        return out

    def load_all(self) -> list[TaskRecord]:
        # Plain rows, parsed once per field kind (TaskRecord.from_row): opening years of
        # history stays quick.
        return self._records("SELECT * FROM analysis_tasks ORDER BY id")

    def load(self, task_id: int) -> TaskRecord:
        found = self._records("SELECT * FROM analysis_tasks WHERE id = ?", (task_id,))
        if not found:
            raise UnknownTaskError(task_id)
        return found[0]

    def load_after(self, after_id: int) -> list[TaskRecord]:
        return self._records("SELECT * FROM analysis_tasks WHERE id > ? ORDER BY id",
                             (after_id,))

    def max_id(self) -> int:
        return int(self.conn.execute(
            "SELECT COALESCE(MAX(id), 0) FROM analysis_tasks").fetchone()[0])

    def insert_tasks(self, records: Sequence[TaskRecord],
                     local_deps: Sequence[Sequence[int]] = ()) -> list[TaskRecord]:
        """Insert new tasks in one transaction and return them with their ids.

        ``records[i].depends_on_task_ids`` name existing tasks; ``local_deps[i]`` names
        positions in ``records`` (a chain inserted at once). Upstream tasks get the new
        ids in their ``blocks_task_ids`` in the same transaction, so the two lists never
        disagree.
        """
        now = sql_time(_now())
        with self.writing() as conn:
            existing = sorted({d for r in records for d in r.depends_on_task_ids})
            found: set[int] = set()
            for part in _chunks(existing):
                found |= {i for (i,) in conn.execute(
                    f"SELECT id FROM analysis_tasks WHERE id IN ({_marks(part)})", part)}
            missing = sorted(set(existing) - found)
            if missing:
                raise UnknownTaskError(missing[0])
            ids: list[int] = []
            deps: list[list[int]] = []
            for rec in records:
                values = {k: sql_time(v) for k, v in rec.to_row().items() if k != "id"}
                values["created_at"] = values["updated_at"] = now
                cols = list(values)
                cur = conn.execute(f"INSERT INTO analysis_tasks ({', '.join(cols)}) "
                                   f"VALUES ({_marks(cols)})", [values[c] for c in cols])
                assert cur.lastrowid is not None
                ids.append(cur.lastrowid)
                deps.append(list(rec.depends_on_task_ids))
            for i, local in enumerate(local_deps):
                if local:
                    deps[i] += [ids[j] for j in local]
                    conn.execute("UPDATE analysis_tasks SET depends_on_task_ids = ? "
                                 "WHERE id = ?", (json.dumps(deps[i]), ids[i]))
            blocks: dict[int, list[int]] = {}
            for task_id, upstream in zip(ids, deps, strict=True):
                for dep in upstream:
                    blocks.setdefault(dep, []).append(task_id)
            for dep, new_ids in blocks.items():
                (current,) = conn.execute("SELECT blocks_task_ids FROM analysis_tasks "
                                          "WHERE id = ?", (dep,)).fetchone()
                merged = list(json.loads(current or "[]"))
                merged += [i for i in new_ids if i not in merged]
                conn.execute("UPDATE analysis_tasks SET blocks_task_ids = ?, updated_at = ? "
                             "WHERE id = ?", (json.dumps(merged), now, dep))
        return self.load_ids(ids)

    def update_many(self, changes: dict[int, dict[str, Any]]) -> None:
        """Write only the changed columns of each task, in one transaction."""
        self.write_batch(changes, [])

    def write_batch(self, changes: dict[int, dict[str, Any]],
                    lines: Sequence[tuple[int, float, str, str, str]],
                    attempts: Sequence[dict[str, Any]] = ()) -> None:
        """The engine's periodic write: changed task columns, new log lines and ended
        attempts, in one transaction (a few times a second for the life of the app)."""
        if not changes and not lines and not attempts:
            return
        now = sql_time(_now())
        with self.writing() as conn:
            for task_id, values in changes.items():
                cols = [c for c in values if c in _TASK_COLUMNS]
                sql = ("UPDATE analysis_tasks SET " +
                       "".join(f"{c} = ?, " for c in cols) + "updated_at = ? WHERE id = ?")
                conn.execute(sql, [sql_time(values[c]) for c in cols] + [now, task_id])
            if lines:
                conn.executemany(
                    "INSERT INTO task_logs (task_id, ts, stream, level, message) "
                    "VALUES (?, ?, ?, ?, ?)", lines)
            for a in attempts:
                conn.execute(_ATTEMPT_INSERT, {k: sql_time(a.get(k)) for k in ATTEMPT_FIELDS})

    def _delete(self, conn: sqlite3.Connection, ids: Sequence[int]) -> None:
        for part in _chunks(ids):
            for table, column in (("task_attempts", "task_id"), ("task_logs", "task_id"),
                                  ("analysis_tasks", "id")):
                conn.execute(f"DELETE FROM {table} WHERE {column} IN ({_marks(part)})", part)

    def archive_tasks(self, tasks: Sequence[TaskRecord]) -> None:
        """Move finished tasks to task_archive (as JSON) and out of analysis_tasks."""
        now = sql_time(_now())
        # The attempts go with the task into its archived JSON (their rows go with it).
        attempts = self.attempts([t.id for t in tasks])
        with self.writing() as conn:
            conn.executemany(
                "INSERT INTO task_archive (id, archived_at, skill_name, status, end_time, "
                "task_json) VALUES (?, ?, ?, ?, ?, ?)",
                [(t.id, now, t.skill_name, t.status.value, sql_time(t.to_row()["end_time"]),
                  json.dumps({**t.to_dict(), "attempts": attempts.get(t.id, [])},
                             default=str)) for t in tasks])
            self._delete(conn, [t.id for t in tasks])

    def delete_tasks(self, ids: Sequence[int]) -> None:
        with self.writing() as conn:
            self._delete(conn, ids)

    # -- attempts ---------------------------------------------------------------------
    def attempts(self, task_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        """Every recorded attempt of these tasks, oldest first, by task id."""
        out: dict[int, list[dict[str, Any]]] = {}
        for part in _chunks(task_ids):
            for a in self._rows(f"SELECT * FROM task_attempts WHERE task_id IN "
                                f"({_marks(part)}) ORDER BY task_id, attempt", part):
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
        sql = ("SELECT id, task_id, ts, stream, level, message FROM task_logs "
               "WHERE task_id = ? AND id > ? ORDER BY id" + (" DESC" if tail else "") +
               " LIMIT ?")
        rows = self.conn.execute(sql, (task_id, after_id, limit)).fetchall()
        return [LogRecord(*r) for r in (rows[::-1] if tail else rows)]

    def log_counts(self, task_id: int, since: float) -> dict[str, int]:
        """Lines stored per stream for a task from ``since`` (epoch seconds) on."""
        rows = self.conn.execute("SELECT stream, COUNT(*) FROM task_logs WHERE task_id = ? "
                                 "AND ts >= ? GROUP BY stream", (task_id, since)).fetchall()
        return {stream: int(n) for stream, n in rows}

    # -- threshold profiles (their rules: trackdesk/engine/profiles.py) ----------------
    def profile_ids(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Ids of the threshold profiles named (skill, profile name) that exist."""
        wanted = set(pairs)
        if not wanted:
            return {}
        names = sorted({n for _, n in wanted})
        rows = self.conn.execute(f"SELECT skill_name, name, id FROM threshold_profiles "
                                 f"WHERE name IN ({_marks(names)})", names).fetchall()
        return {(sk, n): i for sk, n, i in rows if (sk, n) in wanted}

    # -- requests from other processes ------------------------------------------------
    def add_request(self, action: str, task_id: int | None = None,
                    payload: dict[str, Any] | None = None) -> int:
        with self.writing() as conn:
            cur = conn.execute("INSERT INTO task_requests (task_id, action, payload_json, "
                               "created_at) VALUES (?, ?, ?, ?)",
                               (task_id, action, json.dumps(payload or {}),
                                sql_time(_now())))
            assert cur.lastrowid is not None
            return cur.lastrowid

    def open_requests(self) -> list[RequestRecord]:
        return [self._request(r) for r in self._rows(
            "SELECT * FROM task_requests WHERE handled_at IS NULL ORDER BY id")]

    def get_request(self, request_id: int) -> RequestRecord:
        found = self._rows("SELECT * FROM task_requests WHERE id = ?", (request_id,))
        if not found:
            raise LookupError(f"no request with id {request_id}")
        return self._request(found[0])

    def finish_request(self, request_id: int, outcome: dict[str, Any]) -> None:
        with self.writing() as conn:
            conn.execute("UPDATE task_requests SET handled_at = ?, outcome = ? WHERE id = ?",
                         (sql_time(_now()), json.dumps(outcome), request_id))

    @staticmethod
    def _request(r: dict[str, Any]) -> RequestRecord:
        return RequestRecord(r["id"], r["task_id"], r["action"],
                             json.loads(r["payload_json"] or "{}"),
                             r["handled_at"] is not None,
                             json.loads(r["outcome"]) if r["outcome"] else None)

    # -- chain templates (their rules: chains.ChainTemplates) -------------------------
    @staticmethod
    def _template(r: dict[str, Any]) -> dict[str, Any]:
        return {"id": r["id"], "name": r["name"], "version": r["version"],
                "document": json.loads(r["document"]), "read_only": bool(r["read_only"])}

    def list_templates(self) -> list[dict[str, Any]]:
        return [self._template(r) for r in self._rows(
            "SELECT * FROM chain_templates ORDER BY name")]

    def get_template(self, name: str) -> dict[str, Any] | None:
        found = self._rows("SELECT * FROM chain_templates WHERE name = ?", (name,))
        return self._template(found[0]) if found else None

    def save_template(self, name: str, document: dict[str, Any], version: int = 1,
                      read_only: bool = False, overwrite_read_only: bool = False) -> None:
        now = sql_time(_now())
        with self.writing() as conn:
            row = conn.execute("SELECT read_only FROM chain_templates WHERE name = ?",
                               (name,)).fetchone()
            if row is None:
                conn.execute("INSERT INTO chain_templates (name, version, document, "
                             "read_only, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                             (name, version, json.dumps(document), int(read_only), now, now))
                return
            if row[0] and not overwrite_read_only:
                raise PermissionError(f"chain template {name!r} is read-only; copy it first")
            conn.execute("UPDATE chain_templates SET document = ?, version = ?, "
                         "read_only = ?, updated_at = ? WHERE name = ?",
                         (json.dumps(document), version, int(read_only), now, name))

    def delete_template(self, name: str) -> bool:
        with self.writing() as conn:
            row = conn.execute("SELECT read_only FROM chain_templates WHERE name = ?",
                               (name,)).fetchone()
            if row is None:
                return False
            if row[0]:
                raise PermissionError(f"chain template {name!r} is read-only")
            conn.execute("DELETE FROM chain_templates WHERE name = ?", (name,))
            return True
