"""Least privilege in template.yaml: every function names its own actions and resources."""

from __future__ import annotations

from typing import Any

import pytest

from local.template import Template
from tests.support.template_iam import function_statements

pytestmark = pytest.mark.unit

DATA_TYPES = ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SecretsManager::Secret")
# One secret per tenant, created after the deployment: the only name prefix granted (the `*` is
# the tenant id and Secrets Manager's random suffix), never any other secret of the account.
WEBHOOK_SECRETS_ARN = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
    "${AWS::StackName}/webhook-secrets/*"
)


def _statements(template: Template) -> list[tuple[str, dict[str, Any]]]:
    """Each function's statements: its `Policies`, or its own role's (tests/support)."""
    found = []
    for name in template.of_type("AWS::Serverless::Function"):
        found += [(name, s) for s in function_statements(template, name)]
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_wildcard_actions_or_resources() -> None:
    template = Template()
    statements = _statements(template)
    assert statements
    for name, statement in statements:
        assert statement["Effect"] == "Allow", name
        for action in _as_list(statement["Action"]):
            assert "*" not in action, f"{name}: wildcard action {action}"
        for resource in _as_list(statement["Resource"]):
            assert isinstance(resource, dict), f"{name}: literal resource {resource!r}"
            ((fn, arg),) = resource.items()
            if fn == "Fn::Sub":  # a Lambda function of this template: its alias or its versions
                # or, for the webhook function, the tenants' webhook secrets of this stack
                own_secrets = name == "WebhookFunction" and arg == WEBHOOK_SECRETS_ARN
                assert _own_function(template, str(arg)) or own_secrets, f"{name}: {resource}"
                continue
            assert fn in ("Ref", "Fn::GetAtt"), f"{name}: {resource}"
            target = arg[0] if isinstance(arg, list) else str(arg).split(".")[0]
            assert template.resources[target]["Type"] in DATA_TYPES, f"{name}: {resource}"


def _own_function(template: Template, arn: str) -> bool:
    """`${Fn.Arn}:qualifier` or the stack-named function's ARN with a qualifier: one function
    of this template, never a wildcard over functions."""
    functions = template.of_type("AWS::Serverless::Function")
    for logical_id, fn in functions.items():
        if arn in (f"${{{logical_id}.Arn}}:live", f"${{{logical_id}.Arn}}:*"):
            return True
        name = fn["Properties"].get("FunctionName", {}).get("Fn::Sub")
        prefix = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
        if name and arn == f"{prefix}{name}:*":
            return True
    return False


def test_each_function_touches_only_what_its_code_uses() -> None:
    template = Template()
    granted: dict[str, set[str]] = {}
    for name, statement in _statements(template):
        for resource in _as_list(statement["Resource"]):
            ((_, arg),) = resource.items()
            granted.setdefault(name, set()).add(arg[0] if isinstance(arg, list) else str(arg))
    # Only the webhook function reads the webhook secrets, and only reads them.
    readers_of_webhook_secrets = {
        (name, tuple(_as_list(s["Action"])))
        for name, s in _statements(template)
        if WEBHOOK_SECRETS_ARN in [r.get("Fn::Sub") for r in _as_list(s["Resource"])]
    }
    assert readers_of_webhook_secrets == {("WebhookFunction", ("secretsmanager:GetSecretValue",))}
    env = template.resources["WebhookFunction"]["Properties"]["Environment"]["Variables"]
    assert WEBHOOK_SECRETS_ARN.endswith(env["WEBHOOK_SECRET_PREFIX"]["Fn::Sub"] + "*")
    # Read routes and the authorizer never get the idempotency table or the secret.
    for reader in ("AuthorizerFunction", "UsageFunction", "AccountsFunction"):
        assert "IdempotencyTable" not in granted.get(reader, set()), reader
        assert "OpenAIApiKeySecret" not in granted.get(reader, set()), reader
    assert granted["AuthorizerFunction"] == {"ApiKeysTable"}
    # Only the functions that call the LLM may read its key.
    readers_of_key = {n for n, g in granted.items() if "OpenAIApiKeySecret" in g}
    for name in readers_of_key:
        code = (template.functions()[name].code_dir / "app.py").read_text()
        assert "llm_client" in code, name


def test_every_table_is_encrypted_and_pay_per_request_and_durable_tables_have_pitr() -> None:
    template = Template()
    for name, table in template.of_type("AWS::DynamoDB::Table").items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["SSESpecification"]["SSEEnabled"] is True, name
        if name in ("IdempotencyTable", "RateLimitTable"):  # short-lived items: TTL, no PITR
            assert props["TimeToLiveSpecification"]["Enabled"] is True
        else:
            assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], name
