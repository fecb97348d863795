"""The local launcher: a worker is a child process of the app (asyncio subprocess)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psutil

from trackdesk.engine.launchers.base import (
    Launcher,
    RecoveredWorker,
    ResourceSample,
    WorkerHandle,
)
from trackdesk.worker.spec import SkillSpec

# Protocol lines can be long (a result summary); the default 64 KiB limit is too tight.
STREAM_LIMIT = 16 * 1024 * 1024


class LocalWorker(WorkerHandle):
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.ref = f"local:{proc.pid}"
        self._ps: psutil.Process | None = None
        with contextlib.suppress(psutil.Error):
            self._ps = psutil.Process(proc.pid)
            self._ps.cpu_percent(None)

    async def lines(self) -> AsyncIterator[tuple[str, str]]:
        queue: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()

        async def pump(stream: asyncio.StreamReader | None, name: str) -> None:
            try:
                if stream is None:
                    return
                while True:
                    try:
                        raw = await stream.readline()
                    except ValueError:  # a line beyond STREAM_LIMIT: keep what fits
                        raw = await stream.read(STREAM_LIMIT)
                    if not raw:
                        return
                    await queue.put((name, raw.decode("utf-8", "replace").rstrip("\r\n")))
            finally:
                await queue.put(None)

        pumps = [asyncio.create_task(pump(self.proc.stdout, "stdout")),
                 asyncio.create_task(pump(self.proc.stderr, "stderr"))]
        open_streams = 2
        try:
            while open_streams:
                item = await queue.get()
                if item is None:
                    open_streams -= 1
                    continue
                yield item
        finally:
            for p in pumps:
                p.cancel()

    async def wait(self) -> int:
        return await self.proc.wait()

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    async def terminate(self) -> None:
        if self.proc.returncode is None:
            # A stopped worker cannot handle SIGTERM: wake it first.
            self._signal(signal.SIGCONT)
            self._signal(signal.SIGTERM)

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self._signal(signal.SIGKILL)

    async def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    async def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def sample(self) -> ResourceSample | None:
        if self._ps is None:
            return None
        try:
            with self._ps.oneshot():
                times = self._ps.cpu_times()
                return ResourceSample(
                    cpu_percent=self._ps.cpu_percent(None),
                    rss_mb=self._ps.memory_info().rss / 2**20,
                    cpu_time_s=times.user + times.system,
                )
        except psutil.Error:
            return None


class LocalLauncher(Launcher):
    name = "local"

    def __init__(self, python: str | None = None) -> None:
        self.python = python or sys.executable

    async def start(self, spec: SkillSpec, argv: list[str], db_path: Path, task_id: int,
                    env: dict[str, str]) -> WorkerHandle:
        # The worker itself asks to die with us (sdk.die_with_parent): a preexec_fn here
        # would force a full fork of the app instead of vfork, ~10 ms per task.
        env = {**env, "TRACKDESK_PARENT_PID": str(os.getpid())}
        proc = await asyncio.create_subprocess_exec(
            self.python, *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **env},
            # Its own process group: a Ctrl-C in the terminal goes to the engine, which
            # then decides; pause and kill reach the worker's children too.
            start_new_session=True,
            limit=STREAM_LIMIT,
        )
        return LocalWorker(proc)

    async def recover(self, db_path: Path) -> list[RecoveredWorker]:
        # Local workers die with their app (PDEATHSIG), so there is nothing to follow;
        # the engine still kills any straggler it finds by the pid in worker_ref.
        return []


def kill_stale_local_worker(ref: str | None, task_id: int) -> bool:
    """Kill a worker of ``task_id`` that outlived its app; True when one was found."""
    if not ref or not ref.startswith("local:"):
        return False
    try:
        proc = psutil.Process(int(ref.split(":", 1)[1]))
        cmdline = proc.cmdline()
    except (psutil.Error, ValueError):
        return False
    if "--task-id" not in cmdline or str(task_id) not in cmdline:
        return False  # the pid was reused by something else
    with contextlib.suppress(psutil.Error):
        proc.kill()
        proc.wait(5)
    return True
