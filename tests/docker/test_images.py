"""Skill images: the sync listing (present / missing / outdated / orphaned), build, purge.

Images here live under their own prefix (``trackdesk-synctest-``) and a registry of
made-up skills, so the real skill images are never touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.docker.conftest import labelled_image, remove_tagged
from trackdesk.engine.images import (
    ImageInUseError,
    ImageManager,
    code_digest,
    format_sync,
    image_name,
)
from trackdesk.skills.registry import SkillRegistry
from trackdesk.worker.spec import SkillSpec

pytestmark = pytest.mark.docker

PREFIX = "trackdesk-synctest-"
DIGEST = "d1g35t"


def fake_image(client: Any, base: str, skill: str, version: str,
               digest: str = DIGEST) -> str:
    """A labelled image as a build would make it, in a second (one LABEL layer)."""
    return labelled_image(client, image_name(skill, version, prefix=PREFIX), skill, version,
                          digest, base)


@pytest.fixture
def clean(docker_engine: Any) -> Iterator[None]:
    remove_tagged(docker_engine, PREFIX)
    yield
    remove_tagged(docker_engine, PREFIX)


def registry() -> SkillRegistry:
    return SkillRegistry([
        SkillSpec("alpha", "1.0", kind="test"),
        SkillSpec("beta", "2.0", kind="test"),
        SkillSpec("gamma", "1.0", kind="test"),
        SkillSpec("delta", "1.0", kind="test", docker=False),
        SkillSpec("epsilon", "1.0", kind="test"),
    ])


def states(mgr: ImageManager) -> tuple[dict[str, str], list[str]]:
    report = mgr.sync(DIGEST)
    return ({s.skill: s.state for s in report.skills},
            sorted(o.tag for o in report.orphaned))


def test_sync_listing_missing_outdated_orphaned(docker_engine: Any, worker_images: Any,
                                                clean: None) -> None:
    base = image_name(worker_images.docker_specs()[0])
    mgr = ImageManager(docker_engine, registry(), prefix=PREFIX)
    fake_image(docker_engine, base, "alpha", "1.0")
    fake_image(docker_engine, base, "beta", "1.0")             # the skill is 2.0 now
    fake_image(docker_engine, base, "epsilon", "1.0", "old")   # code changed, same version
    fake_image(docker_engine, base, "removed_skill", "0.3")    # no such skill any more
    skills, orphaned = states(mgr)
    assert skills == {"alpha": "present", "beta": "outdated", "gamma": "missing",
                      "epsilon": "outdated"}  # delta never runs in a container
    assert orphaned == [f"{PREFIX}removed_skill:0.3"]
    report = mgr.sync(DIGEST)
    detail = {s.skill: s.detail for s in report.skills}
    assert "1.0" in detail["beta"] and "2.0" in detail["beta"]
    assert "code changed" in detail["epsilon"]
    text = format_sync(report)
    assert "orphaned" in text and "missing" in text

    # The new version built: beta is present, its old image is now orphaned.
    fake_image(docker_engine, base, "beta", "2.0")
    skills, orphaned = states(mgr)
    assert skills["beta"] == "present"
    assert orphaned == [f"{PREFIX}beta:1.0", f"{PREFIX}removed_skill:0.3"]

    # Purge refuses an image a pending or running task needs, unless forced...
    with pytest.raises(ImageInUseError, match="alpha"):
        mgr.purge(["alpha"], needed=lambda: ["alpha"])
    # ...but an orphaned old version is never what a task runs.
    removed = mgr.purge(orphaned=True, needed=["beta"])
    assert sorted(removed) == [f"{PREFIX}beta:1.0", f"{PREFIX}removed_skill:0.3"]
    assert mgr.purge(["alpha"], needed=["alpha"], force=True) == [f"{PREFIX}alpha:1.0"]
    skills, orphaned = states(mgr)
    assert skills["alpha"] == "missing" and orphaned == []


def test_purge_by_tag_removes_that_image_only(docker_engine: Any, clean: None) -> None:
    """One orphaned old version goes; the skill's current image stays (the app's dialog
    removes a selected orphaned row this way)."""
    mgr = ImageManager(docker_engine, registry(), prefix=PREFIX)
    old = fake_image(docker_engine, "scratch", "beta", "1.0")
    current = fake_image(docker_engine, "scratch", "beta", "2.0")
    assert states(mgr)[1] == [old]
    assert mgr.purge(tags=[old], needed=["beta"]) == [old]  # orphaned: never needed
    skills, orphaned = states(mgr)
    assert skills["beta"] == "present" and orphaned == []
    with pytest.raises(ImageInUseError, match="beta"):
        mgr.purge(tags=[current], needed=["beta"])
    assert mgr.purge(tags=[current], needed=["beta"], force=True) == [current]


def test_build_makes_a_present_image(docker_engine: Any, worker_images: Any,
                                     clean: None) -> None:
    """A real build through Dockerfile.worker (its layers cached by the skill images)."""
    mgr = ImageManager(docker_engine, SkillRegistry([SkillSpec("zeta", "3.1", kind="test")]),
                       prefix=PREFIX)
    assert [s.state for s in mgr.sync().skills] == ["missing"]
    assert mgr.build(log=lambda m: None) == [f"{PREFIX}zeta:3.1"]
    report = mgr.sync()
    assert [s.state for s in report.skills] == ["present"]
    info = report.skills[0].images[0]
    assert (info.skill, info.version, info.digest) == ("zeta", "3.1", code_digest())
    assert mgr.build(log=lambda m: None) == []  # up to date: nothing to do
    out = docker_engine.containers.run(
        f"{PREFIX}zeta:3.1", ["python3", "-c", "import numpy, pandas, trackdesk.skills.sdk, "
                              "trackdesk.worker, trackdesk.protocol; "
                              "print(numpy.__version__, pandas.__version__)"],
        remove=True, network_mode="none")
    import numpy
    import pandas

    assert out.decode().split() == [numpy.__version__, pandas.__version__]


def test_real_skill_images_are_in_sync(worker_images: ImageManager) -> None:
    """After a build every real skill image is present (a no-op unless code changed)."""
    worker_images.build(log=lambda m: None)
    report = worker_images.sync()
    assert {s.state for s in report.skills} == {"present"}, format_sync(report)
    names = {s.skill for s in report.skills}
    assert "import" not in names  # reads host files: local only
