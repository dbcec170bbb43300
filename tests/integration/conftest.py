"""Integration tier: handlers in-process, talking HTTP to the moto server and the fake LLM.

Tables, queues and secrets come from template.yaml (the same code the local stack uses), and the
functions' environment from the template's variables, so nothing here restates the template.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest

from local.emulator import Emulator
from local.fake_llm import FakeLLM
from local.lambda_runtime import LocalFunction
from local.resources import LocalRefs, create_resources, local_refs
from local.stack import OPENAI_SECRET, aws_environment, function_environment
from local.template import Template
from retryproof import aws
from retryproof.config import get_settings
from tests.support.llm import FakeLLMControl


@dataclass
class Stack:
    template: Template
    refs: LocalRefs
    llm: FakeLLMControl
    functions: dict[str, LocalFunction]
    dynamodb: Any

    def invoke(self, function_id: str, event: dict[str, Any], timeout_s: int | None = None) -> Any:
        function = self.functions[function_id]
        if timeout_s is not None:
            function = LocalFunction(replace(function.spec, timeout=timeout_s))
            function._module = self.functions[function_id]._module  # same execution environment
        return function.invoke(event)

    def items(self, table_id: str) -> list[dict[str, Any]]:
        table = self.refs.table(table_id)
        pages = self.dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
        return [item for page in pages for item in page["Items"]]


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    emulator = Emulator().start()
    fake = FakeLLM().start()
    saved = dict(os.environ)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(aws_environment(emulator.endpoint))
    aws.reset_clients()
    template = Template()
    refs = local_refs(template, emulator.endpoint)
    session = boto3.Session()
    create_resources(template, refs, {OPENAI_SECRET: "sk-integration"}, session)
    os.environ.update(function_environment(template, refs, {"OpenAIBaseUrl": fake.base_url}, {}))
    # Fail fast in tests: one LLM retry, short attempts.
    os.environ["LLM_MAX_RETRIES"] = "1"
    get_settings.cache_clear()
    functions = {k: LocalFunction(v) for k, v in template.functions().items()}
    yield Stack(
        template, refs, FakeLLMControl(fake.base_url), functions, session.client("dynamodb")
    )
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()
    aws.reset_clients()
    fake.stop()
    emulator.stop()


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
