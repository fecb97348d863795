"""Docker images of user skills (see :mod:`trackdesk.engine.images` for the built-ins').

A user skill's image is ``trackdesk-worker-<skill>:<version>`` like any skill's, built
``FROM`` a built-in skill's worker image (so Python, numpy, pandas and trackdesk/skills are
shared layers) with ``packaging/docker/Dockerfile.user-skill``, adding:

- the skill's folder at ``/opt/trackdesk/user-skills/<skill>/`` (``TRACKDESK_SKILLS_DIR``);
- the wheels of its ``requirements.txt``, ``pip download``ed on the host (cached in
  ``packaging/docker/.build/user-wheels/<skill>``) and installed with ``--no-index``:
  nothing is fetched inside a build.

Its code digest covers the skill's files, that Dockerfile and the built-in image's digest,
so editing the skill (or upgrading trackdesk) marks the image outdated, as does a new
version. Blocking calls (docker SDK, pip): run from a thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trackdesk.engine.images import (
    USER_DOCKERFILE,
    ImageManager,
    build_dir,
    image_name,
    worker_requirements,
)
from trackdesk.engine.launchers.base import LauncherUnavailable
from trackdesk.skills.registry import BUILTIN_SPECS
from trackdesk.skills.spec import SkillSpec
from trackdesk.skills.user import REQUIREMENTS_FILE, requirement_lines

_SKIP_PARTS = ("__pycache__", ".pytest_cache", ".git", ".mypy_cache", ".ruff_cache")


def skill_folder(spec: SkillSpec) -> Path:
    """The folder of a user skill (its spec's ``source`` is the skill.py)."""
    if not spec.source:
        raise ValueError(f"the user skill {spec.name} has no folder on record")
    return Path(spec.source).parent


def skill_files(folder: Path) -> list[tuple[str, Path]]:
    """(relative path, file) of what goes into the image: the folder minus caches."""
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(p in _SKIP_PARTS for p in rel.parts) \
                and path.suffix != ".pyc":
            out.append((rel.as_posix(), path))
    return out


def user_digest(spec: SkillSpec, base_digest: str) -> str:
    """What a user skill's image is made of: its files, its Dockerfile, the base's digest."""
    h = hashlib.sha256(base_digest.encode() + b"\0")
    folder = skill_folder(spec)
    for rel, path in skill_files(folder):
        h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    if USER_DOCKERFILE.exists():
        h.update(USER_DOCKERFILE.read_bytes())
    return h.hexdigest()[:16]


def base_spec(mgr: ImageManager) -> SkillSpec:
    """The built-in skill whose image user skills are built FROM (any: they share layers)."""
    for spec in mgr.docker_specs():
        if spec.kind != "user":
            return spec
    return next(s for s in BUILTIN_SPECS if s.docker)


def _project(wheel: Path) -> str:
    return wheel.name.split("-")[0].lower().replace("_", "-").replace(".", "-")


def download_requirements(spec: SkillSpec, dest: Path,
                          log: Callable[[str], None] = print) -> list[Path]:
    """``pip download`` the skill's requirements (and their dependencies) into ``dest``.

    Pinned against the worker's own packages (``-c``), binary wheels for the container's
    Python 3.11 on x86_64 whatever the host; cached while requirements.txt is unchanged.
    Returns the wheels.
    """
    req = skill_folder(spec) / REQUIREMENTS_FILE
    if not requirement_lines(req):
        if dest.exists():
            shutil.rmtree(dest)
        return []
    dest.mkdir(parents=True, exist_ok=True)
    constraints = "\n".join(worker_requirements()) + "\n"
    stamp_text = req.read_text(encoding="utf-8") + "\0" + constraints
    stamp = dest / ".complete"
    if stamp.exists() and stamp.read_text(encoding="utf-8") == stamp_text:
        return sorted(dest.glob("*.whl"))
    for old in dest.glob("*.whl"):
        old.unlink()
    stamp.unlink(missing_ok=True)
    (dest / "constraints.txt").write_text(constraints, encoding="utf-8")
    log(f"downloading the wheels of {spec.name}'s requirements")
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
           "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
           "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64",
           "--platform", "manylinux_2_17_x86_64", "--platform", "any",
           "-d", str(dest), "-r", str(req), "-c", str(dest / "constraints.txt")]
    # In the skill's folder: relative paths in its requirements.txt mean what they say.
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(req.parent))
    if proc.returncode != 0:
        raise RuntimeError(
            f"cannot download the requirements of {spec.name} ({req}); they must exist as "
            f"wheels for Python 3.11:\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    stamp.write_text(stamp_text, encoding="utf-8")
    return sorted(dest.glob("*.whl"))


def prepare_user_context(spec: SkillSpec, log: Callable[[str], None] = print) -> Path:
    """The build context of one user skill: skill/, wheels/, pip/ and its Dockerfile."""
    if not USER_DOCKERFILE.exists():
        raise LauncherUnavailable(
            f"cannot build user skill images: {USER_DOCKERFILE} is missing (build from a "
            "trackdesk source checkout)")
    root = build_dir()
    # A folder of its own per build: two builds of one skill (two app sessions, a test
    # run) must not empty each other's context.
    (root / "user").mkdir(parents=True, exist_ok=True)
    ctx = Path(tempfile.mkdtemp(prefix=f"{spec.name}-", dir=root / "user"))
    try:
        _fill_context(spec, root, ctx, log)
    except BaseException:
        shutil.rmtree(ctx, ignore_errors=True)
        raise
    return ctx


def _fill_context(spec: SkillSpec, root: Path, ctx: Path, log: Callable[[str], None]) -> None:
    for rel, src in skill_files(skill_folder(spec)):
        dst = ctx / "skill" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    (ctx / "skill").mkdir(parents=True, exist_ok=True)
    lock_path = root / "user-wheels" / f".{spec.name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        with contextlib.suppress(ImportError):  # no fcntl (Windows): no lock, rare races
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)  # one download into the shared cache at a time
        wheels = download_requirements(spec, root / "user-wheels" / spec.name, log)
        have = {_project(w) for w in (root / "wheels").glob("*.whl")}
        (ctx / "wheels").mkdir()
        for wheel in wheels:
            if _project(wheel) not in have:
                shutil.copy2(wheel, ctx / "wheels" / wheel.name)
    # The worker image has numpy, pandas and their dependencies already (same versions,
    # by the constraints): only the rest went into wheels/ above.
    (ctx / "pip").mkdir()
    for wheel in (root / "wheels").glob("pip-*.whl"):
        shutil.copy2(wheel, ctx / "pip" / wheel.name)
    shutil.copy2(USER_DOCKERFILE, ctx / "Dockerfile")


def build_user_images(mgr: ImageManager, specs: list[SkillSpec], ctx: Path, digest: str,
                      base_image: str, status: dict[str, Any], force: bool,
                      log: Callable[[str], None] = print) -> list[str]:
    """Build the images of the user skills ``specs``; return the tags built.

    The built-in image they start FROM is built first when missing or outdated (``ctx``,
    ``digest`` and ``base_image`` are those of the built-in build).
    """
    built = []
    base = base_spec(mgr)
    base_tag = image_name(base, prefix=mgr.prefix)
    # Any worker image built from this code will do (they differ in labels only): the
    # default-named one is there after `skills build --all`.
    reuse = next((t for t in (base_tag, image_name(base)) if _is_current(mgr, t, digest)),
                 None)
    if reuse is not None:
        base_tag = reuse
    else:
        log(f"building {base_tag} on {base_image} (the base of user skills)")
        mgr._build_one(ctx, base_tag, {
            "BASE_IMAGE": base_image, "SKILL": base.name, "SKILL_VERSION": base.version,
            "CODE_DIGEST": digest}, False, log)
        built.append(base_tag)
    failures = []
    for spec in specs:
        tag = mgr.image_for(spec)
        log(f"building {tag} FROM {base_tag}")
        user_ctx = None
        try:
            user_ctx = prepare_user_context(spec, log)
            mgr._build_one(user_ctx, tag, {
                "WORKER_IMAGE": base_tag, "SKILL": spec.name, "SKILL_VERSION": spec.version,
                "CODE_DIGEST": user_digest(spec, digest)}, force, log)
        except (RuntimeError, OSError) as exc:
            # One user's skill with a bad requirement must not stop the others' builds.
            log(f"{tag}: failed: {exc}")
            failures.append(f"{spec.name}: {exc}")
            continue
        finally:
            if user_ctx is not None:
                shutil.rmtree(user_ctx, ignore_errors=True)
        built.append(tag)
    if failures:
        done = f" (built: {', '.join(built)})" if built else ""
        raise RuntimeError("could not build the image of " + "; ".join(failures) + done)
    return built


def _is_current(mgr: ImageManager, tag: str, digest: str) -> bool:
    """Whether ``tag`` exists and was built from this code (it may have just been built)."""
    import docker.errors

    try:
        labels = mgr.client.images.get(tag).labels or {}
    except docker.errors.ImageNotFound:
        return False
    return labels.get("trackdesk.code_digest") == digest
