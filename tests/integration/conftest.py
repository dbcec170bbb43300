"""Integration tier: handlers in-process, talking HTTP to the moto server and the fake LLM.

Tables, queues and secrets come from template.yaml (the same code the local stack uses), and the
functions' environment from the template's variables, so nothing here restates the template.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from local.inprocess import InProcess
from retryproof.config import get_settings
from tests.support.llm import FakeLLMControl


@dataclass
class Stack(InProcess):
    """The functions in-process (local/inprocess.py), plus control of the fake LLM."""

    @property
    def llm(self) -> FakeLLMControl:
        return FakeLLMControl(self.fake.base_url)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    # Fail fast in tests: one LLM retry.
    running = Stack(environment={"LLM_MAX_RETRIES": "1"}).start()
    yield running
    running.stop()


@pytest.fixture
def settings_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Change the functions' settings for one test (the settings cache is cleared around it)."""
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def tenant() -> str:
    """A tenant of its own per test, so tests never see each other's keys or records."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def key() -> str:
    return str(uuid.uuid4())


@pytest.fixture(autouse=True)
def _clear_llm_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "stack" in request.fixturenames:
        request.getfixturevalue("stack").llm.clear()


# --- webhooks and the worker --------------------------------------------------------------------
# (imported here, with the fixtures that use them)
import json  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from typing import Any  # noqa: E402

import boto3  # noqa: E402

from local.lambda_runtime import LocalFunction  # noqa: E402
from local.worker_loop import EventSource, WorkerLoop  # noqa: E402
from retryproof import aws  # noqa: E402
from retryproof.dal.webhook_secrets import SecretsManagerWebhookSecretRepository  # noqa: E402
from tests.support.webhooks import Jobs  # noqa: E402

# The worker's timeout in these tests, hence the longest lease it takes on an event: long enough
# to start an LLM call (the worker starts none it could not finish: `retryproof.llm.MIN_CALL_MS`)
# with time to spare for the claim before it ...
WORKER_TIMEOUT_S = 10
# ... and the job queue's visibility timeout: longer, so when the message of an attempt that died
# comes back, that attempt's lease has expired (as with AWS's 6x advice, only faster).
JOBS_VISIBILITY_S = 12


def webhook_secrets() -> SecretsManagerWebhookSecretRepository:
    """The tenants' webhook secrets in the emulator's Secrets Manager, named as the webhook
    function names them (its WEBHOOK_SECRET_PREFIX, from template.yaml). Read from the
    environment, not `get_settings()`: a fixture must not cache the settings before a test
    changes them (`settings_env`)."""
    return SecretsManagerWebhookSecretRepository(
        aws.secretsmanager(), os.environ["WEBHOOK_SECRET_PREFIX"]
    )


@pytest.fixture
def webhook_secret(stack: Stack, tenant: str) -> str:
    """A webhook signing secret for this test's tenant, in Secrets Manager, provisioned before
    the test's deliveries."""
    return webhook_secrets().put(tenant)


def wait_until_visible(stack: Stack, table: str, key: dict[str, Any], timeout: float = 30) -> None:
    """Until an eventually consistent GetItem sees the item (a setup step, not an assertion)."""
    deadline = time.monotonic() + timeout
    while "Item" not in stack.dynamodb.get_item(TableName=table, Key=key):
        assert time.monotonic() < deadline, f"{key} never became visible"
        time.sleep(0.05)


@pytest.fixture
def jobs(stack: Stack, settings_env: pytest.MonkeyPatch) -> Iterator[Jobs]:
    """A job queue and dead-letter queue of this test's own (redrive policy from template.yaml),
    the webhook function sending to it, and the worker's event source mapping polling it."""
    sqs = boto3.Session().client("sqs")
    props = stack.template.resources["WebhookJobsQueue"]["Properties"]
    suffix = uuid.uuid4().hex[:10]
    dlq_url = sqs.create_queue(QueueName=f"jobs-dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
    queue_url = sqs.create_queue(
        QueueName=f"jobs-{suffix}",
        Attributes={
            "VisibilityTimeout": str(JOBS_VISIBILITY_S),
            "RedrivePolicy": json.dumps(
                {
                    "deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"],
                    "maxReceiveCount": props["RedrivePolicy"]["maxReceiveCount"],
                }
            ),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    settings_env.setenv("WEBHOOK_QUEUE_URL", queue_url)
    spec = replace(stack.functions["WorkerFunction"].spec, timeout=WORKER_TIMEOUT_S)
    (mapping,) = spec.queue_events
    source = EventSource(
        function=LocalFunction(spec),
        queue_url=queue_url,
        queue_arn=queue_arn["Attributes"]["QueueArn"],
        batch_size=mapping.batch_size,
        batching_window_s=mapping.max_batching_window,
        report_batch_item_failures=mapping.report_batch_item_failures,
        concurrency=1,
    )
    yield Jobs(sqs, queue_url, dlq_url, WorkerLoop([source], sqs), source)
    for url in (queue_url, dlq_url):
        sqs.delete_queue(QueueUrl=url)
