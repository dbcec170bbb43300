"""The running `make dev` stack's addresses, kept in one file of the checkout.

`make dev` writes `.dev-stack.json` (git-ignored) once the stack is ready and removes it when the
stack stops; every helper (`make invoke`, `webhook`, `webhook-invoke`, `webhook-secret`,
`api-key`, `api-key-revoke`, `redrive-dlq`, `demo`, `smoke`) reads it, so custom ports are given
once, to `make dev`. A variable given explicitly (`PORT`, `FAKE_LLM_PORT`, `AWS_EMULATOR_PORT`,
`SEED_FILE`) still wins. With no stack running, a helper says so in one line, naming the command
that starts it, and exits 2 (`NoStack`). `DEV_STATE_FILE` moves the file (the tests use it).

Also here: the checks `make dev` runs before it starts anything (ports free and valid, no other
stack of this checkout running), each failing with one line that names the variable to change.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STATE_FILE = ROOT / ".dev-stack.json"
START = "make dev"
EXIT_NO_STACK = 2
HOST = "127.0.0.1"
# The variables of `make dev` that name a port, with their defaults.
PORT_DEFAULTS = {"PORT": 3000, "FAKE_LLM_PORT": 3001, "AWS_EMULATOR_PORT": 3005}


class NoStack(Exception):
    """No local stack where a helper needs one; the message is the one line to print."""


class StartError(Exception):
    """`make dev` cannot start; the message is the one line to print."""


@dataclass(frozen=True)
class StackState:
    """What `make dev` writes: where each part listens, the seed it loaded, its process id."""

    pid: int
    api_url: str
    emulator_url: str
    fake_llm_url: str | None  # the fake LLM's root (its OpenAI API is under /v1); None: a real LLM
    seed_file: str


def state_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    path = Path(environ.get("DEV_STATE_FILE") or DEFAULT_STATE_FILE)
    return path if path.is_absolute() else ROOT / path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def read_state(path: Path) -> StackState | None:
    """The state of a running stack, or None: no file, an unreadable one, or a dead process
    (a stack killed with SIGKILL cannot remove its file)."""
    try:
        data = json.loads(path.read_text())
        state = StackState(
            pid=int(data["pid"]),
            api_url=str(data["api_url"]),
            emulator_url=str(data["emulator_url"]),
            fake_llm_url=str(data["fake_llm_url"]) if data.get("fake_llm_url") else None,
            seed_file=str(data["seed_file"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state if _alive(state.pid) else None


def write_state(path: Path, state: StackState) -> None:
    """Written whole or not at all (a reader never sees half a file)."""
    tmp = path.with_name(f"{path.name}.{state.pid}.tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2) + "\n")
    tmp.replace(path)


def remove_state(path: Path, pid: int) -> None:
    """Remove the file if it is this process's (never another stack's)."""
    try:
        if int(json.loads(path.read_text()).get("pid", -1)) == pid:
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


# --- what the helpers use ----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The addresses a helper talks to: explicit variables first, then the state file."""

    api_url: str | None
    emulator_url: str | None
    fake_llm_url: str | None
    seed_file: Path
    state: StackState | None

    def api(self) -> str:
        return self._require(self.api_url, "the API", "PORT")

    def emulator(self) -> str:
        return self._require(self.emulator_url, "the AWS emulator", "AWS_EMULATOR_PORT")

    def fake_llm(self) -> str:
        return self._require(self.fake_llm_url, "the fake LLM", "FAKE_LLM_PORT")

    def _require(self, url: str | None, what: str, variable: str) -> str:
        if url is None:
            if self.state is not None:  # only the fake LLM can be absent: a real LLM is in use
                raise NoStack(f"the running stack uses a real LLM, not {what}: set {variable}")
            raise NoStack(f"no local stack is running: start it with `{START}`")
        if not reachable(url):
            raise NoStack(f"nothing answers at {url} ({what}): start the stack with `{START}`")
        return url


def _url(environ: Mapping[str, str], variable: str) -> str | None:
    value = environ.get(variable, "").strip()
    if not value:
        return None
    return f"http://{HOST}:{parse_port(variable, value)}"


def target(environ: Mapping[str, str] | None = None) -> Target:
    """Where the running stack is. Raises NoStack only for a malformed variable; the accessors
    (`api()`, `emulator()`, `fake_llm()`) raise it when the part is not there."""
    environ = os.environ if environ is None else environ
    try:
        state = read_state(state_path(environ))
        api, emulator, llm = (
            _url(environ, "PORT"),
            _url(environ, "AWS_EMULATOR_PORT"),
            _url(environ, "FAKE_LLM_PORT"),
        )
    except StartError as exc:
        raise NoStack(str(exc)) from None
    seed = environ.get("SEED_FILE") or (state.seed_file if state else "local/seed.json")
    seed_path = Path(seed)
    return Target(
        api_url=api or (state.api_url if state else None),
        emulator_url=emulator or (state.emulator_url if state else None),
        fake_llm_url=llm or (state.fake_llm_url if state else None),
        seed_file=seed_path if seed_path.is_absolute() else ROOT / seed_path,
        state=state,
    )


def reachable(url: str, timeout: float = 1.0) -> bool:
    """Something accepts connections at the URL's host and port."""
    host_port = url.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def exit_no_stack(error: NoStack) -> int:
    print(str(error), file=sys.stderr)
    return EXIT_NO_STACK


# --- what `make dev` checks before it starts ----------------------------------------------


def parse_port(variable: str, value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise StartError(f"{variable} must be a port number (1-65535), not {value!r}")
    return port


def check_ports(ports: Mapping[str, int]) -> None:
    """Every port free (and the ports distinct), before anything binds: one line naming the
    variable to change otherwise."""
    seen: dict[int, str] = {}
    for variable, port in ports.items():
        if port in seen:
            raise StartError(
                f"{variable} and {seen[port]} are both {port}: give them different ports"
            )
        seen[port] = variable
    for variable, port in ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise StartError(
                        f"cannot listen on port {port} ({variable}): {exc.strerror}"
                    ) from None
                example = f"{variable}={_suggest(port, ports.values())}"
                raise StartError(
                    f"port {port} is in use: set {variable} to a free port, "
                    f"e.g. `{example} {START}`"
                ) from None


def _suggest(port: int, taken: Iterable[int]) -> int:
    candidate = port + 100 if port + 100 <= 65535 else 4000
    while candidate in set(taken):
        candidate += 1
    return candidate


def check_not_running(path: Path) -> None:
    state = read_state(path)
    # A live process that answers on the stack's port (a SIGKILLed stack's pid may be reused).
    if state is not None and state.pid != os.getpid() and reachable(state.api_url):
        raise StartError(
            f"a stack of this checkout is already running (pid {state.pid}, {state.api_url}): "
            f"stop it first (its helpers read {path.name})"
        )
