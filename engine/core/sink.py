"""What the kernel reports, and to whom: the sink.

The kernel mutates trading state and then tells its sink, once per change, in the order the
changes happened. The live shell's sink journals, publishes and resolves callers' futures; the
backtester's records the run and calls the strategy; a test's keeps a list. Every method has a
do-nothing default, so a sink overrides only what it needs.
"""

from __future__ import annotations

from decimal import Decimal

from engine.messages import (
    OrderAccepted,
    OrderCancelled,
    OrderDenied,
    OrderFilled,
    OrderRejected,
    TradingStateChanged,
)
from engine.model.fill import Fill
from engine.model.market import MarketEvent
from engine.model.orders import Order
from engine.risk import TradingStateChange


class KernelSink:
    """Receives the kernel's changes (engine thread only). Override what you need."""

    def order_denied(self, order: Order | None, event: OrderDenied) -> None:
        """Refused by validation (``order`` is ``None``: it never got an id) or by risk."""

    def order_accepted(self, order: Order, event: OrderAccepted) -> None:
        """Passed the gate; about to be handed to the execution venue."""

    def order_rested(self, order: Order) -> None:
        """Reached the book and rests there."""

    def order_filled(self, order: Order, fill: Fill, event: OrderFilled) -> None:
        """A fill, already applied to the portfolio (the equity check comes after this)."""

    def order_closed(self, order: Order, event: OrderCancelled | OrderRejected) -> None:
        """Cancelled (by a caller, the venue or a kernel rule) or rejected by the venue."""

    def order_amended(self, order: Order, reason: str) -> None:
        """The kernel shrank an order's remainder (reduce-only after the position shrank)."""

    def market_events(self, events: list[MarketEvent]) -> None:
        """Market events our own trades caused (a venue whose liquidity we consume)."""

    def state_changed(self, change: TradingStateChange, event: TradingStateChanged) -> None:
        """The trading state moved (halt, lift, reset); ``event`` is what to publish."""

    def risk_day(self, day: str, start_of_day_equity: Decimal | None) -> None:
        """The trading day or its start-of-day equity changed: persist them."""
