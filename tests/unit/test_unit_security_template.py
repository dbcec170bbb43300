"""template.yaml's security settings (issue 19): alarms that can arrive, TLS-only queues and
topic, access logs that say who called, and no wildcard SAM adds behind the template's back."""

from __future__ import annotations

import json
import subprocess
from functools import cache
from typing import Any

import pytest

from local.template import ROOT, Template
from tests.support.template_iam import ALLOWED_MANAGED_POLICIES, function_role

pytestmark = pytest.mark.unit

SAM_PYTHON = ROOT / ".tools" / "sam" / "bin" / "python"


@cache
def template() -> Template:
    return Template()


@cache
def rendered() -> dict[str, Any]:
    """The template after the SAM transform (what CloudFormation gets), by SAM's translator."""
    out = subprocess.run(
        [str(SAM_PYTHON), str(ROOT / "tools" / "render_template.py")],
        capture_output=True,
        check=True,
        timeout=120,
    )
    document: dict[str, Any] = json.loads(out.stdout)
    return document


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_cloudwatch_may_publish_to_the_alarm_topic_and_use_its_key() -> None:
    resources = template().resources
    topic = resources["AlarmTopic"]["Properties"]
    # Not the AWS-managed alias/aws/sns, whose key policy CloudWatch is not in.
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = resources["AlarmTopicKey"]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    grants = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(grants) == 1
    (grant,) = grants
    assert grant["Effect"] == "Allow"
    assert set(grant["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert grant["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    # The key's administrators are this account's principals, as for a key made in the console.
    admin = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s["Action"] == "kms:*"]
    assert admin[0]["Principal"] == {
        "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    }
    # The topic policy (which replaces SNS's default one) lets CloudWatch publish.
    policy = resources["AlarmTopicPolicy"]["Properties"]
    assert policy["Topics"] == [{"Ref": "AlarmTopic"}]
    publish = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow" and s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert [s["Action"] for s in publish] == ["sns:Publish"]


def test_every_alarm_notifies_the_alarm_topic() -> None:
    alarms = template().of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 5
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name


def _denies_plain_http(statement: dict[str, Any]) -> bool:
    return (
        statement["Effect"] == "Deny"
        and statement["Principal"] == "*"
        and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    )


def test_every_queue_and_topic_refuses_plain_http() -> None:
    t = template()
    queues = set(t.of_type("AWS::SQS::Queue"))
    assert len(queues) >= 3
    covered: set[str] = set()
    for policy in t.of_type("AWS::SQS::QueuePolicy").values():
        props = policy["Properties"]
        for statement in props["PolicyDocument"]["Statement"]:
            if _denies_plain_http(statement) and statement["Action"] == "sqs:*":
                arns = {r["Fn::GetAtt"][0] for r in _list(statement["Resource"])}
                urls = {q["Ref"] for q in props["Queues"]}
                covered |= arns & urls
    assert covered == queues
    topics = set(t.of_type("AWS::SNS::Topic"))
    covered = set()
    for policy in t.of_type("AWS::SNS::TopicPolicy").values():
        props = policy["Properties"]
        for statement in props["PolicyDocument"]["Statement"]:
            if _denies_plain_http(statement) and statement["Action"] == "sns:*":
                covered |= {r["Ref"] for r in _list(statement["Resource"])}
    assert covered == topics


def test_access_logs_name_the_caller_without_headers_or_bodies() -> None:
    settings = template().resources["HttpApi"]["Properties"]["AccessLogSettings"]
    record = json.loads(settings["Format"])
    assert record["sourceIp"] == "$context.identity.sourceIp"
    assert record["userAgent"] == "$context.identity.userAgent"
    assert record["requestId"] == "$context.requestId"
    assert record["tenantId"] == "$context.authorizer.tenantId"
    # Nothing that could carry a key, a prompt or a document.
    assert not any("header" in v.lower() or "body" in v.lower() for v in record.values())


def test_the_event_source_functions_have_roles_of_their_own() -> None:
    t = template()
    for name, fn in t.of_type("AWS::Serverless::Function").items():
        kinds = {e["Type"] for e in (fn["Properties"].get("Events") or {}).values()}
        if kinds & {"SQS", "DynamoDB", "Kinesis"}:
            assert function_role(t, name) is not None, name
    worker = t.resources["WorkerFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    (poll,) = [s for s in worker["Statement"] if "sqs:ReceiveMessage" in s["Action"]]
    assert poll["Resource"] == {"Fn::GetAtt": ["WebhookJobsQueue", "Arn"]}
    totals = t.resources["UsageTotalsFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    (stream,) = [s for s in totals["Statement"] if "dynamodb:GetRecords" in s["Action"]]
    assert stream["Resource"] == {"Fn::GetAtt": ["UsageTable", "StreamArn"]}


WILDCARD_EVENT_SOURCE_POLICIES = (
    "AWSLambdaSQSQueueExecutionRole",
    "AWSLambdaDynamoDBExecutionRole",
    "AWSLambdaKinesisExecutionRole",
)
# What SAM attaches to the roles it makes and this project accepts (docs/security.md): logs,
# X-Ray, and for the durable agent-run function the durable-execution policy (checkpoints need
# the execution's own token).
ACCEPTED_SAM_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicDurableExecutionRolePolicy",
}


def test_the_rendered_template_adds_no_event_source_wildcard_policy() -> None:
    roles = {
        k: r["Properties"]
        for k, r in rendered()["Resources"].items()
        if r["Type"] == "AWS::IAM::Role"
    }
    assert {"WorkerFunctionRole", "UsageTotalsFunctionRole", "GenerateFunctionRole"} <= set(roles)
    for name, role in roles.items():
        for arn in role.get("ManagedPolicyArns", []):
            text = json.dumps(arn)
            assert not any(p in text for p in WILDCARD_EVENT_SOURCE_POLICIES), (name, arn)
            if isinstance(arn, str):
                assert arn in ACCEPTED_SAM_POLICIES, (name, arn)
            else:
                assert arn["Fn::Sub"] in ALLOWED_MANAGED_POLICIES, (name, arn)
        # Every inline statement names its resources (the template's own, checked elsewhere).
        for policy in role.get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                assert "*" not in _list(statement["Resource"]), (name, statement)
    # The worker still reaches its queue and the totals function its stream: the mappings exist.
    mappings = rendered()["Resources"]
    sources = {
        json.dumps(m["Properties"]["EventSourceArn"])
        for m in mappings.values()
        if m["Type"] == "AWS::Lambda::EventSourceMapping"
    }
    assert any("WebhookJobsQueue" in s for s in sources)
    assert any("UsageTable" in s for s in sources)
