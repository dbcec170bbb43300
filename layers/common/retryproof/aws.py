"""boto3 clients, built lazily and cached per execution environment.

botocore honours AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>) by itself, so the same code talks
to AWS, LocalStack or the local moto server.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

_lock = threading.Lock()
_clients: dict[str, Any] = {}

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
    tcp_keepalive=True,
)


def _client(service: str) -> Any:
    with _lock:
        client = _clients.get(service)
        if client is None:
            client = boto3.session.Session().client(service, config=_CONFIG)  # type: ignore[call-overload]
            _clients[service] = client
        return client


def dynamodb() -> DynamoDBClient:
    client: DynamoDBClient = _client("dynamodb")
    return client


def sqs() -> SQSClient:
    client: SQSClient = _client("sqs")
    return client


def secretsmanager() -> SecretsManagerClient:
    client: SecretsManagerClient = _client("secretsmanager")
    return client


def lambda_() -> LambdaClient:
    """Lambda: starting durable executions, sending their callbacks (AWS_ENDPOINT_URL_LAMBDA)."""
    client: LambdaClient = _client("lambda")
    return client


def reset_clients() -> None:
    """Forget cached clients (tests that switch endpoints)."""
    with _lock:
        _clients.clear()
