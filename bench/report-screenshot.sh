#!/usr/bin/env bash
# Renders a report.html in headless Chromium and saves a PNG of its top 1400x1800 CSS pixels (PF_SCREENSHOT_SIZE=W,H
# changes that), to check that the report opens in a browser
# and shows its curves and overlays. Usage: bench/report-screenshot.sh <report.html> [out.png]
# Needs chromium-headless-shell, chromium or Chrome on PATH (.ci/install-chromium.sh installs Debian's); exits 2 with a
# message when none is installed. The tests (ReportInBrowserTests) check the page and leave a full-page report.png too.
set -euo pipefail
report="$(realpath "${1:?usage: $0 <report.html> [out.png]}")"
out="$(realpath -m "${2:-${report%.html}.png}")"
for browser in ${PF_CHROMIUM:-} chromium-headless-shell chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$browser" >/dev/null 2>&1; then
    "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="${PF_SCREENSHOT_SIZE:-1400,1800}" \
      --screenshot="$out" "file://$report" >/dev/null 2>&1
    echo "screenshot written to $out"
    exit 0
  fi
done
echo "no Chromium or Chrome found on PATH; install one (apt-get install chromium-headless-shell, or bash .ci/install-chromium.sh) to take the screenshot" >&2
exit 2
