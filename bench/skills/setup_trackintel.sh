#!/usr/bin/env bash
# trackintel 1.4.2 in its own venv, apart from trackdesk's (it pulls geopandas, shapely,
# sqlalchemy 1.x-era pins...). Used by bench/skills/run.py as the reference.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-trackintel
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import trackintel" 2>/dev/null; then
  python3 -m venv "$VENV"
  echo '*' > "$VENV/.gitignore"  # never committed
  "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/pip" install -q --disable-pip-version-check "trackintel==1.4.2" psutil
fi
"$VENV/bin/python" -c "import trackintel; print('trackintel', trackintel.__version__)"
