#!/usr/bin/env bash
# Print the path of a Python 3.13 interpreter (the Lambda runtime's version), finding or installing
# one: python3.13 on PATH, a pyenv version, or uv's own managed Python (downloaded if need be).
set -euo pipefail
# (a pyenv shim is on PATH even when 3.13 is not active: ask the interpreter where it lives)
if exe=$(python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null); then
  echo "$exe"; exit 0
fi
for root in "${PYENV_ROOT:-}" "$HOME/.pyenv"; do
  [ -n "$root" ] || continue
  for py in "$root"/versions/3.13*/bin/python3.13; do
    [ -x "$py" ] && { echo "$py"; exit 0; }
  done
done
uv="${UV:-uv}"
if found=$("$uv" python find 3.13 2>/dev/null); then
  echo "$found"; exit 0
fi
"$uv" python install 3.13 >&2
"$uv" python find 3.13
