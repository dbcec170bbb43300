"""The API key item: a plain dataclass, so the authorizer imports no pydantic (cold start)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# What a key may do (docs/security-keys.md): `read` every GET route, `generate` POST /generate
# (LLM spend), `money` the routes that move money (transfers, agent runs and their decisions).
SCOPES: tuple[str, ...] = ("read", "generate", "money")
KEY_ID_PREFIX = "key_"


def key_id_for(key_hash: str) -> str:
    """A key's public id: a prefix of its SHA-256 (names it in logs and tools; not a secret)."""
    return KEY_ID_PREFIX + key_hash[:24]


def check_scopes(scopes: list[str] | tuple[str, ...] | frozenset[str]) -> tuple[str, ...]:
    """The scopes in their canonical order; `ValueError` for an unknown one or none."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"scopes are one or more of {', '.join(SCOPES)}; got {sorted(scopes)}")
    return tuple(s for s in SCOPES if s in scopes)


@dataclass(frozen=True, kw_only=True)
class ApiKeyItem:
    """An API key, stored by its SHA-256 hash only.

    A key stored before scopes existed (no `scopes` attribute) has every scope. `expires_at`
    (epoch seconds) is optional: None never expires.
    """

    key_hash: str
    tenant_id: str
    status: Literal["active", "revoked"]
    created_at: str
    scopes: tuple[str, ...] = SCOPES
    expires_at: int | None = None

    @property
    def key_id(self) -> str:
        return key_id_for(self.key_hash)

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "keyHash": {"S": self.key_hash},
            "keyId": {"S": self.key_id},
            "tenantId": {"S": self.tenant_id},
            "status": {"S": self.status},
            "createdAt": {"S": self.created_at},
            "scopes": {"SS": list(self.scopes)},
        }
        if self.expires_at is not None:
            item["expiresAt"] = {"N": str(self.expires_at)}
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ApiKeyItem:
        status = item["status"]["S"]
        stored = item.get("scopes", {}).get("SS")
        expires = item.get("expiresAt", {}).get("N")
        return cls(
            key_hash=item["keyHash"]["S"],
            tenant_id=item["tenantId"]["S"],
            status="active" if status == "active" else "revoked",
            created_at=item["createdAt"]["S"],
            # Unknown stored scopes are dropped, never widened.
            scopes=SCOPES if stored is None else tuple(s for s in SCOPES if s in stored),
            expires_at=int(expires) if expires is not None else None,
        )
