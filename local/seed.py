"""Load the seed file (tenants, API keys, webhook secrets, accounts) into the local tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SeedAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    balance: int = Field(ge=0, strict=True)
    currency: str = Field(pattern="^[A-Z]{3}$")


class SeedTenant(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str = Field(pattern="^[a-z0-9][a-z0-9_-]{0,62}$")
    api_key: str = Field(alias="apiKey", min_length=16)
    webhook_secret: str | None = Field(default=None, alias="webhookSecret")
    accounts: list[SeedAccount] = Field(default_factory=list)


class Seed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenants: list[SeedTenant]


def read_seed(path: Path) -> Seed:
    return Seed.model_validate(json.loads(path.read_text()))


def load_seed(seed: Seed, tables: dict[str, str], dynamodb: Any) -> None:
    """Write the seed's API keys (hashed), webhook secrets and accounts into their tables."""
    from retryproof.dal.accounts import DynamoAccountRepository
    from retryproof.dal.api_keys import DynamoApiKeyRepository
    from retryproof.dal.webhook_secrets import DynamoWebhookSecretRepository
    from retryproof.models.transfers import AccountItem

    keys = DynamoApiKeyRepository(dynamodb, tables["ApiKeysTable"])
    accounts = DynamoAccountRepository(dynamodb, tables["AccountsTable"])
    webhook_secrets = DynamoWebhookSecretRepository(dynamodb, tables["WebhookSecretsTable"])
    for tenant in seed.tenants:
        keys.create(tenant.id, tenant.api_key)
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
