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
from engine.model.orders import OrderView

# ---------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitOrder:
    """Send an order. Fields are validated by the engine, so bad values become ``OrderDenied``.

    ``side`` is ``"buy"``/``"sell"``, ``type`` ``"market"``/``"limit"``; ``qty`` and ``price`` are
    ``Decimal`` (text is accepted and parsed; anything non-numeric is denied with a reason).
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


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOrder:
    order_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelAll:
    """Cancel every open order, or only those of ``symbol``."""

    symbol: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateRiskLimits:
    """Change risk limits; fields left ``None`` keep their value. Percentages are in percent."""

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


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetHalt:
    """Lift a HALTED state. Refused unless ``confirm`` is true; audited."""

    confirm: bool = False
    actor: str = "user"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetFeedPaused:
    """Pause or resume the market data feed (a drill for outages: panic must still work)."""

    paused: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class StartStrategy:
    """Run the registered strategy ``name`` on ``symbol`` inside the engine (paper orders go
    through the same risk gate and broker as manual ones). ``params`` are text, as from a form."""

    name: str
    symbol: str
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class StopStrategy:
    """Stop a running strategy by its id (``StrategyStarted.strategy_id``) or by its name."""

    name_or_id: str


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
