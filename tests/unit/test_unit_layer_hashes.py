"""The layer is installed with hash checking: every pinned wheel must match uv.lock's hashes."""

from __future__ import annotations

import re
import tomllib

import pytest

from local.template import ROOT

pytestmark = pytest.mark.unit

LAYER = ROOT / "layers" / "common"


def _requirements() -> dict[str, set[str]]:
    """name==version -> its sha256 hashes, from the generated requirements.txt."""
    text = (LAYER / "requirements.txt").read_text()
    found: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=\S)", text):
        first = block.split(" ", 1)[0].strip()
        if not first or first.startswith("#"):
            continue
        found[first] = set(re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return found


def test_every_layer_requirement_is_pinned_with_the_locks_hashes() -> None:
    requirements = _requirements()
    assert len(requirements) >= 15
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {f"{p['name']}=={p.get('version')}": p for p in lock["package"]}
    for pin, hashes in requirements.items():
        assert "==" in pin, pin
        assert hashes, f"{pin}: no hash"
        package = locked[pin]
        files = [package.get("sdist", {}), *package.get("wheels", [])]
        from_lock = {f["hash"].removeprefix("sha256:") for f in files if "hash" in f}
        assert hashes == from_lock, pin


def test_the_layer_build_requires_the_hashes() -> None:
    makefile = (LAYER / "Makefile").read_text()
    assert "--require-hashes -r requirements.txt" in makefile
    assert "--no-hashes" not in (ROOT / "tools" / "layer-requirements.sh").read_text()
