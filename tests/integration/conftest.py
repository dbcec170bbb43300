"""Integration tier: handlers in-process, talking HTTP to the moto server and the fake LLM.

Tables, queues and secrets come from template.yaml (the same code the local stack uses), and the
functions' environment from the template's variables, so nothing here restates the template.
"""

from __future__ import annotations

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
