#!/usr/bin/env bash
# The Lambda layer's requirements.txt, generated from uv.lock (runtime dependencies only).
# botocore's own dependencies (urllib3, python-dateutil, six) come with the Lambda Python runtime.
# boto3 and botocore are shipped: the durable execution SDK needs the Lambda API's durable
# operations (CheckpointDurableExecution, …), newer than the runtime's bundled boto3 may be. The
# layer's Makefile installs this complete, pinned list with --no-deps and --require-hashes: each
# wheel must have one of uv.lock's sha256 hashes (a tampered or substituted file fails the build).
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-$(command -v uv || echo "$HOME/.local/bin/uv")}
"$UV" export --quiet --frozen --no-dev --no-emit-project --no-header \
  --no-emit-package urllib3 --no-emit-package python-dateutil \
  --no-emit-package six --format requirements-txt
