#!/usr/bin/env bash
# Make a Docker engine and the trackdesk worker images available on this machine.
#
# Idempotent: every step is skipped when its result is already there, so a second run
# takes a few seconds. Steps:
#   1. install docker.io (and debootstrap) with apt-get when no engine is installed;
#   2. start dockerd in the background when no engine answers, and wait for its socket;
#   3. build the base image (Debian + Python, no registry needed: debootstrap + docker
#      import) when missing; the rootfs tarball is cached so a rebuild is quick;
#   4. build the skill images (trackdesk.engine.images build).
#
# Environment:
#   DOCKER_HOST              use that engine instead of installing/starting one
#   TRACKDESK_BASE_IMAGE     base image for Dockerfile.worker; when it names an image
#                            from a registry (e.g. python:3.11-slim) step 3 is skipped
#   PYTHON                   the interpreter with trackdesk installed (default .venv)
#   SKIP_SKILL_IMAGES=1      stop after step 3
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/packaging/docker/.build"
mkdir -p "$BUILD"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
BASE_IMAGE="${TRACKDESK_BASE_IMAGE:-trackdesk-base:bookworm}"
SUITE=bookworm

log() { printf '[docker-setup] %s\n' "$*" >&2; }

engine_answers() {
    # `docker version` asks the server; a short timeout so a dead socket never hangs us.
    timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        as_root apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@"
}

# -- 1 + 2: an engine -------------------------------------------------------------------
if engine_answers; then
    log "Docker engine answers: $(docker version --format '{{.Server.Version}}')"
elif [ -n "${DOCKER_HOST:-}" ]; then
    log "DOCKER_HOST=$DOCKER_HOST does not answer; start that engine first"
    exit 1
else
    if ! command -v dockerd >/dev/null 2>&1; then
        log "installing docker.io"
        apt_install docker.io
    fi
    # A socket left by a dead dockerd makes clients wait on nothing: remove stale pid/socket.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        as_root rm -f /var/run/docker.pid /var/run/docker.sock
    fi
    if ! pgrep -x dockerd >/dev/null 2>&1; then
        log "starting dockerd (log: $BUILD/dockerd.log)"
        # setsid + nohup: the engine must outlive this script and the shell running it.
        # Descriptors 3-9 closed: a daemon that inherits a lock file held by whoever ran
        # this script (a CI job slot, a test's flock) would hold that lock for its life.
        as_root setsid nohup dockerd >"$BUILD/dockerd.log" 2>&1 </dev/null \
            3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
    fi
    for _ in $(seq 1 60); do
        engine_answers && break
        sleep 1
    done
    if ! engine_answers; then
        log "dockerd did not answer within 60 s; last lines of its log:"
        tail -n 20 "$BUILD/dockerd.log" >&2 || true
        exit 1
    fi
    log "Docker engine started: $(docker version --format '{{.Server.Version}}')"
fi

# -- 3: the base image ------------------------------------------------------------------
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

apt_mirror() {
    # The machine's own Debian mirror: the only one reachable here.
    local uri
    uri="$(grep -h -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v security | head -n1 || true)"
    if [ -z "$uri" ]; then
        uri="$(grep -h -E '^deb ' /etc/apt/sources.list 2>/dev/null \
            | awk '{print $2}' | grep -v security | head -n1 || true)"
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

if [ "$BASE_IMAGE" = "trackdesk-base:$SUITE" ] && ! image_exists "$BASE_IMAGE"; then
    TARBALL="$BUILD/rootfs-$SUITE.tar"
    if [ ! -s "$TARBALL" ]; then
        command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
        ROOTFS="$BUILD/rootfs-$SUITE"
        as_root rm -rf "$ROOTFS"
        mirror="$(apt_mirror)"
        log "debootstrap $SUITE from $mirror (about a minute)"
        # Python only: numpy and pandas come as wheels pinned to the host's versions
        # (Dockerfile.worker), so a worker computes with the same libraries locally and
        # in a container.
        as_root debootstrap --variant=minbase --include=python3 "$SUITE" "$ROOTFS" "$mirror" \
            >"$BUILD/debootstrap.log" 2>&1 || { tail -n 30 "$BUILD/debootstrap.log" >&2; exit 1; }
        # Trim what a worker never needs: apt lists and caches, docs, man pages.
        as_root rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
            "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/*
        as_root tar -C "$ROOTFS" -cf "$TARBALL.tmp" .
        mv "$TARBALL.tmp" "$TARBALL"
        as_root rm -rf "$ROOTFS"
    fi
    log "importing $BASE_IMAGE from $TARBALL"
    docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["python3"]' "$TARBALL" "$BASE_IMAGE" >/dev/null
fi

# -- 4: the skill images ----------------------------------------------------------------
if [ "${SKIP_SKILL_IMAGES:-0}" != 1 ]; then
    log "building skill images on $BASE_IMAGE"
    cd "$ROOT"
    "$PYTHON" -m trackdesk.engine.images build --base "$BASE_IMAGE"
fi
log "done"
