"""`make dev`'s state file and the helpers that read it, over a real stack on custom ports; the
one-line errors of `make dev`, `make invoke`, the helpers without a stack and `make deploy`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.emulator import Emulator
from tests.e2e.conftest import ROOT, LocalApi, free_port, start_stack

pytestmark = pytest.mark.e2e

NO_STACK = "no local stack is running: start it with `make dev`"
PORT_VARIABLES = ("PORT", "FAKE_LLM_PORT", "AWS_EMULATOR_PORT", "SEED_FILE")


def run(
    args: list[str], state_file: Path, timeout: int = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """A helper as `make` runs it: no port variables unless given, the state file given."""
    environ = {
        k: v for k, v in os.environ.items() if k not in PORT_VARIABLES and not k.startswith("AWS_")
    }
    environ |= {
        "PYTHONPATH": os.pathsep.join(["layers/common", ".", "clients/python/src"]),
        "DEV_STATE_FILE": str(state_file),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env=environ, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


HELPERS = {
    "make invoke": ["local.invoke", "usage", "events/usage_get.json"],
    "make api-key": ["tools.api_keys", "create", "--tenant", "acme"],
    "make api-key-revoke": ["tools.api_keys", "revoke", "--key", "rp_live_nothing"],
    "make webhook": ["tools.sign_webhook", "send", "--tenant", "acme", "--doc", "doc_state"],
    "make webhook-secret": ["tools.sign_webhook", "secret", "--tenant", "acme"],
    "make redrive-dlq": ["local.worker_loop", "redrive"],
    "make demo": ["tools.demo"],
    "make smoke": ["tools.smoke"],
}


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalApi, Path]]:
    """A stack started as `make dev` starts it: custom ports, a state file."""
    folder = tmp_path_factory.mktemp("dev")
    state_file = folder / ".dev-stack.json"
    api = start_stack(folder / "log", args=["--state-file", str(state_file)])
    # /health answers as soon as the API listens; the file is written when every part is up,
    # just before the "ready" line.
    for _ in range(100):
        if "local stack ready" in api.log.read_text():
            break
        time.sleep(0.1)
    yield api, state_file
    if api.process.poll() is None:
        api.process.kill()


def test_make_dev_writes_its_addresses_to_the_state_file(dev: tuple[LocalApi, Path]) -> None:
    api, state_file = dev
    written = json.loads(state_file.read_text())
    assert written["api_url"] == api.url
    assert written["emulator_url"] == f"http://127.0.0.1:{api.emulator_port}"
    assert written["fake_llm_url"] == api.llm.root
    assert written["pid"] == api.process.pid
    assert written["seed_file"] == str(ROOT / "local" / "seed.json")


def test_every_helper_finds_the_stack_without_port_variables(dev: tuple[LocalApi, Path]) -> None:
    api, state_file = dev
    invoked = run(HELPERS["make invoke"], state_file)
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout)["statusCode"] == 200

    created = run(HELPERS["make api-key"], state_file)
    assert created.returncode == 0, created.stderr
    new_key = created.stdout.strip().splitlines()[-1]
    assert api.call("GET", "/usage", key=new_key).status == 200  # created in this stack's table

    sent = run(HELPERS["make webhook"], state_file)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("HTTP/1.1 202")  # signed with this stack's seed, sent to it

    redriven = run(HELPERS["make redrive-dlq"], state_file)
    assert redriven.returncode == 0, redriven.stderr
    assert "WebhookJobsQueue: 0 message(s) moved back" in redriven.stdout

    before = api.llm.completions
    smoke = run(HELPERS["make smoke"], state_file, timeout=180)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert f"smoke tests against {api.url}" in smoke.stdout
    assert "8 passed" in smoke.stdout  # the transfer test too: accounts from the seed
    assert api.llm.completions > before  # it talked to this stack's fake LLM


def test_an_explicit_variable_wins_over_the_state_file(dev: tuple[LocalApi, Path]) -> None:
    _, state_file = dev
    elsewhere = free_port()
    done = run(HELPERS["make api-key"], state_file, AWS_EMULATOR_PORT=str(elsewhere))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"nothing answers at http://127.0.0.1:{elsewhere} (the AWS emulator): "
        "start the stack with `make dev`"
    )


def test_a_second_make_dev_of_the_checkout_is_refused(dev: tuple[LocalApi, Path]) -> None:
    api, state_file = dev
    done = run(["local", "--state-file", str(state_file)], state_file, timeout=30,
               PORT=str(free_port()), FAKE_LLM_PORT=str(free_port()),
               AWS_EMULATOR_PORT=str(free_port()))  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"make dev: a stack of this checkout is already running (pid {api.process.pid}, "
        f"{api.url}): stop it first (its helpers read .dev-stack.json)"
    )


def test_stopping_says_what_stopped_removes_the_file_then_helpers_say_make_dev(
    dev: tuple[LocalApi, Path],
) -> None:
    api, state_file = dev
    api.process.send_signal(signal.SIGINT)
    assert api.process.wait(timeout=60) == 0
    log = api.log.read_text()
    last = log.strip().splitlines()[-1]
    assert last.startswith("retryproof local stack stopped in ")
    assert f"the API ({api.url})" in last
    assert last.endswith("and the SQS worker loop")
    assert "No application metrics to publish" not in log  # no spurious warning on the way
    assert not state_file.exists()

    for name, args in HELPERS.items():
        done = run(args, state_file, timeout=60)
        assert done.returncode == 2, name
        assert done.stdout == "", name
        expected = NO_STACK
        if name == "make smoke":
            expected += " (or give URL=<ApiUrl output> API_KEY=<key>)"
        assert done.stderr.strip() == expected, f"{name}: {done.stderr}"


# --- make dev's own one-line errors ------------------------------------------------------------


def test_a_busy_port_names_the_variable_to_change(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run(["local"], tmp_path / "state.json", timeout=60, PORT=str(free_port()),
                   FAKE_LLM_PORT=str(free_port()), AWS_EMULATOR_PORT=str(port))  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"make dev: port {port} is in use: set AWS_EMULATOR_PORT to a free port, "
        f"e.g. `AWS_EMULATOR_PORT={port + 100} make dev`"
    ]


def test_a_bad_port_value_and_a_missing_seed_file_are_one_line_each(tmp_path: Path) -> None:
    bad = run(["local"], tmp_path / "s.json", timeout=60, PORT="30oo")
    assert (bad.returncode, bad.stderr.strip()) == (
        1, "make dev: PORT must be a port number (1-65535), not '30oo'"
    )  # fmt: skip
    ports = {n: str(free_port()) for n in ("PORT", "FAKE_LLM_PORT", "AWS_EMULATOR_PORT")}
    seed = tmp_path / "missing-seed.json"
    no_seed = run(["local"], tmp_path / "s.json", timeout=60, SEED_FILE=str(seed), **ports)
    assert (no_seed.returncode, no_seed.stderr.strip()) == (
        1, f"make dev: no seed file {seed} (SEED_FILE)"
    )  # fmt: skip


def test_make_invoke_checks_its_arguments_before_the_stack(tmp_path: Path) -> None:
    state_file = tmp_path / "none.json"
    missing = run(["local.invoke", "usage", "events/nope.json"], state_file, timeout=60)
    assert (missing.returncode, missing.stderr.strip()) == (
        2, "no event file events/nope.json: the fixtures are in events/"
    )  # fmt: skip
    unknown = run(["local.invoke", "genrate", "events/generate_post.json"], state_file, timeout=60)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        "no function 'genrate'; the functions: accounts, agent, agent_run, authorizer, generate, "
        "key_status, transfer, usage, usage_totals, webhook, webhook_reads, worker"
    )
    assert "Traceback" not in missing.stderr + unknown.stderr


# --- make deploy checks credentials and region before it builds ----------------------------------


def no_aws(tmp_path: Path) -> dict[str, str]:
    """An environment where boto3 finds no credentials and no region."""
    return {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def test_make_deploy_without_credentials_stops_before_building(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | no_aws(tmp_path)
    done = subprocess.run(
        [shutil.which("make") or "make", "--no-print-directory", "deploy", "ENV=dev"],
        cwd=ROOT, env=environ,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert (
        "make deploy: no AWS credentials: run `aws configure` (or `aws sso login`), "
        "or set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
    ) in done.stderr.splitlines()
    assert "sam build" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_deploy_check_needs_a_region(tmp_path: Path) -> None:
    config = tmp_path / "samconfig.toml"
    config.write_text('version = 0.1\n[dev.deploy.parameters]\nstack_name = "x"\n')
    done = run(["tools.deploy_check", "--config-env", "dev", "--config-file", str(config)],
               tmp_path / "s.json", timeout=60, **no_aws(tmp_path),
               AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")  # fmt: skip
    assert (done.returncode, done.stderr.strip()) == (
        1, "make deploy: no AWS region: set AWS_REGION, or `region` under "
        "[dev.deploy.parameters] in samconfig.toml",
    )  # fmt: skip


def test_deploy_check_names_the_account_and_region(tmp_path: Path) -> None:
    emulator = Emulator(port=0).start()  # its STS answers get-caller-identity
    try:
        done = run(["tools.deploy_check", "--config-env", "dev"], tmp_path / "s.json",
                   timeout=60, **no_aws(tmp_path), AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL=emulator.endpoint)  # fmt: skip
    finally:
        emulator.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "make deploy: stack retryproof-dev to account 123456789012 in us-east-1"
    )
