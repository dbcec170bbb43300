"""Tenant ids: what may name a tenant, so that no tenant's keys can meet the service's own.

Tables partition by tenant id, and the service keeps items of its own beside the tenants' under
ids with a `#` (the usage table's running totals `TOTAL#<tenant>` and markers
`COUNTED#<tenant>`); ids are also joined with newlines into transfer and run ids. A tenant id is
therefore 1-128 characters of letters, digits and `.`, `_`, `:`, `@`, `-`, starting with a
letter or a digit: never a `#`, a space or a newline, so its keys and the service's are disjoint.
API keys are created only for such ids and the authorizer refuses a key whose tenant id is not
one (a key written by hand into the table, or before this rule).
"""

from __future__ import annotations

import re

TENANT_ID_RULE = (
    "a tenant id is 1-128 characters of letters, digits and . _ : @ -, "
    "starting with a letter or a digit"
)
_TENANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")


def valid_tenant_id(tenant_id: object) -> bool:
    return isinstance(tenant_id, str) and _TENANT_ID.fullmatch(tenant_id) is not None


def check_tenant_id(tenant_id: str) -> str:
    """The id, or ValueError naming the rule (never stored)."""
    if not valid_tenant_id(tenant_id):
        raise ValueError(f"invalid tenant id: {TENANT_ID_RULE}")
    return tenant_id
