"""The repository documents itself: docs/api.md names every route and every error code, nothing
points to a file outside the repository, and the OpenAPI document's wording is right.

(Limits in validation messages are written as numbers, `1000000000000` and not `1e+12`:
tests/unit/test_unit_shapes.py.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from retryproof import errors

ROOT = Path(__file__).resolve().parents[2]
API_DOC = (ROOT / "docs" / "api.md").read_text()
OPENAPI = json.loads((ROOT / "openapi.json").read_text())


def test_docs_api_names_every_route_of_the_openapi_document() -> None:
    for path, operations in OPENAPI["paths"].items():
        for method in operations:
            if method in ("get", "post", "put", "delete", "patch"):
                assert f"{method.upper()} {path}" in API_DOC, f"{method.upper()} {path}"


def test_docs_api_names_every_error_code() -> None:
    codes = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.ProblemError)
    }
    codes.discard("not_found")  # the base of the `…_not_found` codes, never answered itself
    codes.discard("unauthorized")  # API Gateway's own 401, documented as {"message": ...}
    missing = sorted(code for code in codes if f"`{code}`" not in API_DOC)
    assert missing == []


def test_no_tracked_file_refers_to_a_file_outside_the_repository() -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    pattern = "shared" + "/|CONTRACT" + "[.]md"  # split, so this file does not match itself
    found = subprocess.run(
        [git, "grep", "-n", "-I", "-E", pattern, "--", ":!uv.lock"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert found.stdout == ""


def test_a_read_routes_404_is_not_described_as_stored() -> None:
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                if method == "get":
                    assert "(stored)" not in response.get("description", ""), (path, status)


def test_a_parameter_error_is_not_titled_as_a_body_error() -> None:
    usage = OPENAPI["paths"]["/usage"]["get"]["responses"]["422"]
    example = usage["content"]["application/problem+json"]["examples"]["validation_error"]
    assert example["value"]["errors"][0]["field"].startswith("query.")
    assert "body" not in example["value"]["title"].lower()


def test_make_help_names_every_port_variable_of_make_dev() -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("no make")
    done = subprocess.run(
        [make, "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    dev = next(line for line in done.stdout.splitlines() if "make dev " in line)
    for variable in ("PORT=3000", "FAKE_LLM_PORT=3001", "AWS_EMULATOR_PORT=3005", "SEED_FILE="):
        assert variable in dev
