"""User skills in Docker: their image (FROM a worker image, requirements as offline
wheels), a chain after a built-in skill with the docker launcher, and the image life
cycle: version change -> outdated -> rebuilt, a removed skill -> orphaned -> purged.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.docker.conftest import make_workspace, run
from tests.engine.conftest import finished
from tests.skills.chain import new_db
from trackdesk.engine.chains import Chain
from trackdesk.engine.engine import Engine, EngineSettings
from trackdesk.engine.images import WORKER_PREFIX, ImageManager, image_name
from trackdesk.engine.launchers.docker import DockerLauncher
from trackdesk.engine.launchers.local import LocalLauncher
from trackdesk.engine.states import Status
from trackdesk.skills.registry import load_registry
from trackdesk.skills.user import scaffold, table_name

pytestmark = pytest.mark.docker

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
# Per process: two sessions running these tests at once must not purge each other's images.
PREFIX = f"trackdesk-usertest{os.getpid()}-"
USES_REQ = """
from trackdesk.skills.user import skill


@skill(name="uses_req", version="1.0", upstream=("outlier_detection",),
       columns={"value": "INTEGER"})
def process(batch):
    import tinyreq  # a requirement: imported where it is used

    return [{"point_id": p.id, "value": tinyreq.VALUE} for p in batch]
"""


def make_wheel(folder: Path) -> Path:
    """A pure-Python wheel ``tinyreq 1.0`` (VALUE = 42), so no index is ever asked."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "tinyreq/__init__.py": b"VALUE = 42\n",
        "tinyreq-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinyreq\n"
                                          b"Version: 1.0\n",
        "tinyreq-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\n"
                                       b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(data)}")
    record.append("tinyreq-1.0.dist-info/RECORD,,")
    path = folder / "tinyreq-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("tinyreq-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return path


@pytest.fixture
def skills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "skills"
    folder.mkdir()
    monkeypatch.setenv("TRACKDESK_SKILLS_DIR", str(folder))
    return folder


@pytest.fixture
def user_images(docker_engine: Any) -> Iterator[list[str]]:
    """Tags a test builds; removed afterwards."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        try:
            docker_engine.images.remove(tag, force=True)
        except Exception:  # noqa: BLE001 - already gone
            pass


def workspace_with_points(folder: Path, hours: int) -> Path:
    db = make_workspace(folder)
    new_db(db)
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO points (ts, lat, lon, accuracy, source) VALUES (?, ?, ?, 5.0, 't')",
            [(T0 + 1800 + 3600 * h, 48.137 + 1e-4 * h, 11.575) for h in range(hours)])
    if os.geteuid() == 0:  # the container runs as the owner of the workspace
        for path in folder.iterdir():
            os.chown(path, 1000, 1000)
    return db


def test_a_user_skill_chain_runs_in_docker_with_its_requirements(
        skills: Path, tmp_path: Path, worker_images: ImageManager, docker_engine: Any,
        user_images: list[str]) -> None:
    scaffold("night_points")
    wheel = make_wheel(tmp_path / "wheelhouse")
    (skills / "uses_req").mkdir()
    (skills / "uses_req" / "skill.py").write_text(textwrap.dedent(USES_REQ), "utf-8")
    (skills / "uses_req" / "requirements.txt").write_text(
        f"--no-index\n--find-links {wheel.parent}\ntinyreq==1.0\n", "utf-8")
    # The registry of the app (built-ins + user skills); images under a prefix of this
    # test's, so another session purging orphans of the real prefix cannot take them.
    mgr = ImageManager(docker_engine, load_registry(), prefix=PREFIX)
    for info in mgr.images():  # left by an earlier, interrupted run
        if info.skill in ("night_points", "uses_req"):
            docker_engine.images.remove(info.tag, force=True)
    states = {s.skill: s.state for s in mgr.sync().skills}
    assert states["night_points"] == "missing" and states["uses_req"] == "missing"
    built = mgr.build(["night_points", "uses_req"], log=lambda m: None)
    user_images.extend(built)
    assert set(built) >= {f"{PREFIX}night_points:1.0.0", f"{PREFIX}uses_req:1.0"}
    states = {s.skill: s.state for s in mgr.sync().skills}
    assert states["night_points"] == states["uses_req"] == "present"
    labels = docker_engine.images.get(f"{PREFIX}uses_req:1.0").labels
    assert labels["trackdesk.skill.kind"] == "user" and labels["trackdesk.skill"] == "uses_req"

    db = workspace_with_points(tmp_path / "ws", hours=30)
    chain = Chain("user skills")
    chain.add_node("outlier_detection", node_id="outliers")
    chain.add_node("night_points", node_id="night", params={"timezone": "UTC"})
    chain.add_node("uses_req", node_id="req")
    chain.add_link("outliers", "night")
    chain.add_link("outliers", "req")

    async def scenario(launcher: str) -> list[Any]:
        engine = Engine(db, registry=load_registry(), settings=EngineSettings(
            poll_interval_s=0.1, flush_interval_s=0.1, cancel_grace_s=2.0),
            launchers={"local": LocalLauncher(), "docker": DockerLauncher(
                grace_s=2.0, image_for=lambda spec: image_name(
                    spec, prefix=PREFIX if spec.kind == "user" else WORKER_PREFIX))})
        await engine.start()
        try:
            recs = await engine.run_chain(chain=chain, task_type="FULL_RECOMPUTE",
                                          launcher=launcher)
            await finished(engine, *(r.id for r in recs), timeout=120)
            return [engine.tasks[r.id] for r in recs]
        finally:
            await engine.stop()

    outliers, night, req = run(scenario("docker"), timeout=180)
    for rec in (outliers, night, req):
        assert rec.status == Status.COMPLETED, (rec.skill_name, rec.error_message)
        assert rec.launcher == "docker"
    assert night.processed_points == night.total_points == 30
    with sqlite3.connect(db) as conn:
        docker_rows = conn.execute(
            f"SELECT * FROM {table_name('night_points')} ORDER BY point_id").fetchall()
        values = {r[0] for r in conn.execute(f"SELECT value FROM {table_name('uses_req')}")}
    assert [r[2] for r in docker_rows] == [1] * 5 + [0] * 19 + [1] * 5 + [0]
    assert values == {42}  # tinyreq, installed in the image from the host's wheel

    # Locally the same chain gives the same rows, and the missing requirement is said so.
    outliers, night, req = run(scenario("local"), timeout=180)
    assert night.status == Status.COMPLETED
    with sqlite3.connect(db) as conn:
        assert conn.execute(f"SELECT * FROM {table_name('night_points')} "
                            "ORDER BY point_id").fetchall() == docker_rows
    assert req.status == Status.FAILED
    assert "skill uses_req needs package tinyreq: pip install tinyreq" in req.error_message


def test_version_change_marks_outdated_build_rebuilds_purge_removes_orphans(
        skills: Path, worker_images: ImageManager, docker_engine: Any,
        user_images: list[str]) -> None:
    def manager() -> ImageManager:
        # A fresh registry each time, as a restarted app or `skills reload` sees it; own
        # prefix, so orphans of other tests and real images are never touched.
        return ImageManager(docker_engine, load_registry(), prefix=PREFIX)

    def state(mgr: ImageManager) -> Any:
        return next(s for s in mgr.sync().skills if s.skill == "night_points")

    folder = scaffold("night_points")
    user_images.extend([f"{PREFIX}night_points:1.0.0", f"{PREFIX}night_points:1.1.0",
                        f"{PREFIX}outlier_detection:1.0.0"])
    # A skill whose requirement cannot be downloaded fails alone, saying why.
    bad = scaffold("bad_req")
    (bad / "requirements.txt").write_text("--no-index\nno-such-package-xyz==1.0\n")
    with pytest.raises(RuntimeError, match=r"bad_req: cannot download the requirements"):
        manager().build(["bad_req", "night_points"], log=lambda m: None)
    for path in bad.iterdir():
        path.unlink()
    bad.rmdir()
    mgr = manager()
    assert state(mgr).state == "present"

    # Broken for a moment (being edited): its image is kept, not orphaned.
    skill_py = folder / "skill.py"
    good = skill_py.read_text()
    skill_py.write_text("def process(batch) return []\n")
    mgr = manager()
    assert [p.folder for p in mgr.registry.problems] == ["night_points"]
    assert not [o for o in mgr.sync().orphaned if o.skill == "night_points"]
    skill_py.write_text(good)
    skill_py.write_text(skill_py.read_text().replace('version="1.0.0"', 'version="1.1.0"'))
    mgr = manager()
    st = state(mgr)
    assert (st.state, st.local_version) == ("outdated", "1.1.0")
    assert "only version 1.0.0 is built" in st.detail
    assert mgr.build(["night_points"], log=lambda m: None) == [f"{PREFIX}night_points:1.1.0"]
    mgr = manager()
    assert state(mgr).state == "present"
    assert [o.tag for o in mgr.sync().orphaned] == [f"{PREFIX}night_points:1.0.0"]
    assert mgr.build(["night_points"], log=lambda m: None) == []  # up to date

    # An edit without a version bump is outdated too (the image's digest differs).
    skill_py.write_text(skill_py.read_text() + "\n# tweaked\n")
    assert state(manager()).state == "outdated"

    # The skill is gone: every image of it is orphaned, and purge --orphaned removes them.
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    mgr = manager()
    assert "night_points" not in mgr.registry
    orphans = sorted(o.tag for o in mgr.sync().orphaned)
    assert orphans == [f"{PREFIX}night_points:1.0.0", f"{PREFIX}night_points:1.1.0"]
    assert sorted(mgr.purge(orphaned=True)) == orphans
    assert not [i for i in mgr.images() if i.skill == "night_points"]
