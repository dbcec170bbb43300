"""`python -m local.dex_runner start-server …`: AWS's local durable runner (`dex-local-runner`)
with the local stack's patch of its retry scheduling (local/patches/dex_reinvoke.py)."""

from __future__ import annotations

import sys

from local.patches.dex_reinvoke import reinvoke_ready_steps


def main() -> int:
    from aws_durable_execution_sdk_python_testing.cli import main as runner_main

    reinvoke_ready_steps()
    return int(runner_main() or 0)


if __name__ == "__main__":
    sys.exit(main())
