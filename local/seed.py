"""Load the seed file (tenants, API keys, webhook secrets, accounts) into the local tables."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SeedAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    balance: int = Field(ge=0, strict=True)
    currency: str = Field(pattern="^[A-Z]{3}$")


class SeedApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    key: str = Field(min_length=16)
    scopes: list[str] | None = None  # None: every scope
    expires_at: int | None = Field(default=None, alias="expiresAt")  # epoch seconds


class SeedTenant(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str = Field(pattern="^[a-z0-9][a-z0-9_-]{0,62}$")
    api_key: str = Field(alias="apiKey", min_length=16)
    webhook_secret: str | None = Field(default=None, alias="webhookSecret")
    accounts: list[SeedAccount] = Field(default_factory=list)
    # More keys for the tenant, e.g. a read-only one (docs/security-keys.md).
    api_keys: list[SeedApiKey] = Field(default_factory=list, alias="apiKeys")

    @field_validator("webhook_secret")
    @classmethod
    def _a_usable_secret(cls, value: str | None) -> str | None:
        from local.lambda_runtime import add_layer_to_path

        add_layer_to_path()  # the seed is read before the stack starts
        from retryproof.signatures import secret_key

        if value is not None:
            secret_key(value)  # whsec_ + base64 of 24 bytes or more (ValueError: a clear message)
        return value


class Seed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenants: list[SeedTenant]


def read_seed(path: Path) -> Seed:
    return Seed.model_validate(json.loads(path.read_text()))


def load_seed(
    seed: Seed,
    tables: dict[str, str],
    dynamodb: Any,
    secretsmanager: Any = None,
    webhook_secret_prefix: str | None = None,
) -> None:
    """Write the seed's API keys (hashed) and accounts into their tables, and its webhook secrets
    into Secrets Manager (named with the functions' `WEBHOOK_SECRET_PREFIX`)."""
    import boto3

    from retryproof.dal.accounts import DynamoAccountRepository
    from retryproof.dal.api_keys import DynamoApiKeyRepository
    from retryproof.dal.webhook_secrets import SecretsManagerWebhookSecretRepository
    from retryproof.models.transfers import AccountItem

    keys = DynamoApiKeyRepository(dynamodb, tables["ApiKeysTable"])
    accounts = DynamoAccountRepository(dynamodb, tables["AccountsTable"])
    webhook_secrets = SecretsManagerWebhookSecretRepository(
        secretsmanager or boto3.Session().client("secretsmanager"),
        webhook_secret_prefix or os.environ["WEBHOOK_SECRET_PREFIX"],
    )
    for tenant in seed.tenants:
        keys.create(tenant.id, tenant.api_key)
        for extra in tenant.api_keys:
            keys.create(tenant.id, extra.key, scopes=extra.scopes, expires_at=extra.expires_at)
        if tenant.webhook_secret:
            webhook_secrets.put(tenant.id, tenant.webhook_secret)
        for account in tenant.accounts:
            accounts.put(
                AccountItem(
                    account_id=account.id,
                    tenant_id=tenant.id,
                    balance=account.balance,
                    opening_balance=account.balance,
                    currency=account.currency,
                )
            )
