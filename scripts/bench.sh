#!/usr/bin/env bash
# Every benchmark in bench/, side by side with its reference; results in docs/BENCHMARKS.md.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export QT_QPA_PLATFORM=offscreen
status=0
for b in bench/*/run.py; do
  echo "== $b"
  .venv/bin/python "$b" || status=1
done
exit $status
