"""The headless face of trackdesk: the same engine on a plain asyncio loop.

Exit status: 0 when every task waited for completed (or the command did what it said),
1 when any failed, was cancelled or was skipped, 2 for a usage error or bad input.
Bad input gets one clear line on stderr and changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from trackdesk.protocol import Priority, Status, TaskType  # stdlib only: a quick start

EXIT_OK = 0
EXIT_TASK_FAILED = 1
EXIT_USAGE = 2

STATUSES = tuple(s.value for s in Status)
TASK_TYPES = tuple(t.value for t in TaskType)
PRIORITIES = tuple(p.value for p in Priority)


class UsageError(Exception):
    """Bad input: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (the README promises it), not usage + error;
    subcommands inherit the class, so ``tasks frob`` says it in one line too."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


# ==================================================================== parser ========
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="trackdesk",
        description="Analyse your lifetime location history. Without a command, opens the "
        "desktop app.")
    p.add_argument("--db", metavar="PATH", default=None,
                   help="the tracks.db to use (default: $TRACKDESK_DB or the one in your "
                   "data folder)")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    p.add_argument("--install-desktop", action="store_true",
                   help="add trackdesk to your desktop menu and open track files with it")
    p.add_argument("--uninstall-desktop", action="store_true",
                   help="undo --install-desktop")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    tasks = sub.add_parser("tasks", help="list, create and control analysis tasks")
    tsub = tasks.add_subparsers(dest="tasks_command", metavar="ACTION", required=True)
    t = tsub.add_parser("list", help="list tasks")
    t.add_argument("--status", choices=STATUSES)
    t.add_argument("--json", action="store_true")
    t = tsub.add_parser("show", help="show one task")
    t.add_argument("id", type=int)
    t.add_argument("--json", action="store_true")
    t = tsub.add_parser("create", help="queue a task")
    t.add_argument("skill")
    t.add_argument("--type", dest="task_type", default=TaskType.INCREMENTAL.value,
                   choices=TASK_TYPES)
    t.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    t.add_argument("--priority", default=Priority.NORMAL.value, choices=PRIORITIES)
    t.add_argument("--depends-on", action="append", type=int, default=[], metavar="ID")
    t.add_argument("--launcher", choices=("local", "docker"), default=None)
    t.add_argument("--json", action="store_true")
    t = tsub.add_parser("cancel", help="cancel tasks")
    t.add_argument("ids", type=int, nargs="+", metavar="ID")
    t = tsub.add_parser("pause", help="pause a task")
    t.add_argument("id", type=int)
    t = tsub.add_parser("resume", help="resume a paused or interrupted task")
    t.add_argument("id", type=int)
    t = tsub.add_parser("rerun", help="queue a finished task again")
    t.add_argument("id", type=int)
    t.add_argument("--full", action="store_true", help="as a full recompute")
    t.add_argument("--downstream", action="store_true", help="and everything after it")
    t.add_argument("--launcher", choices=("local", "docker"), default=None,
                   help="run it with this launcher from now on")

    chain = sub.add_parser("chain", help="run analysis chains")
    csub = chain.add_subparsers(dest="chain_command", metavar="ACTION", required=True)
    c = csub.add_parser("run", help="run a chain template (the default chain without NAME)")
    c.add_argument("name", nargs="?", default=None)
    c.add_argument("--type", dest="task_type", default=TaskType.INCREMENTAL.value,
                   choices=TASK_TYPES)
    c.add_argument("--launcher", choices=("local", "docker"), default=None)
    c.add_argument("--wait", action="store_true", help="wait until the chain has finished")
    csub.add_parser("list", help="list chain templates")

    r = sub.add_parser("run", help="run the engine without a window")
    r.add_argument("--until-idle", action="store_true",
                   help="stop once no task is pending or running")

    skills = sub.add_parser("skills", help="the analysis skills")
    ssub = skills.add_subparsers(dest="skills_command", metavar="ACTION", required=True)
    s = ssub.add_parser("list", help="list the skills")
    s.add_argument("--json", action="store_true")
    s.add_argument("--sync", action="store_true",
                   help="compare with the Docker images: present, missing, outdated, orphaned")
    s = ssub.add_parser("build", help="build the Docker images of skills")
    s.add_argument("skills", nargs="*", metavar="SKILL")
    s.add_argument("--all", action="store_true")
    s.add_argument("--force", action="store_true", help="rebuild even when up to date")
    s = ssub.add_parser("purge", help="remove Docker images of skills")
    s.add_argument("skills", nargs="*", metavar="SKILL")
    s.add_argument("--orphaned", action="store_true", help="images of no current skill")
    s.add_argument("--force", action="store_true",
                   help="even when a pending or running task needs the image")
    s.add_argument("-y", "--yes", action="store_true", help="do not ask before deleting")
    s = ssub.add_parser("reload", help="load the user skills folder again, report broken "
                        "skills (file, line, reason); a running engine reloads too")
    s.add_argument("--json", action="store_true")
    s = ssub.add_parser("new", help="scaffold a user skill: skill.py, requirements.txt and "
                        "a test, in the user skills folder")
    s.add_argument("name", help="lower-case letters, digits and _, e.g. night_points")

    m = sub.add_parser("metrics", help="engine metrics: throughput, durations, failures")
    m.add_argument("--json", action="store_true")
    m.add_argument("--hours", type=float, default=24.0, help="the window (default 24 h)")
    st = sub.add_parser("status", help="health: engine, tracks.db, disk, Docker, stuck tasks")
    st.add_argument("--json", action="store_true")
    h = sub.add_parser("history", help="keep the task history small")
    hsub = h.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    hp = hsub.add_parser("prune", help="archive or remove finished tasks (results stay)")
    hp.add_argument("--older-than", type=float, metavar="DAYS", default=None)
    hp.add_argument("--keep", type=int, metavar="N", default=None,
                    help="keep the newest N finished tasks")
    hp.add_argument("--archive", action="store_true",
                    help="move them to the task_archive table instead of deleting them")

    imp = sub.add_parser("import", help="import track files, folders or zips")
    imp.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    imp.add_argument("--wait", action="store_true")
    imp.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")

    an = sub.add_parser("annotations", help="what imported files say about times: "
                        "activities, places, HOME/WORK")
    ansub = an.add_subparsers(dest="annotations_command", metavar="ACTION", required=True)
    a = ansub.add_parser("list", help="list annotations (read-only)")
    a.add_argument("--from", dest="t_from", metavar="TIME", default=None,
                   help="only those ending at or after TIME (ISO 8601 or epoch seconds)")
    a.add_argument("--to", dest="t_to", metavar="TIME", default=None,
                   help="only those starting at or before TIME")
    a.add_argument("--kind", choices=("activity", "place", "semantic"), default=None)
    a.add_argument("--source", default=None, help="google, geolife, gpx, fit, ...")
    a.add_argument("--json", action="store_true")

    # -- corrections (issue 20): the user's own say over the results ----------------
    co = sub.add_parser("correct", help="correct the analysis results (non-destructive, "
                        "undoable): modes, stays, trips, places, wrong points")
    cosub = co.add_subparsers(dest="correct_command", metavar="ACTION", required=True)
    x = cosub.add_parser("mode", help="this time range was travelled by MODE")
    x.add_argument("mode")
    x.add_argument("--from", dest="start", required=True, help="unix seconds or ISO time")
    x.add_argument("--to", dest="end", required=True, help="unix seconds or ISO time")
    for kind, what in (("merge-stays", "the stays in this range are one"),
                       ("merge-trips", "the trips in this range are one")):
        x = cosub.add_parser(kind, help=what)
        x.add_argument("--from", dest="start", required=True)
        x.add_argument("--to", dest="end", required=True)
    for kind, what in (("split-stay", "the stay around this time ends there"),
                       ("split-trip", "the trip around this time ends there")):
        x = cosub.add_parser(kind, help=what)
        x.add_argument("--at", dest="start", required=True)
    x = cosub.add_parser("rename-place", help="call place ID NAME")
    x.add_argument("place_id", type=int)
    x.add_argument("name")
    x = cosub.add_parser("merge-places", help="these places are one (the first id stays)")
    x.add_argument("place_ids", type=int, nargs="+")
    x = cosub.add_parser("bad-points", help="these points are wrong (ids or a time range)")
    x.add_argument("point_ids", type=int, nargs="*")
    x.add_argument("--from", dest="start")
    x.add_argument("--to", dest="end")
    for x in cosub.choices.values():
        x.add_argument("--note", default=None)
        x.add_argument("--json", action="store_true")
    x = cosub.add_parser("list", help="list corrections (undone ones too)")
    x.add_argument("--json", action="store_true")
    x = cosub.add_parser("undo", help="take a correction back")
    x.add_argument("id", type=int)
    x = cosub.add_parser("redo", help="put an undone correction back in force")
    x.add_argument("id", type=int)
    x = cosub.add_parser("export", help="write every correction to a JSON file")
    x.add_argument("file")
    x = cosub.add_parser("import", help="add the corrections of an exported JSON file")
    x.add_argument("file")

    sv = sub.add_parser("serve", help="serve the REST API, running the engine without a "
                        "window")
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1; any other needs --token)")
    sv.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free)")
    sv.add_argument("--token", default=None,
                    help="require 'Authorization: Bearer TOKEN' on every request "
                    "(default: $TRACKDESK_API_TOKEN)")

    # -- issue 21: countries and cities by dwell, export --------------------------------
    stx = sub.add_parser("stats", help="statistics from the analysed history")
    stsub = stx.add_subparsers(dest="stats_command", metavar="ACTION", required=True)
    for what, one in (("countries", "country"), ("cities", "city")):
        sc = stsub.add_parser(what, help=f"days and hours per {one} from stays (not points)")
        sc.add_argument("--year", type=int, default=None, help="only this calendar year")
        sc.add_argument("--min-minutes", type=float, default=60.0, metavar="M",
                        help="a day counts once stays there add up to M minutes (default 60)")
        sc.add_argument("--day-starts", type=int, default=0, metavar="HOUR",
                        help="local hour a day starts (default 0, midnight)")
        sc.add_argument("--json", action="store_true", help="print JSON")
    ex = sub.add_parser("export", help="export points to GPX, GeoJSON or CSV")
    ex.add_argument("file", metavar="FILE")
    ex.add_argument("--format", choices=("gpx", "geojson", "csv"), default=None,
                    help="default: from FILE's extension")
    ex.add_argument("--from", dest="first", default=None, metavar="DATE",
                    help="first day (YYYY-MM-DD, UTC), default: the first point")
    ex.add_argument("--to", dest="last", default=None, metavar="DATE",
                    help="last day (YYYY-MM-DD, UTC, included), default: the last point")
    ex.add_argument("--with-analysis", action="store_true",
                    help="add modes, stays, trips, places and time zones")
    return p


# ==================================================================== helpers =======
def _db_path(args: argparse.Namespace) -> Path:
    from trackdesk.tracks.db import default_db_path

    return Path(args.db).expanduser() if args.db else default_db_path()


def _store(path: Path, read: bool = False) -> Any:
    """The task store of ``path``. ``read``: a command that only reads never creates a
    tracks.db (nor its folders), and still works where the file cannot be written."""
    from trackdesk.engine.store import TaskStore
    from trackdesk.tracks.db import NotATracksDb, ReadOnlyTracksDb

    if read and not path.exists():
        raise UsageError(f"no tracks.db at {path} (nothing imported there yet)")
    try:
        return TaskStore(path, create=not read)
    except ReadOnlyTracksDb as exc:
        if not read:
            raise UsageError(str(exc)) from None
        try:
            return TaskStore(path, create=False, read_only=True)
        except NotATracksDb as again:
            raise UsageError(str(again)) from None
    except NotATracksDb as exc:
        raise UsageError(str(exc)) from None


def _key_values(items: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} {item!r} must look like KEY=VALUE")
        out[key.strip()] = value
    return out


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _fmt_task_line(t: Any) -> str:
    pct = f"{t.progress_percent:5.1f}%"
    pts = f"{t.processed_points}/{t.total_points}"
    eta = f"eta {t.eta_seconds:.0f}s" if t.eta_seconds is not None else ""
    return (f"{t.id:>6}  {t.skill_name:<22} {t.task_type:<15} {t.status.value:<11} "
            f"{pct} {pts:>17} failed {t.failed_points:<6} {eta}").rstrip()


def _engine_running(path: Path) -> dict | None:
    from trackdesk.engine.lock import holder

    return holder(path.expanduser().resolve())


# ==================================================================== commands ======
def cmd_tasks(args: argparse.Namespace) -> int:
    path = _db_path(args)
    action = args.tasks_command
    if action in ("list", "show", "create"):
        store = _store(path, read=action != "create")
        try:
            return _tasks_readwrite(args, store)
        finally:
            store.close()
    ids = args.ids if action == "cancel" else [args.id]
    payload = ({"full": args.full, "downstream": args.downstream, "launcher": args.launcher}
               if action == "rerun" else {})
    worst = EXIT_OK
    for task_id in ids:
        outcome = control(path, action, task_id, payload)
        if outcome.get("ok"):
            print(f"task {task_id}: {action} done")
        else:
            print(f"trackdesk: {outcome.get('message')}", file=sys.stderr)
            worst = EXIT_USAGE
    return worst


def _tasks_readwrite(args: argparse.Namespace, store: Any) -> int:
    from trackdesk.engine.engine import Engine, EngineError
    from trackdesk.engine.store import UnknownTaskError

    if args.tasks_command == "list":
        tasks = store.load_all()
        if args.status:
            tasks = [t for t in tasks if t.status.value == args.status]
        if args.json:
            _print_json([t.to_dict() for t in tasks])
        else:
            for t in tasks:
                print(_fmt_task_line(t))
        return EXIT_OK
    if args.tasks_command == "show":
        try:
            t = store.load(args.id)
        except UnknownTaskError as exc:
            raise UsageError(str(exc)) from None
        attempts = store.attempts([t.id]).get(t.id, [])
        if args.json:
            _print_json({**t.to_dict(), "attempts": attempts})
        else:
            for key, value in t.to_dict().items():
                print(f"{key:>22}: {value}")
            _print_attempts(attempts)
        return EXIT_OK
    # create
    from trackdesk.skills.registry import load_registry

    params = _key_values(args.param, "--param")
    try:
        rec = Engine.new_record(load_registry(), args.skill, args.task_type, params,
                                args.priority, args.depends_on, args.launcher or "local",
                                "cli")
        [saved] = store.insert_tasks([rec])
    except EngineError as exc:
        raise UsageError(str(exc)) from None
    except UnknownTaskError as exc:
        raise UsageError(f"--depends-on: {exc}") from None
    if args.json:
        _print_json(saved.to_dict())
    else:
        print(f"task {saved.id} queued: {saved.skill_name} ({saved.task_type})")
    return EXIT_OK


def _print_attempts(attempts: Sequence[dict[str, Any]]) -> None:
    """Every ended run of the task (a rerun reuses the id and keeps these)."""
    print(f"{'attempts':>22}: {len(attempts) or 'none ended yet'}")
    for a in attempts:
        why = a.get("error") or a.get("exit_reason") or ""
        why = why.splitlines()[0] if why else ""
        peak = f", peak {a['peak_memory_mb']:.0f} MB" if a.get("peak_memory_mb") else ""
        print(f"{'#' + str(a['attempt']):>22}: {a['outcome']:<11} {a.get('started_at') or '-'}"
              f" -> {a['ended_at']}  {a.get('processed_points') or 0}/"
              f"{a.get('total_points') or 0} points, {a.get('launcher')}{peak}"
              f"{'  ' + why if why else ''}")


def control(path: Path, action: str, task_id: int | None, payload: dict[str, Any],
            timeout: float = 15.0) -> dict[str, Any]:
    """Ask the engine driving ``path`` to act on a task, or act directly when none runs."""
    from trackdesk.engine.engine import Engine
    from trackdesk.engine.lock import EngineLockedError

    if _engine_running(path) is None:
        async def direct() -> dict[str, Any]:
            engine = Engine(path)
            await engine.start(schedule=False)
            try:
                return await engine.handle_request(action, task_id, payload)
            finally:
                await engine.stop(running="leave")

        try:
            return asyncio.run(direct())
        except EngineLockedError:
            pass  # an engine started meanwhile: ask it instead
    store = _store(path)
    try:
        req = store.add_request(action, task_id, payload)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = store.get_request(req)
            if r.handled:
                return r.outcome or {"ok": False, "message": "no answer"}
            time.sleep(0.1)
        return {"ok": False, "message": f"the running engine did not answer within "
                f"{timeout:g} s; the request stays queued"}
    finally:
        store.close()


def cmd_chain(args: argparse.Namespace) -> int:
    from trackdesk.engine.engine import Engine, EngineError
    from trackdesk.skills.registry import load_registry

    path = _db_path(args)
    store = _store(path)
    registry = load_registry()
    try:
        if args.chain_command == "list":
            for tpl in store.list_templates():
                ro = " (read-only)" if tpl["read_only"] else ""
                print(f"{tpl['name']}{ro}: {len(tpl['document'].get('nodes', []))} skills")
            return EXIT_OK
        try:
            records, local = Engine.plan_chain_run(store, registry, args.name,
                                                   args.task_type, args.launcher or "local",
                                                   "cli")
        except (EngineError, ValueError) as exc:
            raise UsageError(str(exc)) from None
    finally:
        store.close()
    return queue_and_maybe_wait(path, records, local, args.wait)


def queue_and_maybe_wait(path: Path, records: list, local: list, wait: bool) -> int:
    """Insert the tasks; with ``wait`` run them here, or follow the engine that runs."""
    _store(path).close()  # creates a missing tracks.db; refuses a file that is not one
    if not wait or _engine_running(path) is not None:
        store = _store(path)
        try:
            saved = store.insert_tasks(records, local)
        finally:
            store.close()
        ids = [t.id for t in saved]
        print(_queued_line(saved), file=sys.stderr)
        if not wait:
            return EXIT_OK
        return follow(path, ids)
    return run_here(path, records, local)


def _queued_line(saved: Sequence[Any]) -> str:
    """"queued task 7 (import)", "queued 9 tasks: 1, 2, ..." (issue 18: one task was
    announced as "queued tasks 7")."""
    if len(saved) == 1:
        return f"queued task {saved[0].id} ({saved[0].skill_name})"
    return f"queued {len(saved)} tasks: {', '.join(str(t.id) for t in saved)}"


def _exit_for(tasks: Sequence[Any]) -> int:
    return EXIT_OK if all(t.status == Status.COMPLETED for t in tasks) else EXIT_TASK_FAILED


def _ended(t: Any) -> bool:
    """Nothing more happens to this task without a person: finished, or interrupted."""
    from trackdesk.engine.states import ENDED  # stdlib and the protocol only

    return t.status in ENDED


# How often a follower looks at its tasks and at the engine's lock (seconds).
FOLLOW_POLL_S = 0.5


def follow(path: Path, ids: list[int]) -> int:
    """Watch tasks that another engine runs, until they have all ended.

    The engine's liveness is its lock (trackdesk/engine/lock.py): an flock the OS drops
    the moment the engine's process ends, however it ends. When it is gone with our
    tasks unfinished, this process takes over: it starts an engine itself, which marks
    what the dead one left running as interrupted (never resumed behind the user's
    back) and runs what is still pending. So --wait never hangs on a dead engine."""
    view = ProgressView()
    store = _store(path)
    try:
        while True:
            tasks = store.load_ids(ids)
            view.show(tasks)
            if all(_ended(t) for t in tasks):
                break
            if _engine_running(path) is None:
                store.close()
                code = run_here(path, [], [], ids=ids)
                if code != -1:
                    return code
                store = _store(path)  # another follower took over first: follow it
                continue
            time.sleep(FOLLOW_POLL_S)
    finally:
        store.close()
    view.done(tasks)
    return _say_end(tasks)


def run_here(path: Path, records: list, local: list, ids: list[int] | None = None) -> int:
    """No engine drives the db: run one in this process until these tasks end.

    ``records`` are inserted first; ``ids`` name tasks already queued (a follower taking
    over). Returns -1 when another engine holds the db."""
    from trackdesk.engine.engine import Engine
    from trackdesk.engine.lock import EngineLockedError

    async def main() -> int:
        engine = Engine(path, settings=_settings_from_env())
        try:
            await engine.start()
        except EngineLockedError:
            return -1
        view = ProgressView()
        stop = _install_stop(engine)
        own = list(ids or [])
        try:
            if records:
                saved = await engine.queue(records, local)
                own = [t.id for t in saved]
            while not stop.is_set():
                tasks = [engine.tasks[i] for i in own if i in engine.tasks]
                view.show(tasks)
                # Ours have ended: start nothing more and stop once nothing runs. A task
                # another process queued and this engine adopted is never cut off in
                # the middle (its follower takes over what is still pending once we
                # are gone).
                if engine.is_idle() or all(_ended(t) for t in tasks):
                    engine.drain()
                    if not engine.busy():
                        break
                await asyncio.sleep(0.2)
        finally:
            await engine.stop(running="stop")
        return _report_end(engine, own, view)

    code = asyncio.run(main())
    if code == -1 and records:  # lost the race to another engine: hand over and follow it
        return queue_and_maybe_wait(path, records, local, True)
    return code


def _report_end(engine: Any, ids: list[int], view: ProgressView) -> int:
    """Show the tasks as tracks.db holds them now, not as this process last saw them:
    when the final write failed (a full disk), the terminal must not claim an outcome
    the db does not record."""
    from trackdesk.engine.store import TaskStore

    unsaved = engine.unsaved_error
    try:
        store = TaskStore(engine.db_path, create=False)
        try:
            tasks = store.load_ids(ids)
        finally:
            store.close()
    except Exception:  # noqa: BLE001 - the db cannot even be read: say what we know
        tasks = [engine.tasks[i] for i in ids if i in engine.tasks]
    view.done(tasks)
    if unsaved:
        print(f"trackdesk: could not save the last task states to {engine.db_path}: "
              f"{unsaved}; shown above is what the db holds (the next start marks "
              "unfinished tasks interrupted)", file=sys.stderr)
        return EXIT_TASK_FAILED
    return _say_end(tasks)


def _say_end(tasks: Sequence[Any]) -> int:
    """One line when the tasks did not all end by themselves; the exit status."""
    interrupted = [t.id for t in tasks if t.status == Status.INTERRUPTED]
    waiting = [t.id for t in tasks if t.status in (Status.PENDING, Status.PAUSED)]
    if interrupted:
        listed = " ".join(map(str, interrupted))
        print(f"trackdesk: the engine stopped before task(s) {listed} finished; resume "
              f"with: trackdesk tasks resume ID", file=sys.stderr)
    elif waiting:
        listed = " ".join(map(str, waiting))
        print(f"trackdesk: task(s) {listed} did not start: they wait for a paused or "
              "interrupted task to be resumed, or for an engine (trackdesk run)",
              file=sys.stderr)
    return _exit_for(tasks)


def _settings_from_env() -> Any:
    from trackdesk.engine.engine import EngineSettings

    settings = EngineSettings(created_by="cli")
    raw = os.environ.get("TRACKDESK_CONCURRENCY", "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise UsageError(f"TRACKDESK_CONCURRENCY must be a whole number of at least 1, "
                             f"not {raw!r}")
        settings.concurrency = int(raw)
    return settings


def _install_stop(engine: Any) -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    return stop


class ProgressView:
    """A live progress bar per task on a terminal; state changes as lines otherwise."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._drawn = 0
        self._last: dict[int, str] = {}

    def show(self, tasks: Sequence[Any]) -> None:
        if self.tty:
            if self._drawn:
                self.stream.write(f"\x1b[{self._drawn}F")
            for t in tasks:
                filled = int(t.progress_percent / 5)
                bar = "#" * filled + "-" * (20 - filled)
                eta = f" eta {t.eta_seconds:.0f}s" if t.eta_seconds else ""
                self.stream.write(f"\x1b[2K{t.id:>5} {t.skill_name:<22} [{bar}] "
                                  f"{t.progress_percent:5.1f}% {t.status.value}{eta}\n")
            self._drawn = len(tasks)
            self.stream.flush()
            return
        for t in tasks:
            if self._last.get(t.id) != t.status.value:
                self._last[t.id] = t.status.value
                print(f"task {t.id} {t.skill_name}: {t.status.value}", file=self.stream)

    def done(self, tasks: Sequence[Any]) -> None:
        self.show(tasks)
        for t in tasks:
            if t.status in (Status.FAILED, Status.SKIPPED, Status.CANCELLED):
                why = (t.error_message or t.status_reason or "").splitlines()[:1]
                print(f"task {t.id} {t.skill_name} {t.status.value}"
                      f"{': ' + why[0] if why else ''}", file=self.stream)
            elif t.status == Status.COMPLETED and t.status_reason:
                # A completion with a caveat ("completed with 1 of 3 file(s) not
                # imported"): said, not left for the user to find.
                print(f"task {t.id} {t.skill_name} {t.status_reason}", file=self.stream)


def cmd_run(args: argparse.Namespace) -> int:
    from trackdesk.engine.engine import Engine
    from trackdesk.engine.lock import EngineLockedError

    path = _db_path(args)
    _store(path).close()  # a clear message for a file that is not a tracks.db

    async def main() -> int:
        engine = Engine(path, settings=_settings_from_env())
        try:
            await engine.start()
        except EngineLockedError as exc:
            raise UsageError(str(exc)) from None
        stop = _install_stop(engine)
        print(f"trackdesk engine running on {path}", file=sys.stderr)
        try:
            while not stop.is_set():
                if args.until_idle and engine.is_idle():
                    # Give tasks queued by other processes a poll interval to show up.
                    await asyncio.sleep(engine.settings.poll_interval_s * 2)
                    if engine.is_idle():
                        break
                await asyncio.sleep(0.2)
        finally:
            await engine.stop(running="stop")
        return EXIT_OK

    return asyncio.run(main())


def cmd_skills(args: argparse.Namespace) -> int:
    from trackdesk.skills.registry import load_registry

    if args.skills_command in ("build", "purge") or getattr(args, "sync", False):
        return _skills_images(args)
    if args.skills_command in ("new", "reload"):
        from trackdesk.cli_user_skills import cmd_new, cmd_reload

        return cmd_new(args) if args.skills_command == "new" else cmd_reload(args)
    registry = load_registry()
    for problem in registry.problems:  # a broken user skill is said, never fatal
        lead = "user skill not loaded" if problem.fatal else "user skill"
        print(f"trackdesk: {lead}: {problem}", file=sys.stderr)
    specs = registry.specs()
    if args.json:
        _print_json([s.to_dict() for s in specs])
        return EXIT_OK
    for s in specs:
        up = ", ".join(s.upstream) or "-"
        print(f"{s.name:<22} {s.version:<8} {s.kind:<8} after: {up}")
        for p in s.params:
            unit = f" {p.unit}" if p.unit else ""
            bounds = ""
            if p.min is not None or p.max is not None:
                bounds = f" [{p.min if p.min is not None else ''}..{p.max if p.max is not None else ''}]"
            print(f"{'':<4}{p.name} = {p.default}{unit}{bounds}  {p.help}")
    return EXIT_OK


def _skills_images(args: argparse.Namespace) -> int:
    """The Docker side of the skills: sync listing, build, purge."""
    from trackdesk.engine.images import (
        ImageInUseError,
        ImageManager,
        format_sync,
        skills_needed_by,
    )
    from trackdesk.engine.launchers.base import LauncherUnavailable

    try:
        mgr = ImageManager()
        if args.skills_command == "list":
            report = mgr.sync()
            if args.json:
                _print_json(report.to_dict())
            else:
                print(format_sync(report))
            return EXIT_OK
        if args.skills_command == "build":
            if not args.skills and not args.all:
                raise UsageError("name the skills to build, or --all")
            built = mgr.build(None if args.all else args.skills, force=args.force,
                              log=lambda line: print(line, file=sys.stderr))
            print(f"built {len(built)} image(s)")
            return EXIT_OK
        if not args.skills and not args.orphaned:
            raise UsageError("name the skills whose images to remove, or --orphaned")

        def needed() -> set[str]:
            store = _store(_db_path(args))
            try:
                return skills_needed_by(store.load_all())
            finally:
                store.close()

        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError("purge deletes images: confirm with -y when not on a terminal")
            what = ", ".join(args.skills) + (" and " if args.skills and args.orphaned else "")
            what += "the orphaned images" if args.orphaned else ""
            if input(f"remove the images of {what}? [y/N] ").strip().lower() not in ("y", "yes"):
                print("nothing removed")
                return EXIT_OK
        for tag in mgr.purge(args.skills, orphaned=args.orphaned, force=args.force,
                             needed=needed):
            print(f"removed {tag}")
        return EXIT_OK
    except ImageInUseError as exc:
        raise UsageError(f"{exc}; use --force to remove them anyway") from None
    except (LauncherUnavailable, RuntimeError, ValueError, KeyError) as exc:
        raise UsageError(str(exc).strip("'\"")) from None


def cmd_metrics(args: argparse.Namespace) -> int:
    from trackdesk.engine.metrics import compute_metrics, format_metrics

    store = _store(_db_path(args), read=True)
    try:
        m = compute_metrics(store.load_all(), hours=args.hours)
    finally:
        store.close()
    if args.json:
        _print_json(m)
    else:
        print(format_metrics(m))
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from trackdesk.engine.health import check_health, format_health
    from trackdesk.skills.registry import load_registry

    path = _db_path(args)
    store = _store(path, read=True)
    try:
        tasks = store.load_all()
    finally:
        store.close()
    h = check_health(path, tasks, load_registry())
    if args.json:
        _print_json(h)
    else:
        print(format_health(h))
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    if args.older_than is None and args.keep is None:
        raise UsageError("history prune needs --older-than DAYS, --keep N, or both")
    if (args.older_than is not None and args.older_than < 0) or \
            (args.keep is not None and args.keep < 0):
        raise UsageError("--older-than and --keep must not be negative")
    payload = {"older_than_s": None if args.older_than is None else args.older_than * 86400,
               "keep": args.keep, "archive": args.archive}
    outcome = control(_db_path(args), "prune", None, payload)
    if not outcome.get("ok"):
        raise UsageError(outcome.get("message", "prune failed"))
    ids = outcome.get("result") or []
    verb = "archived" if args.archive else "removed"
    print(f"{verb} {len(ids)} finished task(s)")
    return EXIT_OK


def cmd_annotations(args: argparse.Namespace) -> int:
    import sqlite3
    from datetime import UTC, datetime

    from trackdesk.tracks.annotations import annotations_between

    path = _db_path(args)
    t0, t1 = _moment(args.t_from, "--from"), _moment(args.t_to, "--to")
    if not path.exists():
        raise UsageError(f"no tracks.db at {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = annotations_between(conn, t0, t1, kind=args.kind, source=args.source)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if args.json:
        _print_json([r.to_dict() for r in rows])
        return EXIT_OK

    def iso(ts: float) -> str:
        if ts == 0:  # tracks.base.NO_TIME: a place saved without a time (a GPX waypoint)
            return f"{'(no time)':<19}"
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")

    for r in rows:
        where = f"  {r.lat:.5f},{r.lon:.5f}" if r.lat is not None and r.lon is not None else ""
        raw = f" ({r.raw})" if r.raw and r.raw != r.value else ""
        print(f"{iso(r.start_ts)}  {iso(r.end_ts)}  {r.kind:<8} {r.value}{raw}  "
              f"[{r.source}]{where}")
    print(f"{len(rows)} annotation(s)", file=sys.stderr)
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from trackdesk.engine.engine import Engine, EngineError
    from trackdesk.skills.registry import load_registry
    from trackdesk.tracks.formats import expand

    path = _db_path(args)
    options = _key_values(args.option, "--option")
    files, skipped = expand(args.paths, options=options)
    refused = [sk for sk in skipped if sk.explicit]
    if refused and not files:
        listing = "; ".join(f"{sk.name}: {sk.reason}" for sk in refused)
        raise UsageError(f"cannot import {listing}")
    for sk in refused:  # the others are imported; the task's summary lists these too
        print(f"not importing {sk.name}: {sk.reason}", file=sys.stderr)
    if not files:
        found = "; ".join(f"{sk.name}: {sk.reason}" for sk in skipped[:10])
        raise UsageError("nothing to import: no supported track files found"
                         + (f" ({found})" if found else ""))
    # The worker expands folders and zips itself; it gets what the user named.
    params = {"paths": json.dumps([str(Path(p).expanduser().resolve()) for p in args.paths]),
              **options}
    try:
        rec = Engine.new_record(load_registry(), "import", "INCREMENTAL", params, "high", (),
                                "local", "cli")
    except EngineError as exc:
        raise UsageError(str(exc)) from None
    return queue_and_maybe_wait(path, [rec], [[]], args.wait)


def cmd_serve(args: argparse.Namespace) -> int:
    """The engine and the REST API on one loop until SIGINT or SIGTERM."""
    from trackdesk.api.server import ApiConfigError, check_bind, start_api
    from trackdesk.engine.engine import Engine
    from trackdesk.engine.lock import EngineLockedError

    path = _db_path(args)
    # The environment keeps the token out of `ps`; --token wins when both are given.
    token = args.token if args.token is not None else os.environ.get("TRACKDESK_API_TOKEN")
    try:
        check_bind(args.host, token or None)
    except ApiConfigError as exc:
        raise UsageError(str(exc)) from None
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port number (0 to 65535)")
    _store(path).close()  # a clear message for a file that is not a tracks.db

    async def main() -> int:
        engine = Engine(path, settings=_settings_from_env())
        try:
            await engine.start()
        except EngineLockedError as exc:
            raise UsageError(f"{exc}; the running app can serve the API itself "
                             "(Settings)") from None
        try:
            try:
                server = await start_api(engine, args.host, args.port, token or None)
            except (ApiConfigError, OSError) as exc:
                raise UsageError(f"cannot serve on {args.host}:{args.port}: {exc}") from None
            stop = _install_stop(engine)
            print(f"trackdesk API on {server.url} (engine on {path}); Ctrl+C stops",
                  file=sys.stderr, flush=True)
            try:
                await stop.wait()
            finally:
                await server.stop()
        finally:
            await engine.stop(running="stop")
        return EXIT_OK

    return asyncio.run(main())


def _moment(text: str | None, flag: str = "") -> float | None:
    """Unix seconds or an ISO 8601 time (UTC unless it says otherwise); ``flag`` names
    the option in the message."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    from datetime import UTC, datetime

    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{flag + ' ' if flag else ''}{text!r} is not a time: give unix "
                         "seconds or an ISO time such as 2026-01-05T08:30") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def cmd_correct(args: argparse.Namespace) -> int:
    """Corrections live in tracks.db; the next chain run applies them."""
    from trackdesk.tracks import corrections as corr

    path = _db_path(args)
    _store(path).close()  # migrates, and a clear message for a file that is no tracks.db
    from trackdesk.tracks.db import connect_raw

    conn = connect_raw(path)
    try:
        action = args.correct_command
        if action == "list":
            rows = corr.list_all(conn)
            if args.json:
                _print_json(rows)
            for c in [] if args.json else rows:
                state = "undone" if c["undone_at"] else "in force"
                span = "" if c["start_ts"] is None else f" {c['start_ts']:.0f}..{c['end_ts']:.0f}"
                print(f"{c['id']:>5}  {c['kind']:<13} {state:<8}{span} {c['value'] or ''} "
                      f"{c['target_ids'] or ''}".rstrip())
            return EXIT_OK
        if action in ("undo", "redo"):
            row = getattr(corr, action)(conn, args.id)
            print(f"correction {row['id']} {'undone' if action == 'undo' else 'in force again'}"
                  "; run the chain to apply")
            return EXIT_OK
        if action == "export":
            Path(args.file).expanduser().write_text(
                json.dumps(corr.export_json(conn), indent=2), encoding="utf-8")
            print(f"wrote {len(corr.list_all(conn))} correction(s) to {args.file}")
            return EXIT_OK
        if action == "import":
            try:
                doc = json.loads(Path(args.file).expanduser().read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise UsageError(f"cannot read {args.file}: {exc}") from None
            print(f"added {corr.import_json(conn, doc)} correction(s)")
            return EXIT_OK
        kind = action.replace("-", "_")
        value = ids = None
        if kind == "mode":
            value = args.mode
        elif kind == "rename_place":
            value, ids = args.name, [args.place_id]
        elif kind == "merge_places":
            ids = args.place_ids
        elif kind == "bad_points":
            ids = args.point_ids
        row = corr.add(conn, kind, _moment(args.start), _moment(getattr(args, "end", None)), value,
                       ids, args.note)
        if args.json:
            _print_json(row)
        else:
            print(f"correction {row['id']} stored ({kind}); run the chain to apply it")
        return EXIT_OK
    except corr.CorrectionError as exc:
        raise UsageError(str(exc)) from None
    finally:
        conn.close()


# -- issue 21: stats countries/cities, export ------------------------------------------
def cmd_stats(args: argparse.Namespace) -> int:
    import sqlite3

    from trackdesk.geodata.dwell import dwell_by

    path = _db_path(args)
    if not path.exists():
        raise UsageError(f"no tracks.db at {path}")
    if not 0 <= args.day_starts <= 23:
        raise UsageError("--day-starts must be an hour from 0 to 23")
    if args.min_minutes < 0:
        raise UsageError("--min-minutes cannot be negative")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        by = "country" if args.stats_command == "countries" else "city"
        rows = dwell_by(conn, by, args.year, args.min_minutes, args.day_starts)
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    finally:
        conn.close()
    if args.json:
        _print_json([r.to_dict() for r in rows])
        return EXIT_OK
    if not rows:
        print("no stays yet: import tracks and run the chain (trackdesk chain run --wait)")
        return EXIT_OK
    head = "country" if by == "country" else "city"
    print(f"{head:<28} {'code':<5} {'days':>5} {'hours':>9}  first       last")
    for r in rows:
        print(f"{r.name[:28]:<28} {r.country_code:<5} {r.days:>5} {r.hours:>9.1f}  "
              f"{r.first_day or '-':<10}  {r.last_day or '-'}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from datetime import date

    from trackdesk.tracks.export import ExportError, export

    def day(text: str | None, flag: str) -> date | None:
        if text is None:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise UsageError(f"{flag} {text!r} is not a date (YYYY-MM-DD)") from None

    try:
        res = export(_db_path(args), Path(args.file).expanduser(), args.format,
                     day(args.first, "--from"), day(args.last, "--to"), args.with_analysis)
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    extra = f", {res.stays} stays, {res.places} places" if res.stays or res.places else ""
    print(f"exported {res.points} points in {res.tracks} tracks{extra} to {res.path} "
          f"({res.format})")
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "stats": cmd_stats,
    "export": cmd_export,
    "correct": cmd_correct,
    "tasks": cmd_tasks,
    "chain": cmd_chain,
    "run": cmd_run,
    "skills": cmd_skills,
    "import": cmd_import,
    "metrics": cmd_metrics,
    "status": cmd_status,
    "history": cmd_history,
    "serve": cmd_serve,
    "annotations": cmd_annotations,
}


def _split_files(argv: list[str]) -> tuple[list[str], list[str]]:
    """``trackdesk [--db PATH] FILE...`` (a file manager's double-click): the track files
    to open in the app, apart from the options."""
    files: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--db" and i + 1 < len(argv):
            rest += argv[i:i + 2]
            i += 2
            continue
        if arg.startswith("-") or (not files and arg in COMMANDS):
            return [], argv
        files.append(arg)
        i += 1
    return files, rest


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None and hasattr(signal, "SIGPIPE"):
        # `trackdesk tasks list | head`: end quietly when the reader stops, as Unix tools
        # do, instead of a BrokenPipeError traceback.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    argv = list(sys.argv[1:] if argv is None else argv)
    files, argv = _split_files(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from trackdesk import __version__

        print(f"trackdesk {__version__}")
        return EXIT_OK
    if args.install_desktop or args.uninstall_desktop:
        from trackdesk import desktop

        done = desktop.install() if args.install_desktop else desktop.uninstall()
        verb = "installed" if args.install_desktop else "removed"
        print(f"{verb} {len(done)} desktop file(s) under {desktop.data_home()}")
        return EXIT_OK
    if args.command is None:
        from trackdesk.ui.app import run_app

        missing = [f for f in files if not Path(f).exists()]
        if missing:
            print(f"trackdesk: no such file: {', '.join(missing)}", file=sys.stderr)
            return EXIT_USAGE
        if files:
            return run_app(_db_path(args) if args.db else None,
                           files=[Path(f).resolve() for f in files])
        return run_app(_db_path(args) if args.db else None)
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"trackdesk: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
