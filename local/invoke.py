"""`make invoke FN=<function> EVENT=events/<file>.json`: one handler, one fixture, the local stack.

The Docker-free sibling of `sam local invoke`: the same fixtures, the function's environment from
the template, AWS calls going to the running `make dev` stack's emulator.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path

from local.lambda_runtime import LocalFunction, add_layer_to_path
from local.resources import aws_environment, local_refs
from local.stack import function_environment
from local.template import Template


def find_function(template: Template, name: str) -> LocalFunction:
    specs = template.functions()
    wanted = name.lower()
    for logical_id, spec in specs.items():
        if wanted in (
            logical_id.lower(),
            logical_id.lower().removesuffix("function"),
            spec.short_name.lower(),
        ):
            return LocalFunction(spec)
    names = ", ".join(sorted(s.short_name for s in specs.values()))
    raise SystemExit(f"no function {name!r}; functions: {names}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make invoke", description=__doc__)
    parser.add_argument("function", help="function: directory name or logical id")
    parser.add_argument("event", type=Path, help="event fixture (JSON)")
    args = parser.parse_args(argv)

    emulator = f"http://127.0.0.1:{os.environ.get('AWS_EMULATOR_PORT') or 3005}"
    try:
        urllib.request.urlopen(emulator, timeout=2).close()
    except OSError:
        print(
            f"the local stack is not running ({emulator}): start it with `make dev`",
            file=sys.stderr,
        )
        return 2
    template = Template()
    function = find_function(template, args.function)
    fake_llm = f"http://127.0.0.1:{os.environ.get('FAKE_LLM_PORT') or 3001}/v1"
    base_url = (
        os.environ.get("OPENAI_BASE_URL", "") if os.environ.get("OPENAI_API_KEY") else fake_llm
    )
    os.environ.update(aws_environment(emulator))
    os.environ.update(
        function_environment(
            template, local_refs(template, emulator), {"OpenAIBaseUrl": base_url}, os.environ
        )
    )
    add_layer_to_path()
    event = json.loads(args.event.read_text())
    result = function.invoke(event)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
