"""Create and revoke API keys. The plaintext is printed once; only its SHA-256 is stored.

make api-key TENANT=acme                 # the local stack (`make dev` running)
make api-key TENANT=acme TABLE=<name>    # a deployed stack: its ApiKeysTableName output
make api-key-revoke KEY=<key> [TABLE=<name>]
"""

from __future__ import annotations

import argparse
import os
import sys

from local.resources import aws_environment
from local.template import physical_name
from retryproof import aws
from retryproof.dal.api_keys import DynamoApiKeyRepository


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="api-keys", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create a key for a tenant")
    create.add_argument("--tenant", required=True)
    revoke = sub.add_parser("revoke", help="revoke a key")
    revoke.add_argument("--key", required=True)
    for p in (create, revoke):
        p.add_argument("--table", help="the keys table (default: the local stack's)")
    args = parser.parse_args(argv)

    table = args.table
    if not table:
        port = os.environ.get("AWS_EMULATOR_PORT") or "3005"
        os.environ.update(aws_environment(f"http://127.0.0.1:{port}"))
        table = physical_name("ApiKeysTable")
    repo = DynamoApiKeyRepository(aws.dynamodb(), table)
    if args.command == "create":
        key = repo.create(args.tenant)
        print(f"API key for tenant {args.tenant} (shown once, store it now):\n{key}")
        return 0
    if repo.revoke(args.key):
        print("revoked")
        return 0
    print("no such key", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
