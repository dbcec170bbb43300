"""`make smoke`: the idempotency checks of tests/smoke against a deployed stack, or the local one.

make smoke URL=<ApiUrl output> API_KEY=<key> [FROM_ACCOUNT=<id> TO_ACCOUNT=<id>]   # deployed
make smoke                                                                        # `make dev`

Without URL it runs against the running `make dev` stack (its state file, local/devstate.py):
its API, the first tenant of its seed file and that tenant's first two accounts of one currency.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess  # nosec B404
import sys
from pathlib import Path

from local import devstate

ROOT = Path(__file__).resolve().parents[1]


def seed_target(seed_file: Path) -> tuple[str, str | None, str | None]:
    """(API key, source account, target account) of the seed's first tenant."""
    tenant = json.loads(seed_file.read_text())["tenants"][0]
    accounts = tenant.get("accounts", [])
    funded = next((a for a in accounts if a.get("balance", 0) > 0), None)
    other = next(
        (a for a in accounts if funded and a is not funded and a["currency"] == funded["currency"]),
        None,
    )
    if funded is None or other is None:
        return str(tenant["apiKey"]), None, None
    return str(tenant["apiKey"]), str(funded["id"]), str(other["id"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make smoke", description=__doc__)
    parser.add_argument("--url", default="")
    parser.add_argument("--api-key", default="")
    parser.add_argument("--from-account", default="")
    parser.add_argument("--to-account", default="")
    args = parser.parse_args(argv)
    if args.url and not args.api_key:
        print("usage: make smoke URL=<ApiUrl output> API_KEY=<api key>", file=sys.stderr)
        return 2
    if args.url:
        url, key = args.url, args.api_key
        source, target = args.from_account or None, args.to_account or None
    else:
        try:
            stack = devstate.target()
            url = stack.api()
        except devstate.NoStack as exc:
            print(f"{exc} (or give URL=<ApiUrl output> API_KEY=<key>)", file=sys.stderr)
            return devstate.EXIT_NO_STACK
        key, source, target = seed_target(stack.seed_file)
        key = args.api_key or key
    print(f"smoke tests against {url}", flush=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMOKE_")}
    env |= {"SMOKE_URL": url, "SMOKE_API_KEY": key}
    if source and target:
        env |= {"SMOKE_FROM_ACCOUNT": source, "SMOKE_TO_ACCOUNT": target}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/smoke", "-q"]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode  # noqa: S603  # nosec B603


if __name__ == "__main__":
    sys.exit(main())
