"""Docker tests: a real engine, real images, real containers.

- Where no engine answers, a docker test is skipped on a developer's machine and FAILS in
  CI (env CI=true): `make test` runs scripts/docker-setup.sh first, so CI always has one.
- Test workers (tests/docker/workers.py) run in ``trackdesk-test-workers``: an image built
  FROM a real skill image with the three files of ``tests.docker.workers`` added. Building
  an image, rather than mounting the test code, keeps the launcher's one-mount rule under
  test exactly as it runs for real skills (the workspace and nothing else).
"""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
import tarfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.docker.workers import SPECS
from trackdesk.engine.images import ImageManager, image_name
from trackdesk.engine.launchers.base import LauncherUnavailable, WorkerHandle
from trackdesk.engine.launchers.docker import DockerLauncher, docker_client
from trackdesk.skills.registry import BUILTIN_SPECS, SkillRegistry
from trackdesk.worker.spec import SkillSpec

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
TEST_IMAGE = "trackdesk-test-workers:latest"
# A non-root owner for the workspace: the container runs as the owner of the tracks.db.
WS_UID = WS_GID = 1000

TEST_DOCKERFILE = """\
ARG WORKER_IMAGE
FROM ${WORKER_IMAGE}
COPY tests/ /opt/trackdesk/tests/tests/
ENV PYTHONPATH=/opt/trackdesk/tests:/opt/trackdesk/app:/opt/trackdesk/site
LABEL trackdesk.role="test" trackdesk.skill="" trackdesk.skill.version="" \
      trackdesk.code_digest=""
"""


def _no_docker(message: str) -> None:
    if IN_CI:
        pytest.fail(f"Docker is required in CI: {message}", pytrace=False)
    pytest.skip(message)


def dt_registry() -> SkillRegistry:
    return SkillRegistry(list(BUILTIN_SPECS) + SPECS)


def dt_spec(name: str) -> SkillSpec:
    return next(s for s in SPECS if s.name == name)


def dt_image_for(spec: SkillSpec) -> str:
    return TEST_IMAGE if spec.kind == "test" else image_name(spec)


@pytest.fixture(scope="session")
def docker_engine() -> Any:
    try:
        client = docker_client()
    except LauncherUnavailable as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:  # outside the except: the failure reads as one sentence, no traceback chain
        _no_docker(problem)
    yield client
    client.close()


@pytest.fixture(scope="session")
def worker_images(docker_engine: Any) -> ImageManager:
    """The skill images, built when missing or outdated (a no-op after docker-setup.sh)."""
    mgr = ImageManager(docker_engine)
    problem = ""
    try:
        mgr.build(log=lambda msg: None)
    except Exception as exc:  # noqa: BLE001 - say why, in CI too
        problem = f"cannot build the skill images: {exc}"
    if problem:
        _no_docker(problem)
    return mgr


def labelled_image(client: Any, tag: str, skill: str, version: str, digest: str = "x",
                   base: str = "scratch") -> str:
    """A worker image as a build labels it, made in a second (one LABEL layer on
    ``base``): for the sync listing, removal and purge, without building a skill."""
    dockerfile = (f"FROM {base}\nLABEL trackdesk.role=worker trackdesk.skill={skill} "
                  f"trackdesk.skill.version={version} trackdesk.code_digest={digest}\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile.encode()))
    buf.seek(0)
    client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True)
    return tag


def remove_tagged(client: Any, prefix: str) -> None:
    """Remove every image with a tag starting with ``prefix`` (a test's own images)."""
    for img in client.images.list():
        for tag in img.tags:
            if tag.startswith(prefix):
                client.images.remove(tag, force=True)


@pytest.fixture(scope="session")
def test_image(docker_engine: Any, worker_images: ImageManager) -> str:
    base = image_name(worker_images.docker_specs()[0])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = TEST_DOCKERFILE.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for rel in ("tests/__init__.py", "tests/docker/__init__.py", "tests/docker/workers.py"):
            tar.add(str(ROOT / rel), arcname=rel)
    buf.seek(0)
    docker_engine.images.build(fileobj=buf, custom_context=True, tag=TEST_IMAGE,
                               buildargs={"WORKER_IMAGE": base}, rm=True, forcerm=True)
    return TEST_IMAGE


@pytest.fixture
def launcher(test_image: str) -> Iterator[DockerLauncher]:
    launcher = DockerLauncher(image_for=dt_image_for, grace_s=2.0)
    yield launcher
    launcher.close()


def make_workspace(folder: Path, uid: int = WS_UID, gid: int = WS_GID) -> Path:
    """A workspace folder with an (empty, WAL) tracks.db owned by a non-root user."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "tracks.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS marker (x)")
    conn.close()
    if os.geteuid() == 0:
        for path in (folder, db):
            os.chown(path, uid, gid)
    return db


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "workspace")


def worker_argv(spec: SkillSpec, task_id: int, db_path: Path,
                params: dict[str, Any] | None = None) -> list[str]:
    import json

    return ["-m", spec.module, spec.name, "--task-id", str(task_id), "--db-path",
            str(db_path), "--params", json.dumps(params or {})]


def run(coro: Awaitable[Any], timeout: float = 90.0) -> Any:
    async def guarded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(guarded())


class Outcome:
    def __init__(self) -> None:
        self.code: int | None = None
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.first_progress_at: float | None = None

    def messages(self, kind: str | None = None) -> list[dict[str, Any]]:
        import json

        out = []
        for line in self.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if kind is None or msg.get("type") == kind:
                out.append(msg)
        return out

    @property
    def result(self) -> dict[str, Any] | None:
        found = self.messages("result")
        return found[-1]["summary"] if found else None


async def follow(handle: WorkerHandle, outcome: Outcome | None = None,
                 on_line: Callable[[str, str], Awaitable[None] | None] | None = None
                 ) -> Outcome:
    """Read every line, then the exit code."""
    outcome = outcome or Outcome()
    async for stream, line in handle.lines():
        (outcome.stdout if stream == "stdout" else outcome.stderr).append(line)
        if stream == "stdout" and outcome.first_progress_at is None and '"progress"' in line:
            outcome.first_progress_at = time.monotonic()
        if on_line is not None:
            res = on_line(stream, line)
            if asyncio.iscoroutine(res):
                await res
    outcome.code = await handle.wait()
    return outcome


def containers_of(client: Any, db_path: Path) -> list[Any]:
    return client.containers.list(all=True, filters={
        "label": f"trackdesk.workspace={db_path.resolve()}"})
