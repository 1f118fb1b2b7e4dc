"""Orders and their state machine.

``Order`` is mutable and lives only on the engine thread; ``OrderView`` is its immutable copy for
events and snapshots. Every state change goes through ``Order.transition`` so an illegal jump
(a fill after a cancel, say) is a bug that shows, not a silent corruption.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is OrderSide.BUY else -1

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    GTC = "gtc"
    IOC = "ioc"


class OrderStatus(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    DENIED = "denied"

    @property
    def is_open(self) -> bool:
        return self in _OPEN

    @property
    def is_final(self) -> bool:
        return not self.is_open


_OPEN = frozenset({OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})

# new -> accepted -> partially filled -> filled / cancelled; new may also be denied (risk) or
# rejected (venue); an accepted order may be rejected late (post-only that would cross).
_ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset(
        {
            OrderStatus.ACCEPTED,
            OrderStatus.DENIED,
            OrderStatus.REJECTED,
            OrderStatus.CANCELLED,
        }
    ),
    OrderStatus.ACCEPTED: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELLED,
            OrderStatus.REJECTED,
        }
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED}
    ),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.DENIED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """An order was asked to move to a state its machine does not allow."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderView:
    """Immutable copy of an order, safe to hand to any thread."""

    order_id: str
    client_id: str | None
    symbol: str
    side: OrderSide
    type: OrderType
    qty: Decimal
    price: Decimal | None
    tif: TimeInForce
    post_only: bool
    reduce_only: bool
    status: OrderStatus
    filled_qty: Decimal
    avg_fill_price: Decimal | None
    fees: Decimal
    source: str
    reason: str
    ts_created: int
    ts_updated: int
    filled_notional: Decimal = Decimal(0)  # exact sum of fill notionals (avg price is rounded)

    @property
    def remaining_qty(self) -> Decimal:
        return self.qty - self.filled_qty

    @property
    def is_open(self) -> bool:
        return self.status.is_open


@dataclass(slots=True, kw_only=True)
class Order:
    """The engine's live order. ``filled_qty + remaining_qty == qty`` always holds."""

    order_id: str
    client_id: str | None
    symbol: str
    side: OrderSide
    type: OrderType
    qty: Decimal
    price: Decimal | None
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    source: str = "manual"
    status: OrderStatus = OrderStatus.NEW
    filled_qty: Decimal = field(default_factory=Decimal)
    filled_notional: Decimal = field(default_factory=Decimal)
    fees: Decimal = field(default_factory=Decimal)
    reason: str = ""
    ts_created: int = 0
    ts_updated: int = 0

    @property
    def remaining_qty(self) -> Decimal:
        return self.qty - self.filled_qty

    @property
    def avg_fill_price(self) -> Decimal | None:
        if not self.filled_qty:
            return None
        return (self.filled_notional / self.filled_qty).quantize(Decimal("1e-10"))

    def transition(self, status: OrderStatus, ts_ns: int, reason: str = "") -> None:
        if status not in _ALLOWED[self.status]:
            raise IllegalTransition(f"order {self.order_id}: {self.status} -> {status}")
        self.status = status
        self.ts_updated = ts_ns
        if reason:
            self.reason = reason

    def apply_fill(self, qty: Decimal, notional: Decimal, fee: Decimal, ts_ns: int) -> None:
        """Account a fill and move to partially filled / filled."""
        if qty <= 0 or qty > self.remaining_qty:
            raise IllegalTransition(
                f"order {self.order_id}: fill {qty} with {self.remaining_qty} remaining"
            )
        self.filled_qty += qty
        self.filled_notional += notional
        self.fees += fee
        done = self.filled_qty == self.qty
        self.transition(OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED, ts_ns)

    def view(self) -> OrderView:
        return OrderView(
            order_id=self.order_id,
            client_id=self.client_id,
            symbol=self.symbol,
            side=self.side,
            type=self.type,
            qty=self.qty,
            price=self.price,
            tif=self.tif,
            post_only=self.post_only,
            reduce_only=self.reduce_only,
            status=self.status,
            filled_qty=self.filled_qty,
            avg_fill_price=self.avg_fill_price,
            fees=self.fees,
            source=self.source,
            reason=self.reason,
            ts_created=self.ts_created,
            ts_updated=self.ts_updated,
            filled_notional=self.filled_notional,
        )
