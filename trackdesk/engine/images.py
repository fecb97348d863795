"""Skill images: names, the sync listing (present / missing / outdated / orphaned), build, purge.

Every skill that may run in a container (``spec.docker``) has one image, tagged
``trackdesk-worker-<skill>:<version>`` and labelled::

    trackdesk.role=worker  trackdesk.skill=<skill>  trackdesk.skill.version=<version>
    trackdesk.code_digest=<sha256 of what was copied into the image>

The labels, not the names, decide what an image is: an image is *orphaned* when no
registered skill owns it (or a newer image of its skill supersedes it), *outdated* when the
skill's current version has no image but an older one exists, or when the image's code
digest differs from the code on disk (a skill was edited without a version bump).

All calls here block (the docker SDK): from a coroutine, run them with
``asyncio.to_thread``. ``python -m trackdesk.engine.images`` is a small CLI over them,
used by scripts/docker-setup.sh; the app's CLI (``trackdesk skills ...``) calls the same
functions.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import trackdesk
from trackdesk.engine.launchers.base import LauncherUnavailable
from trackdesk.engine.launchers.docker import docker_client
from trackdesk.skills.registry import SkillRegistry, load_registry
from trackdesk.worker.spec import SkillSpec

WORKER_PREFIX = "trackdesk-worker-"
LOCAL_BASE_IMAGE = "trackdesk-base:bookworm"
REGISTRY_BASE_IMAGE = "python:3.11-slim"
LABEL_ROLE = "trackdesk.role"
LABEL_SKILL = "trackdesk.skill"
LABEL_VERSION = "trackdesk.skill.version"
LABEL_DIGEST = "trackdesk.code_digest"

# What a worker imports besides trackdesk/skills. Pinned to the versions this interpreter
# runs, so a skill computes with the same libraries locally and in its container.
# reverse-geocode and tzfpy: stay_stats names places and gives time zones offline (issue
# 21); without them a container's results would differ from a local run's.
WORKER_PACKAGES = ("numpy", "pandas", "reverse-geocode", "tzfpy")
OPTIONAL_WORKER_PACKAGES = ("numba",)  # brought along when installed (the skills' choice)

PACKAGE_DIR = Path(trackdesk.__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
DOCKERFILE = REPO_DIR / "packaging" / "docker" / "Dockerfile.worker"
# User skills: FROM a worker image, plus the skill's folder and its requirements' wheels.
USER_DOCKERFILE = REPO_DIR / "packaging" / "docker" / "Dockerfile.user-skill"
LABEL_KIND = "trackdesk.skill.kind"

State = Literal["present", "missing", "outdated"]


class ImageInUseError(Exception):
    """Purge refused: a pending or running task needs the image (use force)."""

    def __init__(self, skills: list[str]) -> None:
        self.skills = skills
        super().__init__(
            f"not removing the image of {', '.join(skills)}: a pending or running task "
            "needs it (cancel the task first, or force)")


@dataclass(frozen=True)
class ImageInfo:
    tag: str
    id: str
    skill: str
    version: str
    digest: str
    size_mb: float
    created: str


@dataclass(frozen=True)
class SkillImageStatus:
    skill: str
    local_version: str
    image: str                       # the tag the docker launcher runs
    state: State
    detail: str = ""                 # why outdated / missing, for people
    images: tuple[ImageInfo, ...] = ()   # every image of this skill, any version


@dataclass
class SyncReport:
    skills: list[SkillImageStatus] = field(default_factory=list)
    orphaned: list[ImageInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"skills": [asdict(s) for s in self.skills],
                "orphaned": [asdict(o) for o in self.orphaned]}


def image_name(skill: str | SkillSpec, version: str | None = None,
               prefix: str = WORKER_PREFIX) -> str:
    """``trackdesk-worker-<skill>:<version>``: the image the docker launcher runs."""
    if isinstance(skill, SkillSpec):
        version = version or skill.version
        skill = skill.name
    if not version:
        raise ValueError("an image name needs the skill's version")
    # Docker tags allow [A-Za-z0-9_.-]; a version like 1.0.0+local would not be one.
    safe_version = "".join(c if c.isalnum() or c in "._-" else "-" for c in version)
    return f"{prefix}{skill.lower()}:{safe_version}"


def default_base_image(client: Any = None) -> str:
    """TRACKDESK_BASE_IMAGE, else the locally built base when present, else a registry's."""
    env = os.environ.get("TRACKDESK_BASE_IMAGE")
    if env:
        return env
    if client is not None:
        try:
            client.images.get(LOCAL_BASE_IMAGE)
            return LOCAL_BASE_IMAGE
        except Exception:  # noqa: BLE001 - not present (or unreadable): use a registry's
            pass
    return REGISTRY_BASE_IMAGE


def build_dir() -> Path:
    """Where build contexts and downloaded wheels live (git-ignored, reused between builds)."""
    env = os.environ.get("TRACKDESK_DOCKER_BUILD_DIR")
    if env:
        return Path(env)
    if DOCKERFILE.exists():
        return DOCKERFILE.parent / ".build"
    return Path.home() / ".cache" / "trackdesk" / "docker-build"


def worker_requirements() -> list[str]:
    """``name==version`` of the packages a worker needs, as installed here."""
    reqs = []
    for name in WORKER_PACKAGES:
        reqs.append(f"{name}=={metadata.version(name)}")
    for name in OPTIONAL_WORKER_PACKAGES:
        try:
            reqs.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return reqs


def _app_files() -> list[tuple[str, Path]]:
    """(path in the image under app/, source): trackdesk/__init__.py, protocol.py, worker/**
    (the runtime), skills/**, geodata/**, the few tracks modules the skills read, and the
    offline world file the place names need."""
    files = [("trackdesk/__init__.py", PACKAGE_DIR / "__init__.py"),
             ("trackdesk/resources.py", PACKAGE_DIR / "resources.py"),
             ("trackdesk/protocol.py", PACKAGE_DIR / "protocol.py"),
             # The offline world (countries for place names), where resources.py looks.
             ("resources/naturalearth/world.json.gz",
              REPO_DIR / "resources" / "naturalearth" / "world.json.gz")]
    # The registry reads the import spec; labels.py the corrections' kinds (and they the
    # annotations' activities). Stdlib modules, not the importers (tests/test_layers.py).
    for module in ("__init__", "spec", "corrections", "annotations"):
        files.append((f"trackdesk/tracks/{module}.py", PACKAGE_DIR / "tracks" / f"{module}.py"))
    for package in ("skills", "geodata", "worker"):
        folder = PACKAGE_DIR / package
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.append((f"trackdesk/{package}/{path.relative_to(folder).as_posix()}",
                              path))
    return files


def code_digest(requirements: list[str] | None = None, dockerfile: Path | None = None) -> str:
    """A digest of everything a skill image is made of (code, Dockerfile, pinned wheels)."""
    h = hashlib.sha256()
    for rel, path in _app_files():
        h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    dockerfile = dockerfile or DOCKERFILE
    if dockerfile.exists():
        h.update(dockerfile.read_bytes())
    h.update("\n".join(requirements if requirements is not None
                       else worker_requirements()).encode())
    return h.hexdigest()[:16]


def download_wheels(dest: Path, requirements: list[str],
                    log: Callable[[str], None] = print) -> None:
    """``pip download`` the worker's wheels (and pip's own) into ``dest``; cached by pins."""
    dest.mkdir(parents=True, exist_ok=True)
    req_file = dest / "requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    stamp = dest / ".complete"
    if (stamp.exists() and req_file.exists() and req_file.read_text() == wanted
            and any(dest.glob("pip-*.whl"))):
        return
    for old in dest.glob("*.whl"):
        old.unlink()
    req_file.write_text(wanted)
    stamp.unlink(missing_ok=True)
    log(f"downloading wheels: {', '.join(requirements)}")
    # Binary wheels for the container's Python (3.11, manylinux x86_64), whatever the host.
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
           "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
           "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64",
           "--platform", "manylinux_2_17_x86_64",
           "-d", str(dest), "-r", str(req_file), "pip"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pip download failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    stamp.write_text("ok\n")


def prepare_context(log: Callable[[str], None] = print) -> tuple[Path, str]:
    """Assemble the build context; return (its folder, the code digest)."""
    if not DOCKERFILE.exists():
        raise LauncherUnavailable(
            f"cannot build skill images: {DOCKERFILE} is missing (build from a trackdesk "
            "source checkout)")
    root = build_dir()
    ctx = root / "context"
    requirements = worker_requirements()
    download_wheels(root / "wheels", requirements, log)
    app = ctx / "app"
    if app.exists():
        shutil.rmtree(app)
    for rel, src in _app_files():
        dst = app / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    wheels = ctx / "wheels"
    if wheels.exists():
        shutil.rmtree(wheels)
    # Hard links when possible: a context folder of its own without copying 60 MB each time.
    shutil.copytree(root / "wheels", wheels, copy_function=_link_or_copy,
                    ignore=shutil.ignore_patterns(".complete"))
    shutil.copy2(DOCKERFILE, ctx / "Dockerfile")
    return ctx, code_digest(requirements)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class ImageManager:
    """The skill images on one Docker engine, against one skill registry."""

    def __init__(self, client: Any = None, registry: SkillRegistry | None = None,
                 prefix: str = WORKER_PREFIX) -> None:
        self._client = client
        self.registry = registry or load_registry()
        self.prefix = prefix

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = docker_client(for_task=False)
        return self._client

    def docker_specs(self) -> list[SkillSpec]:
        return [s for s in self.registry.specs() if s.docker]

    def image_for(self, spec: SkillSpec) -> str:
        return image_name(spec, prefix=self.prefix)

    # -- listing ------------------------------------------------------------------------
    def images(self) -> list[ImageInfo]:
        """Every worker image under this manager's prefix, one entry per tag."""
        out = []
        # One listing call: the high-level images.list() inspects each image afterwards
        # and fails when another process removes one in between.
        for img in self.client.api.images(filters={"label": f"{LABEL_ROLE}=worker"}):
            labels = img.get("Labels") or {}
            created = img.get("Created")
            if isinstance(created, int | float):
                created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
            for tag in img.get("RepoTags") or ():
                if not tag.startswith(self.prefix):
                    continue
                out.append(ImageInfo(
                    tag=tag, id=str(img.get("Id", "")).removeprefix("sha256:")[:12],
                    skill=labels.get(LABEL_SKILL, ""), version=labels.get(LABEL_VERSION, ""),
                    digest=labels.get(LABEL_DIGEST, ""),
                    size_mb=round((img.get("Size") or 0) / 2**20, 1),
                    created=str(created or "")))
        return sorted(out, key=lambda i: i.tag)

    def sync(self, digest: str | None = None) -> SyncReport:
        """Each docker skill: present / missing / outdated; images of no skill: orphaned."""
        digest = digest if digest is not None else _safe_digest()
        images = self.images()
        report = SyncReport()
        current_tags = set()
        for spec in self.docker_specs():
            tag = self.image_for(spec)
            mine = tuple(i for i in images if i.skill == spec.name)
            current = next((i for i in mine if i.tag == tag), None)
            if current is not None:
                current_tags.add(tag)
                if current.version != spec.version:
                    state: State = "outdated"
                    detail = f"the image says version {current.version or '?'}"
                elif (expected := self.expected_digest(spec, digest)) and current.digest \
                        and current.digest != expected:
                    state, detail = "outdated", "the skill's code changed since the build"
                else:
                    state, detail = "present", ""
            elif mine:
                state = "outdated"
                versions = ", ".join(sorted({i.version for i in mine}))
                detail = f"only version {versions} is built, the skill is {spec.version}"
            else:
                state, detail = "missing", "not built"
            report.skills.append(SkillImageStatus(spec.name, spec.version, tag, state,
                                                  detail, mine))
        known = {s.name: s for s in self.docker_specs()}
        # A user skill that is only broken for now (a typo being fixed) keeps its images.
        broken = {getattr(p, "folder", "") for p in getattr(self.registry, "problems", ())}
        for info in images:
            if info.tag in current_tags or (info.skill in broken and info.skill not in known):
                continue
            known_spec = known.get(info.skill)
            if known_spec is None:
                report.orphaned.append(info)
            elif self.image_for(known_spec) in current_tags:
                # An older version superseded by a built current one: nothing runs it.
                report.orphaned.append(info)
        return report

    # -- building -----------------------------------------------------------------------
    def build(self, skills: Iterable[str] | None = None, force: bool = False,
              base_image: str | None = None,
              log: Callable[[str], None] = print) -> list[str]:
        """Build the images of ``skills`` (all docker skills when None); return the tags built.

        Without ``force`` an image that is present and up to date is left alone. All skills
        share every layer but the last (labels): one image is built from Dockerfile.worker,
        the others are that image with their own labels (a build of one LABEL line, without
        sending the ~40 MB context again). Without ``force`` an existing image of this very
        code serves as that first one (so its base image is kept: ``force`` to change it).
        """
        specs = self._select(skills)
        base_image = base_image or default_base_image(self.client)
        ctx, digest = prepare_context(log)
        status = {s.skill: s for s in self.sync(digest).skills}
        built = []
        parent = None if force else self._current_builtin(digest)
        for spec in specs:
            tag = self.image_for(spec)
            if spec.kind == "user":
                continue  # below, FROM a built-in skill's image
            if not force and status[spec.name].state == "present":
                log(f"{tag}: up to date")
                continue
            if parent is None:
                log(f"building {tag} on {base_image}")
                self._build_one(ctx, tag, {
                    "BASE_IMAGE": base_image, "SKILL": spec.name,
                    "SKILL_VERSION": spec.version, "CODE_DIGEST": digest}, force, log)
                parent = tag
            else:
                log(f"building {tag} from {parent}")
                self._relabel(parent, tag, spec, digest, log)
            built.append(tag)
        users = [s for s in specs if s.kind == "user"
                 and (force or status[s.name].state != "present")]
        for spec in specs:
            if spec.kind == "user" and spec not in users:
                log(f"{self.image_for(spec)}: up to date")
        if users:
            from trackdesk.engine.user_images import build_user_images

            built += build_user_images(self, users, ctx, digest, base_image, status, force,
                                       log)
        return built

    def expected_digest(self, spec: SkillSpec, digest: str) -> str:
        """The code digest the image of ``spec`` must carry to be up to date."""
        if spec.kind != "user" or not digest:
            return digest
        from trackdesk.engine.user_images import user_digest

        return user_digest(spec, digest)

    def _current_builtin(self, digest: str) -> str | None:
        """A built-in skill's image built from this very code, if any."""
        builtin = {s.name for s in self.docker_specs() if s.kind != "user"}
        for info in self.images():
            if info.digest == digest and info.skill in builtin:
                return info.tag
        return None

    def _relabel(self, parent: str, tag: str, spec: SkillSpec, digest: str,
                 log: Callable[[str], None]) -> None:
        """``tag``: the image ``parent`` with the labels of ``spec`` (shares every layer)."""
        labels = {LABEL_ROLE: "worker", LABEL_SKILL: spec.name,
                  LABEL_VERSION: spec.version, LABEL_DIGEST: digest}
        dockerfile = f"FROM {parent}\nLABEL " + " ".join(
            f'{key}="{value}"' for key, value in labels.items()) + "\n"
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            data = dockerfile.encode()
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        buf.seek(0)
        self._stream_build(tag, log, fileobj=buf, custom_context=True)

    def _build_one(self, ctx: Path, tag: str, buildargs: dict[str, str], nocache: bool,
                   log: Callable[[str], None]) -> None:
        self._stream_build(tag, log, path=str(ctx), dockerfile="Dockerfile",
                           buildargs=buildargs, nocache=nocache)

    def _stream_build(self, tag: str, log: Callable[[str], None], **kwargs: Any) -> None:
        import docker.errors

        try:
            stream = self.client.api.build(
                tag=tag, rm=True, forcerm=True, decode=True,
                # A long RUN step must not be cut off by the client's short timeout.
                timeout=1800, **kwargs)
            for chunk in stream:
                if "error" in chunk:
                    raise RuntimeError(f"building {tag} failed: {chunk['error'].strip()}")
                text = chunk.get("stream", "").rstrip()
                if text and os.environ.get("TRACKDESK_BUILD_VERBOSE"):
                    log(f"  {text}")
        except docker.errors.APIError as exc:
            raise RuntimeError(f"building {tag} failed: {exc.explanation or exc}") from exc

    # -- purging ------------------------------------------------------------------------
    def purge(self, skills: Iterable[str] | None = None, orphaned: bool = False,
              force: bool = False,
              needed: Callable[[], Iterable[str]] | Iterable[str] = (),
              tags: Iterable[str] = ()) -> list[str]:
        """Remove the images of ``skills`` (any version) and/or the orphaned ones.

        ``tags``: single images by tag (one orphaned old version, not all of its skill's).
        ``needed``: the skills that pending or running tasks need (or a callable giving
        them, asked once); their images are kept unless ``force``. Returns removed tags.
        """
        import docker.errors

        report = self.sync()
        targets: list[ImageInfo] = []
        names = list(skills or ())
        for name in names:
            targets.extend(i for i in self.images() if i.skill == name)
        wanted_tags = set(tags)
        if wanted_tags:
            targets.extend(i for i in self.images() if i.tag in wanted_tags)
        if orphaned:
            targets.extend(report.orphaned)
        needed_set = set(needed() if callable(needed) else needed)
        blocked = sorted({t.skill for t in targets if t.skill in needed_set
                          and not _is_superseded(t, report)})
        if blocked and not force:
            raise ImageInUseError(blocked)
        removed = []
        seen = set()
        for info in targets:
            if info.tag in seen:
                continue
            seen.add(info.tag)
            try:
                # A tag only: other skills' images built FROM this one keep their layers.
                self.client.images.remove(info.tag, force=force, noprune=False)
            except docker.errors.ImageNotFound:
                continue  # removed meanwhile by someone else: the purge's aim holds
            removed.append(info.tag)
        return removed

    def _select(self, skills: Iterable[str] | None) -> list[SkillSpec]:
        if skills is None:
            return self.docker_specs()
        out = []
        for name in skills:
            spec = self.registry.get(name)  # UnknownSkillError names the known ones
            if not spec.docker:
                raise ValueError(f"skill {name!r} does not run in a container")
            out.append(spec)
        return out


NEEDING_STATES = ("pending", "running", "paused")


def skills_needed_by(tasks: Iterable[Any]) -> set[str]:
    """The skills whose image a pending, running or paused docker task needs.

    ``tasks``: TaskRecord-like objects (``skill_name``, ``status``, ``launcher``), e.g.
    ``engine.tasks.values()`` or the store's ``load_all()``; pass the result to
    :meth:`ImageManager.purge` as ``needed``.
    """
    out = set()
    for task in tasks:
        status = getattr(task.status, "value", task.status)
        if status in NEEDING_STATES and getattr(task, "launcher", "docker") == "docker":
            out.add(task.skill_name)
    return out


def _is_superseded(info: ImageInfo, report: SyncReport) -> bool:
    # An orphaned older version is never what a task runs, whatever the task's skill.
    return any(o.tag == info.tag for o in report.orphaned)


def _safe_digest() -> str:
    try:
        return code_digest()
    except (OSError, metadata.PackageNotFoundError):
        return ""


# -- a small CLI (scripts/docker-setup.sh; `trackdesk skills ...` is the app's own) -------
def format_sync(report: SyncReport) -> str:
    lines = [f"{'SKILL':<24}{'VERSION':<10}{'IMAGE':<10}DETAIL"]
    for s in report.skills:
        lines.append(f"{s.skill:<24}{s.local_version:<10}{s.state:<10}{s.detail}")
    for o in report.orphaned:
        lines.append(f"{o.skill or '?':<24}{o.version or '?':<10}{'orphaned':<10}{o.tag}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trackdesk.engine.images")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_list = sub.add_parser("list", help="the sync listing")
    p_list.add_argument("--json", action="store_true")
    p_build = sub.add_parser("build", help="build skill images")
    p_build.add_argument("skills", nargs="*")
    p_build.add_argument("--all", action="store_true")
    p_build.add_argument("--force", action="store_true")
    p_build.add_argument("--base", default=None, help="base image (BASE_IMAGE build arg)")
    p_purge = sub.add_parser("purge", help="remove skill images")
    p_purge.add_argument("skills", nargs="*")
    p_purge.add_argument("--orphaned", action="store_true")
    p_purge.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    try:
        mgr = ImageManager()
        if args.cmd == "list":
            report = mgr.sync()
            print(json.dumps(report.to_dict(), indent=2) if args.json else format_sync(report))
        elif args.cmd == "build":
            mgr.build(args.skills or None, force=args.force, base_image=args.base)
        else:
            for tag in mgr.purge(args.skills, orphaned=args.orphaned, force=args.force):
                print(f"removed {tag}")
    except (LauncherUnavailable, ImageInUseError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
