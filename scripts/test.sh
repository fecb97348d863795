#!/usr/bin/env bash
# The whole test suite. Starts a Docker engine first when the docker tests can use one.
set -euo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM=offscreen
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -x scripts/docker-setup.sh ] && [ "${TRACKDESK_SKIP_DOCKER_SETUP:-0}" != 1 ]; then
  bash scripts/docker-setup.sh
fi
.venv/bin/ruff check trackdesk tests bench
exec .venv/bin/python -m pytest -q -ra "$@"
