#!/usr/bin/env bash
# Smoke test of the PyInstaller bundle, as a person would use it: build it, start it under
# Xvfb on a fresh tracks.db, open a GPX file the way a file manager does (a second start
# hands it to the running window), see the import task complete, quit cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[ "${SMOKE_REUSE_BUNDLE:-0}" = 1 ] && [ -x dist/trackdesk/trackdesk ] || make bundle
bash scripts/sysdeps-x11.sh
APP="$ROOT/dist/trackdesk/trackdesk"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export TRACKDESK_INSTANCE_NAME="trackdesk-smoke-$$"
export XDG_CONFIG_HOME="$WORK/config" XDG_DATA_HOME="$WORK/data"
DB="$WORK/tracks.db"
GPX="$ROOT/resources/demo/$(ls resources/demo | grep -m1 '\.gpx$' || true)"
[ -f "$GPX" ] || GPX="$ROOT/tests/tracks/data/smoke.gpx"
if [ ! -f "$GPX" ]; then
  GPX="$WORK/smoke.gpx"
  python3 - "$GPX" <<'PY'
import sys
pts = "".join(
    f'<trkpt lat="{46.05 + i * 1e-4:.6f}" lon="{14.50 + i * 1e-4:.6f}">'
    f"<time>2024-05-01T08:{i // 60:02d}:{i % 60:02d}Z</time></trkpt>" for i in range(120))
open(sys.argv[1], "w").write(
    '<?xml version="1.0"?><gpx version="1.1" creator="smoke" '
    'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>' + pts + "</trkseg></trk></gpx>")
PY
fi
echo "[smoke] starting the bundle on $DB"
xvfb-run -a -s "-screen 0 1280x800x24" "$APP" --db "$DB" >"$WORK/app.log" 2>&1 &
APP_PID=$!
# The window listens for other starts before it opens the db; the engine's lock file
# holding a pid says the db is open and the engine runs.
for _ in $(seq 1 90); do
  [ -s "$DB.engine.lock" ] && break
  kill -0 "$APP_PID" 2>/dev/null || { echo "[smoke] the app died"; cat "$WORK/app.log"; exit 1; }
  sleep 1
done
[ -s "$DB.engine.lock" ] || { echo "[smoke] the app did not open $DB"; cat "$WORK/app.log"; exit 1; }
echo "[smoke] opening $GPX through a second start"
QT_QPA_PLATFORM=offscreen "$APP" --db "$DB" "$GPX"
status=""
for _ in $(seq 1 60); do
  status=$("$APP" --db "$DB" tasks list --json | python3 -c \
    'import json,sys; t=[x for x in json.load(sys.stdin) if x["skill_name"]=="import"]; print(t[-1]["status"] if t else "none")')
  [ "$status" = completed ] && break
  [ "$status" = failed ] && break
  sleep 1
done
echo "[smoke] import task: $status"
# Quit as a desktop session would: SIGTERM to the app itself (its pid is in the lock).
# The lock holds its JSON on the first line (a disk-full reserve follows it).
PID=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["pid"])' \
  "$DB.engine.lock")
kill -TERM "$PID"
for _ in $(seq 1 30); do kill -0 "$PID" 2>/dev/null || break; sleep 1; done
if kill -0 "$PID" 2>/dev/null; then
  echo "[smoke] the app did not quit within 30 s"; cat "$WORK/app.log"; exit 1
fi
wait "$APP_PID" || { echo "[smoke] the app exited with an error"; cat "$WORK/app.log"; exit 1; }
grep -q "Traceback" "$WORK/app.log" && { echo "[smoke] errors in the app log"; cat "$WORK/app.log"; exit 1; }
[ "$status" = completed ] || { echo "[smoke] the import did not complete"; cat "$WORK/app.log"; exit 1; }
echo "[smoke] 1 passed, 0 failed"
