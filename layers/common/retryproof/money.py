"""Costs: integer micro-USD from token counts, and their decimal-string form on the wire."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retryproof.config import ModelPrice

MICRO = Decimal(1_000_000)


def cost_micro_usd(price: ModelPrice, prompt_tokens: int, completion_tokens: int) -> int:
    """Cost in integer micro-USD (USD per 1M tokens x tokens = micro-USD), rounded half up."""
    cost = price.input * prompt_tokens + price.output * completion_tokens
    return int(cost.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_usd(micro_usd: int) -> str:
    """Micro-USD as a decimal string with 6 places: 150 -> "0.000150"."""
    return str((Decimal(micro_usd) / MICRO).quantize(Decimal("0.000001")))
