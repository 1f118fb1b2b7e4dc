"""Commands (imperative) into the engine and events (past tense) out of it. All immutable.

A refused order is an ``OrderDenied`` event carrying the limit, the value and the reason in words:
callers never need ``try``/``except`` to learn that the engine said no.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine.model.fill import Fill
from engine.model.money import describe, shorten
from engine.model.orders import OrderView

MAX_NAME_CHARS = 64
"""Longest symbol, name, id or actor a command keeps as given; longer text is cut (it can match
nothing real) and anything that is not text becomes a short description of it, so a list or a
megabyte never reaches a dict lookup, a reason or the audit table."""


def _name(value: object) -> str:
    """An identity field (symbol, strategy name, order id, actor) as bounded text."""
    if isinstance(value, str):
        return value if len(value) <= MAX_NAME_CHARS else shorten(value, MAX_NAME_CHARS)
    return describe(value)


def _bound_names(cmd: object, *names: str) -> None:
    """Coerce the named fields of a frozen command in place (``__post_init__`` only)."""
    for name in names:
        value = getattr(cmd, name)
        if not isinstance(value, str) or len(value) > MAX_NAME_CHARS:
            object.__setattr__(cmd, name, _name(value))


# ---------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitOrder:
    """Send an order. Fields are validated by the engine, so bad values become ``OrderDenied``.

    ``side`` is ``"buy"``/``"sell"``, ``type`` ``"market"``/``"limit"``; ``qty`` and ``price`` are
    ``Decimal`` (text, ints, floats and numpy scalars are accepted and parsed; anything else, a
    bool, NaN/inf or a number of absurd size is denied with a reason, in microseconds).
    ``post_only``/``reduce_only`` must be booleans; ``client_id`` and ``source`` short text.
    """

    symbol: str
    side: str
    type: str
    qty: Any
    price: Any = None
    tif: str = "gtc"
    post_only: bool = False
    reduce_only: bool = False
    client_id: str | None = None
    source: str = "manual"

    def __post_init__(self) -> None:
        _bound_names(self, "symbol")  # the other fields are checked by validation, with reasons


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOrder:
    order_id: str

    def __post_init__(self) -> None:
        _bound_names(self, "order_id")


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelAll:
    """Cancel every open order, or only those of ``symbol``."""

    symbol: str | None = None

    def __post_init__(self) -> None:
        if self.symbol is not None:
            _bound_names(self, "symbol")


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateRiskLimits:
    """Change risk limits; fields left ``None`` keep their value. Percentages are in percent.
    Values may be numbers, text or numpy scalars; anything else (or out of range) is refused
    whole as ``RiskLimitsRejected`` with the limit named in words."""

    max_position_pct: Any = None
    max_gross_exposure_pct: Any = None
    max_leverage: Any = None
    max_order_notional: Any = None
    max_daily_loss_pct: Any = None
    max_open_orders: Any = None
    max_orders_per_second: Any = None
    price_band_pct: Any = None
    stale_after_s: Any = None
    actor: str = "user"

    def __post_init__(self) -> None:
        _bound_names(self, "actor")  # limit values are validated by the engine, with reasons

    def changes(self) -> dict[str, Any]:
        return {
            name: getattr(self, name)
            for name in RISK_LIMIT_FIELDS
            if getattr(self, name) is not None
        }


RISK_LIMIT_FIELDS: tuple[str, ...] = (
    "max_position_pct",
    "max_gross_exposure_pct",
    "max_leverage",
    "max_order_notional",
    "max_daily_loss_pct",
    "max_open_orders",
    "max_orders_per_second",
    "price_band_pct",
    "stale_after_s",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PanicClose:
    """Halt, cancel everything, flatten every position. Always allowed; takes the priority lane."""

    actor: str = "user"

    def __post_init__(self) -> None:
        _bound_names(self, "actor")


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetHalt:
    """Lift a HALTED state. Refused (``HaltResetRefused``) unless ``confirm is True`` exactly:
    ``"false"``, ``"yes"``, ``1`` or ``[0]`` do not count; audited."""

    confirm: bool = False
    actor: str = "user"

    def __post_init__(self) -> None:
        _bound_names(self, "actor")  # ``confirm`` stays as given: only ``True`` itself resets


@dataclass(frozen=True, slots=True, kw_only=True)
class SetFeedPaused:
    """Pause or resume the market data feed (a drill for outages: panic must still work)."""

    paused: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class StartStrategy:
    """Run the registered strategy ``name`` on ``symbol`` inside the engine (paper orders go
    through the same risk gate and broker as manual ones). ``params`` are text, as from a form
    (numbers are accepted too); a bad value is refused as ``StrategyRejected`` with the reason."""

    name: str
    symbol: str
    params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _bound_names(self, "name", "symbol")  # params are checked by the engine, with reasons


@dataclass(frozen=True, slots=True, kw_only=True)
class StopStrategy:
    """Stop a running strategy by its id (``StrategyStarted.strategy_id``) or by its name."""

    name_or_id: str

    def __post_init__(self) -> None:
        _bound_names(self, "name_or_id")


Command = (
    SetFeedPaused
    | StartStrategy
    | StopStrategy
    | SubmitOrder
    | CancelOrder
    | CancelAll
    | UpdateRiskLimits
    | PanicClose
    | ResetHalt
)

# ---------------------------------------------------------------- events


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderAccepted:
    order: OrderView
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderDenied:
    """The engine refused the order before it reached a venue (validation or risk)."""

    order_id: str
    client_id: str | None
    symbol: str
    reason: str
    limit: str | None = None
    value: str | None = None
    command: SubmitOrder | None = None
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRejected:
    """The venue (or paper broker) refused an order the engine had accepted."""

    order: OrderView
    reason: str
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFilled:
    order: OrderView
    fill: Fill
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelled:
    order: OrderView
    reason: str
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelRejected:
    order_id: str
    reason: str
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AllCancelled:
    order_ids: tuple[str, ...]
    symbol: str | None
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskLimitsChanged:
    old: Mapping[str, Decimal | int]
    new: Mapping[str, Decimal | int]
    actor: str
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskLimitsRejected:
    """An ``UpdateRiskLimits`` was refused whole; nothing changed."""

    reason: str
    field: str | None
    value: str | None
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TradingStateChanged:
    state: str
    reason: str
    ts_ns: int
    # resting orders that would have added risk, cancelled by this halt (0 for other changes)
    orders_cancelled: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class HaltResetRefused:
    reason: str
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PanicCompleted:
    """What a panic close did: how many orders and positions, at what cost, in how long."""

    flat: bool
    orders_cancelled: int
    positions_closed: int
    realised_pnl: Decimal
    slippage: Decimal
    fees: Decimal
    attempts: int
    duration_ms: float
    remaining: Mapping[str, Decimal] = field(default_factory=dict)
    log: tuple[str, ...] = ()
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineFailed:
    """Something went wrong inside the engine that a person should see (storage, venue)."""

    where: str
    message: str
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyStarted:
    strategy_id: str
    name: str
    symbol: str
    params: Mapping[str, str]
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyStopped:
    strategy_id: str
    name: str
    reason: str
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyRejected:
    """A ``StartStrategy``/``StopStrategy`` that could not be done, and why."""

    name: str
    reason: str
    ts_ns: int


Event = (
    OrderAccepted
    | OrderDenied
    | OrderRejected
    | OrderFilled
    | OrderCancelled
    | CancelRejected
    | AllCancelled
    | RiskLimitsChanged
    | RiskLimitsRejected
    | TradingStateChanged
    | HaltResetRefused
    | PanicCompleted
    | EngineFailed
    | StrategyStarted
    | StrategyStopped
    | StrategyRejected
)
