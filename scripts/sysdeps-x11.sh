#!/usr/bin/env bash
# System libraries Qt needs for a real window on a virtual screen (screenshots, smoke test),
# and what tests/ui/test_real_window.py drives it with: xdotool (a person's keys), strace
# (every file the window opens) and openbox (dialogs behave as on a desktop).
set -euo pipefail
pkgs="xvfb xauth libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
libxcb-xkb1 libxkbcommon-x11-0 libxcb-shape0 libxcb-randr0 libxcb-xinerama0 libegl1 libgl1
libfontconfig1 libdbus-1-3 fonts-dejavu-core
xdotool strace openbox"
missing=$(for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
