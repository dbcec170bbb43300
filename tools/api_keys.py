"""Create and revoke API keys. The plaintext is printed once; only its SHA-256 is stored.

make api-key TENANT=acme                 # the local stack (`make dev` running; its state file)
make api-key TENANT=acme TABLE=<name>    # a deployed stack: its ApiKeysTableName output
make api-key-revoke KEY=<key> [TABLE=<name>]
"""

from __future__ import annotations

import argparse
import os
import sys

from botocore.exceptions import BotoCoreError, ClientError

from local import devstate
from retryproof.errors import ProblemError


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
    from retryproof.tenants import TENANT_ID_RULE, valid_tenant_id

    if args.command == "create" and not valid_tenant_id(args.tenant):
        print(f"no key created: {TENANT_ID_RULE}", file=sys.stderr)
        return 2

    from retryproof import aws
    from retryproof.dal.api_keys import DynamoApiKeyRepository

    try:
        table = args.table or local_table("ApiKeysTable")
        repo = DynamoApiKeyRepository(aws.dynamodb(), table)
        if args.command == "create":
            key = repo.create(args.tenant)
            print(f"API key for tenant {args.tenant} (shown once, store it now):\n{key}")
            return 0
        revoked = repo.revoke(args.key)
    except devstate.NoStack as exc:
        return devstate.exit_no_stack(exc)
    except (BotoCoreError, ClientError, ProblemError) as exc:
        print(f"the keys table did not answer: {aws_failure(exc)}", file=sys.stderr)
        return 1
    if revoked:
        print("revoked")
        return 0
    print("no such key", file=sys.stderr)
    return 1


def local_table(logical_id: str) -> str:
    """The running local stack's table (its emulator from the state file or AWS_EMULATOR_PORT)."""
    endpoint = devstate.target().emulator()
    from local.resources import aws_environment  # the stack's modules only once one is running
    from local.template import physical_name

    os.environ.update(aws_environment(endpoint))
    return physical_name(logical_id)


def aws_failure(exc: BaseException) -> str:
    """One line for an AWS failure: the error code and message, never a traceback."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    if isinstance(exc, ProblemError):
        cause = exc.__cause__
        return aws_failure(cause) if cause is not None else exc.code
    return str(exc)


if __name__ == "__main__":
    sys.exit(main())
