"""Launchers: where a worker runs (a local process or a Docker container)."""

from __future__ import annotations

from trackdesk.engine.launchers.base import Launcher


def default_launchers() -> dict[str, Launcher]:
    """Both launchers; the docker one connects only when a docker task starts."""
    from trackdesk.engine.launchers.docker import DockerLauncher
    from trackdesk.engine.launchers.local import LocalLauncher

    return {"local": LocalLauncher(), "docker": DockerLauncher()}
