"""The state file of `make dev` (local/devstate.py): written, read, removed; explicit variables win;
no stack means one line naming `make dev`. Also: handlers that add no metric log no warning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from local import devstate
from local.devstate import NoStack, StackState, StartError


def state(pid: int | None = None, llm: str | None = "http://127.0.0.1:4301") -> StackState:
    return StackState(
        pid=os.getpid() if pid is None else pid,
        api_url="http://127.0.0.1:4300",
        emulator_url="http://127.0.0.1:4305",
        fake_llm_url=llm,
        seed_file="/somewhere/seed.json",
    )


def dead_pid() -> int:
    """The id of a process that has ended."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def test_written_state_is_read_back_and_removed_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / ".dev-stack.json"
    devstate.write_state(path, state())
    assert devstate.read_state(path) == state()
    assert json.loads(path.read_text())["api_url"] == "http://127.0.0.1:4300"
    assert [p.name for p in tmp_path.iterdir()] == [".dev-stack.json"]  # no temporary left

    devstate.remove_state(path, os.getpid() + 1)  # another stack's: kept
    assert path.exists()
    devstate.remove_state(path, os.getpid())
    assert not path.exists()
    devstate.remove_state(path, os.getpid())  # already gone: fine


def test_a_dead_stacks_file_and_a_broken_file_count_as_no_stack(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    devstate.write_state(path, state(pid=dead_pid()))
    assert devstate.read_state(path) is None
    path.write_text("{not json")
    assert devstate.read_state(path) is None
    assert devstate.read_state(tmp_path / "missing.json") is None


def test_the_helpers_find_the_stack_in_the_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    devstate.write_state(path, state())
    found = devstate.target({"DEV_STATE_FILE": str(path)})
    assert found.api_url == "http://127.0.0.1:4300"
    assert found.emulator_url == "http://127.0.0.1:4305"
    assert found.fake_llm_url == "http://127.0.0.1:4301"
    assert found.seed_file == Path("/somewhere/seed.json")


def test_an_explicit_variable_wins_over_the_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    devstate.write_state(path, state())
    found = devstate.target(
        {"DEV_STATE_FILE": str(path), "AWS_EMULATOR_PORT": "4405", "SEED_FILE": "local/seed.json"}
    )
    assert found.emulator_url == "http://127.0.0.1:4405"
    assert found.api_url == "http://127.0.0.1:4300"  # the others still from the file
    assert found.seed_file == devstate.ROOT / "local" / "seed.json"


def test_no_stack_is_one_line_naming_make_dev(tmp_path: Path) -> None:
    found = devstate.target({"DEV_STATE_FILE": str(tmp_path / "none.json")})
    for accessor in (found.api, found.emulator, found.fake_llm):
        with pytest.raises(NoStack) as raised:
            accessor()
        assert str(raised.value) == "no local stack is running: start it with `make dev`"


def test_a_stack_with_a_real_llm_says_which_variable_to_set(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    devstate.write_state(path, state(llm=None))
    with pytest.raises(NoStack, match=r"uses a real LLM.*FAKE_LLM_PORT"):
        devstate.target({"DEV_STATE_FILE": str(path)}).fake_llm()


def test_a_malformed_port_variable_is_one_line() -> None:
    with pytest.raises(NoStack, match=r"^PORT must be a port number \(1-65535\), not 'abc'$"):
        devstate.target({"PORT": "abc"})
    with pytest.raises(StartError, match="AWS_EMULATOR_PORT must be a port number"):
        devstate.parse_port("AWS_EMULATOR_PORT", "70000")


def test_two_variables_with_one_port_are_refused_before_binding() -> None:
    with pytest.raises(StartError, match="FAKE_LLM_PORT and PORT are both 4300"):
        devstate.check_ports({"PORT": 4300, "FAKE_LLM_PORT": 4300})


def test_a_stale_state_file_does_not_block_make_dev(tmp_path: Path) -> None:
    """(A live stack blocks it: tests/e2e/test_dev_state_e2e.py.)"""
    path = tmp_path / "state.json"
    devstate.write_state(path, state(pid=dead_pid()))
    devstate.check_not_running(path)


def test_a_handler_that_adds_no_metric_logs_no_warning(capsys: pytest.CaptureFixture[str]) -> None:
    from retryproof.observability import count, instrument, metrics

    metrics.clear_metrics()  # what earlier tests counted outside a handler
    context = SimpleNamespace(
        function_name="f", memory_limit_in_mb=128, invoked_function_arn="arn", aws_request_id="r"
    )

    @instrument(correlation_id_path=None)
    def quiet(event: Any, context: Any) -> str:
        return "ok"

    @instrument(correlation_id_path=None)
    def counting(event: Any, context: Any) -> str:
        count("IdempotentReplay")
        return "ok"

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Powertools' "No application metrics" would raise here
        assert quiet({}, context) == "ok"
    assert "_aws" not in capsys.readouterr().out
    assert counting({}, context) == "ok"
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [m["IdempotentReplay"] for m in emf] == [[1.0]]
