"""local/hosts.py: which Host values a local server answers (DNS rebinding)."""

from __future__ import annotations

import pytest

from local import fake_llm
from local.hosts import host_allowed

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "host",
    [None, "127.0.0.1", "127.0.0.1:3000", "localhost", "LOCALHOST:3000", "[::1]", "[::1]:3000"],
)
def test_its_own_names_are_served(host: str | None) -> None:
    assert host_allowed(host, 3000)


@pytest.mark.parametrize(
    "host",
    [
        "",
        "evil.example",
        "evil.example:3000",
        "127.0.0.1:3001",
        "localhost:3001",
        "127.0.0.1.evil.example:3000",
        "localhost.evil.example",
        "0.0.0.0:3000",
        "[::1]x",
        "[::2]:3000",
        "127.0.0.1:3000:3000",
    ],
)
def test_other_names_are_refused(host: str) -> None:
    assert not host_allowed(host, 3000)


HOSTS = [
    None,
    "",
    "127.0.0.1",
    "127.0.0.1:3000",
    "127.0.0.1:3001",
    "localhost",
    "Localhost:3000",
    "[::1]",
    "[::1]:3000",
    "[::1]:1",
    "[::1]x",
    "[::2]",
    "evil.example",
    "evil.example:3000",
    "localhost.evil.example",
    "127.0.0.1:3000:3000",
    "0.0.0.0",
]


@pytest.mark.parametrize("host", HOSTS)
def test_the_fake_llm_keeps_the_same_rule(host: str | None) -> None:
    # local/fake_llm.py runs alone (stdlib only) and has its own copy of the rule.
    assert fake_llm.host_allowed(host, 3000) == host_allowed(host, 3000)
