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


# The durable execution SDK's checkpoint and state calls, configured as the SDK configures its own
# client: its timeouts (a checkpoint may wait on the service longer than a data call does) and
# botocore's default retries.
_DURABLE_CONFIG = Config(connect_timeout=5, read_timeout=50, tcp_keepalive=True)


def _client(service: str, name: str | None = None, config: Config = _CONFIG) -> Any:
    with _lock:
        client = _clients.get(name or service)
        if client is None:
            client = boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]
            _clients[name or service] = client
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


def durable_lambda() -> LambdaClient:
    """Lambda, for the durable execution SDK's checkpoints (given to `durable_execution`).

    Left to itself the SDK builds one client per process and keeps it for the process's life, so
    a process that starts a second local stack would checkpoint to the first one's runner; this one
    follows AWS_ENDPOINT_URL_LAMBDA, and `reset_clients` makes the next call build a new one (the
    agent-run function keeps its handler for the newest client only)."""
    client: LambdaClient = _client("lambda", "lambda-durable", _DURABLE_CONFIG)
    return client


def reset_clients() -> None:
    """Forget cached clients (tests that switch endpoints)."""
    with _lock:
        _clients.clear()
