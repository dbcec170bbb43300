"""The tool registry: schemas for the LLM, argument validation, errors as tool results."""

from __future__ import annotations

import pytest

from retryproof.dal.transfers import TransferStore
from retryproof.errors import InsufficientFunds, StorageUnavailable
from retryproof.models.transfers import AccountItem, LedgerItem
from retryproof.tools import GET_BALANCE, REGISTRY, TRANSFER_FUNDS, ToolContext, parse_arguments

pytestmark = pytest.mark.unit


class FakeStore:
    def __init__(self, error: Exception | None = None, existing: LedgerItem | None = None) -> None:
        self.error = error
        self.existing = existing
        self.applied: list[LedgerItem] = []

    def apply(self, entry: LedgerItem) -> LedgerItem | None:
        if self.error:
            raise self.error
        self.applied.append(entry)
        return self.existing

    def get(self, transfer_id: str) -> LedgerItem | None:
        return None


class FakeAccounts:
    def get(self, account_id: str) -> AccountItem | None:
        if account_id != "acc_1":
            return None
        return AccountItem(
            account_id="acc_1", tenant_id="acme", balance=70, opening_balance=70, currency="USD"
        )


def ctx(store: TransferStore) -> ToolContext:
    return ToolContext("acme", "run_1", "call_1", store, FakeAccounts())


ARGS = '{"fromAccountId": "a", "toAccountId": "b", "amount": 5, "currency": "USD"}'


def test_specs_are_openai_function_tools_with_camel_case_parameters() -> None:
    spec = TRANSFER_FUNDS.spec()
    assert spec["type"] == "function"
    assert spec["function"]["name"] == "transfer_funds"
    props = spec["function"]["parameters"]["properties"]
    assert set(props) == {"fromAccountId", "toAccountId", "amount", "currency"}
    assert props["amount"]["type"] == "integer"
    assert set(REGISTRY) == {"transfer_funds", "get_balance"}


def test_transfer_is_keyed_by_run_and_tool_call() -> None:
    store = FakeStore()
    out = TRANSFER_FUNDS.run(ARGS, ctx(store))
    assert out.result["status"] == "completed"
    assert out.replayed is False
    assert store.applied[0].idempotency_key == "agent:run_1:call_1"


def test_invalid_arguments_are_a_result_naming_the_fields() -> None:
    store = FakeStore()
    out = TRANSFER_FUNDS.run('{"amount": 1.5}', ctx(store))
    assert out.result["error"] == "invalid_arguments"
    fields = {d["field"] for d in out.result["details"]}
    assert {"fromAccountId", "toAccountId", "amount", "currency"} <= fields
    assert store.applied == []
    assert TRANSFER_FUNDS.run("not json", ctx(store)).result["error"] == "invalid_arguments"


def test_business_rejections_are_results_and_infrastructure_errors_raise() -> None:
    out = TRANSFER_FUNDS.run(ARGS, ctx(FakeStore(error=InsufficientFunds("low"))))
    assert out.result == {"error": "insufficient_funds", "detail": "low"}
    with pytest.raises(StorageUnavailable):
        TRANSFER_FUNDS.run(ARGS, ctx(FakeStore(error=StorageUnavailable("down"))))


def test_get_balance_only_sees_the_tenants_accounts() -> None:
    assert GET_BALANCE.run('{"accountId": "acc_1"}', ctx(FakeStore())).result == {
        "accountId": "acc_1",
        "balance": 70,
        "currency": "USD",
    }
    missing = GET_BALANCE.run('{"accountId": "acc_2"}', ctx(FakeStore())).result
    assert missing["error"] == "account_not_found"


def test_parse_arguments_keeps_invalid_json_as_text() -> None:
    assert parse_arguments('{"a": 1}') == {"a": 1}
    assert parse_arguments("{oops") == "{oops"


def test_arguments_nested_too_deep_are_invalid_not_a_crash() -> None:
    deep = "[" * 100_000
    out = TRANSFER_FUNDS.run(deep, ctx(FakeStore()))
    assert out.result == {
        "error": "invalid_arguments",
        "details": [{"field": "arguments", "message": "Invalid JSON"}],
    }
    assert parse_arguments(deep) == deep
