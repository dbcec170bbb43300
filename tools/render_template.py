"""Print template.yaml as CloudFormation sees it after the SAM transform (JSON on stdout).

Runs with SAM CLI's own Python (`.tools/sam/bin/python tools/render_template.py`), which has the
SAM translator; no AWS account or network. Code locations become placeholders (the transform
wants S3 URIs); everything else is what `sam deploy` would send, including the roles and managed
policies SAM adds. The template tests read it (tests/unit/test_unit_security_template.py).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parent.parent


class _NoManagedPolicies:
    """Managed policies by name would be looked up in IAM; this template names none."""

    def load(self) -> dict[str, str]:
        return {}


def render(path: Path = ROOT / "template.yaml") -> dict[str, Any]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    doc = yaml_parse(path.read_text())
    for resource in doc.get("Resources", {}).values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = "s3://placeholder/code.zip"
    rendered: dict[str, Any] = transform(doc, {}, _NoManagedPolicies())
    return rendered


if __name__ == "__main__":
    json.dump(render(), sys.stdout, indent=1, default=str)
