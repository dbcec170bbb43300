"""Read template.yaml once and answer what the local stack needs: functions, routes, resources.

The template is parsed with cfn-lint's CloudFormation-aware YAML loader (so `!Ref`, `!GetAtt`,
`!Sub` become their long forms); intrinsic functions are resolved against local values.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
STACK_NAME = "retryproof-local"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function_id: str
    authorizer: str | None  # None: no authorizer on this route

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        pattern = (
            "^"
            + re.sub(
                r"\\\{([^}]+?)(\\\+)?\\\}",
                lambda m: f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)",
                re.escape(self.path),
            )
            + "$"
        )
        found = re.match(pattern, path)
        return dict(found.groupdict()) if found else None


@dataclass(frozen=True)
class Authorizer:
    name: str
    function_id: str
    identity_headers: tuple[str, ...]
    ttl_seconds: int


@dataclass(frozen=True)
class QueueEvent:
    queue_id: str
    batch_size: int
    max_batching_window: int
    report_batch_item_failures: bool
    maximum_concurrency: int | None


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    timeout: int
    memory: int
    environment: dict[str, Any]
    queue_events: tuple[QueueEvent, ...] = field(default=())

    @property
    def short_name(self) -> str:
        return self.code_dir.name


def parse_parameter_overrides(text: str) -> dict[str, str]:
    """`Key1=Value1 Key2=Value2` (as `sam deploy --parameter-overrides`; shell-style quoting)."""
    overrides = {}
    for pair in shlex.split(text):
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"parameter override {pair!r} is not Name=Value")
        overrides[name] = value
    return overrides


class Template:
    def __init__(
        self,
        path: Path = ROOT / "template.yaml",
        parameter_overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        self.doc: dict[str, Any] = dict(cfn_yaml.loads(path.read_text(), str(path)))
        self.resources: dict[str, Any] = self.doc.get("Resources", {})
        self.parameters: dict[str, Any] = self.doc.get("Parameters", {})
        self._globals = self.doc.get("Globals", {}).get("Function", {})
        # Parameter values instead of their defaults (PARAMETER_OVERRIDES for the local stack).
        self.overrides = dict(parameter_overrides or {})
        unknown = sorted(set(self.overrides) - set(self.parameters))
        if unknown:
            raise ValueError(f"unknown template parameters: {', '.join(unknown)}")

    # --- resources -------------------------------------------------------------------------
    def of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v.get("Type") in types}

    def functions(self) -> dict[str, FunctionSpec]:
        specs = {}
        for logical_id, res in self.of_type("AWS::Serverless::Function").items():
            props = res.get("Properties", {})
            env = dict(self._globals.get("Environment", {}).get("Variables", {}))
            env.update(props.get("Environment", {}).get("Variables", {}))
            queue_events = []
            for ev in (props.get("Events") or {}).values():
                if ev.get("Type") != "SQS":
                    continue
                p = ev.get("Properties", {})
                queue = p["Queue"]
                queue_id = queue["Fn::GetAtt"][0] if isinstance(queue, dict) else queue
                scaling = p.get("ScalingConfig", {}).get("MaximumConcurrency")
                queue_events.append(
                    QueueEvent(
                        queue_id=queue_id,
                        batch_size=int(self.scalar(p.get("BatchSize", 10))),
                        max_batching_window=int(
                            self.scalar(p.get("MaximumBatchingWindowInSeconds", 0))
                        ),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in (p.get("FunctionResponseTypes") or []),
                        maximum_concurrency=int(self.scalar(scaling)) if scaling else None,
                    )
                )
            specs[logical_id] = FunctionSpec(
                logical_id=logical_id,
                code_dir=(ROOT / props["CodeUri"]).resolve(),
                handler=props.get("Handler", self._globals.get("Handler", "app.lambda_handler")),
                timeout=int(self.scalar(props.get("Timeout", self._globals.get("Timeout", 3)))),
                memory=int(
                    self.scalar(props.get("MemorySize", self._globals.get("MemorySize", 128)))
                ),
                environment=env,
                queue_events=tuple(queue_events),
            )
        return specs

    def authorizers(self) -> dict[str, Authorizer]:
        found = {}
        for api in self.of_type("AWS::Serverless::HttpApi").values():
            auth = api.get("Properties", {}).get("Auth", {})
            for name, conf in (auth.get("Authorizers") or {}).items():
                arn = conf["FunctionArn"]
                function_id = arn["Fn::GetAtt"][0] if isinstance(arn, dict) else str(arn)
                identity = conf.get("Identity", {})
                found[name] = Authorizer(
                    name=name,
                    function_id=function_id,
                    identity_headers=tuple(h.lower() for h in identity.get("Headers", [])),
                    ttl_seconds=int(self.scalar(identity.get("ReauthorizeEvery", 300))),
                )
        return found

    def default_authorizer(self) -> str | None:
        for api in self.of_type("AWS::Serverless::HttpApi").values():
            default = api.get("Properties", {}).get("Auth", {}).get("DefaultAuthorizer")
            if default:
                return str(default)
        return None

    def routes(self) -> list[Route]:
        default = self.default_authorizer()
        routes = []
        for logical_id, res in self.of_type("AWS::Serverless::Function").items():
            for ev in (res.get("Properties", {}).get("Events") or {}).values():
                if ev.get("Type") != "HttpApi":
                    continue
                p = ev.get("Properties", {})
                auth = p.get("Auth", {}).get("Authorizer", default)
                routes.append(
                    Route(
                        method=str(p.get("Method", "ANY")).upper(),
                        path=str(p["Path"]),
                        function_id=logical_id,
                        authorizer=None if auth in (None, "NONE") else str(auth),
                    )
                )
        # Literal segments win over parameters, as in API Gateway.
        routes.sort(key=lambda r: (r.path.count("{"), -len(r.path)))
        return routes

    # --- intrinsic functions --------------------------------------------------------------
    def parameter_default(self, name: str) -> str:
        """The parameter's value: its override if there is one, else its default."""
        if name in self.overrides:
            return self.overrides[name]
        return str(self.parameters.get(name, {}).get("Default", ""))

    def scalar(self, value: Any) -> Any:
        """Resolve parameter refs in scalar properties (timeouts, batch sizes)."""
        if isinstance(value, dict) and "Ref" in value and value["Ref"] in self.parameters:
            return self.parameter_default(value["Ref"])
        return value

    def resolve(self, value: Any, refs: dict[str, str], atts: dict[str, str]) -> Any:
        """Resolve Ref / GetAtt / Sub / Join against local values."""
        if isinstance(value, list):
            return [self.resolve(v, refs, atts) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v, refs, atts) for k, v in value.items()}
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return self._ref(str(arg), refs)
        if fn == "Fn::GetAtt":
            name, attr = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return atts[f"{name}.{attr}"]
        if fn == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

            def sub(m: re.Match[str]) -> str:
                token = m.group(1)
                if token in extra:
                    return str(self.resolve(extra[token], refs, atts))
                if "." in token and not token.startswith("AWS::"):
                    return atts[token]
                return str(self._ref(token, refs))

            return re.sub(r"\$\{([^}!]+)\}", sub, text).replace("${!", "${")
        if fn == "Fn::Join":
            sep, parts = arg
            return sep.join(str(p) for p in self.resolve(parts, refs, atts))
        if fn == "Fn::If":
            name, when_true, when_false = arg
            chosen = when_true if self.condition(name, refs, atts) else when_false
            return self.resolve(chosen, refs, atts)
        if fn.startswith("Fn::") or fn == "Condition":
            raise ValueError(f"the local stack does not resolve {fn}")
        return {fn: self.resolve(arg, refs, atts)}

    def condition(self, name: str, refs: dict[str, str], atts: dict[str, str]) -> bool:
        """A named condition of the template (Equals, Not, And, Or, Condition)."""
        return self._truth(self.doc.get("Conditions", {})[name], refs, atts)

    def _truth(self, expr: Any, refs: dict[str, str], atts: dict[str, str]) -> bool:
        ((fn, arg),) = expr.items()
        if fn == "Fn::Equals":
            left, right = (str(self.resolve(v, refs, atts)) for v in arg)
            return left == right
        if fn == "Fn::Not":
            return not self._truth(arg[0], refs, atts)
        if fn == "Fn::And":
            return all(self._truth(c, refs, atts) for c in arg)
        if fn == "Fn::Or":
            return any(self._truth(c, refs, atts) for c in arg)
        if fn == "Condition":
            return self.condition(str(arg), refs, atts)
        raise ValueError(f"the local stack does not evaluate {fn} in a condition")

    def _ref(self, name: str, refs: dict[str, str]) -> str:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": STACK_NAME,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in refs:
            return refs[name]
        if name in self.parameters:
            return self.parameter_default(name)
        raise KeyError(f"unresolved Ref {name}")


def physical_name(logical_id: str) -> str:
    return f"{STACK_NAME}-{logical_id}"
