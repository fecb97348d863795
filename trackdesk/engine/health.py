"""Health of a workspace: engine, tracks.db, disk, Docker, interrupted and stuck tasks.

Every check blocks (SQLite, the file system, the Docker API): call from a thread.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import psutil

from trackdesk.engine.lock import holder
from trackdesk.engine.records import TaskRecord, utcnow
from trackdesk.engine.states import Status
from trackdesk.skills.registry import SkillRegistry
from trackdesk.tracks.db import on_read_only_fs, ro_uri

LOW_DISK_BYTES = 1 << 30


def stuck_tasks(tasks: list[TaskRecord], registry: SkillRegistry) -> list[dict[str, Any]]:
    """Running tasks with no progress message for longer than their skill allows."""
    now = utcnow()
    out = []
    for t in tasks:
        if t.status != Status.RUNNING:
            continue
        limit = registry.get(t.skill_name).stuck_after_s if t.skill_name in registry else 300.0
        last = t.heartbeat_at or t.start_time
        if last is not None and (now - last).total_seconds() > limit:
            out.append({"id": t.id, "skill_name": t.skill_name,
                        "silent_s": round((now - last).total_seconds(), 1),
                        "limit_s": limit})
    return out


def check_health(db_path: Path, tasks: list[TaskRecord], registry: SkillRegistry,
                 docker: bool = True) -> dict[str, Any]:
    db_path = Path(db_path).expanduser().resolve()
    problems: list[str] = []
    who = holder(db_path)
    engine = {"running": who is not None, "pid": (who or {}).get("pid")}
    if who and who.get("pid") and not psutil.pid_exists(int(who["pid"])):
        engine["running"] = False
    size = sum(p.stat().st_size for p in (db_path, Path(f"{db_path}-wal"))
               if p.exists())
    try:
        conn = sqlite3.connect(ro_uri(db_path), uri=True, timeout=10)
        try:
            integrity = conn.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        integrity = f"cannot check: {exc}"
    if integrity != "ok":
        problems.append(f"tracks.db integrity: {integrity}")
    free = shutil.disk_usage(db_path.parent).free
    read_only = on_read_only_fs(db_path)
    if read_only:
        problems.append("the tracks.db is on a read-only file system: it can be shown, "
                        "not changed")
    elif free < LOW_DISK_BYTES:
        problems.append(f"only {free / 2**20:.0f} MB free next to the tracks.db")
    docker_info: dict[str, Any] = {"checked": docker}
    if docker:
        try:
            from trackdesk.engine.images import ImageManager

            report = ImageManager(registry=registry).sync()
            states = [s.state for s in report.skills]
            docker_info.update(
                reachable=True, present=states.count("present"),
                missing=states.count("missing"), outdated=states.count("outdated"),
                orphaned=len(report.orphaned))
            docker_info["in_sync"] = states.count("present") == len(states)
        except Exception as exc:  # noqa: BLE001 - Docker is optional: say why it's out
            docker_info.update(reachable=False, message=str(exc))
    interrupted = [t.id for t in tasks if t.status == Status.INTERRUPTED]
    # Running (or paused mid-run) while no engine holds the db: the engine that ran them
    # is gone (killed, crashed). Said at once; the next engine marks them interrupted.
    orphaned = [] if engine["running"] else [
        t.id for t in tasks if t.status == Status.RUNNING or
        (t.status == Status.PAUSED and t.worker_ref is not None)]
    if orphaned:
        problems.append(f"{len(orphaned)} task(s) marked running but no engine runs them "
                        f"(it was stopped or crashed): {', '.join(map(str, orphaned))}; "
                        "start trackdesk or `trackdesk run` to recover them")
    stuck = [x for x in stuck_tasks(tasks, registry) if x["id"] not in orphaned]
    if stuck:
        problems.append(f"{len(stuck)} stuck task(s): " +
                        ", ".join(str(s["id"]) for s in stuck))
    if interrupted:
        problems.append(f"{len(interrupted)} interrupted task(s) can be resumed")
    return {
        "healthy": not problems,
        "problems": problems,
        "engine": engine,
        "database": {"path": str(db_path), "size_bytes": size, "integrity": integrity,
                     "read_only": read_only},
        "disk": {"free_bytes": free},
        "docker": docker_info,
        "tasks": {"interrupted": interrupted, "stuck": stuck, "orphaned": orphaned},
    }


def format_health(h: dict[str, Any]) -> str:
    e, d, k = h["engine"], h["database"], h["docker"]
    lines = [
        "healthy" if h["healthy"] else "needs attention: " + "; ".join(h["problems"]),
        "engine: " + (f"running (pid {e['pid']})" if e["running"] else "not running"),
        f"tracks.db: {d['path']}, {d['size_bytes'] / 2**20:.1f} MB, integrity {d['integrity']}",
        f"free disk: {h['disk']['free_bytes'] / 2**30:.1f} GB",
    ]
    if not k.get("checked"):
        lines.append("docker: not checked")
    elif k.get("reachable"):
        lines.append(f"docker: reachable, images {k['present']} present, {k['missing']} "
                     f"missing, {k['outdated']} outdated, {k['orphaned']} orphaned")
    else:
        lines.append(f"docker: {k.get('message')}")
    return "\n".join(lines)
