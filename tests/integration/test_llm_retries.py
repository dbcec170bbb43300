"""The LLM client sends a request again only when the provider cannot have processed it.

A real HTTP server plays the provider, answering each request as its script says, and counts the
requests it received: a request it received may have been billed, so the count is what matters.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from retryproof.config import Settings
from retryproof.errors import LlmError, LlmTimeout
from retryproof.llm import llm_client

pytestmark = pytest.mark.integration

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": "gpt-4o-mini",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


class Provider(ThreadingHTTPServer):
    """Answers the n-th request with `script[n]` (the last entry repeats): an int status,
    "ok", "slow" (answers after the client's timeout, as a provider that billed it), "reset"."""

    daemon_threads = True

    def __init__(self, script: list[Any]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script
        self.received = 0
        self.lock = threading.Lock()

    def next_answer(self) -> Any:
        with self.lock:
            self.received += 1
            return self.script[min(self.received, len(self.script)) - 1]


class _Handler(BaseHTTPRequestHandler):
    server: Provider

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        answer = self.server.next_answer()
        if answer == "reset":  # read the request, then drop the connection without an answer
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if answer == "slow":
            time.sleep(1.0)
            answer = "ok"
        status, body, headers = 200, COMPLETION, {}
        if isinstance(answer, int):
            status, body = answer, {"error": {"message": "failed", "type": "server_error"}}
            if answer == 429:
                headers["Retry-After"] = "0"
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def provider(request: pytest.FixtureRequest) -> Iterator[Provider]:
    server = Provider(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def complete(provider: Provider) -> str:
    settings = Settings(
        openai_base_url=f"http://127.0.0.1:{provider.server_address[1]}/v1",
        llm_timeout_seconds=0.5,
        llm_max_retries=2,
    )
    client = llm_client(settings, api_key=lambda _: "sk-test")
    return client.complete(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]).content


@pytest.mark.parametrize(
    ("provider", "received"),
    [
        (["ok"], 1),
        ([500, "ok"], 2),  # answered "failed": nothing was produced, so nothing was billed
        ([503, 429, "ok"], 3),
    ],
    indirect=["provider"],
)
def test_answers_that_say_nothing_was_processed_are_retried(
    provider: Provider, received: int
) -> None:
    assert complete(provider) == "hi"
    assert provider.received == received


@pytest.mark.parametrize(
    ("provider", "error"),
    [
        (["slow"], LlmTimeout),  # the provider went on and billed it: never sent again
        (["reset"], LlmError),  # the request was sent, the answer lost
        ([502], LlmError),  # a gateway's answer: the provider behind it may have processed it
        ([504], LlmError),
        ([400], LlmError),
    ],
    indirect=["provider"],
)
def test_a_request_the_provider_may_have_processed_is_sent_once(
    provider: Provider, error: type[Exception]
) -> None:
    with pytest.raises(error):
        complete(provider)
    time.sleep(0.1)  # a retry, had there been one, would have arrived by now
    assert provider.received == 1


@pytest.mark.parametrize("provider", [[429]], indirect=True)  # with Retry-After: 0
def test_retries_are_bounded(provider: Provider) -> None:
    with pytest.raises(LlmError):
        complete(provider)
    assert provider.received == 3  # the first request and LLM_MAX_RETRIES=2


def test_a_refused_connection_is_an_llm_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connecting is refused (and tried again)
    settings = Settings(openai_base_url=f"http://127.0.0.1:{port}/v1", llm_max_retries=0)
    with pytest.raises(LlmError):
        llm_client(settings, api_key=lambda _: "sk-test").complete(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
