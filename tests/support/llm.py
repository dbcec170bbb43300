"""Control of the fake LLM over its HTTP routes (as a user of `make dev` would)."""

from __future__ import annotations

from tests.support.client import call


class FakeLLMControl:
    def __init__(self, root: str) -> None:
        self.root = root.removesuffix("/v1")

    @property
    def completions(self) -> int:
        return int(call("GET", f"{self.root}/stats").json["completions"])

    def fault(self, *, status: int | None = None, delay_ms: int = 0, times: int = 1) -> None:
        body: dict[str, int] = {"times": times}
        if status is not None:
            body["status"] = status
        if delay_ms:
            body["delayMs"] = delay_ms
        reply = call("POST", f"{self.root}/faults", body=body)
        assert reply.status in (200, 201), reply.text

    def clear(self) -> None:
        call("DELETE", f"{self.root}/faults")
