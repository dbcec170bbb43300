#!/usr/bin/env bash
# Set up everything `make dev` and `make test` need, from the project's own files:
# uv (pinned), Python 3.13, the project environment from uv.lock (.venv), and SAM CLI in a tool
# environment of its own (.tools/sam: it pins its own boto3 and pydantic). Idempotent and quick
# when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9

if command -v uv >/dev/null 2>&1; then
  UV=$(command -v uv)
elif [ -x "$HOME/.local/bin/uv" ]; then
  UV="$HOME/.local/bin/uv"
else
  echo "bootstrap: installing uv $UV_VERSION" >&2
  python3 -m pip install --quiet --user "uv==$UV_VERSION" 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages "uv==$UV_VERSION"
  UV="$(python3 -m site --user-base)/bin/uv"
fi
export UV

PY313=$(tools/python313.sh)
# Said once (when the choice changes), not before every helper target's own output.
[ "$(cat .tools/python313-bin 2>/dev/null)" = "$(dirname "$PY313")" ] \
  || echo "bootstrap: Python 3.13 at $PY313" >&2

"$UV" sync --quiet --locked --python "$PY313"

# The TypeScript client's dev dependencies (typescript, openapi-typescript), pinned by its
# package-lock.json; `npm ci` also builds it (dist/). Node 20+ and npm come from the machine.
ts=clients/typescript
if command -v npm >/dev/null 2>&1; then
  if [ ! -d "$ts/node_modules" ] || ! cmp -s "$ts/package-lock.json" "$ts/node_modules/.retryproof-lock"; then
    echo "bootstrap: npm ci in $ts" >&2
    (cd "$ts" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) \
      && cp "$ts/package-lock.json" "$ts/node_modules/.retryproof-lock"
  fi
else
  echo "bootstrap: npm not found; the TypeScript client's checks need Node 20+ and npm" >&2
fi

stamp=.tools/sam/.requirements
if [ ! -x .tools/sam/bin/sam ] || ! cmp -s tools/sam-requirements.txt "$stamp"; then
  echo "bootstrap: installing SAM CLI into .tools/sam" >&2
  rm -rf .tools/sam
  "$UV" venv --quiet --python "$PY313" .tools/sam
  "$UV" pip install --quiet --python .tools/sam/bin/python -r tools/sam-requirements.txt
  cp tools/sam-requirements.txt "$stamp"
fi
# `sam build` looks for python3.13 (with pip) on PATH; the Makefile puts this folder first.
dirname "$PY313" > .tools/python313-bin
