"""The README's examples, run: every `console` block's commands against a fresh local stack, in the
README's order, each answer checked against what the README prints under it.

The README's addresses (127.0.0.1:3000 and :3001) become the test stack's. How an expected answer
is compared: a status line by its status code; a header by its value (a timestamp by its shape);
a JSON line as JSON, where a string with `…` matches any string that starts with what precedes
it, a timestamp matches any timestamp, and an object may hold more members than the README shows;
any other line exactly.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, LocalApi, start_stack, stop_stack

pytestmark = pytest.mark.e2e

README = ROOT / "README.md"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


@dataclass(frozen=True)
class Example:
    command: str
    expected: list[str]
    line: int  # in README.md, for the failure message


def examples(text: str) -> list[Example]:
    """The `$ ` commands of every `console` block (with their `\\` continuation lines), each
    with the lines under it."""
    found: list[Example] = []
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            inside = line.startswith("```console")
            continue
        if not inside:
            continue
        if line.startswith("$ "):
            found.append(Example(line[2:], [], number))
        elif found and found[-1].command.endswith("\\") and not found[-1].expected:
            found[-1] = Example(f"{found[-1].command}\n{line}", [], found[-1].line)
        elif found:
            found[-1].expected.append(line)
    return found


def matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str) and isinstance(actual, str):
        if "…" in expected:
            return actual.startswith(expected.split("…", 1)[0])
        if TIMESTAMP.match(expected):
            return bool(TIMESTAMP.match(actual))
        return expected == actual
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(k in actual and matches(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(map(matches, expected, actual))
    return bool(expected == actual and type(expected) is type(actual))


def check(example: Example, output: str) -> None:
    where = f"README.md line {example.line}: {example.command}"
    expected = list(example.expected)
    if expected and expected[0].startswith("HTTP/"):
        head, _, body = output.replace("\r\n", "\n").partition("\n\n")
        status, *header_lines = head.splitlines()
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (h.partition(":") for h in header_lines)
        }
        assert status.split()[1] == expected[0].split()[1], f"{where}\n{output}"
        expected = expected[1:]
        while expected and expected[0]:
            name, _, value = expected.pop(0).partition(":")
            actual = headers.get(name.strip().lower())
            assert actual is not None, f"{where}: no header {name}\n{output}"
            assert matches(value.strip(), actual), f"{where}: {name}: {actual}"
        expected = [line for line in expected if line]
        output = body
    got = [line for line in output.splitlines() if line.strip()]
    assert len(got) == len(expected), f"{where}\nexpected {expected}\ngot {got}"
    for want, line in zip(expected, got, strict=True):
        if want.startswith(("{", "[")):
            assert matches(json.loads(want), json.loads(line)), f"{where}\n{want}\n{line}"
        else:
            assert line == want, where


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    """A stack of its own: the README's figures start from the seed (no completions, balances)."""
    api = start_stack(tmp_path_factory.mktemp("readme") / "log", LLM_MAX_RETRIES="2")
    yield api
    assert stop_stack(api) == 0


def test_the_readme_has_examples_in_its_quickstart() -> None:
    text = README.read_text()
    quickstart = text[text.index("## Quickstart") : text.index("## Documentation")]
    assert [e.command.split()[2] for e in examples(quickstart)] == [
        "http://127.0.0.1:3000/generate",
        "http://127.0.0.1:3000/generate",
        "http://127.0.0.1:3001/stats",
    ]


def test_every_readme_example_answers_as_documented(fresh: LocalApi) -> None:
    ran = examples(README.read_text())
    assert len(ran) >= 10
    bodies: dict[str, list[str]] = {}
    for example in ran:
        command = example.command.replace("http://127.0.0.1:3000", fresh.url).replace(
            "http://127.0.0.1:3001", fresh.llm.root
        )
        done = subprocess.run(
            ["/bin/bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"README.md line {example.line}: {done.stderr}"
        check(example, done.stdout)
        bodies.setdefault(example.command, []).append(done.stdout.replace("\r\n", "\n"))
    # "The same command again ... the same status and body, byte for byte":
    first, replay = bodies[ran[0].command][:2]
    assert first.partition("\n\n")[2] == replay.partition("\n\n")[2]
    original = re.search(r"X-Original-Request-Time: (\S+)", first)
    assert original is not None
    assert f"X-Original-Request-Time: {original.group(1)}" in replay


def test_the_readme_links_to_files_that_exist() -> None:
    for document in (README, *sorted((ROOT / "docs").glob("*.md"))):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", document.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            assert (document.parent / target).exists(), f"{document.name}: {target}"
