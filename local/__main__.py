"""`python -m local` (what `make dev` runs): the whole stack, in the foreground until a signal."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from local.stack import LocalStack, StackConfig


def main() -> int:
    logging.basicConfig(
        level=os.environ.get("LOCAL_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    for noisy in ("werkzeug", "botocore", "urllib3", "fake_llm", "httpx", "httpx2", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = StackConfig.from_env(os.environ)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stack = LocalStack(config, os.environ).start()
    llm = (
        f"fake LLM on http://127.0.0.1:{config.fake_llm_port}/v1"
        if stack.fake_llm
        else "a real OpenAI-compatible LLM"
    )
    print(
        f"retryproof local stack ready: {stack.url} (AWS emulator on "
        f"http://127.0.0.1:{config.emulator_port}, {llm}). Ctrl-C stops it.",
        flush=True,
    )
    stop.wait()
    print("stopping…", flush=True)
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
