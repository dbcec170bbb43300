"""The TypeScript client as its users get it: `npm pack`, installed into a scratch project, type-
checked against its declarations and called against the local stack; and `make demo CLIENT=ts`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import ACME_KEY, ROOT, LocalApi

# `npm pack` (its `prepare` script) rebuilds clients/typescript/dist/, which the other module of
# this group reads: the two run on one xdist worker (tests/e2e/conftest.py).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("typescript")]

TS = ROOT / "clients" / "typescript"
TSC = TS / "node_modules" / "typescript" / "bin" / "tsc"

FIRST_CALL = """
import { ApiError, Client } from "retryproof-client";

const client = new Client(process.env.RETRYPROOF_URL, process.env.RETRYPROOF_API_KEY);
const result = await client.generate("Tell me about retries from a scratch project.");
const again = await client.generate("Tell me about retries from a scratch project.", {
  idempotencyKey: result.idempotencyKey,
});
const account = await client.account("acc_acme_main");
let refused = null;
try {
  await client.transfer("acc_acme_main", "acc_acme_main", 1, "USD");
} catch (error) {
  refused = error instanceof ApiError ? [error.status, error.code, error.attempts] : String(error);
}
console.log(JSON.stringify({
  status: result.status, content: result.data.content, replayed: again.replayed,
  sameId: again.data.id === result.data.id,
  balanceIsInteger: Number.isInteger(account.data.balance),
  refused,
}));
"""

TYPED = """
import { Client, type Generation, type Result } from "retryproof-client";

const client = new Client("http://127.0.0.1:3000", "key", { maxAttempts: 3 });
const result: Result<Generation> = await client.generate("hi", { maxTokens: 16 });
const tokens: number = result.data.usage.totalTokens;
// @ts-expect-error amount is a number of minor units, not a string
await client.transfer("a", "b", "100", "USD");
export { tokens };
"""


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def npm() -> str:
    found = shutil.which("npm")
    if found is None or not TSC.is_file():
        pytest.skip("Node/npm or clients/typescript/node_modules missing: make setup")
    return found


def test_npm_pack_installs_and_its_first_call_works(
    api: LocalApi, npm: str, tmp_path: Path
) -> None:
    packed = json.loads(run([npm, "pack", "--json", "--pack-destination", str(tmp_path)], TS))
    files = {f["path"] for f in packed[0]["files"]}
    assert {"dist/index.js", "dist/index.d.ts", "dist/schema.d.ts", "package.json"} <= files
    assert not any(f.startswith(("src/", "test/", "node_modules/")) for f in files)
    tarball = tmp_path / packed[0]["filename"]

    project = tmp_path / "scratch"
    project.mkdir()
    (project / "package.json").write_text('{"name": "scratch", "private": true, "type": "module"}')
    # No runtime dependencies: the tarball installs offline.
    run([npm, "install", "--offline", "--no-audit", "--no-fund", str(tarball)], project)
    installed = json.loads((project / "node_modules/retryproof-client/package.json").read_text())
    assert installed.get("dependencies") in (None, {})

    (project / "typed.ts").write_text(TYPED)
    tsconfig = {
        "compilerOptions": {
            "module": "NodeNext", "moduleResolution": "NodeNext", "target": "ES2022",
            "lib": ["ES2022", "DOM"], "types": [], "strict": True, "noEmit": True,
        },
        "files": ["typed.ts"],
    }  # fmt: skip
    (project / "tsconfig.json").write_text(json.dumps(tsconfig))
    run([shutil.which("node") or "node", str(TSC), "-p", "tsconfig.json"], project)

    (project / "main.mjs").write_text(FIRST_CALL)
    env = {**os.environ, "RETRYPROOF_URL": api.url, "RETRYPROOF_API_KEY": ACME_KEY}
    first = json.loads(run([shutil.which("node") or "node", "main.mjs"], project, env))
    assert first["status"] == 200
    assert first["content"].startswith("Echo:")
    assert first["replayed"] is True
    assert first["sameId"] is True
    assert first["balanceIsInteger"] is True
    assert first["refused"] == [422, "same_account", 1]


def test_the_demo_runs_with_the_typescript_client(api: LocalApi, npm: str) -> None:
    env = {**os.environ, "PYTHONPATH": "clients/python/src:."}
    done = subprocess.run(
        [sys.executable, "-m", "tools.demo", "--client", "ts", "--url", api.url,
         "--llm-url", api.llm.root],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    for line in (
        "retryproof demo (TypeScript client)",
        "replayed=true",
        "OK: charged once: one completion",
        "OK: money moved once",
        "Every claim held",
    ):
        assert line in out, line
    assert "FAILED" not in out
    assert ACME_KEY not in out + done.stderr
