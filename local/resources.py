"""Create the template's tables, queues and secrets in the emulator; return their local refs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3

from local.template import ACCOUNT_ID, REGION, Template, physical_name

TABLE_TYPES = ("AWS::DynamoDB::Table",)
QUEUE_TYPES = ("AWS::SQS::Queue",)
SECRET_TYPES = ("AWS::SecretsManager::Secret",)


def aws_environment(endpoint: str) -> dict[str, str]:
    """The variables that point every AWS client (boto3, the AWS CLI) at the emulator."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }


@dataclass
class LocalRefs:
    """`Ref` and `Fn::GetAtt` values of the template's resources, as they exist locally."""

    refs: dict[str, str] = field(default_factory=dict)
    atts: dict[str, str] = field(default_factory=dict)

    def table(self, logical_id: str) -> str:
        return self.refs[logical_id]


def local_refs(template: Template, endpoint: str) -> LocalRefs:
    """Deterministic local names: the same on every start, so `make invoke` can compute them."""
    out = LocalRefs()
    for logical_id in template.of_type(*TABLE_TYPES):
        name = physical_name(logical_id)
        out.refs[logical_id] = name
        out.atts[f"{logical_id}.Arn"] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
    for logical_id in template.of_type(*QUEUE_TYPES):
        name = physical_name(logical_id)
        out.refs[logical_id] = f"{endpoint}/{ACCOUNT_ID}/{name}"
        out.atts[f"{logical_id}.Arn"] = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
        out.atts[f"{logical_id}.QueueName"] = name
    for logical_id in template.of_type(*SECRET_TYPES):
        # Secrets Manager accepts the name wherever it accepts the ARN.
        out.refs[logical_id] = physical_name(logical_id)
    for logical_id in template.of_type("AWS::Serverless::Function"):
        name = physical_name(logical_id)
        out.refs[logical_id] = name
        out.atts[f"{logical_id}.Arn"] = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
    for logical_id in template.of_type("AWS::Serverless::HttpApi", "AWS::Serverless::LayerVersion"):
        out.refs[logical_id] = logical_id.lower()
    return out


def create_resources(
    template: Template, refs: LocalRefs, secret_values: dict[str, str], session: boto3.Session
) -> None:
    """Tables (with TTL), queues (dead-letter queues first) and secrets, from the template."""
    dynamodb = session.client("dynamodb")
    for logical_id, res in template.of_type(*TABLE_TYPES).items():
        props = template.resolve(res.get("Properties", {}), refs.refs, refs.atts)
        params: dict[str, Any] = {
            "TableName": refs.refs[logical_id],
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            params["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        stream = props.get("StreamSpecification")
        if stream:
            params["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        dynamodb.create_table(**params)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=params["TableName"],
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )

    sqs = session.client("sqs")
    queues = template.of_type(*QUEUE_TYPES)
    ordered = sorted(queues, key=lambda q: "RedrivePolicy" in queues[q].get("Properties", {}))
    for logical_id in ordered:
        props = template.resolve(queues[logical_id].get("Properties", {}), refs.refs, refs.atts)
        attributes = {
            k: json.dumps(v) if isinstance(v, dict) else str(v)
            for k, v in props.items()
            if k
            in (
                "VisibilityTimeout",
                "MessageRetentionPeriod",
                "RedrivePolicy",
                "ReceiveMessageWaitTimeSeconds",
                "DelaySeconds",
            )
        }
        sqs.create_queue(QueueName=refs.atts[f"{logical_id}.QueueName"], Attributes=attributes)

    secrets = session.client("secretsmanager")
    for logical_id in template.of_type(*SECRET_TYPES):
        secrets.create_secret(
            Name=refs.refs[logical_id], SecretString=secret_values.get(logical_id, "local")
        )
