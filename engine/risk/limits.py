"""Risk limits: values, documented defaults, hard floors and ceilings, and validation.

The UI may move a limit anywhere between its floor and its ceiling, never past them: the ceilings
are the firm's policy, not the trader's preference. A change is validated whole; one bad field
refuses the whole update and leaves the limits untouched. Percentages are numbers of percent
(``2`` means 2%).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Final

from engine.messages import RISK_LIMIT_FIELDS


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskLimits:
    """The live limit set. Exact types only: ``Decimal`` for amounts, ``int`` for counts."""

    max_position_pct: Decimal = Decimal(50)
    """Notional of one symbol's position (at mid) as % of equity, worst case over open orders."""
    max_gross_exposure_pct: Decimal = Decimal(200)
    """Sum of |position notional| over all symbols as % of equity."""
    max_leverage: Decimal = Decimal(3)
    """Gross exposure / equity (a multiple, not a percentage)."""
    max_order_notional: Decimal = Decimal(25000)
    """Notional of one order in quote currency (limit price, or mid for a market order)."""
    max_daily_loss_pct: Decimal = Decimal(5)
    """Realised + unrealised loss since the trading day began, as % of start-of-day equity."""
    max_open_orders: int = 50
    """Open orders across all symbols."""
    max_orders_per_second: int = 10
    """Accepted orders in any sliding 1 s window."""
    price_band_pct: Decimal = Decimal(5)
    """A limit price further than this % from mid is refused as a fat finger."""
    stale_after_s: Decimal = Decimal(5)
    """Seconds without a book update after which risk-increasing orders are refused."""

    def as_dict(self) -> dict[str, Decimal | int]:
        return {name: getattr(self, name) for name in RISK_LIMIT_FIELDS}

    def to_strings(self) -> dict[str, str]:
        """Exact text form for storage; ``from_strings`` gives back an equal object."""
        return {name: str(getattr(self, name)) for name in RISK_LIMIT_FIELDS}

    @classmethod
    def from_strings(cls, values: Mapping[str, str]) -> RiskLimits:
        """Parse the stored text form. Missing fields take their default (a limit added in a
        later version); unknown ones are ignored (a limit since removed); an invalid value raises
        ``ValueError`` with the reason, so a corrupt store fails loudly rather than loosening."""
        known = {k: v for k, v in values.items() if k in _TYPES}
        result = validate_changes(DEFAULT_LIMITS, known)
        if isinstance(result, LimitError):
            raise ValueError(f"stored risk limits are invalid: {result.reason}")
        return result


@dataclass(frozen=True, slots=True)
class LimitError:
    """Why a limit change was refused; ``value`` is the offending input as text."""

    field: str
    value: str
    reason: str


DEFAULT_LIMITS: Final = RiskLimits()
DEFAULTS: Final[Mapping[str, Decimal | int]] = DEFAULT_LIMITS.as_dict()

# Hard ceilings: a 5x account (leverage) bounds the exposure percentages as well.
CEILINGS: Final[Mapping[str, Decimal | int]] = {
    "max_position_pct": Decimal(500),
    "max_gross_exposure_pct": Decimal(500),
    "max_leverage": Decimal(5),
    "max_order_notional": Decimal(1_000_000),
    "max_daily_loss_pct": Decimal(50),
    "max_open_orders": 500,
    "max_orders_per_second": 50,
    "price_band_pct": Decimal(50),
    "stale_after_s": Decimal(300),
}

# Smallest accepted values (inclusive). Zero is meaningless for every limit here: "no exposure"
# or "no orders" is what the REDUCING/HALTED states are for, and a zero band, staleness or daily
# loss would refuse or halt everything at once.
FLOORS: Final[Mapping[str, Decimal | int]] = {
    "max_position_pct": Decimal("0.01"),
    "max_gross_exposure_pct": Decimal("0.01"),
    "max_leverage": Decimal("0.01"),
    "max_order_notional": Decimal(1),
    "max_daily_loss_pct": Decimal("0.01"),
    "max_open_orders": 1,
    "max_orders_per_second": 1,
    "price_band_pct": Decimal("0.01"),
    "stale_after_s": Decimal("0.1"),
}

_TYPES: Final[Mapping[str, type]] = {
    f.name: int if f.type == "int" else Decimal for f in fields(RiskLimits)
}


def _describe(value: object) -> str:
    return (
        value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    )


def _parse(name: str, value: object) -> Decimal | int | LimitError:
    """One field's input to its exact type, or the reason it cannot be."""
    text = _describe(value)
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return LimitError(name, text, f"{name} must be a number, got {type(value).__name__}")
    if _TYPES[name] is int and isinstance(value, float):
        return LimitError(name, text, f"{name} must be a whole number, got {text}")
    if isinstance(value, float):
        value = repr(value)  # shortest text form: 0.1 stays 0.1, not its binary expansion
    try:
        number = (
            value
            if isinstance(value, Decimal)
            else Decimal(value.strip().replace("_", "") if isinstance(value, str) else value)
        )
    except (InvalidOperation, ValueError):
        return LimitError(name, text, f"{name} {text!r} is not a number")
    if not number.is_finite():
        return LimitError(name, text, f"{name} {text} is not a finite number")
    if _TYPES[name] is int:
        if number != number.to_integral_value():
            return LimitError(name, text, f"{name} must be a whole number, got {text}")
        return int(number)
    return number


def _check_range(name: str, number: Decimal | int, text: str) -> LimitError | None:
    if number < 0:
        return LimitError(name, text, f"{name} {text} must not be negative")
    if number == 0:
        return LimitError(name, text, f"{name} must be greater than zero")
    if number < FLOORS[name]:
        return LimitError(name, text, f"{name} {text} is below the minimum of {FLOORS[name]}")
    if number > CEILINGS[name]:
        return LimitError(
            name, text, f"{name} {text} is above the hard ceiling of {CEILINGS[name]}"
        )
    return None


def validate_changes(current: RiskLimits, changes: Mapping[str, object]) -> RiskLimits | LimitError:
    """Apply ``changes`` to ``current`` if every one is valid; otherwise the first error.

    Accepts numbers or text (the UI sends either). Refused: unknown fields, booleans, non-numeric
    text, NaN/inf, fractions for whole-number limits (and any float there: a float count is a
    bug upstream), negatives, zero, values under the floor or over the hard ceiling.
    """
    parsed: dict[str, Decimal | int] = {}
    for name, value in changes.items():
        if name not in _TYPES:
            return LimitError(name, _describe(value), f"unknown risk limit {name!r}")
        number = _parse(name, value)
        if isinstance(number, LimitError):
            return number
        error = _check_range(name, number, _describe(value).strip())
        if error is not None:
            return error
        parsed[name] = number
    if not parsed:
        return current
    return replace(current, **parsed)  # type: ignore[arg-type]
