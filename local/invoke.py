"""`make invoke FN=<function> EVENT=events/<file>.json`: one handler, one fixture, the local stack.

The Docker-free sibling of `sam local invoke`: the same fixtures, the function's environment from
the template, AWS calls going to the running `make dev` stack's emulator and fake LLM (found in
its state file, local/devstate.py, unless AWS_EMULATOR_PORT / FAKE_LLM_PORT are given).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from local import devstate

if TYPE_CHECKING:  # the stack's modules are imported once the arguments are known to be right
    from local.lambda_runtime import LocalFunction
    from local.template import Template


def find_function(template: Template, name: str) -> LocalFunction:
    from local.lambda_runtime import LocalFunction

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
    raise LookupError(f"no function {name!r}; the functions: {names}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make invoke", description=__doc__)
    parser.add_argument("function", help="function: directory name or logical id")
    parser.add_argument("event", type=Path, help="event fixture (JSON)")
    args = parser.parse_args(argv)

    # The arguments first, then the stack: each mistake in one line.
    if not args.event.is_file():
        print(f"no event file {args.event}: the fixtures are in events/", file=sys.stderr)
        return 2
    try:
        event = json.loads(args.event.read_text())
    except ValueError as exc:
        print(f"{args.event} is not JSON: {exc}", file=sys.stderr)
        return 2
    from local.lambda_runtime import add_layer_to_path
    from local.resources import aws_environment, local_refs
    from local.stack import function_environment
    from local.template import Template

    template = Template()
    try:
        function = find_function(template, args.function)
    except LookupError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        stack = devstate.target()
        emulator = stack.emulator()
        if os.environ.get("OPENAI_API_KEY"):
            base_url = os.environ.get("OPENAI_BASE_URL", "")
        else:
            base_url = f"{stack.fake_llm()}/v1"
    except devstate.NoStack as exc:
        return devstate.exit_no_stack(exc)
    os.environ.update(aws_environment(emulator))
    if os.environ.get("LAMBDA_PORT"):  # the stack's Lambda API (agent runs): give make dev the same
        os.environ["AWS_ENDPOINT_URL_LAMBDA"] = f"http://127.0.0.1:{os.environ['LAMBDA_PORT']}"
    os.environ.update(
        function_environment(
            template, local_refs(template, emulator), {"OpenAIBaseUrl": base_url}, os.environ
        )
    )
    add_layer_to_path()
    result = function.invoke(event)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
