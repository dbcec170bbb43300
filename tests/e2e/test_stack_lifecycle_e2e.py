"""The local stack as `make dev` runs it: configuration from the environment, clean stop."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import boto3
import pytest

from tests.e2e.conftest import start_stack

pytestmark = pytest.mark.e2e


def test_seed_file_and_ttl_from_the_environment_and_clean_sigint(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            {"tenants": [{"id": "initech", "apiKey": "rp_test_initech_0123456789", "accounts": []}]}
        )
    )
    api = start_stack(tmp_path / "log", SEED_FILE=str(seed), IDEMPOTENCY_TTL_GENERATE="120")
    try:
        ok = api.call("GET", "/usage", key="rp_test_initech_0123456789")
        assert ok.status == 200
        assert api.call("GET", "/usage").status == 403  # acme is not in this seed
        before = time.time()
        generated = api.call(
            "POST",
            "/generate",
            key="rp_test_initech_0123456789",
            idempotency_key="ttl-check",
            body={"prompt": "hi"},
        )
        after = time.time()
        assert generated.status == 200
        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{api.emulator_port}",
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        items = dynamodb.scan(TableName="retryproof-local-IdempotencyTable")["Items"]
        assert len(items) == 1
        # The 120 s window (longer than the function's 60 s lease, so not raised to it).
        # Written during the call: bounded by the clock before and after it (whole seconds).
        assert before + 119 <= int(items[0]["expiration"]["N"]) <= after + 121
    finally:
        api.process.send_signal(signal.SIGINT)
        assert api.process.wait(timeout=60) == 0
