"""`python -m local` (what `make dev` runs): the whole stack, in the foreground until a signal.

`--state-file PATH` (what `make dev` passes: `.dev-stack.json`) writes the stack's addresses there
once it is ready and removes the file when it stops; the helper targets read it (local/devstate.py).
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from local import devstate

FORCED_EXIT_S = 45.0


def _forced_exit() -> None:
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)  # frames only: no data
    print(f"(the stack did not stop in {FORCED_EXIT_S:.0f} s: ended with the process)", flush=True)
    sys.stderr.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument("--state-file", type=Path, default=None)
    args = parser.parse_args(argv)
    state_file: Path | None = args.state_file
    if state_file is not None and not state_file.is_absolute():
        state_file = Path.cwd() / state_file

    # The checks that need no import of the stack: a mistake is told in one line, at once.
    fake_llm = not os.environ.get("OPENAI_API_KEY")
    try:
        ports = {
            name: devstate.parse_port(name, os.environ.get(name) or str(default))
            for name, default in devstate.PORT_DEFAULTS.items()
            if fake_llm or name != "FAKE_LLM_PORT"
        }
        if state_file is not None:
            devstate.check_not_running(state_file)
        devstate.check_ports(ports)
    except devstate.StartError as exc:
        print(f"make dev: {exc}", file=sys.stderr)
        return 1

    logging.basicConfig(
        level=os.environ.get("LOCAL_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    for noisy in ("werkzeug", "botocore", "urllib3", "fake_llm", "httpx", "httpx2", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from local.stack import LocalStack, StackConfig

    config = StackConfig.from_env(os.environ)
    if not config.seed_file.is_file():
        print(f"make dev: no seed file {config.seed_file} (SEED_FILE)", file=sys.stderr)
        return 1
    # The handlers take no lock (an Event's set() does): a handler runs in the main thread between
    # two bytecodes, and one that waits for a lock its own thread holds never returns.
    signals: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _: signals.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, _: signals.append(signum))
    stack = LocalStack(config, os.environ).start()
    emulator = f"http://127.0.0.1:{config.emulator_port}"
    llm_root = f"http://127.0.0.1:{config.fake_llm_port}" if stack.fake_llm else None
    llm = f"fake LLM on {llm_root}/v1" if llm_root else "a real OpenAI-compatible LLM"
    if state_file is not None:
        devstate.write_state(
            state_file,
            devstate.StackState(
                pid=os.getpid(),
                api_url=stack.url,
                emulator_url=emulator,
                fake_llm_url=llm_root,
                seed_file=str(config.seed_file),
            ),
        )
    print(
        f"retryproof local stack ready: {stack.url} (AWS emulator on {emulator}, {llm}). "
        "Ctrl-C stops it.",
        flush=True,
    )
    while not signals:
        time.sleep(0.2)  # a signal interrupts the sleep; its handler runs at once
    started = time.monotonic()
    # Each part stops within STOP_TIMEOUT_S; should the stop itself hang beyond that (once seen
    # under load, with nothing logged), the threads' stacks go to the log and the process ends.
    watchdog = threading.Timer(FORCED_EXIT_S, _forced_exit)
    watchdog.daemon = True
    watchdog.start()
    if state_file is not None:
        devstate.remove_state(state_file, os.getpid())
    stack.stop()
    parts = [f"the API ({stack.url})", f"the AWS emulator ({emulator})"]
    if llm_root:
        parts.append(f"the fake LLM ({llm_root})")
    print(
        f"retryproof local stack stopped in {time.monotonic() - started:.1f} s: "
        f"{', '.join(parts)} and the SQS worker loop",
        flush=True,
    )
    if stack.stuck:
        # A part that did not stop in time holds threads the interpreter would wait for forever.
        stuck = ", ".join(stack.stuck)
        print(f"(not stopped in time, ended with the process: {stuck})", flush=True)
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
