"""Set, show or clear a tenant's agent policy: its overrides of the deployment's agent guard rails.

python -m tools.agent_policy set --tenant acme --approval-above 50000 --max-per-call 200000 \\
    --max-per-run 500000 --destinations own --allow acc_supplier_1 [--table <RunsTableName>]
python -m tools.agent_policy show --tenant acme [--table ...]
python -m tools.agent_policy clear --tenant acme [--table ...]

Without --table: the running local stack's (`make dev`). `set` replaces the whole policy: an
option left out falls back to the deployment's setting (AGENT_MAX_TRANSFER_PER_CALL, …); a transfer
above --approval-above waits for a person. See docs/agent-runs.md.
"""

from __future__ import annotations

import argparse
import json
import sys

from botocore.exceptions import BotoCoreError, ClientError

from local import devstate
from retryproof.errors import ProblemError
from tools.api_keys import aws_failure, local_table


def _amount(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("an amount is an integer >= 0 (minor units)")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="agent-policy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    put = sub.add_parser("set", help="replace the tenant's policy")
    put.add_argument("--max-per-call", type=_amount, help="most minor units one call moves")
    put.add_argument("--max-per-run", type=_amount, help="most minor units one run moves")
    put.add_argument("--destinations", choices=("own", "listed", "any"),
                     help="own: own and --allow accounts; listed: only --allow ones")  # fmt: skip
    put.add_argument("--allow", action="append", default=[], metavar="ACCOUNT_ID",
                     help="an account transfers may also go to (repeat)")  # fmt: skip
    put.add_argument("--approval-above", type=_amount,
                     help="a transfer moving more waits for a person")  # fmt: skip
    show = sub.add_parser("show", help="print the tenant's policy (JSON)")
    clear = sub.add_parser("clear", help="remove the tenant's policy (the deployment's settings)")
    for p in (put, show, clear):
        p.add_argument("--tenant", required=True)
        p.add_argument("--table", help="the runs table (default: the local stack's)")
    args = parser.parse_args(argv)

    from retryproof import aws
    from retryproof.clock import now_iso
    from retryproof.dal.agent_policy import DynamoTenantPolicyRepository, TenantPolicy

    try:
        table = args.table or local_table("RunsTable")  # first: it points AWS_* at the stack
        repo = DynamoTenantPolicyRepository(aws.dynamodb(), table)
        if args.command == "set":
            try:
                policy = TenantPolicy(
                    tenant_id=args.tenant,
                    max_transfer_per_call=args.max_per_call,
                    max_transfer_per_run=args.max_per_run,
                    destinations=args.destinations,
                    allowed_account_ids=tuple(dict.fromkeys(args.allow)),
                    approval_above=args.approval_above,
                    updated_at=now_iso(),
                )
            except ValueError as exc:
                parser.error(str(exc))
            repo.put(policy)
            print(json.dumps(policy.to_json_dict()))
        elif args.command == "show":
            found = repo.get(args.tenant)
            print(json.dumps(found.to_json_dict() if found else None))
        else:
            repo.delete(args.tenant)
            print("cleared")
    except devstate.NoStack as exc:
        return devstate.exit_no_stack(exc)
    except (BotoCoreError, ClientError, ProblemError) as exc:
        print(f"the runs table did not answer: {aws_failure(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
