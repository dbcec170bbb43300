"""clients/python installs on its own (`pip install ./clients/python`): built offline with uv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from local.template import ROOT

pytestmark = pytest.mark.unit

PACKAGE = ROOT / "clients" / "python"


def find_uv() -> str | None:
    user_bin = Path(sysconfig.get_path("scripts", f"{os.name}_user"))
    for candidate in (shutil.which("uv"), Path.home() / ".local/bin/uv", user_bin / "uv"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return None


def test_the_package_is_typed_and_self_contained() -> None:
    source = PACKAGE / "src" / "retryproof_client"
    assert (source / "py.typed").is_file()
    for module in source.glob("*.py"):
        text = module.read_text()
        assert "import retryproof." not in text
        assert "from retryproof." not in text, f"{module.name} imports the server library"


def test_it_installs_into_a_fresh_environment(tmp_path: Path) -> None:
    uv = find_uv()
    if uv is None:
        pytest.skip("uv is not installed (make setup installs it)")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    venv = tmp_path / "venv"

    def run(*args: str) -> str:
        done = subprocess.run(
            args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    run(uv, "venv", "--quiet", "--python", sys.executable, str(venv))
    python = str(venv / "bin" / "python")
    # uv builds with its own build backend (uv_build): no download needed.
    run(uv, "pip", "install", "--quiet", "--offline", "--python", python, str(PACKAGE))
    out = run(
        python,
        "-c",
        "import pathlib, retryproof_client as c; print(c.__version__); "
        "print(pathlib.Path(c.__file__).parent.joinpath('py.typed').is_file()); "
        "print(c.Client('http://x', 'k').policy.max_attempts)",
    )
    assert out.split() == ["0.1.0", "True", "5"]
    assert "site-packages" in run(
        python, "-c", "import retryproof_client; print(retryproof_client.__file__)"
    )
