"""docs/settings.md, the table of the functions' settings, from their declarations in config.py.

python -m tools.settings            # rewrite docs/settings.md
python -m tools.settings --check    # exit 1 when docs/settings.md is stale
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import MISSING
from pathlib import Path

from retryproof.config import declared, kind

DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"

HEAD = """# Settings

The functions read these environment variables once per execution environment
(`retryproof/config.py`); an unset or empty variable keeps the default. A value that does not
parse or validate fails the settings with a message naming the variable, and every request then
answers 500 (`internal_error`, the configuration error in the logs). Deployed, `template.yaml`
sets them from stack parameters; locally, `make dev` passes any of them through.

Generated from the declarations by `python -m tools.settings`: do not edit by hand.

| variable | type | range | default | meaning |
|---|---|---|---|---|
"""


def _default(f: object) -> str:
    default = getattr(f, "default", MISSING)
    if default is MISSING:
        return "the list prices (README)"
    if isinstance(default, tuple):
        return f"`{','.join(default)}`"
    return f"`{default}`" if default != "" else "(empty)"


def _range(low: int | None, high: int | None) -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f">= {low}"
    return f"{low}-{high}"


def render() -> str:
    rows = [
        f"| `{spec.env}` | {kind(f).doc} | {_range(spec.low, spec.high)} | "
        f"{_default(f)} | {spec.description} |"
        for f, spec in declared()
    ]
    return HEAD + "\n".join(rows) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if DOC.read_text() != text:
            print(f"{DOC} is stale: run python -m tools.settings", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
