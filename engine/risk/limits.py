"""Risk limits: the catalogue (each limit described once), the live values, and validation.

``LIMIT_SPECS`` gives every limit's name, label in words, type, unit, default, floor, hard ceiling
and help text; ``DEFAULTS``, ``FLOORS``, ``CEILINGS`` and the defaults of ``RiskLimits`` are read
from it. The UI may move a limit anywhere between its floor and its ceiling, never past them: the
ceilings are the firm's policy, not the trader's preference. A change is validated whole; one
bad field refuses the whole update and leaves the limits untouched. Percentages are numbers of
percent (``2`` means 2%). Every input is bounded: whatever is sent (``"1e999999"``, a list, NaN,
a numpy scalar), the answer takes microseconds and names the limit in words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Final

from engine.messages import RISK_LIMIT_FIELDS
from engine.model.money import BadNumber, describe, parse_number


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """One risk limit, described once.

    ``label`` names it in words in every refusal; ``unit`` is appended to values in reasons
    (``"%"``, ``"x"``, ``" USDT"``...). ``floor`` and ``ceiling`` are inclusive.
    """

    name: str
    label: str
    type: type[Decimal] | type[int]
    unit: str
    default: Decimal | int
    floor: Decimal | int
    ceiling: Decimal | int
    help: str

    @property
    def whole(self) -> bool:
        """A count: only whole numbers are accepted."""
        return self.type is int

    def with_unit(self, value: object) -> str:
        return f"{value}{self.unit}"


# Hard ceilings: a 5x account (leverage) bounds the exposure percentages as well. Floors: zero is
# meaningless for every limit here: "no exposure" or "no orders" is what the REDUCING/HALTED
# states are for, and a zero band, staleness or daily loss would refuse or halt everything at once.
LIMIT_SPECS: Final[tuple[LimitSpec, ...]] = (
    LimitSpec(
        "max_position_pct",
        "Max position",
        Decimal,
        "%",
        Decimal(50),
        Decimal("0.01"),
        Decimal(500),
        "Notional of one symbol's position (at mid) as % of equity, worst case over open orders",
    ),
    LimitSpec(
        "max_gross_exposure_pct",
        "Max gross exposure",
        Decimal,
        "%",
        Decimal(200),
        Decimal("0.01"),
        Decimal(500),
        "Sum of |position notional| over all symbols as % of equity",
    ),
    LimitSpec(
        "max_leverage",
        "Max leverage",
        Decimal,
        "x",
        Decimal(3),
        Decimal("0.01"),
        Decimal(5),
        "Gross exposure / equity (a multiple, not a percentage)",
    ),
    LimitSpec(
        "max_order_notional",
        "Max order notional",
        Decimal,
        " USDT",
        Decimal(25000),
        Decimal(1),
        Decimal(1_000_000),
        "Notional of one order in quote currency (limit price, or mid for a market order)",
    ),
    LimitSpec(
        "max_daily_loss_pct",
        "Max daily loss",
        Decimal,
        "%",
        Decimal(5),
        Decimal("0.01"),
        Decimal(50),
        "Realised + unrealised loss since the trading day began, as % of start-of-day equity",
    ),
    LimitSpec(
        "max_open_orders",
        "Max open orders",
        int,
        " orders",
        50,
        1,
        500,
        "Open orders across all symbols",
    ),
    LimitSpec(
        "max_orders_per_second",
        "Max order rate",
        int,
        " orders/s",
        10,
        1,
        50,
        "Accepted orders in any sliding 1 s window",
    ),
    LimitSpec(
        "price_band_pct",
        "Price band",
        Decimal,
        "%",
        Decimal(5),
        Decimal("0.01"),
        Decimal(50),
        "A limit price further than this % from mid is refused as a fat finger",
    ),
    LimitSpec(
        "stale_after_s",
        "Stale book after",
        Decimal,
        " s",
        Decimal(5),
        Decimal("0.1"),
        Decimal(300),
        "Seconds without a book update after which risk-increasing orders are refused",
    ),
)
SPECS: Final[Mapping[str, LimitSpec]] = {s.name: s for s in LIMIT_SPECS}
if tuple(SPECS) != RISK_LIMIT_FIELDS:  # pragma: no cover - import-time consistency check
    raise RuntimeError("LIMIT_SPECS out of step with RISK_LIMIT_FIELDS")


_DECIMAL_DEFAULTS: Final[Mapping[str, Decimal]] = {
    s.name: s.default for s in LIMIT_SPECS if isinstance(s.default, Decimal)
}
_INT_DEFAULTS: Final[Mapping[str, int]] = {
    s.name: s.default for s in LIMIT_SPECS if isinstance(s.default, int)
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskLimits:
    """The live limit set. Exact types only: ``Decimal`` for amounts, ``int`` for counts.
    What each limit means, its unit, floor and ceiling: ``LIMIT_SPECS``."""

    max_position_pct: Decimal = _DECIMAL_DEFAULTS["max_position_pct"]
    max_gross_exposure_pct: Decimal = _DECIMAL_DEFAULTS["max_gross_exposure_pct"]
    max_leverage: Decimal = _DECIMAL_DEFAULTS["max_leverage"]
    max_order_notional: Decimal = _DECIMAL_DEFAULTS["max_order_notional"]
    max_daily_loss_pct: Decimal = _DECIMAL_DEFAULTS["max_daily_loss_pct"]
    max_open_orders: int = _INT_DEFAULTS["max_open_orders"]
    max_orders_per_second: int = _INT_DEFAULTS["max_orders_per_second"]
    price_band_pct: Decimal = _DECIMAL_DEFAULTS["price_band_pct"]
    stale_after_s: Decimal = _DECIMAL_DEFAULTS["stale_after_s"]

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
        known = {k: v for k, v in values.items() if k in SPECS}
        result = validate_changes(DEFAULT_LIMITS, known)
        if isinstance(result, LimitError):
            raise ValueError(f"stored risk limits are invalid: {result.reason}")
        return result


@dataclass(frozen=True, slots=True)
class LimitError:
    """Why a limit change was refused; ``value`` is the offending input as (short) text."""

    field: str
    value: str
    reason: str


DEFAULT_LIMITS: Final = RiskLimits()
DEFAULTS: Final[Mapping[str, Decimal | int]] = DEFAULT_LIMITS.as_dict()
CEILINGS: Final[Mapping[str, Decimal | int]] = {s.name: s.ceiling for s in LIMIT_SPECS}
FLOORS: Final[Mapping[str, Decimal | int]] = {s.name: s.floor for s in LIMIT_SPECS}


def _subject(spec: LimitSpec) -> str:
    """How a reason names a limit: in words, then the field name the API and the store use."""
    return f"{spec.label} ({spec.name})"


def _parse(spec: LimitSpec, value: object) -> Decimal | int | LimitError:
    """One field's input to its exact type, or the reason it cannot be. Bounded: the number is
    read by ``parse_number`` (exponent and digit count first), so ``"1e999999"`` is refused
    as above the ceiling without ever reaching ``int()``."""
    subject = _subject(spec)
    if spec.whole and isinstance(value, float):  # a float count is a bug upstream, even 2.0
        text = describe(value)
        return LimitError(spec.name, text, f"{subject} must be a whole number, got {text}")
    number = parse_number(value, whole=spec.whole)
    if isinstance(number, BadNumber):
        return LimitError(spec.name, number.shown, _refusal(spec, number))
    return int(number) if spec.whole else number  # whole and below 1e30: a cheap int()


def _refusal(spec: LimitSpec, bad: BadNumber) -> str:
    """A parser refusal in the limit's own terms: a huge number is above its ceiling."""
    subject, shown = _subject(spec), bad.shown
    if bad.kind in ("too_large", "too_small", "digits") and bad.negative:
        return f"{subject} {shown} must not be negative"
    if bad.kind == "too_large":
        ceiling = spec.with_unit(spec.ceiling)
        return f"{subject} {shown} is above the hard ceiling of {ceiling}"
    if bad.kind == "too_small":
        return f"{subject} {shown} is below the minimum of {spec.with_unit(spec.floor)}"
    return f"{subject} {bad.why}"


def _check_range(spec: LimitSpec, number: Decimal | int, text: str) -> LimitError | None:
    name, subject = spec.name, _subject(spec)
    if number < 0:
        return LimitError(name, text, f"{subject} {text} must not be negative")
    if number == 0:
        return LimitError(name, text, f"{subject} must be greater than zero")
    if number < spec.floor:
        floor = spec.with_unit(spec.floor)
        return LimitError(name, text, f"{subject} {text} is below the minimum of {floor}")
    if number > spec.ceiling:
        ceiling = spec.with_unit(spec.ceiling)
        return LimitError(name, text, f"{subject} {text} is above the hard ceiling of {ceiling}")
    return None


def validate_changes(current: RiskLimits, changes: Mapping[str, object]) -> RiskLimits | LimitError:
    """Apply ``changes`` to ``current`` if every one is valid; otherwise the first error.

    Accepts numbers or text (the UI sends either) and numpy scalars. Refused, with the limit
    named in words: unknown fields, booleans, non-numbers (lists, dicts, None...), text over
    100 characters, NaN/inf, sizes past ``1e30`` or under ``1e-30``, fractions for whole-number
    limits (and any float there: a float count is a bug upstream), negatives, zero, values under
    the floor or over the hard ceiling. Every answer takes microseconds, whatever the input.
    """
    parsed: dict[str, Decimal | int] = {}
    for name, value in changes.items():
        spec = SPECS.get(name) if isinstance(name, str) else None
        if spec is None:
            shown = describe(name)
            return LimitError(shown, describe(value), f"unknown risk limit {shown!r}")
        number = _parse(spec, value)
        if isinstance(number, LimitError):
            return number
        error = _check_range(spec, number, describe(value).strip())
        if error is not None:
            return error
        parsed[name] = number
    if not parsed:
        return current
    return replace(current, **parsed)  # type: ignore[arg-type]
