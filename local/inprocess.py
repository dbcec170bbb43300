"""The functions in this process, against the emulator and the fake LLM over HTTP.

What the integration tests and the benchmark use: the same resources, environment and handlers as
the local stack, minus the HTTP front, so a test can invoke a handler with an event and look at
the tables afterwards.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import boto3

from local.durable_runner import DurableLocal
from local.emulator import Emulator
from local.fake_llm import FakeLLM
from local.lambda_runtime import LocalFunction, add_layer_to_path
from local.resources import LocalRefs, aws_environment, create_resources, local_refs
from local.stack import LOCAL_PARAMETERS, OPENAI_SECRET, function_environment, stream_poller
from local.streams import StreamPoller
from local.template import Template


@dataclass
class InProcess:
    environment: dict[str, str] = field(default_factory=dict)  # extra variables for the functions
    parameters: dict[str, str] = field(default_factory=dict)  # template parameter overrides
    emulator: Emulator = field(default_factory=Emulator)
    fake: FakeLLM = field(default_factory=FakeLLM)
    template: Template = field(default_factory=Template)
    refs: LocalRefs = field(default_factory=LocalRefs)
    functions: dict[str, LocalFunction] = field(default_factory=dict)
    streams: StreamPoller | None = None
    durable: DurableLocal | None = None  # AWS's durable runner + the Lambda Invoke API
    _saved: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.template = Template(parameter_overrides={**LOCAL_PARAMETERS, **self.parameters})

    def start(self) -> InProcess:
        self.emulator.start()
        self.emulator.reset()
        self.fake.start()
        self._saved = dict(os.environ)
        os.environ.pop("AWS_PROFILE", None)
        os.environ.update(aws_environment(self.emulator.endpoint))
        add_layer_to_path()
        from retryproof import aws

        aws.reset_clients()
        self.refs = local_refs(self.template, self.emulator.endpoint)
        create_resources(self.template, self.refs, {OPENAI_SECRET: "sk-local"}, boto3.Session())
        os.environ.update(
            function_environment(
                self.template, self.refs, {"OpenAIBaseUrl": self.fake.base_url}, {}
            )
        )
        os.environ.update(self.environment)
        self._reset_settings()
        self.functions = {k: LocalFunction(v) for k, v in self.template.functions().items()}
        self.streams = stream_poller(self.template, self.refs, self.functions)
        self.durable = DurableLocal(self.functions, os.environ).start()
        aws.reset_clients()  # the Lambda client now goes to AWS_ENDPOINT_URL_LAMBDA
        return self

    def drain_streams(self) -> int:
        """Deliver what the DynamoDB streams hold now (the usage totals): tests call it before
        reading what a stream consumer keeps, instead of waiting for a background poller."""
        assert self.streams is not None
        return self.streams.drain()

    def stop(self) -> None:
        if self.durable is not None:
            self.durable.stop()
        os.environ.clear()
        os.environ.update(self._saved)
        self._reset_settings()
        from retryproof import aws

        aws.reset_clients()
        self.fake.stop()
        self.emulator.stop()

    @staticmethod
    def _reset_settings() -> None:
        from retryproof.config import get_settings

        get_settings.cache_clear()

    @property
    def dynamodb(self) -> Any:
        return boto3.Session().client("dynamodb")

    def invoke(self, function_id: str, event: dict[str, Any], timeout_s: int | None = None) -> Any:
        return self.functions[function_id].invoke(event, timeout_s=timeout_s)

    def items(self, table_id: str) -> list[dict[str, Any]]:
        table = self.refs.table(table_id)
        pages = self.dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
        return [item for page in pages for item in page["Items"]]
