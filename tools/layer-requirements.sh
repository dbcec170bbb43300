#!/usr/bin/env bash
# The Lambda layer's requirements.txt, generated from uv.lock (runtime dependencies only).
# botocore and its own dependencies come with the Lambda Python runtime (with boto3); aws-xray-sdk
# asks for botocore, but the layer must not ship it a second time. The layer's Makefile installs
# this complete, pinned list with --no-deps.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-$(command -v uv || echo "$HOME/.local/bin/uv")}
"$UV" export --quiet --frozen --no-dev --no-hashes --no-emit-project --no-header \
  --no-emit-package botocore --no-emit-package urllib3 --no-emit-package python-dateutil \
  --no-emit-package six --format requirements-txt
