"""The edge's decisions, measured: validation library (`shapes` vs msgspec vs pydantic) and router.

    PYTHONPATH=layers/common:. .venv/bin/python -m bench.validation [--msgspec-path DIR]

For each library, in a fresh Python process that has imported boto3 (as every handler has; median
of BENCH_RUNS, 15): import the library, build
the two request models of POST /generate and POST /transfer with the same constraints (camelCase
on the wire, unknown fields refused, strict integers), and validate one valid body of each — what
a cold start pays before its first answer. Then one invalid transfer body with three offending
fields: how many of them does the library report? The contract asks for the offending fields to be
named in the 422. The router: `retryproof.http.Api` against Powertools' `APIGatewayHttpResolver`
(import and construction, after `import boto3` and Powertools' Logger, which every handler has).
msgspec is not a dependency of the project: install it anywhere
(`uv pip install --target DIR msgspec`) and pass `--msgspec-path DIR`; without it, its row is
skipped. The figures and the decision are in docs/design.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "15"))
VALID_GENERATE = {"prompt": "hi", "maxTokens": 10}
VALID_TRANSFER = {"fromAccountId": "a", "toAccountId": "b", "amount": 5, "currency": "USD"}
# Three offending fields: a float amount, a lowercase currency, an empty account id.
INVALID_TRANSFER = {"fromAccountId": "", "toAccountId": "b", "amount": 1.5, "currency": "usd"}

SHAPES = """
from retryproof.models.generate import GenerateRequest
from retryproof.models.transfers import TransferRequest
from retryproof.shapes import Invalid

def validate(kind, body):
    model = GenerateRequest if kind == "generate" else TransferRequest
    try:
        model.parse(body)
        return 0
    except Invalid as exc:
        return len(exc.errors)
"""

MSGSPEC = """
from typing import Annotated
import msgspec

class GenerateRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    prompt: Annotated[str, msgspec.Meta(min_length=1, max_length=32000)]
    model: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=4096)] | None = None

class TransferRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    from_account_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    to_account_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    amount: Annotated[int, msgspec.Meta(ge=1, le=10**12)]
    currency: Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")]

def validate(kind, body):
    model = GenerateRequest if kind == "generate" else TransferRequest
    try:
        msgspec.convert(body, model, strict=True)
        return 0
    except msgspec.ValidationError:
        return 1  # msgspec stops at the first error: one message, one field
"""

PYDANTIC = """
from typing import Annotated
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

CONFIG = ConfigDict(alias_generator=to_camel, extra="forbid", strict=True, frozen=True)

class GenerateRequest(BaseModel):
    model_config = CONFIG
    prompt: Annotated[str, Field(min_length=1, max_length=32000)]
    model: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    max_tokens: Annotated[int | None, Field(ge=1, le=4096)] = None

class TransferRequest(BaseModel):
    model_config = CONFIG
    from_account_id: Annotated[str, Field(min_length=1, max_length=128)]
    to_account_id: Annotated[str, Field(min_length=1, max_length=128)]
    amount: Annotated[int, Field(ge=1, le=10**12)]
    currency: Annotated[str, Field(pattern="^[A-Z]{3}$")]

def validate(kind, body):
    model = GenerateRequest if kind == "generate" else TransferRequest
    try:
        model.model_validate(body)
        return 0
    except ValidationError as exc:
        return exc.error_count()
"""

# boto3 first, untimed: every handler imports it, and with it typing, re, inspect, dataclasses;
# what is timed is what the library adds to a cold start.
PROBE = """
import json, sys, time
import boto3
t0 = time.perf_counter()
exec(compile(sys.argv[1], "models", "exec"), globals())
generate, transfer, invalid = (json.loads(a) for a in sys.argv[2:5])
valid = (validate("generate", generate), validate("transfer", transfer))
elapsed = (time.perf_counter() - t0) * 1000
print(json.dumps({"ms": elapsed, "valid": valid,
                  "reported": validate("transfer", invalid)}))
"""


ROUTER_PROBE = """
import json, sys, time
import boto3
from aws_lambda_powertools import Logger
t0 = time.perf_counter()
if sys.argv[1] == "powertools":
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    APIGatewayHttpResolver()
else:
    from retryproof import http
    http.Api()
print(json.dumps({"ms": (time.perf_counter() - t0) * 1000}))
"""


def router_ms(which: str, path: str) -> float:
    env = dict(os.environ, PYTHONPATH=path)
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", ROUTER_PROBE, which],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            ).stdout
        )["ms"]
        for _ in range(RUNS)
    ]
    return float(statistics.median(runs))


def probe(code: str, path: str) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=path, PYTHONDONTWRITEBYTECODE="")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            code,
            json.dumps(VALID_GENERATE),
            json.dumps(VALID_TRANSFER),
            json.dumps(INVALID_TRANSFER),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--msgspec-path", default="")
    args = parser.parse_args(argv)
    layer = str(ROOT / "layers" / "common")
    libraries = {"shapes (in-house)": (SHAPES, layer), "pydantic 2": (PYDANTIC, layer)}
    if args.msgspec_path:
        libraries["msgspec"] = (MSGSPEC, args.msgspec_path)
    print(f"import + build + first validation after `import boto3`, median of {RUNS} fresh")
    print("processes; the invalid transfer body has 3 offending fields\n")
    print(f"{'library':<20} {'ms':>6}  fields reported")
    for name, (code, path) in libraries.items():
        runs = [probe(code, path) for _ in range(RUNS)]
        assert all(r["valid"] == [0, 0] for r in runs), (name, runs[0])
        ms = statistics.median(float(str(r["ms"])) for r in runs)
        print(f"{name:<20} {ms:>6.1f}  {runs[0]['reported']} of 3")
    print("\nrouter: import + construction after `import boto3` and Powertools' Logger\n")
    for which, name in (("api", "retryproof.http.Api"), ("powertools", "APIGatewayHttpResolver")):
        print(f"{name:<24} {router_ms(which, layer):>6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
