"""Exact money arithmetic helpers: one quantum for internal cash so sums never drift."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal, InvalidOperation

# Internal precision of cash, fees, cost basis: 1e-10 quote units. Display rounds to cents.
MONEY_QUANTUM = Decimal("1e-10")
ZERO = Decimal(0)


def money(value: Decimal) -> Decimal:
    """Round a derived money amount (a division result) onto the internal quantum."""
    return value.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)


def fee_amount(notional: Decimal, rate: Decimal) -> Decimal:
    """Fees are rounded up onto the quantum: a paper account never pays less than the venue."""
    return (abs(notional) * rate).quantize(MONEY_QUANTUM, rounding=ROUND_UP)


def parse_decimal(value: object) -> Decimal | None:
    """Decimal from user or wire input; ``None`` for text that is not a finite number."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        return None
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip().replace("_", ""))
        except InvalidOperation:
            return None
    else:
        return None
    if not result.is_finite():
        return None
    return result
