"""`python -m local` ends itself when its stop hangs: the threads' stacks to stderr, a line saying
so, exit 0 — instead of a stack that outlives the Ctrl-C (or a test's SIGTERM) with nothing said."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

HANGS = """
import threading
import local.__main__ as main
main.FORCED_EXIT_S = 1.0
timer = threading.Timer(main.FORCED_EXIT_S, main._forced_exit)
timer.daemon = True
timer.start()
threading.Event().wait()  # a stop that never returns
"""


def test_a_hung_stop_ends_the_process_and_says_where_it_hung() -> None:
    done = subprocess.run(
        [sys.executable, "-c", HANGS], cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "(the stack did not stop in 1 s: ended with the process)" in done.stdout
    assert "Current thread" in done.stderr or "Thread 0x" in done.stderr
    assert 'File "<string>", line 8' in done.stderr  # the hung main thread's frame
