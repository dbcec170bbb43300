"""Sign and send document-uploaded webhooks (Standard Webhooks, HMAC-SHA256), and manage secrets.

make webhook TENANT=acme DOC=doc_1 [EVENT=evt_1] [CONTENT='...'] [OCCURRED_AT=2026-01-01T00:00:00Z]
    sign a delivery with the tenant's secret from the seed file and POST it to the running stack
    (`make dev`), printing the answer like `curl -i`; the same EVENT twice shows the duplicate
make webhook-invoke
    re-sign events/webhook_document_uploaded.json (its fixed signature is stale after 5 minutes)
    and run the webhook handler on it, as `make invoke` does
make webhook-secret TENANT=acme [SECRET=whsec_...] [PREFIX=<WebhookSecretPrefix output>]
    set a tenant's secret (a new one, printed once, unless SECRET is given), replacing any at
    once, in the local stack's Secrets Manager or a deployed stack's (PREFIX)
make webhook-secret-rotate TENANT=acme [OVERLAP=24h] [PREFIX=...]
    a new secret (printed once); the old one keeps verifying for OVERLAP (docs/security-keys.md)
make webhook-secret-retire TENANT=acme [PREFIX=...]
    end the overlap now: only the current secret verifies

python -m tools.sign_webhook send --print-curl ...   prints a curl command instead of sending
python -m tools.sign_webhook resign events/webhook_document_uploaded.json > /tmp/signed.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from local import devstate
from local.seed import read_seed
from retryproof.signatures import ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

PATH = "/webhooks/document-uploaded"


def seed_secret(seed_file: Path, tenant: str) -> str:
    for t in read_seed(seed_file).tenants:
        if t.id == tenant and t.webhook_secret:
            return t.webhook_secret
    raise SystemExit(f"no webhookSecret for tenant {tenant!r} in {seed_file}")


def signed_headers(secret: str, body: bytes, message_id: str | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for `body`, signed now."""
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time())
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, message_id, timestamp, body),
    }


def resign_event(event: dict[str, Any], secret: str) -> dict[str, Any]:
    """An HTTP API event fixture with fresh signature headers for its body."""
    body = str(event.get("body") or "").encode()
    headers = {
        k: v
        for k, v in (event.get("headers") or {}).items()
        if k.lower() not in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
    }
    old_id = next(
        (v for k, v in (event.get("headers") or {}).items() if k.lower() == ID_HEADER), None
    )
    headers.update(signed_headers(secret, body, old_id))
    return {**event, "headers": headers}


def _send(args: argparse.Namespace) -> int:
    secret = args.secret or os.environ.get("WEBHOOK_SECRET") or seed_secret(args.seed, args.tenant)
    payload: dict[str, Any] = {
        "eventId": args.event_id or f"evt_{uuid.uuid4().hex[:16]}",
        "tenantId": args.tenant,
        "documentId": args.doc,
        "content": args.content,
    }
    if args.occurred_at:
        payload["occurredAt"] = args.occurred_at
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **signed_headers(secret, body)}
    url = args.url.rstrip("/") + PATH
    if args.print_curl:
        parts = [f"curl -i {url}"] + [f"-H '{k}: {v}'" for k, v in headers.items()]
        print(" \\\n  ".join([*parts, f"--data-binary '{body.decode()}'"]))
        return 0
    if not url.startswith(("http://", "https://")):
        raise SystemExit(f"--url must be http(s): {args.url}")
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            status, reply_headers, text = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, reply_headers, text = error.code, error.headers, error.read()
    except urllib.error.URLError as error:
        print(f"cannot reach {url} ({error.reason}): is `make dev` running?", file=sys.stderr)
        return 2
    print(f"HTTP/1.1 {status}")
    for name, value in reply_headers.items():
        print(f"{name}: {value}")
    print()
    print(text.decode())
    return 0 if status < 400 else 1


def _resign(args: argparse.Namespace) -> int:
    event = json.loads(args.event.read_text())
    tenant = json.loads(event.get("body") or "{}").get("tenantId", "")
    secret = args.secret or os.environ.get("WEBHOOK_SECRET") or seed_secret(args.seed, tenant)
    text = json.dumps(resign_event(event, secret), indent=2) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def local_prefix() -> str:
    """The running local stack's webhook secret prefix (its emulator from the state file)."""
    endpoint = devstate.target().emulator()
    from local.resources import aws_environment  # the stack's modules only once one is running
    from local.template import Template

    os.environ.update(aws_environment(endpoint))
    env = Template().resources["WebhookFunction"]["Properties"]["Environment"]["Variables"]
    return str(Template().resolve(env["WEBHOOK_SECRET_PREFIX"], {}, {}))


def _secret(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from retryproof import aws
    from retryproof.dal.webhook_secrets import SecretsManagerWebhookSecretRepository
    from retryproof.errors import ProblemError
    from tools.api_keys import aws_failure, duration

    try:
        overlap = duration(args.overlap) if args.command == "rotate" else 0
        prefix = args.prefix or local_prefix()
        repo = SecretsManagerWebhookSecretRepository(aws.secretsmanager(), prefix)
        if args.command == "retire":
            if not repo.retire_previous(args.tenant):
                print(f"tenant {args.tenant} has no webhook secret", file=sys.stderr)
                return 1
            print(f"tenant {args.tenant}: only the current webhook secret verifies now")
            return 0
        if args.command == "rotate":
            rotated = repo.rotate(args.tenant, overlap_seconds=overlap, secret=args.secret or None)
            secret = rotated.current
            until = rotated.previous_expires_at
            note = f"the previous one verifies until {until} (epoch s)" if until else "no previous"
        else:
            secret = repo.put(args.tenant, args.secret or None)
            note = "any previous one no longer verifies"
    except devstate.NoStack as exc:
        return devstate.exit_no_stack(exc)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError, ProblemError) as exc:
        print(f"Secrets Manager did not answer: {aws_failure(exc)}", file=sys.stderr)
        return 1
    shown = "given" if args.secret else "shown once, give it to the sender"
    print(f"webhook secret for tenant {args.tenant} ({shown}; {note}):\n{secret}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sign_webhook", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    try:  # the running stack's addresses and seed (its state file), unless given explicitly
        stack = devstate.target()
    except devstate.NoStack as exc:
        return devstate.exit_no_stack(exc)
    seed_default = stack.seed_file

    send = sub.add_parser("send", help="sign a delivery and POST it")
    send.add_argument("--tenant", required=True)
    send.add_argument("--doc", required=True, help="documentId")
    send.add_argument("--event-id", default="", help="eventId (default: a new one)")
    send.add_argument("--content", default="Quarterly report: revenue grew 12 percent.")
    send.add_argument("--occurred-at", default="", help="RFC 3339 (default: none)")
    send.add_argument("--url", default="", help="default: the running `make dev` stack")
    send.add_argument("--print-curl", action="store_true", help="print a curl command instead")

    resign = sub.add_parser("resign", help="re-sign an HTTP API event fixture (prints it)")
    resign.add_argument("event", type=Path)
    resign.add_argument("--output", type=Path)

    for p in (send, resign):
        p.add_argument("--seed", type=Path, default=seed_default)
        p.add_argument("--secret", default="", help="whsec_... (default: the seed's)")

    secret = sub.add_parser("secret", help="set a tenant's webhook secret (printed once)")
    rotate = sub.add_parser("rotate", help="a new secret; the old one verifies for --overlap")
    rotate.add_argument("--overlap", default="24h", help="e.g. 3600, 90m, 24h, 7d (default 24h)")
    retire = sub.add_parser("retire", help="end a rotation's overlap now")
    for p in (secret, rotate, retire):
        p.add_argument("--tenant", required=True)
        p.add_argument(
            "--prefix", default="", help="WebhookSecretPrefix output (default: the local stack's)"
        )
    for p in (secret, rotate):
        p.add_argument("--secret", default="", help="whsec_... to use (default: a new one)")

    args = parser.parse_args(argv)
    if args.command == "send":
        if not args.url and args.print_curl:
            args.url = stack.api_url or "http://127.0.0.1:3000"
        elif not args.url:
            try:
                args.url = stack.api()
            except devstate.NoStack as exc:
                return devstate.exit_no_stack(exc)
        return _send(args)
    if args.command == "resign":
        return _resign(args)
    return _secret(args)


if __name__ == "__main__":
    sys.exit(main())
