"""Bad and odd input from schemathesis, generated from openapi.json, against the local stack:
no 5xx, and every answer matches the document (status, content type, body schema)."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import ACME_KEY, ROOT, LocalApi

pytestmark = pytest.mark.e2e

schema = schemathesis.openapi.from_dict(json.loads((ROOT / "openapi.json").read_text()))
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_document(case: schemathesis.Case, api: LocalApi) -> None:
    case.call_and_validate(
        base_url=api.url, headers={"Authorization": f"Bearer {ACME_KEY}"}, checks=CHECKS
    )
