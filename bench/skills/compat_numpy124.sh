#!/usr/bin/env bash
# The skills on the worker image's stack: numpy 1.24 (Debian bookworm's), no pandas, no
# SQLAlchemy. Builds bench/.venv-numpy124 once, then runs the chain INCREMENTAL over two
# imports and checks it equals a FULL_RECOMPUTE, and prints the ground-truth scores.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=bench/.venv-numpy124
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  echo '*' > "$VENV/.gitignore"
  "$VENV/bin/pip" install -q --disable-pip-version-check "numpy==1.24.4"
fi
"$VENV/bin/python" bench/skills/compat_check.py
