"""The API key item: a plain dataclass, so the authorizer imports no pydantic (cold start)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True, kw_only=True)
class ApiKeyItem:
    """An API key, stored by its SHA-256 hash only."""

    key_hash: str
    tenant_id: str
    status: Literal["active", "revoked"]
    created_at: str

    def to_item(self) -> dict[str, Any]:
        return {
            "keyHash": {"S": self.key_hash},
            "tenantId": {"S": self.tenant_id},
            "status": {"S": self.status},
            "createdAt": {"S": self.created_at},
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ApiKeyItem:
        status = item["status"]["S"]
        return cls(
            key_hash=item["keyHash"]["S"],
            tenant_id=item["tenantId"]["S"],
            status="active" if status == "active" else "revoked",
            created_at=item["createdAt"]["S"],
        )
