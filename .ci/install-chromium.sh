#!/usr/bin/env bash
# Installs Debian's headless Chromium (and a font for its text) for the report-in-browser tests when no Chromium or
# Chrome is on PATH. Best effort: without root and apt-get it says so, and those tests skip with the same advice.
set -uo pipefail
for browser in chromium-headless-shell chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$browser" >/dev/null 2>&1; then echo "headless browser for the report tests: $(command -v "$browser")"; exit 0; fi
done
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "no Chromium on PATH and no root apt-get: the report-in-browser tests will skip (apt-get install chromium-headless-shell to run them)" >&2
  exit 0
fi
echo "installing chromium-headless-shell for the report-in-browser tests"
if timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends \
    chromium-headless-shell fonts-dejavu-core >/dev/null; then
  echo "headless browser for the report tests: $(command -v chromium-headless-shell)"
else
  echo "could not install chromium-headless-shell: the report-in-browser tests will skip" >&2
fi
exit 0
