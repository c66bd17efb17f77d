#!/usr/bin/env bash
# Renders a report.html in headless Chromium and saves a full-page PNG, to check that the report opens in a browser
# and shows its curves and overlays. Usage: bench/report-screenshot.sh <report.html> [out.png]
# Needs chromium, chromium-browser or google-chrome on PATH; exits 2 with a message when none is installed.
set -euo pipefail
report="$(realpath "${1:?usage: $0 <report.html> [out.png]}")"
out="$(realpath -m "${2:-${report%.html}.png}")"
for browser in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$browser" >/dev/null 2>&1; then
    "$browser" --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,4000 \
      --screenshot="$out" "file://$report" >/dev/null 2>&1
    echo "screenshot written to $out"
    exit 0
  fi
done
echo "no Chromium or Chrome found on PATH; install one (e.g. apt-get install chromium) to take the screenshot" >&2
exit 2
