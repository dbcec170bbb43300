#!/usr/bin/env bash
# The Lambda layer's requirements.txt, generated from uv.lock (runtime dependencies only).
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-$(command -v uv || echo "$HOME/.local/bin/uv")}
"$UV" export --quiet --frozen --no-dev --no-hashes --no-emit-project --no-header \
  --format requirements-txt
