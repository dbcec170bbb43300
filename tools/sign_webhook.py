"""Sign and send document-uploaded webhooks (Standard Webhooks, HMAC-SHA256), and manage secrets.

make webhook TENANT=acme DOC=doc_1 [EVENT=evt_1] [CONTENT='...'] [OCCURRED_AT=2026-01-01T00:00:00Z]
    sign a delivery with the tenant's secret from the seed file and POST it to the running stack
    (`make dev`), printing the answer like `curl -i`; the same EVENT twice shows the duplicate
make webhook-invoke
    re-sign events/webhook_document_uploaded.json (its fixed signature is stale after 5 minutes)
    and run the webhook handler on it, as `make invoke` does
make webhook-secret TENANT=acme [TABLE=<WebhookSecretsTableName output>]
    create a new secret for a tenant (printed once) in the local stack's table or a deployed one

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

from local.seed import read_seed
from local.template import ROOT, physical_name
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


def _secret(args: argparse.Namespace) -> int:
    from local.resources import aws_environment
    from retryproof import aws
    from retryproof.dal.webhook_secrets import DynamoWebhookSecretRepository

    table = args.table
    if not table:
        port = os.environ.get("AWS_EMULATOR_PORT") or "3005"
        os.environ.update(aws_environment(f"http://127.0.0.1:{port}"))
        table = physical_name("WebhookSecretsTable")
    secret = DynamoWebhookSecretRepository(aws.dynamodb(), table).put(args.tenant)
    print(f"webhook secret for tenant {args.tenant} (shown once, give it to the sender):\n{secret}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sign_webhook", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    seed_default = Path(os.environ.get("SEED_FILE") or ROOT / "local" / "seed.json")

    send = sub.add_parser("send", help="sign a delivery and POST it")
    send.add_argument("--tenant", required=True)
    send.add_argument("--doc", required=True, help="documentId")
    send.add_argument("--event-id", default="", help="eventId (default: a new one)")
    send.add_argument("--content", default="Quarterly report: revenue grew 12 percent.")
    send.add_argument("--occurred-at", default="", help="RFC 3339 (default: none)")
    port = os.environ.get("PORT") or "3000"
    send.add_argument("--url", default=f"http://127.0.0.1:{port}")
    send.add_argument("--print-curl", action="store_true", help="print a curl command instead")

    resign = sub.add_parser("resign", help="re-sign an HTTP API event fixture (prints it)")
    resign.add_argument("event", type=Path)
    resign.add_argument("--output", type=Path)

    for p in (send, resign):
        p.add_argument("--seed", type=Path, default=seed_default)
        p.add_argument("--secret", default="", help="whsec_... (default: the seed's)")

    secret = sub.add_parser("secret", help="create a tenant's webhook secret (printed once)")
    secret.add_argument("--tenant", required=True)
    secret.add_argument("--table", help="the secrets table (default: the local stack's)")

    args = parser.parse_args(argv)
    if args.command == "send":
        return _send(args)
    if args.command == "resign":
        return _resign(args)
    return _secret(args)


if __name__ == "__main__":
    sys.exit(main())
