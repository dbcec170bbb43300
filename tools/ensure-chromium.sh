#!/usr/bin/env bash
# Headless Chromium for the console's browser test (tests/e2e/test_console_e2e.py), installed only
# when that test is about to run (`make e2e`). Prints the browser's path. Uses a browser already on
# PATH (or $CHROMIUM); otherwise installs Debian's `chromium` package with apt-get (as root, or
# through sudo). Idempotent and quick once installed.
set -euo pipefail

find_browser() {
  if [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ]; then echo "$CHROMIUM"; return 0; fi
  for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  done
  return 1
}

if browser=$(find_browser); then
  echo "$browser"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: no chromium on PATH and no apt-get: install Chromium, or set CHROMIUM" >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "ensure-chromium: installing Debian's chromium needs root (or sudo)" >&2
    exit 1
  fi
  SUDO=(sudo)
fi
echo "ensure-chromium: installing Debian's chromium package" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq >&2
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >&2
find_browser
