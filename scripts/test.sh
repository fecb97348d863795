#!/usr/bin/env bash
# The whole test suite. Starts a Docker engine first when the docker tests can use one.
set -euo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM=offscreen
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# desktop-file-validate checks the .desktop file (tests/test_desktop.py).
if ! command -v desktop-file-validate >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    desktop-file-utils >/dev/null || echo "desktop-file-utils could not be installed" >&2
fi
# The real window under Xvfb, driven with xdotool (tests/ui/test_real_window.py).
bash scripts/sysdeps-x11.sh || echo "Xvfb/xdotool could not be installed: the real-window tests skip" >&2
if [ -x scripts/docker-setup.sh ] && [ "${TRACKDESK_SKIP_DOCKER_SETUP:-0}" != 1 ]; then
  bash scripts/docker-setup.sh
fi
.venv/bin/ruff check trackdesk tests bench devtools
exec .venv/bin/python -m pytest -q -ra "$@"
