"""Integration tests for local/fake_llm.py, over real HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.fake_llm import FakeLLM, fingerprint
from tests.support.llm import FakeLLMControl
from tests.support.llm import fingerprint as support_fingerprint

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}},
]


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    server = FakeLLM(port=0).start()
    try:
        yield server
    finally:
        server.stop()


def call(
    llm: FakeLLM,
    method: str,
    path: str,
    body: object = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(
        f"http://127.0.0.1:{llm.port}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read()), dict(exc.headers)


def chat(llm: FakeLLM, messages: list[dict[str, Any]], **extra: object) -> tuple[int, Any]:
    status, payload, _ = call(
        llm, "POST", "/v1/chat/completions", {"model": "fake-1", "messages": messages, **extra}
    )
    return status, payload


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant_call(name: str, arguments: str) -> dict[str, Any]:
    tool_call = {
        "id": "call_x",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }
    return {"role": "assistant", "content": None, "tool_calls": [tool_call]}


def tool(text: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": "call_x", "content": text}


def test_health_404_and_base_url(llm: FakeLLM) -> None:
    assert llm.base_url == f"http://127.0.0.1:{llm.port}/v1"
    status, payload, headers = call(llm, "GET", "/health")
    assert (status, payload) == (200, {"status": "ok"})
    assert headers["Content-Type"] == "application/json"
    status, payload, _ = call(llm, "GET", "/nope")
    assert status == 404
    assert payload["error"]["type"] == "invalid_request_error"


def test_completion_shape_and_random_ids(llm: FakeLLM) -> None:
    messages = [{"role": "system", "content": "be brief"}, user("hello there world")]
    auth = {"Authorization": "Bearer whatever"}
    body = {"model": "fake-1", "messages": messages}
    status1, first, _ = call(llm, "POST", "/v1/chat/completions", body, headers=auth)
    status2, second, _ = call(llm, "POST", "/v1/chat/completions", body, headers=auth)
    assert status1 == status2 == 200
    assert first["id"].startswith("chatcmpl-")
    assert first["id"] != second["id"]
    assert first["object"] == "chat.completion"
    assert first["model"] == "fake-1"
    assert isinstance(first["created"], int)
    choice = first["choices"][0]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    assert choice["message"] == {"role": "assistant", "content": "Echo: hello there world"}
    assert first["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    _, long_answer = chat(llm, [user("x" * 500)])
    assert long_answer["choices"][0]["message"]["content"] == "Echo: " + "x" * 200


def test_a_tokens_line_asks_for_a_completion_of_that_size(llm: FakeLLM) -> None:
    _, sized = chat(llm, [user("write at length\nTOKENS 4000")], max_tokens=4096)
    content = sized["choices"][0]["message"]["content"]
    assert sized["usage"]["completion_tokens"] == 4000
    assert len(content.split()) == 4000
    assert len(content.encode()) == 4 * 4000 - 1  # 3-letter words, single spaces
    assert sized["choices"][0]["finish_reason"] == "stop"
    _, capped = chat(llm, [user("TOKENS 300")], max_tokens=200)
    assert capped["usage"]["completion_tokens"] == 200
    assert capped["choices"][0]["finish_reason"] == "length"


def test_stats_counts_successes_only(llm: FakeLLM) -> None:
    empty = {"completions": 0, "byFingerprint": {}, "toolResultsById": {}, "byKey": {}}
    assert call(llm, "GET", "/stats")[1] == empty
    chat(llm, [user("a")])
    llm.add_fault(status=500)
    assert chat(llm, [user("b")])[0] == 500
    chat(llm, [user("c")])
    assert call(llm, "GET", "/stats")[1] == {
        "completions": 2,
        "byFingerprint": {fingerprint([user("a")]): 1, fingerprint([user("c")]): 1},
        "toolResultsById": {},
        "byKey": {"none": 2},
    }
    assert llm.completions == 2


def test_stats_name_the_key_that_paid_by_its_hash_only() -> None:
    server = FakeLLM().start()
    try:
        for key in ("sk-first", "sk-first", "sk-second"):
            body = json.dumps({"model": "m", "messages": [user("a")]}).encode()
            request = urllib.request.Request(
                f"{server.base_url}/chat/completions", data=body, method="POST",
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )  # fmt: skip
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 200
        with urllib.request.urlopen(server.base_url.removesuffix("/v1") + "/stats") as got:
            stats = json.loads(got.read())
    finally:
        server.stop()
    first = hashlib.sha256(b"sk-first").hexdigest()[:12]
    second = hashlib.sha256(b"sk-second").hexdigest()[:12]
    assert stats["byKey"] == {first: 2, second: 1}
    assert "sk-first" not in json.dumps(stats)


def test_fingerprint_is_the_sha256_of_the_canonical_messages() -> None:
    messages = [{"role": "user", "content": "héllo"}]
    canonical = '[{"content":"héllo","role":"user"}]'.encode()
    assert fingerprint(messages) == hashlib.sha256(canonical).hexdigest()
    assert fingerprint([{"content": "héllo", "role": "user"}]) == fingerprint(messages)
    assert fingerprint([user("a")]) != fingerprint([user("b")])
    assert support_fingerprint is fingerprint  # the tests' helper computes the same


def test_stats_count_every_served_request_per_fingerprint(llm: FakeLLM) -> None:
    control = FakeLLMControl(llm.base_url)
    same = [{"role": "system", "content": "be brief"}, user("pay me once")]
    reordered = [
        {"content": "be brief", "role": "system"},
        {"content": "pay me once", "role": "user"},
    ]
    other = [user("another prompt")]
    for messages in (same, reordered, other):
        assert chat(llm, messages)[0] == 200
    llm.add_fault(status=429)
    assert chat(llm, same)[0] == 429  # refused, not served: not billed
    assert control.by_fingerprint == {fingerprint(same): 2, fingerprint(other): 1}
    assert control.served(same) == 2
    assert control.served(other) == 1
    assert control.served([user("never sent")]) == 0
    assert control.completions == 3


def test_a_completion_whose_client_timed_out_is_still_billed(llm: FakeLLM) -> None:
    messages = [user("slow answer")]
    llm.add_fault(delay_ms=1500)
    body = json.dumps({"model": "fake-1", "messages": messages}).encode()
    request = urllib.request.Request(
        f"{llm.base_url}/chat/completions",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(TimeoutError):  # the client gives up before the answer
        urllib.request.urlopen(request, timeout=0.2)
    deadline = time.monotonic() + 30
    while llm.completions < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert llm.completions == 1
    assert llm.by_fingerprint == {fingerprint(messages): 1}


def test_a_completion_whose_client_hung_up_is_still_billed(llm: FakeLLM) -> None:
    messages = [user("nobody listens")]
    llm.add_fault(delay_ms=500)
    body = json.dumps({"model": "fake-1", "messages": messages}).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{llm.port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", llm.port), timeout=10) as sock:
        sock.sendall(head + body)
        deadline = time.monotonic() + 30
        while llm.faults and time.monotonic() < deadline:  # the request took the delay
            time.sleep(0.01)
    # The connection is closed before the answer; the provider finishes and bills it.
    deadline = time.monotonic() + 30
    while llm.completions < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert llm.by_fingerprint == {fingerprint(messages): 1}
    assert chat(llm, [user("still serving")])[0] == 200


def test_500_fault_consumed_exactly_times(llm: FakeLLM) -> None:
    status, payload, _ = call(llm, "POST", "/faults", {"status": 500, "times": 2})
    assert status in (200, 201)
    assert payload == {"faults": [{"status": 500, "delayMs": 0, "times": 2}]}
    for _ in range(2):
        status, err = chat(llm, [user("hi")])
        assert status == 500
        assert err["error"]["type"] == "server_error"
        assert err["error"]["code"] is None
        assert isinstance(err["error"]["message"], str)
    assert chat(llm, [user("hi")])[0] == 200


def test_429_and_fifo_order(llm: FakeLLM) -> None:
    call(llm, "POST", "/faults", {"status": 429})
    call(llm, "POST", "/faults", {"status": 503, "times": 1})
    status, err = chat(llm, [user("hi")])
    assert status == 429
    assert err["error"]["type"] == "rate_limit_error"
    assert chat(llm, [user("hi")])[0] == 503
    assert chat(llm, [user("hi")])[0] == 200


def test_delete_faults(llm: FakeLLM) -> None:
    llm.add_fault(status=500, times=5)
    status, payload, _ = call(llm, "DELETE", "/faults")
    assert status == 200
    assert payload == {"faults": []}
    assert chat(llm, [user("hi")])[0] == 200


def test_invalid_fault_body(llm: FakeLLM) -> None:
    for body in (
        {},
        {"status": "500"},
        {"status": 200},
        {"status": 500, "times": 0},
        {"delayMs": -1},
        [1],
    ):
        assert call(llm, "POST", "/faults", body)[0] == 400, body
    assert call(llm, "POST", "/faults", raw=b"{nope")[0] == 400
    assert llm.faults == []


def test_delay_fault_does_not_block_others(llm: FakeLLM) -> None:
    call(llm, "POST", "/faults", {"delayMs": 300})
    finished: dict[str, float] = {}
    results: dict[str, int] = {}

    def slow() -> None:
        results["slow"] = chat(llm, [user("slow")])[0]
        finished["slow"] = time.monotonic()

    start = time.monotonic()
    thread = threading.Thread(target=slow)
    thread.start()
    deadline = time.monotonic() + 5
    while llm.faults and time.monotonic() < deadline:  # wait until the slow request took the fault
        time.sleep(0.005)
    assert chat(llm, [user("fast")])[0] == 200
    finished["fast"] = time.monotonic()
    thread.join(timeout=5)
    assert results["slow"] == 200
    assert finished["slow"] - start >= 0.3
    assert finished["fast"] < finished["slow"]


def test_delay_then_status(llm: FakeLLM) -> None:
    llm.add_fault(status=500, delay_ms=300)
    start = time.monotonic()
    assert chat(llm, [user("hi")])[0] == 500
    assert time.monotonic() - start >= 0.3


def test_tool_call(llm: FakeLLM) -> None:
    messages = [user('Please check.\nCALL get_weather {"city": "Paris"}')]
    status, first = chat(llm, messages, tools=TOOLS)
    _, second = chat(llm, messages, tools=TOOLS)
    assert status == 200
    choice = first["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (tool_call,) = choice["message"]["tool_calls"]
    assert tool_call["id"].startswith("call_")
    assert tool_call["type"] == "function"
    assert tool_call["function"]["name"] == "get_weather"
    assert json.loads(tool_call["function"]["arguments"]) == {"city": "Paris"}
    assert tool_call["id"] != second["choices"][0]["message"]["tool_calls"][0]["id"]


def test_tool_calls_multi_turn(llm: FakeLLM) -> None:
    messages = [user('CALL get_weather {"city": "Paris"}')]
    # Answered with different JSON formatting: still counts as answered (parsed comparison).
    messages += [
        assistant_call("get_weather", '{"city":"Paris"}'),
        tool('sunny\nCALL search {"q": "x"}'),
    ]
    _, payload = chat(llm, messages, tools=TOOLS)
    fn = payload["choices"][0]["message"]["tool_calls"][0]["function"]
    assert fn["name"] == "search"
    assert json.loads(fn["arguments"]) == {"q": "x"}
    messages += [assistant_call("search", fn["arguments"]), tool("found it")]
    _, payload = chat(llm, messages, tools=TOOLS)
    choice = payload["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"].startswith("Done: ")
    assert "tool_calls" not in choice["message"]


def test_repeated_call_needs_two_answers(llm: FakeLLM) -> None:
    line = 'CALL search {"q": "x"}'
    messages = [user(f"{line}\n{line}"), assistant_call("search", '{"q": "x"}'), tool("r1")]
    _, payload = chat(llm, messages, tools=TOOLS)
    assert payload["choices"][0]["finish_reason"] == "tool_calls"
    messages += [assistant_call("search", '{"q": "x"}'), tool("r2")]
    _, payload = chat(llm, messages, tools=TOOLS)
    assert payload["choices"][0]["finish_reason"] == "stop"


def test_a_call_line_can_fix_its_tool_call_id_and_repeat_it(llm: FakeLLM) -> None:
    script = 'CALL[call_same] search {"q": "x"}\nCALL[call_same] search {"q": "y"}'
    messages = [user(script)]
    _, payload = chat(llm, messages, tools=TOOLS)
    (first,) = payload["choices"][0]["message"]["tool_calls"]
    assert (first["id"], json.loads(first["function"]["arguments"])) == ("call_same", {"q": "x"})
    messages += [assistant_call("search", '{"q": "x"}'), tool("r1")]
    _, payload = chat(llm, messages, tools=TOOLS)
    (second,) = payload["choices"][0]["message"]["tool_calls"]
    assert (second["id"], json.loads(second["function"]["arguments"])) == ("call_same", {"q": "y"})


def test_stats_count_the_distinct_results_told_per_tool_call_id(llm: FakeLLM) -> None:
    messages = [user('CALL search {"q": "x"}'), assistant_call("search", '{"q": "x"}'), tool("r1")]
    chat(llm, messages, tools=TOOLS)
    chat(llm, [*messages, user("again")], tools=TOOLS)  # the same result told again: one
    assert call(llm, "GET", "/stats")[1]["toolResultsById"] == {"call_x": 1}
    chat(llm, [*messages, assistant_call("search", '{"q": "x"}'), tool("r2")], tools=TOOLS)
    assert call(llm, "GET", "/stats")[1]["toolResultsById"] == {"call_x": 2}
    assert llm.tool_results_by_id == {"call_x": 2}


def test_tool_not_offered_gives_text(llm: FakeLLM) -> None:
    messages = [user('CALL delete_everything {"now": true}')]
    for extra in ({"tools": TOOLS}, {}):
        _, payload = chat(llm, messages, **extra)
        choice = payload["choices"][0]
        assert choice["finish_reason"] == "stop"
        assert choice["message"]["content"] == 'Echo: CALL delete_everything {"now": true}'


def test_max_tokens_truncation(llm: FakeLLM) -> None:
    _, payload = chat(llm, [user("one two three four five")], max_tokens=3)
    choice = payload["choices"][0]
    assert choice["message"]["content"] == "Echo: one two"
    assert choice["finish_reason"] == "length"
    assert payload["usage"]["completion_tokens"] == 3
    _, payload = chat(llm, [user("one two")], max_tokens=50)
    assert payload["choices"][0]["finish_reason"] == "stop"


def test_bad_requests(llm: FakeLLM) -> None:
    status, payload, _ = call(llm, "POST", "/v1/chat/completions", raw=b"{not json")
    assert status == 400
    assert payload["error"]["type"] == "invalid_request_error"
    assert payload["error"]["code"] is None
    assert call(llm, "POST", "/v1/chat/completions", {"model": "m"})[0] == 400
    assert call(llm, "POST", "/v1/chat/completions", {"model": "m", "messages": "hi"})[0] == 400
    assert llm.completions == 0


def test_main_stops_on_sigterm() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "FAKE_LLM_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "local" / "fake_llm.py")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline
                assert proc.poll() is None
                time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_openai_client(llm: FakeLLM) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=llm.base_url, api_key="sk-fake", max_retries=0)
    messages: list[Any] = [{"role": "user", "content": "hello"}]
    first = client.chat.completions.create(model="fake-1", messages=messages)
    second = client.chat.completions.create(model="fake-1", messages=messages)
    assert first.id != second.id
    assert first.choices[0].message.content == "Echo: hello"
    assert first.usage is not None
    assert first.usage.total_tokens == 3
    tool_messages: list[Any] = [{"role": "user", "content": 'CALL search {"q": "cats"}'}]
    result = client.chat.completions.create(model="fake-1", messages=tool_messages, tools=TOOLS)
    tool_calls = result.choices[0].message.tool_calls
    assert result.choices[0].finish_reason == "tool_calls"
    assert tool_calls
    assert tool_calls[0].function.name == "search"


def test_openai_client_errors(llm: FakeLLM) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=llm.base_url, api_key="sk-fake", max_retries=0)
    messages: list[Any] = [{"role": "user", "content": "hello"}]
    llm.add_fault(status=500)
    llm.add_fault(status=429)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="fake-1", messages=messages)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="fake-1", messages=messages)
    assert (
        client.chat.completions.create(model="fake-1", messages=messages).choices[0].message.content
    )
    assert llm.completions == 1
