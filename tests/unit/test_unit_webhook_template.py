"""template.yaml's webhook and worker resources, the seed's webhook secrets, the signing tool."""

from __future__ import annotations

import json
import time
from functools import cache
from typing import Any

import pytest

from local.seed import load_seed, read_seed
from local.template import ROOT, Template
from retryproof.signatures import read_headers, verify
from retryproof.worker import MAX_RECEIVES
from tests.support.events import event
from tests.support.template_iam import function_statements
from tools.sign_webhook import resign_event

pytestmark = pytest.mark.unit

FUNCTIONS = ("WebhookFunction", "WorkerFunction", "WebhookReadsFunction")


@cache
def template() -> Template:
    return Template()


def props(logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = template().resources[logical_id]["Properties"]
    return found


def test_the_queue_redrives_after_the_workers_last_receive() -> None:
    policy = props("WebhookJobsQueue")["RedrivePolicy"]
    assert policy["maxReceiveCount"] == MAX_RECEIVES == 5
    assert policy["deadLetterTargetArn"] == {"Fn::GetAtt": ["WebhookJobsDeadLetterQueue", "Arn"]}
    dlq_days = props("WebhookJobsDeadLetterQueue")["MessageRetentionPeriod"]
    assert dlq_days > props("WebhookJobsQueue")["MessageRetentionPeriod"]


def test_visibility_timeout_is_six_times_the_worker_timeout_by_default() -> None:
    t = template()
    assert props("WebhookJobsQueue")["VisibilityTimeout"] == {"Ref": "WorkerVisibilityTimeout"}
    assert props("WorkerFunction")["Timeout"] == {"Ref": "WorkerTimeout"}
    visibility = int(t.parameter_default("WorkerVisibilityTimeout"))
    assert visibility == 6 * int(t.parameter_default("WorkerTimeout"))


def test_the_worker_reports_partial_batches_and_its_scaling_is_parameterised() -> None:
    (source,) = props("WorkerFunction")["Events"].values()
    assert source["Type"] == "SQS"
    p = source["Properties"]
    assert p["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert p["BatchSize"] == {"Ref": "WorkerBatchSize"}
    assert p["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "WorkerMaxConcurrency"}


def test_the_webhook_route_has_no_authorizer_and_the_reads_have_the_api_keys() -> None:
    routes = {r.route_key: r for r in template().routes()}
    assert routes["POST /webhooks/document-uploaded"].authorizer is None
    assert routes["GET /webhook-events/{eventId}"].authorizer == "ApiKeyAuthorizer"
    assert routes["GET /summaries/{documentId}"].authorizer == "ApiKeyAuthorizer"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_policies_name_specific_actions_and_resources(function: str) -> None:
    statements = function_statements(template(), function)
    assert statements
    for statement in statements:
        assert all("*" not in action for action in statement["Action"])
        resources = statement["Resource"]
        for resource in resources if isinstance(resources, list) else [resources]:
            assert isinstance(resource, dict), resource  # a GetAtt / Ref, never a string
            if statement["Action"] == ["secretsmanager:GetSecretValue"]:
                continue  # the tenants' secrets by prefix: test_unit_template_policies
            assert "*" not in json.dumps(resource)


def test_the_reads_are_read_only() -> None:
    # Of the data; the tenant's request counter (docs/limits.md) is the one write.
    statements = props("WebhookReadsFunction")["Policies"][0]["Statement"]
    counter = {"Fn::GetAtt": ["RateLimitTable", "Arn"]}
    actions = {a for s in statements if s["Resource"] != counter for a in s["Action"]}
    assert actions == {"dynamodb:GetItem"}


@pytest.mark.parametrize("table", ["WebhookEventsTable", "SummariesTable"])
def test_the_tables_are_encrypted_recoverable_and_retained(table: str) -> None:
    p = props(table)
    assert p["SSESpecification"]["SSEEnabled"] is True
    assert p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert template().resources[table]["DeletionPolicy"] == "Retain"


def test_no_secret_in_the_template_and_the_settings_in_globals() -> None:
    assert "whsec_" not in (ROOT / "template.yaml").read_text()
    env = template().doc["Globals"]["Function"]["Environment"]["Variables"]
    assert env["IDEMPOTENCY_TTL_WEBHOOK"] == {"Ref": "IdempotencyTtlWebhook"}
    assert template().parameter_default("IdempotencyTtlWebhook") == "86400"
    for name in ("WEBHOOK_EVENTS_TABLE", "SUMMARIES_TABLE"):
        assert name in env
    # The webhook secrets are in Secrets Manager, not in any table; only the webhook function
    # knows where.
    assert "WebhookSecretsTable" not in template().resources
    assert "WEBHOOK_SECRET_PREFIX" not in env
    own = props("WebhookFunction")["Environment"]["Variables"]
    assert own["WEBHOOK_SECRET_PREFIX"] == {"Fn::Sub": "${AWS::StackName}/webhook-secrets/"}
    assert env["WEBHOOK_QUEUE_URL"] == {"Ref": "WebhookJobsQueue"}


class RecordingDynamo:
    def __init__(self) -> None:
        self.puts: list[dict[str, Any]] = []

    def put_item(self, TableName: str, Item: dict[str, Any]) -> None:
        self.puts.append({"table": TableName, **Item})


class RecordingSecrets:
    """Secrets Manager's put (unknown secret: created) and create."""

    def __init__(self) -> None:
        self.created: dict[str, str] = {}

    def put_secret_value(self, SecretId: str, SecretString: str) -> None:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "PutSecretValue")

    def create_secret(self, Name: str, SecretString: str, Description: str) -> None:
        self.created[Name] = SecretString


def test_the_seed_loads_each_tenants_webhook_secret_into_secrets_manager() -> None:
    seed = read_seed(ROOT / "local" / "seed.json")
    dynamo, secrets = RecordingDynamo(), RecordingSecrets()
    tables = {"ApiKeysTable": "keys", "AccountsTable": "accounts"}

    load_seed(seed, tables, dynamo, secrets, "stack/webhook-secrets/")

    stored = {
        name.removeprefix("stack/webhook-secrets/"): json.loads(value)["current"]
        for name, value in secrets.created.items()
    }
    assert stored == {t.id: t.webhook_secret for t in seed.tenants}
    assert not any("whsec_" in json.dumps(p) for p in dynamo.puts)  # no secret in a table


@pytest.mark.parametrize("secret", ["whsec_", "whsec_c2hvcnQ=", "whsec_not base64"])
def test_the_seed_refuses_a_webhook_secret_that_could_not_verify(secret: str) -> None:
    from pydantic import ValidationError

    from local.seed import Seed

    with pytest.raises(ValidationError, match="webhook secret"):
        Seed.model_validate(
            {"tenants": [{"id": "t", "apiKey": "rp_test_t_0123456789", "webhookSecret": secret}]}
        )


def test_the_signing_tool_resigns_the_fixture_for_now() -> None:
    ev = event("webhook_document_uploaded.json")
    secret = "whsec_Fo2K2eUCIr+F8+1khegsfssVd57kgeSQ"  # acme's, in local/seed.json
    fresh = resign_event(ev, secret)
    headers = read_headers(fresh["headers"], now=time.time())
    verify(secret, headers, fresh["body"].encode())
    assert headers.message_id == ev["headers"]["webhook-id"]
    assert fresh["body"] == ev["body"]
