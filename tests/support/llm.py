"""Control of the fake LLM over its HTTP routes (as a user of `make dev` would)."""

from __future__ import annotations

from local.fake_llm import fingerprint
from tests.support.client import call

__all__ = ["FakeLLMControl", "fingerprint"]


class FakeLLMControl:
    def __init__(self, root: str) -> None:
        self.root = root.removesuffix("/v1")

    @property
    def completions(self) -> int:
        return int(call("GET", f"{self.root}/stats").json["completions"])

    @property
    def by_fingerprint(self) -> dict[str, int]:
        """Completions served per request fingerprint (`fingerprint(messages)`)."""
        return dict(call("GET", f"{self.root}/stats").json["byFingerprint"])

    def served(self, messages: object) -> int:
        """How many completions the fake LLM served (and billed) for these messages."""
        return self.by_fingerprint.get(fingerprint(messages), 0)

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
