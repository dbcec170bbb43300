"""The whole local stack in one process: emulator, fake LLM, resources, seed, HTTP front."""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import boto3

from local.console import TABLES as CONSOLE_TABLES
from local.console import Console
from local.durable_runner import DurableLocal
from local.emulator import Emulator
from local.fake_llm import FakeLLM
from local.gateway import Gateway
from local.lambda_runtime import LocalFunction, add_layer_to_path
from local.resources import LocalRefs, aws_environment, create_resources, local_refs
from local.seed import load_seed, read_seed
from local.streams import StreamPoller, stream_sources
from local.template import ROOT, Template, parse_parameter_overrides
from local.worker_loop import WorkerLoop, event_sources, sqs_client

log = logging.getLogger("local.stack")

FAKE_API_KEY = "sk-local-fake"
OPENAI_SECRET = "OpenAIApiKeySecret"  # noqa: S105 - a logical id, not a secret
# Set from the LLM choice, never from the caller's environment directly.
LLM_VARIABLES = ("OPENAI_BASE_URL",)
# Template parameters of the local stack and the in-process tests unless given: the per-tenant
# request limit stays on (every request goes through the limiter) but far above any test's burst;
# a test of the limit sets its own (TENANT_RATE_LIMIT=..., docs/limits.md). The deployed default
# (template.yaml) is what a real deployment wants, and would throttle the suites' bursts.
LOCAL_PARAMETERS = {"TenantRateLimit": "100000"}


def function_environment(
    template: Template,
    refs: LocalRefs,
    parameters: Mapping[str, str],
    overrides: Mapping[str, str],
) -> dict[str, str]:
    """The functions' variables, resolved against local values.

    Handlers run in one process, so they share one environment: two functions giving one variable
    different values is an error here. A variable the template declares can be overridden from the
    caller's environment (as `sam local --env-vars` would).
    """
    merged_refs = {**refs.refs, **parameters}
    env: dict[str, str] = {}
    for spec in template.functions().values():
        for name, raw in spec.environment.items():
            value = str(template.resolve(raw, merged_refs, refs.atts))
            if name in overrides and overrides[name] != "" and name not in LLM_VARIABLES:
                value = overrides[name]
            if name in env and env[name] != value:
                raise ValueError(f"functions disagree on {name}; the local stack needs one value")
            env[name] = value
    return env


@dataclass
class StackConfig:
    port: int = 3000
    fake_llm_port: int = 3001
    emulator_port: int = 3005
    seed_file: Path = ROOT / "local" / "seed.json"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StackConfig:
        seed = Path(environ.get("SEED_FILE") or ROOT / "local" / "seed.json")
        return cls(
            port=int(environ.get("PORT") or 3000),
            fake_llm_port=int(environ.get("FAKE_LLM_PORT") or 3001),
            emulator_port=int(environ.get("AWS_EMULATOR_PORT") or 3005),
            seed_file=seed if seed.is_absolute() else ROOT / seed,
        )


class LocalStack:
    def __init__(self, config: StackConfig, environ: Mapping[str, str]) -> None:
        self.config = config
        self.environ = dict(environ)
        # PARAMETER_OVERRIDES="Name=Value ...": template parameters, as `sam --parameter-overrides`.
        overrides = parse_parameter_overrides(self.environ.get("PARAMETER_OVERRIDES", ""))
        self.template = Template(parameter_overrides={**LOCAL_PARAMETERS, **overrides})
        self.emulator: Emulator | None = None
        self.fake_llm: FakeLLM | None = None
        self.gateway: Gateway | None = None
        self.worker_loop: WorkerLoop | None = None
        self.streams: StreamPoller | None = None
        self.functions: dict[str, LocalFunction] = {}
        self.durable: DurableLocal | None = None  # AWS's durable runner + the Lambda Invoke API
        self.stuck: list[str] = []  # parts that did not stop in time (stop)

    def start(self) -> LocalStack:
        seed = read_seed(self.config.seed_file)  # fail before anything starts
        self.emulator = Emulator(port=self.config.emulator_port).start()
        endpoint = self.emulator.endpoint
        os.environ.pop("AWS_PROFILE", None)
        os.environ.update(aws_environment(endpoint))

        api_key = self.environ.get("OPENAI_API_KEY", "")
        if api_key:
            base_url = self.environ.get("OPENAI_BASE_URL", "")
        else:
            self.fake_llm = FakeLLM(port=self.config.fake_llm_port).start()
            base_url, api_key = self.fake_llm.base_url, FAKE_API_KEY

        refs = local_refs(self.template, endpoint)
        create_resources(self.template, refs, {OPENAI_SECRET: api_key}, boto3.Session())
        env = function_environment(self.template, refs, {"OpenAIBaseUrl": base_url}, self.environ)
        os.environ.update(env)
        add_layer_to_path()
        load_seed(seed, refs.refs, boto3.Session().client("dynamodb"))
        self.emulator.settle()  # the seed predates the stack: no stale read of it

        self.functions = {
            logical_id: LocalFunction(spec)
            for logical_id, spec in self.template.functions().items()
        }
        self.durable = DurableLocal(self.functions, self.environ).start()
        session = boto3.Session()
        console = Console(
            {t: refs.table(t) for t in CONSOLE_TABLES},
            refs.refs.get("WebhookJobsDeadLetterQueue"),
            dynamodb=session.client("dynamodb"),
            sqs=sqs_client(session),
        )
        self.gateway = Gateway(
            self.template.routes(),
            self.template.authorizers(),
            self.functions,
            port=self.config.port,
            console=console,
        ).start()
        # The SQS event sources: pollers that invoke the queue-triggered functions.
        sources = event_sources(self.template, refs, self.functions)
        self.worker_loop = WorkerLoop(sources, sqs_client(boto3.Session())).start()
        # The DynamoDB stream event sources (the usage totals).
        self.streams = stream_poller(self.template, refs, self.functions).start()
        return self

    @property
    def url(self) -> str:
        assert self.gateway is not None
        return f"http://127.0.0.1:{self.gateway.port}"

    def stop(self) -> None:
        """Stop every part at once: each waits up to a poll interval (a long poll, a server's
        select), so stopping them one after another took seconds."""
        parts = [
            p
            for p in (self.worker_loop, self.streams, self.gateway, self.durable, self.fake_llm)
            if p is not None
        ]
        stoppers = [
            threading.Thread(target=part.stop, name=type(part).__name__, daemon=True)
            for part in parts
        ]
        for thread in stoppers:
            thread.start()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for thread in stoppers:
            thread.join(max(0.0, deadline - time.monotonic()))
        # A part that does not stop in time (a request that never ends holds its server) is left
        # to the process's exit, and named: `python -m local` then exits at once.
        self.stuck = [thread.name for thread in stoppers if thread.is_alive()]
        if self.emulator is not None:  # last: the worker loop's pollers talk to it until they stop
            self.emulator.stop()


STOP_TIMEOUT_S = 20.0


def stream_poller(
    template: Template, refs: LocalRefs, functions: dict[str, LocalFunction]
) -> StreamPoller:
    session = boto3.Session()
    return StreamPoller(
        stream_sources(template, functions),
        session.client("dynamodb"),
        session.client("dynamodbstreams"),
        refs.table,
    )


def is_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False
