"""The docker launcher: a worker runs in a container of its skill's image.

Same argv as the local launcher (``python3 -m MODULE SKILL --task-id N --db-path PATH``),
in ``trackdesk-worker-<skill>:<version>`` (see :mod:`trackdesk.engine.images`), with:

- only the folder of the tracks.db mounted, at ``/workspace`` (the argv's ``--db-path`` is
  rewritten to match): the worker sees the workspace and nothing else of the host;
- ``network_mode="none"``: an analysis needs no network, so a skill cannot leak tracks;
- a read-only root file system with a small tmpfs on ``/tmp`` for scratch;
- the owner of the tracks.db as user (non-root, and it can write the database), all
  capabilities dropped, ``no-new-privileges``, a pids limit;
- the spec's CPU (``nano_cpus``) and memory (``mem_limit``, no extra swap) limits;
- labels naming the task and the workspace, so a restarted app finds its containers.

Every SDK call blocks, so each one runs on this launcher's own thread pool (never the
loop's default executor, which the engine's database sessions use). The output streams and
the container's exit are followed by dedicated threads that hand lines to the loop with
``call_soon_threadsafe``.

Exit codes: the container's code, with ``128+N`` (killed by signal N, as Docker and
docker-init report it) mapped to ``-N`` like the local launcher. Why a worker ended beyond
its code (the memory limit, a lost engine) is in :meth:`DockerWorker.exit_reason`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import queue
import secrets
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from trackdesk.engine.launchers.base import (
    Launcher,
    LauncherUnavailable,
    RecoveredWorker,
    ResourceSample,
    WorkerHandle,
)
from trackdesk.worker.spec import SkillSpec

CONTAINER_WORKSPACE = "/workspace"
LABEL_LAUNCHER = "trackdesk.launcher"
LABEL_TASK = "trackdesk.task_id"
LABEL_WORKSPACE = "trackdesk.workspace"
LABEL_SKILL = "trackdesk.skill"
LABEL_SKILL_VERSION = "trackdesk.skill.version"

# Short, so that a stopped or wedged engine is reported instead of hanging the app.
PING_TIMEOUT_S = 5.0
CALL_TIMEOUT_S = 30.0
DEFAULT_GRACE_S = 10.0
TMPFS_SIZE = "256m"
PIDS_LIMIT = 512
DEFAULT_PYTHON = "python3"


def _docker_module() -> Any:
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - docker is a dependency
        raise LauncherUnavailable(
            "The docker Python package is missing, so tasks cannot run in containers: "
            "install it with `pip install docker`, or run the task with the local "
            "launcher.") from exc
    return docker


def unavailable_message(error: BaseException | None = None, for_task: bool = True) -> str:
    """One sentence: what is missing and how to start it (and, for a task, the way out)."""
    way_out = ", or rerun the task with the local launcher." if for_task else "."
    host = os.environ.get("DOCKER_HOST", "")
    if host:
        return (f"Docker is not reachable at DOCKER_HOST={host}: start that engine (or unset "
                f"DOCKER_HOST){way_out}")
    if not os.path.exists("/var/run/docker.sock") and shutil.which("dockerd") is None:
        return ("Docker is not installed: install it (apt-get install docker.io, or run "
                f"scripts/docker-setup.sh){way_out}")
    return ("Docker is not running (no engine answers on /var/run/docker.sock): start it "
            f"with `sudo systemctl start docker` or scripts/docker-setup.sh{way_out}")


def docker_client(timeout: float | None = CALL_TIMEOUT_S, max_pool_size: int = 64,
                  for_task: bool = True) -> Any:
    """A ``docker.DockerClient`` from the environment (DOCKER_HOST, DOCKER_TLS_VERIFY...).

    Raises LauncherUnavailable, with one clear sentence, when no engine answers within
    PING_TIMEOUT_S (``for_task``: the sentence ends with the local launcher as the way
    out). ``timeout=None`` gives a client for long reads (output, wait).
    """
    docker = _docker_module()
    try:
        probe = docker.from_env(timeout=PING_TIMEOUT_S)
        probe.ping()
        version = probe.api.api_version
        probe.close()
        return docker.from_env(timeout=timeout, version=version, max_pool_size=max_pool_size)
    except Exception as exc:  # noqa: BLE001 - DockerException, requests/socket errors alike
        raise LauncherUnavailable(unavailable_message(exc, for_task)) from exc


def host_timezone() -> str | None:
    """The host's time zone name (TZ, else /etc/localtime's target), for the container.

    A container's clock is UTC unless told otherwise; a skill that groups by local day
    ("timezone": "local") must see the same zone as a local worker would.
    """
    tz = os.environ.get("TZ")
    if tz:
        return tz
    try:
        target = os.path.realpath("/etc/localtime")
    except OSError:
        return None
    marker = "/zoneinfo/"
    if marker in target:
        return target.split(marker, 1)[1]
    return None


def _exit_code(status: int) -> int:
    # Docker (and docker-init) report "killed by signal N" as 128+N; the engine expects -N.
    if 128 < status < 128 + 65:
        return -(status - 128)
    return status


def _container_user(db_path: Path) -> str:
    """The owner of the tracks.db (or its folder): a user that can write the database.

    When the workspace belongs to root there is no non-root user that could write it; the
    worker then runs as uid 0 but without any capability (see docs/DOCKER.md).
    """
    target = db_path if db_path.exists() else db_path.parent
    st = target.stat()
    return f"{st.st_uid}:{st.st_gid}"


def rewrite_db_path(argv: list[str], container_db: str) -> list[str]:
    """The argv with ``--db-path``'s value replaced by the path inside the container."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--db-path" and i + 1 < len(out):
            out[i + 1] = container_db
        elif arg.startswith("--db-path="):
            out[i] = f"--db-path={container_db}"
    return out


class _Threads:
    """A thread pool of the launcher's own for the SDK's blocking calls."""

    def __init__(self) -> None:
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=8, thread_name_prefix="trackdesk-docker")

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, lambda: fn(*args, **kwargs))


class _FollowedLogs:
    """A running container's output from its first line on, live, as (stdout, stderr)
    chunks like a demultiplexed attach.

    ``attach(logs=True)`` replays the log and then attaches, and lines written between
    the two are lost (the first progress line of a recovered worker went missing). The
    logs endpoint with ``follow`` has no such seam: one follower per stream, so the two
    stay apart without a multiplexed frame parser.
    """

    def __init__(self, api: Any, container_id: str) -> None:
        self._queue: queue.Queue[tuple[bytes | None, bytes | None] | None] = queue.Queue()
        self._streams = [api.logs(container_id, stdout=name == "stdout",
                                  stderr=name == "stderr", stream=True, follow=True)
                         for name in ("stdout", "stderr")]
        for index, stream in enumerate(self._streams):
            threading.Thread(target=self._pump, args=(index, stream), daemon=True,
                             name=f"docker-logs-{container_id[:12]}").start()

    def _pump(self, index: int, stream: Any) -> None:
        try:
            for chunk in stream:
                self._queue.put((chunk, None) if index == 0 else (None, chunk))
        except Exception:  # noqa: BLE001 - closed or the engine went: the output ends
            pass
        finally:
            self._queue.put(None)

    def __iter__(self) -> Iterator[tuple[bytes | None, bytes | None]]:
        ended = 0
        while ended < len(self._streams):
            item = self._queue.get()
            if item is None:
                ended += 1
                continue
            yield item

    def close(self) -> None:
        for stream in self._streams:
            with contextlib.suppress(Exception):
                stream.close()


class DockerWorker(WorkerHandle):
    """One container. Created by :class:`DockerLauncher`; output and exit followed at once."""

    def __init__(self, launcher: DockerLauncher, container_id: str, task_id: int,
                 memory_mb: int | None, state: str = "created") -> None:
        self.launcher = launcher
        self.id = container_id
        self.ref = f"docker:{container_id[:12]}"
        self.task_id = task_id
        self.memory_mb = memory_mb
        #: "running" | "paused" | "exited" when found by recover(); "created" otherwise.
        self.found_state = state
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()
        self._done: asyncio.Future[int] = self._loop.create_future()
        self._reader: threading.Thread | None = None
        self._reason: str | None = None
        self._exit_status: int | None = None
        self._oom = False
        self._paused = state == "paused"
        self._stats: dict[str, Any] | None = None
        self._stats_thread: threading.Thread | None = None
        self._kill_timer: asyncio.TimerHandle | None = None
        self._abandoned = False

    # -- following the container (threads) ---------------------------------------------
    def _emit(self, item: tuple[str, str] | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def _read_frames(self, frames: Any) -> None:
        # Frames are chunks, not lines: split per stream, keep the unfinished tail.
        buffers = {"stdout": b"", "stderr": b""}
        try:
            for out, err in frames:
                for name, data in (("stdout", out), ("stderr", err)):
                    if not data:
                        continue
                    buf = buffers[name] + data
                    *complete, buffers[name] = buf.split(b"\n")
                    for raw in complete:
                        self._emit((name, raw.decode("utf-8", "replace").rstrip("\r")))
        except Exception as exc:  # noqa: BLE001 - a broken stream ends the output, not the app
            self._emit(("stderr", f"[trackdesk] lost the container's output: {exc}"))
        finally:
            for name, rest in buffers.items():
                if rest:
                    self._emit((name, rest.decode("utf-8", "replace").rstrip("\r")))
            with contextlib.suppress(Exception):
                frames.close()

    def _reader_main(self, frames: Any) -> None:
        try:
            self._read_frames(frames)
        finally:
            self._emit(None)

    def _replay_logs(self) -> None:
        """Output of a container that already exited: its logs, per stream."""
        api = self.launcher.api
        try:
            for name, flags in (("stdout", {"stdout": True, "stderr": False}),
                                ("stderr", {"stdout": False, "stderr": True})):
                data = api.logs(self.id, stream=False, **flags) or b""
                for raw in data.split(b"\n"):
                    if raw:
                        self._emit((name, raw.decode("utf-8", "replace").rstrip("\r")))
        except Exception as exc:  # noqa: BLE001
            self._emit(("stderr", f"[trackdesk] could not read the container's output: {exc}"))
        finally:
            self._emit(None)

    def _start_reader(self, frames: Any | None) -> None:
        target = (lambda: self._reader_main(frames)) if frames is not None else self._replay_logs
        self._reader = threading.Thread(target=target, name=f"docker-out-{self.ref}",
                                        daemon=True)
        self._reader.start()

    def _waiter_main(self) -> None:
        docker = _docker_module()
        status: int
        try:
            result = self.launcher.stream_api.wait(self.id)
            status = int(result.get("StatusCode", -1))
            error = (result.get("Error") or {}).get("Message")
            if error:
                self._reason = f"Docker could not run the worker: {error}"
        except docker.errors.NotFound:
            status = -9
            self._reason = "the worker's container was removed from outside trackdesk"
        except Exception as exc:  # noqa: BLE001 - the engine must still see an end
            status = -9
            self._reason = f"lost the Docker engine while the worker ran: {exc}"
        with contextlib.suppress(Exception):
            state = self.launcher.api.inspect_container(self.id)["State"]
            self._oom = bool(state.get("OOMKilled"))
            if self._oom:
                limit = f" of {self.memory_mb} MB" if self.memory_mb else ""
                self._reason = (f"the worker exceeded its memory limit{limit} and was "
                                "killed (out of memory)")
            elif status in (126, 127) and not self._reason:
                self._reason = (f"the image could not start the worker (exit {status}): "
                                "is it a trackdesk worker image?")
        self._exit_status = status
        # The output must be read to its end before the container goes away.
        if self._reader is not None:
            self._reader.join(timeout=10.0)
        if self.launcher.remove_containers and not self._abandoned:
            with contextlib.suppress(Exception):
                self.launcher.api.remove_container(self.id, force=True)
        code = _exit_code(status)

        def finish() -> None:
            if self._kill_timer is not None:
                self._kill_timer.cancel()
            if not self._done.done():
                self._done.set_result(code)

        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(finish)

    def _start_waiter(self) -> None:
        threading.Thread(target=self._waiter_main, name=f"docker-wait-{self.ref}",
                         daemon=True).start()

    # -- WorkerHandle -------------------------------------------------------------------
    async def lines(self) -> AsyncIterator[tuple[str, str]]:
        ended = False
        try:
            while True:
                item = await self._queue.get()
                if item is None:
                    ended = True
                    return
                yield item
        finally:
            if not ended:
                # The reader gave up before the end (the engine left the worker running
                # as the app quits): nobody here will see the result, so the container
                # must stay for the next app's recover() instead of being removed.
                self._abandoned = True

    async def wait(self) -> int:
        return await asyncio.shield(self._done)

    def exit_reason(self) -> str | None:
        """Why the worker ended, beyond its exit code, in words; None for an ordinary end.

        Set once :meth:`wait` returned: the memory limit ("the worker exceeded its memory
        limit of 512 MB and was killed (out of memory)"), a lost engine, a bad image.
        """
        return self._reason

    @property
    def oom_killed(self) -> bool:
        return self._oom

    @property
    def exit_status(self) -> int | None:
        """The container's own exit status (137, 143...), None while it runs."""
        return self._exit_status

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        docker = _docker_module()
        try:
            await self.launcher.threads.run(fn, self.id, *args, **kwargs)
        except docker.errors.NotFound:
            pass  # already gone: nothing to stop
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: not running / not paused - nothing to do
                raise

    async def terminate(self) -> None:
        """docker stop, without blocking for the grace period: SIGTERM now, SIGKILL later."""
        if self._done.done():
            return
        if self._paused:
            await self.resume()  # a frozen process cannot handle SIGTERM
        await self._call(self.launcher.api.kill, signal="SIGTERM")
        if self._kill_timer is None and self.launcher.grace_s is not None:
            self._kill_timer = self._loop.call_later(
                self.launcher.grace_s, lambda: asyncio.ensure_future(self.kill()))

    async def kill(self) -> None:
        if self._done.done():
            return
        await self._call(self.launcher.api.kill)

    async def pause(self) -> None:
        await self._call(self.launcher.api.pause)
        self._paused = True

    async def resume(self) -> None:
        await self._call(self.launcher.api.unpause)
        self._paused = False

    def sample(self) -> ResourceSample | None:
        """The latest of the engine's stats stream (started on the first call)."""
        if self._done.done():
            return None
        if self._stats_thread is None:
            self._stats_thread = threading.Thread(
                target=self._stats_main, name=f"docker-stats-{self.ref}", daemon=True)
            self._stats_thread.start()
            return None
        stats = self._stats
        if not stats:
            return None
        try:
            cpu = stats["cpu_stats"]
            pre = stats.get("precpu_stats") or {}
            cpu_delta = cpu["cpu_usage"]["total_usage"] - pre.get("cpu_usage", {}).get(
                "total_usage", 0)
            sys_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
            ncpu = cpu.get("online_cpus") or len(cpu["cpu_usage"].get("percpu_usage") or [1])
            percent = cpu_delta / sys_delta * ncpu * 100.0 if sys_delta > 0 else 0.0
            mem = stats.get("memory_stats", {})
            inner = mem.get("stats", {})
            # Page cache is not the worker's memory: cgroup v1 "cache", v2 "inactive_file".
            used = mem.get("usage", 0) - inner.get("cache", inner.get("inactive_file", 0))
            return ResourceSample(cpu_percent=percent, rss_mb=max(used, 0) / 2**20,
                                  cpu_time_s=cpu["cpu_usage"]["total_usage"] / 1e9)
        except (KeyError, TypeError, ZeroDivisionError):
            return None

    def _stats_main(self) -> None:
        with contextlib.suppress(Exception):
            for stats in self.launcher.stream_api.stats(self.id, stream=True, decode=True):
                self._stats = stats
                if self._done.done():
                    return


class DockerLauncher(Launcher):
    """Runs workers in containers of their skill's image (see the module's docstring)."""

    name = "docker"

    def __init__(self, client: Any = None, image_for: Callable[[SkillSpec], str] | None = None,
                 grace_s: float | None = DEFAULT_GRACE_S, python: str = DEFAULT_PYTHON,
                 remove_containers: bool = True, user: str | None = None,
                 extra_labels: dict[str, str] | None = None) -> None:
        self._client = client
        self._stream_client: Any = None
        self._image_for = image_for
        self.grace_s = grace_s
        self.python = python
        self.remove_containers = remove_containers
        self.user = user
        self.extra_labels = dict(extra_labels or {})
        self.threads = _Threads()
        self._connect_lock = threading.Lock()
        # The engine's security options (rootless, selinux, ...), read once on connect.
        self._security: set[str] | None = None
        self._code_digest: str | None = None  # of the skills' code here, computed once

    # -- the engine connection ----------------------------------------------------------
    def _connect(self) -> None:
        with self._connect_lock:
            if self._client is None:
                self._client = docker_client()
            if self._stream_client is None:
                # No read timeout: a worker may stay silent for long; the stream ends when
                # the container does (or the engine goes away, which closes the socket).
                self._stream_client = docker_client(timeout=None)
            if self._security is None:
                try:
                    options = self._client.info().get("SecurityOptions") or []
                except Exception:  # noqa: BLE001 - assume a plain engine
                    options = []
                self._security = {o.split(",")[0].removeprefix("name=") for o in options}

    async def ensure_available(self) -> None:
        """Raise LauncherUnavailable (one sentence) unless an engine answers."""
        try:
            await self.threads.run(self._connect)
            await self.threads.run(self._client.ping)
        except LauncherUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - the engine went away since
            self._client = self._stream_client = None
            raise LauncherUnavailable(unavailable_message(exc)) from exc

    @property
    def api(self) -> Any:
        return self._client.api

    @property
    def stream_api(self) -> Any:
        return self._stream_client.api

    def image_for(self, spec: SkillSpec) -> str:
        if self._image_for is not None:
            return self._image_for(spec)
        from trackdesk.engine.images import image_name

        return image_name(spec)

    # -- starting -----------------------------------------------------------------------
    def container_config(self, spec: SkillSpec, argv: list[str], db_path: Path, task_id: int,
                         env: dict[str, str]) -> dict[str, Any]:
        """The ``containers.create`` keyword arguments for one worker (pure, testable)."""
        db_path = Path(db_path).resolve()
        folder = db_path.parent
        security = self._security or set()
        container_db = f"{CONTAINER_WORKSPACE}/{db_path.name}"
        command = [self.python, *rewrite_db_path(argv, container_db)]
        labels = {
            LABEL_LAUNCHER: "docker",
            LABEL_TASK: str(task_id),
            LABEL_WORKSPACE: str(db_path),
            LABEL_SKILL: spec.name,
            LABEL_SKILL_VERSION: spec.version,
            **self.extra_labels,
        }
        memory = f"{int(spec.memory_mb)}m"
        return {
            # Readable in `docker ps`; the random tail keeps a retry's name unique.
            "name": f"trackdesk-{spec.name}-task{task_id}-{secrets.token_hex(3)}",
            "image": self.image_for(spec),
            "command": command,
            "labels": labels,
            "environment": {"PYTHONUNBUFFERED": "1", "HOME": "/tmp",
                            **({"TZ": tz} if (tz := host_timezone()) else {}), **env},
            "user": self._user_for(db_path),
            "working_dir": CONTAINER_WORKSPACE,
            # SELinux hosts refuse a container access to an unlabelled bind mount; ":z"
            # gives the workspace folder the shared container label.
            "volumes": {str(folder): {"bind": CONTAINER_WORKSPACE,
                                      "mode": "rw,z" if "selinux" in security else "rw"}},
            "network_mode": "none",
            "read_only": True,
            "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={TMPFS_SIZE}"},
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "pids_limit": PIDS_LIMIT,
            "mem_limit": memory,
            "memswap_limit": memory,  # no swap beyond the limit: over it means killed
            "nano_cpus": int(max(spec.cpu, 0.01) * 1e9),
            # docker-init as PID 1: signals reach Python with their usual meaning and a
            # worker killed by a signal is reported as 128+N, like a shell would.
            "init": True,
            "stdin_open": False,
            "tty": False,
            "detach": True,
        }

    def _user_for(self, db_path: Path) -> str:
        if self.user:
            return self.user
        if "rootless" in (self._security or set()):
            # Rootless Docker maps the container's root to the user running the engine,
            # i.e. the owner of the workspace; any other uid would be a sub-uid that
            # cannot write the user's files.
            return "0:0"
        return _container_user(db_path)

    async def start(self, spec: SkillSpec, argv: list[str], db_path: Path, task_id: int,
                    env: dict[str, str]) -> WorkerHandle:
        if not spec.docker:
            raise LauncherUnavailable(
                f"The skill {spec.name} cannot run in a container (it reads files outside "
                "the workspace): run it with the local launcher.")
        await self.ensure_available()
        config = self.container_config(spec, argv, db_path, task_id, env)
        docker = _docker_module()
        try:
            container = await self.threads.run(self._client.containers.create, **config)
        except docker.errors.ImageNotFound as exc:
            raise LauncherUnavailable(
                f"The image {config['image']} of the skill {spec.name} is not built: build it "
                f"with `trackdesk skills build {spec.name}`, or run the task with the local "
                "launcher.") from exc
        except docker.errors.APIError as exc:
            raise LauncherUnavailable(
                f"Docker refused to create the worker's container: "
                f"{exc.explanation or exc}") from exc
        note = await self._stale_image_note(spec, container.attrs)
        handle = DockerWorker(self, container.id, task_id, spec.memory_mb)
        if note:
            handle._emit(("stderr", note))
        try:
            # Attach before start, so not one line of output is missed.
            frames = await self.threads.run(
                self.stream_api.attach, container.id, stdout=True, stderr=True, stream=True,
                logs=False, demux=True)
            handle._start_reader(frames)
            await self.threads.run(self.api.start, container.id)
        except Exception as exc:
            with contextlib.suppress(Exception):
                await self.threads.run(self.api.remove_container, container.id, force=True)
            if isinstance(exc, docker.errors.APIError):
                raise LauncherUnavailable(
                    f"Docker could not start the worker's container: "
                    f"{exc.explanation or exc}") from exc
            raise
        handle._start_waiter()
        return handle

    async def _stale_image_note(self, spec: SkillSpec, attrs: dict[str, Any]) -> str | None:
        """A log line when a built-in skill's image was built from other code than ours.

        It still runs (the version matches: the tag carries it), but its results may differ
        from a local worker's until the image is rebuilt.
        """
        if spec.kind != "builtin":
            return None
        built = ((attrs.get("Config") or {}).get("Labels") or {}).get("trackdesk.code_digest")
        if not built:
            return None
        if self._code_digest is None:
            from trackdesk.engine.images import code_digest

            try:
                self._code_digest = await self.threads.run(code_digest)
            except Exception:  # noqa: BLE001 - no source to compare with (a packaged app)
                self._code_digest = ""
        if not self._code_digest or built == self._code_digest:
            return None
        return (f"[trackdesk] the image {self.image_for(spec)} was built from other code than "
                f"this app's skills: rebuild it with `trackdesk skills build {spec.name}`")

    # -- recovery -----------------------------------------------------------------------
    async def recover(self, db_path: Path) -> list[RecoveredWorker]:
        """Containers of this workspace left by a dead app, as handles to follow to the end.

        A running or paused container is followed live (its output replayed from the start,
        see ``DockerWorker.replays_output``); one that already exited gives its logs and
        exit code; one never started is removed. The engine decides whether to keep
        following (``wait``) or stop (``terminate``). No engine: nothing to recover.
        """
        try:
            await self.ensure_available()
        except LauncherUnavailable:
            return []
        workspace = str(Path(db_path).resolve())
        found = await self.threads.run(
            self.api.containers, all=True,
            filters={"label": [f"{LABEL_LAUNCHER}=docker", f"{LABEL_WORKSPACE}={workspace}"]})
        out = []
        for info in found:
            cid = info["Id"]
            labels = info.get("Labels") or {}
            try:
                task_id = int(labels.get(LABEL_TASK, ""))
            except ValueError:
                continue
            inspect = await self.threads.run(self.api.inspect_container, cid)
            state = inspect["State"]
            status = state.get("Status", "")
            memory = inspect["HostConfig"].get("Memory") or 0
            if status == "created":
                with contextlib.suppress(Exception):
                    await self.threads.run(self.api.remove_container, cid, force=True)
                continue
            handle = DockerWorker(self, cid, task_id, memory // 2**20 or None,
                                  state="paused" if state.get("Paused") else
                                  "running" if state.get("Running") else "exited")
            handle.replays_output = True
            frames = None
            if handle.found_state != "exited":
                try:
                    frames = await self.threads.run(_FollowedLogs, self.stream_api, cid)
                except Exception:  # noqa: BLE001 - it exited meanwhile: read its logs
                    frames = None
            handle._start_reader(frames)
            handle._start_waiter()
            out.append(RecoveredWorker(task_id=task_id, handle=handle))
        return out

    def close(self) -> None:
        for client in (self._client, self._stream_client):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
        self.threads.pool.shutdown(wait=False, cancel_futures=True)


async def docker_status() -> str | None:
    """None when an engine answers, else the one-sentence reason (for the app's status)."""
    try:
        await asyncio.to_thread(docker_client)
    except LauncherUnavailable as exc:
        return str(exc)
    return None


def wait_for_removal(client: Any, container_id: str, timeout: float = 10.0) -> bool:
    """True once the container is gone (tests, scripts)."""
    docker = _docker_module()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.api.inspect_container(container_id)
        except docker.errors.NotFound:
            return True
        time.sleep(0.1)
    return False
