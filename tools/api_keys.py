"""Create and revoke API keys. The plaintext is printed once; only its SHA-256 is stored.

make api-key TENANT=acme                 # the local stack (`make dev` running; its state file)
make api-key TENANT=acme SCOPES=read EXPIRES_IN=30d    # a read-only key for 30 days
make api-key TENANT=acme TABLE=<name>    # a deployed stack: its ApiKeysTableName output
make api-key-revoke KEY_ID=key_...       # by the id printed at creation (or HASH=<sha256>,
make api-key-revoke KEY=<key>            #   or the plaintext) [TABLE=<name>]

Scopes (docs/security-keys.md): read (GET routes), generate (POST /generate), money (transfers,
agent runs and their decisions); a key has all three unless SCOPES says otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

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
    create.add_argument("--scopes", default="", help="comma-separated: read,generate,money (all)")
    create.add_argument(
        "--expires-in", default="", help="e.g. 3600, 90m, 12h, 30d (default: never expires)"
    )
    revoke = sub.add_parser("revoke", help="revoke a key (by its id, hash or plaintext)")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--key-id", help="key_... (printed when the key was created)")
    which.add_argument("--hash", help="the key's SHA-256, hex")
    which.add_argument("--key", help="the plaintext key")
    for p in (create, revoke):
        p.add_argument("--table", help="the keys table (default: the local stack's)")
    args = parser.parse_args(argv)
    from retryproof.tenants import TENANT_ID_RULE, valid_tenant_id

    if args.command == "create" and not valid_tenant_id(args.tenant):
        print(f"no key created: {TENANT_ID_RULE}", file=sys.stderr)
        return 2

    from retryproof import aws
    from retryproof.dal.api_keys import DynamoApiKeyRepository, hash_api_key
    from retryproof.models.keys import SCOPES, check_scopes, key_id_for

    try:
        if args.command == "create":
            scopes = check_scopes(args.scopes.split(",")) if args.scopes else SCOPES
            expires_at = int(time.time()) + duration(args.expires_in) if args.expires_in else None
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        table = args.table or local_table("ApiKeysTable")
        repo = DynamoApiKeyRepository(aws.dynamodb(), table)
        if args.command == "create":
            key = repo.create(args.tenant, scopes=scopes, expires_at=expires_at)
            until = f", expires at {expires_at} (epoch s)" if expires_at else ""
            print(
                f"key id {key_id_for(hash_api_key(key))} (scopes {' '.join(scopes)}{until})\n"
                f"API key for tenant {args.tenant} (shown once, store it now):\n{key}"
            )
            return 0
        if args.key_id:
            revoked = repo.revoke_id(args.key_id)
        elif args.hash:
            revoked = repo.revoke_hash(args.hash.lower())
        else:
            revoked = repo.revoke(args.key)
    except devstate.NoStack as exc:
        return devstate.exit_no_stack(exc)
    except (BotoCoreError, ClientError, ProblemError) as exc:
        print(f"the keys table did not answer: {aws_failure(exc)}", file=sys.stderr)
        return 1
    if revoked:
        print("revoked")
        return 0
    # The key id index is eventually consistent: a key created a second ago may not be in it.
    print("no such key (or one created in the last seconds, not yet indexed)", file=sys.stderr)
    return 1


def duration(text: str) -> int:
    """Seconds from `3600`, `90s`, `90m`, `12h` or `30d`; `ValueError` otherwise."""
    found = re.fullmatch(r"(\d+)([smhd]?)", text.strip())
    if not found or int(found.group(1)) <= 0:
        raise ValueError(f"--expires-in is a positive number of s, m, h or d: {text!r}")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[found.group(2)]
    return int(found.group(1)) * unit


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
