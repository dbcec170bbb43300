"""`make deploy`'s first step: AWS credentials and a region, checked before anything is built.

python -m tools.deploy_check [--config-env dev] [--config-file samconfig.toml]

The region is the one `sam deploy` will use: the config environment's `region` in samconfig.toml,
else AWS_REGION / AWS_DEFAULT_REGION / the profile's. The credentials are the ones boto3 finds
(environment, AWS_PROFILE, SSO, instance role), verified with `sts get-caller-identity`. Each
failure is one line and exit code 1; success prints the account and region.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def samconfig_parameters(path: Path, config_env: str) -> dict[str, Any]:
    """The deploy command's parameters of one config environment (global ones under them)."""
    if not path.is_file():
        return {}
    config = tomllib.loads(path.read_text())
    env = config.get(config_env, {})
    merged: dict[str, Any] = {}
    for section in ("global", "deploy"):
        merged.update(env.get(section, {}).get("parameters", {}))
    return merged


def check(config_env: str, config_file: Path) -> str:
    """One line describing the target; raises SystemExit(one line) when deploying cannot work."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    parameters = samconfig_parameters(config_file, config_env)
    try:
        session = boto3.Session(profile_name=parameters.get("profile"))
    except BotoCoreError as exc:
        raise SystemExit(f"make deploy: {exc}") from None
    region = parameters.get("region") or session.region_name
    if not region:
        raise SystemExit(
            f"make deploy: no AWS region: set AWS_REGION, or `region` under "
            f"[{config_env}.deploy.parameters] in {config_file.name}"
        )
    if session.get_credentials() is None:
        raise SystemExit(
            "make deploy: no AWS credentials: run `aws configure` (or `aws sso login`), "
            "or set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    sts = session.client(
        "sts",
        region_name=region,
        config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2}),
    )
    try:
        account = sts.get_caller_identity()["Account"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise SystemExit(
            f"make deploy: the AWS credentials were refused ({error.get('Code')}: "
            f"{error.get('Message')})"
        ) from None
    except BotoCoreError as exc:
        raise SystemExit(f"make deploy: cannot reach AWS to check the credentials: {exc}") from None
    stack = parameters.get("stack_name", "?")
    return f"make deploy: stack {stack} to account {account} in {region}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy_check", description=__doc__)
    parser.add_argument("--config-env", default="default")
    parser.add_argument("--config-file", type=Path, default=ROOT / "samconfig.toml")
    args = parser.parse_args(argv)
    print(check(args.config_env, args.config_file), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
