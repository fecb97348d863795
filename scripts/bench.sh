#!/usr/bin/env bash
# Every benchmark in bench/, side by side with its reference; results in docs/BENCHMARKS.md.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export QT_QPA_PLATFORM=offscreen
# Workers start with cached bytecode, as an installed app does (sources may have changed
# since the venv was made).
.venv/bin/python -m compileall -q trackdesk
status=0
for b in bench/*/run.py; do
  echo "== $b"
  .venv/bin/python "$b" || status=1
done
exit $status
