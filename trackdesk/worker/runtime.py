"""The worker runtime: the worker side of the protocol (trackdesk/protocol.py,
docs/PROTOCOL.md), shared by the import worker and every skill.

A worker is ``python -m MODULE SKILL --task-id N --db-path PATH [--batch-size B]
[--params JSON] [--task-type INCREMENTAL|FULL_RECOMPUTE]``. It writes one protocol
message a line to stdout (progress, log, result, error, resources) and free text to
stderr, which the engine keeps as the task's log. Exit codes: :class:`ExitCode`.

Only the standard library here: workers start in a slim container.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from trackdesk.protocol import (
    EXIT_COMPLETED,
    EXIT_FAILED,
    EXIT_STOPPED,
    EXIT_USAGE,
    Error,
    ExitCode,
    Log,
    Message,
    Progress,
    Resources,
    Result,
    TaskType,
    writer_pragmas,
)
from trackdesk.worker.spec import ParamError, SkillSpec

if TYPE_CHECKING:
    import argparse

__all__ = [
    "EXIT_COMPLETED", "EXIT_FAILED", "EXIT_STOPPED", "EXIT_USAGE", "ExitCode",
    "PhaseProgress", "RunFunction", "SkillError", "StopRequested", "WorkerContext",
    "die_with_parent", "keep_freed_memory", "parent_death_signal", "parse_args",
    "run_worker", "single_thread_blas", "TASK_TYPES",
]

TASK_TYPES = tuple(t.value for t in TaskType)

# Progress lines are coalesced: the engine needs a few per second, not one per point.
PROGRESS_INTERVAL_S = 0.2


class StopRequested(Exception):
    """Raised by :meth:`WorkerContext.check_stop` once the engine asked the worker to stop."""


class SkillError(Exception):
    """The skill cannot go on; the message becomes the task's error message."""


class WorkerContext:
    """What a skill's ``run`` function gets: its arguments and the way to report."""

    def __init__(
        self,
        skill: str,
        task_id: int,
        db_path: str,
        task_type: str = "INCREMENTAL",
        params: dict[str, Any] | None = None,
        batch_size: int = 50_000,
        out: TextIO | None = None,
    ) -> None:
        self.skill = skill
        self.task_id = task_id
        self.db_path = db_path
        self.task_type = task_type
        self.params: dict[str, Any] = params or {}
        self.batch_size = batch_size
        self._out = out if out is not None else sys.stdout
        self._stop = False
        self._last_progress = 0.0
        self.processed = 0
        self.failed = 0
        self.total: int | None = None

    # -- arguments ----------------------------------------------------------------------
    @property
    def full_recompute(self) -> bool:
        return self.task_type == TaskType.FULL_RECOMPUTE

    def connect(self) -> sqlite3.Connection:
        """A connection to the tracks.db with the settings every writer must share."""
        conn = sqlite3.connect(self.db_path, timeout=60.0, isolation_level=None)
        writer_pragmas(conn)
        return conn

    # -- stopping -----------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop = True

    @property
    def stop_requested(self) -> bool:
        return self._stop

    def check_stop(self) -> None:
        """Call between batches: raises StopRequested once a stop was asked for."""
        if self._stop:
            raise StopRequested()

    # -- reporting ----------------------------------------------------------------------
    def send(self, message: Message) -> None:
        """Write one protocol message (one line) and flush it: the engine reads it now."""
        _emit(self._out, message)

    def progress(
        self,
        processed: int | None = None,
        total: int | None = None,
        failed: int | None = None,
        force: bool = False,
    ) -> None:
        """Report absolute counts; sent at most every 0.2 s unless ``force``."""
        if processed is not None:
            self.processed = int(processed)
        if total is not None:
            self.total = int(total)
        if failed is not None:
            self.failed = int(failed)
        now = time.monotonic()
        if not force and now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        self.send(Progress(processed=self.processed, failed=self.failed, total=self.total))

    def advance(self, processed: int = 0, failed: int = 0) -> None:
        """Add to the counts (points done in this batch) and report."""
        self.progress(self.processed + processed, None, self.failed + failed)

    def log(self, message: str, level: str = "info") -> None:
        self.send(Log(message=message, level=level))

    def result(self, summary: dict[str, Any]) -> None:
        self.send(Result(summary=summary))

    def error(self, message: str) -> None:
        self.send(Error(message=message))

    def resources(self) -> None:
        """Report this process's peak memory and CPU time: exact, where sampling from
        outside once a second can miss a short peak."""
        try:
            import resource

            usage = resource.getrusage(resource.RUSAGE_SELF)
        except (ImportError, OSError):
            return
        peak_mb = usage.ru_maxrss / 1024
        # ru_maxrss keeps the high-water mark of the process image replaced by exec (the
        # app that forked us, ~130 MB); VmHWM is this program's own.
        try:
            with open("/proc/self/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        peak_mb = int(line.split()[1]) / 1024
                        break
        except OSError:
            pass
        self.send(Resources(peak_rss_mb=round(peak_mb, 1),
                            cpu_time_s=round(usage.ru_utime + usage.ru_stime, 3)))

    def phases(self, total: int, weights: dict[str, float]) -> PhaseProgress:
        """Progress over phases of one pass (read, compute, write...): see PhaseProgress."""
        return PhaseProgress(self, total, weights)

    # -- batching -----------------------------------------------------------------------
    def batches(self, n: int, size: int | None = None) -> Iterator[tuple[int, int]]:
        """Yield ``(start, stop)`` ranges over ``n`` items, checking for a stop between."""
        size = size or self.batch_size
        for start in range(0, n, size):
            self.check_stop()
            yield start, min(n, start + size)


class PhaseProgress:
    """processed/total for work done in phases over one set of ``total`` points.

    A skill that reads all its points, computes on them with numpy and writes the
    results does not finish point by point, so it reports how far it is through its
    phases: ``weights`` is each phase's share of the run (measured once, roughly), and
    ``step(phase, done, of)`` says ``done`` of ``of`` units of that phase are finished.
    The processed count is the points' share of what is done, never ``total`` before
    :meth:`finish`: a bar moves through reading, computing and writing and reaches its
    end only once the results are committed.
    """

    def __init__(self, ctx: WorkerContext, total: int, weights: dict[str, float]) -> None:
        self.ctx = ctx
        self.total = max(0, int(total))
        norm = sum(weights.values()) or 1.0
        self.start: dict[str, float] = {}
        self.share: dict[str, float] = {}
        at = 0.0
        for name, w in weights.items():
            self.start[name] = at
            self.share[name] = w / norm
            at += w / norm
        self.done = 0
        self.phase = ""
        ctx.progress(0, self.total, None, force=True)

    def step(self, phase: str, done: float = 1.0, of: float = 1.0) -> None:
        """``done`` of ``of`` units of ``phase`` are finished (sent at most every 0.2 s)."""
        frac = self.start[phase] + self.share[phase] * (min(max(done, 0.0), of) / of
                                                         if of > 0 else 1.0)
        # Never back, never the end before finish(), and at least one point once work
        # began: 0 < processed < total is what "running, partly done" looks like.
        n = min(max(int(frac * self.total), 1, self.done), max(self.total - 1, 0))
        # The first report of each phase always goes out: the coalescing below would
        # otherwise drop it and a long compute phase would show the bar still at 0.
        force = phase != self.phase
        self.phase = phase
        if n != self.done or force:
            self.done = n
            self.ctx.progress(n, self.total, force=force)

    def finish(self) -> None:
        self.done = self.total
        self.ctx.progress(self.total, self.total, force=True)


RunFunction = Callable[[WorkerContext], dict[str, Any] | None]


_DEFAULTS = {"batch_size": 50_000, "params": "{}", "task_type": "INCREMENTAL"}


def _parse_plain(argv: list[str]) -> argparse.Namespace | None:
    """The argv the engine writes, parsed without argparse (whose import and help
    formatter cost ~10 ms of a worker's start); None for anything else, which argparse
    then parses and reports exactly as before."""
    if not argv or argv[0].startswith("-"):
        return None
    out: dict[str, Any] = {"skill": argv[0], **_DEFAULTS}
    rest = argv[1:]
    if len(rest) % 2:
        return None
    for key, value in zip(rest[::2], rest[1::2], strict=True):
        name = key[2:].replace("-", "_")
        if (not key.startswith("--") or name not in ("task_id", "db_path", "batch_size",
                                                     "params", "task_type")
                or name in out and name not in _DEFAULTS or value.startswith("-")):
            return None
        out[name] = value
    if "task_id" not in out or "db_path" not in out or out["task_type"] not in TASK_TYPES:
        return None
    try:
        out["task_id"] = int(out["task_id"])
        out["batch_size"] = int(out["batch_size"])
    except ValueError:
        return None
    return SimpleNamespace(**out)  # type: ignore[return-value]


def parse_args(argv: list[str]) -> argparse.Namespace:
    plain = _parse_plain(argv)
    if plain is not None:
        return plain
    import argparse

    parser = argparse.ArgumentParser(prog="python -m trackdesk.skills")
    parser.add_argument("skill")
    parser.add_argument("--task-id", type=int, required=True)
    parser.add_argument("--db-path", required=True)
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument("--params", default="{}")
    parser.add_argument("--task-type", default="INCREMENTAL", choices=TASK_TYPES)
    return parser.parse_args(argv)


def parent_death_signal(sig: int) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies
    (PR_SET_PDEATHSIG); False where that cannot be asked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, sig)
    except (OSError, AttributeError):
        return False
    return True


def die_with_parent(request_stop: Callable[[], None]) -> None:
    """Get SIGTERM when the app that started us dies (Linux), so no worker goes on
    writing unseen; the restarted engine then marks the task interrupted."""
    parent = os.environ.get("TRACKDESK_PARENT_PID")
    if not parent or not parent_death_signal(signal.SIGTERM):
        return
    if str(os.getppid()) != parent:  # it died before we could ask
        request_stop()


def single_thread_blas() -> None:
    """No OpenBLAS thread per core when numpy loads (~0.05 s of CPU per worker): the
    workers' numpy does no linear algebra. Call before numpy's import; the environment
    still wins."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def keep_freed_memory() -> None:
    """Let glibc keep freed memory for reuse instead of handing it back to the kernel.

    numpy's large temporaries (8 MB per million points) are otherwise mmap'ed and
    unmapped one by one, and every fresh one costs page faults and zeroing: more than
    the arithmetic on it. A worker is short-lived, so reusing is all gain: 0.5 s of a
    stay_detection run on 1M points becomes 0.3 s, at the same peak memory.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return
    mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: heap, not mmap, below 32 MB (glibc's cap)
    mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: do not give the heap's top back


def run_worker(spec: SkillSpec, run: RunFunction, argv: list[str] | None = None,
               fast_exit: bool = False) -> NoReturn:
    """Parse the worker argv, run ``run(ctx)`` and exit with the protocol's exit code.

    ``fast_exit``: once the result is out, leave without tearing the interpreter down
    (numpy's modules take 15-40 ms of it). Only for code that leaves nothing to
    finalize: the built-in skills; user code may rely on atexit handlers.
    """
    keep_freed_memory()
    # The protocol owns stdout; anything a skill prints by accident goes to the log.
    proto_out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    sys.stdout = sys.stderr
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        raw = json.loads(args.params)
        if not isinstance(raw, dict):
            raise ParamError("--params must be a JSON object")
        params = spec.validate_params(raw)
    except (ValueError, ParamError) as exc:
        _emit(proto_out, Error(message=f"bad parameters: {exc}"))
        sys.exit(EXIT_USAGE)
    if args.batch_size < 1:
        _emit(proto_out, Error(message="--batch-size must be at least 1"))
        sys.exit(EXIT_USAGE)
    ctx = WorkerContext(args.skill, args.task_id, args.db_path, args.task_type, params,
                        args.batch_size, proto_out)
    signal.signal(signal.SIGTERM, lambda *_: ctx.request_stop())
    signal.signal(signal.SIGINT, lambda *_: ctx.request_stop())
    die_with_parent(ctx.request_stop)
    try:
        summary = run(ctx)
    except StopRequested:
        ctx.resources()
        ctx.progress(force=True)
        ctx.log("stopped on request")
        sys.exit(EXIT_STOPPED)
    except SkillError as exc:
        ctx.resources()
        ctx.progress(force=True)
        ctx.error(str(exc))
        sys.exit(EXIT_FAILED)
    except Exception as exc:  # noqa: BLE001 - the worker's last word must reach the engine
        import traceback

        traceback.print_exc(file=sys.stderr)
        ctx.resources()
        ctx.progress(force=True)
        ctx.error(f"{type(exc).__name__}: {exc}")
        sys.exit(EXIT_FAILED)
    ctx.resources()
    ctx.progress(force=True)
    ctx.result(summary or {})
    if fast_exit:
        for stream in (proto_out, sys.stderr, sys.__stdout__):
            if stream is not None:
                stream.flush()
        os._exit(EXIT_COMPLETED)
    sys.exit(EXIT_COMPLETED)


def _emit(out: TextIO, message: Message) -> None:
    out.write(message.encode() + "\n")
    out.flush()
