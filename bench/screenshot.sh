#!/usr/bin/env bash
# Render a bench report in headless Chromium (Debian package `chromium`) and save a full-page PNG.
#   bench/screenshot.sh runs/bench-quick/report.html [out.png] [height-px]
# No network: the page is self-contained, and Chromium's own background traffic is switched off.
set -euo pipefail
# Installed on first use, not by `make setup`: nothing else needs a browser.
command -v chromium > /dev/null || { apt-get update -qq && apt-get install -y -qq chromium > /dev/null; }
page=$(realpath "$1")
png=$(realpath -m "${2:-${1%.html}.png}")
height=${3:-4000}
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --disable-sync --no-first-run --user-data-dir="$profile" --hide-scrollbars \
  --window-size=1280,"$height" --screenshot="$png" "file://$page" 2>/dev/null
echo "$png"
