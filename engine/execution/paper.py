"""The paper broker as an execution venue over any market-data source.

Same matching as everywhere (``engine.matching.PaperBroker``) against the source's own books;
what this adds is the venue's side of the lifecycle: an order is SUBMITTED when sent, ACCEPTED
(or REJECTED) one loop turn later, as an exchange acknowledges it; a cancel is PENDING_CANCEL
until confirmed; fills arrive as reports; ``reconcile`` lists what is open and held. The
synchronous kernel keeps using the broker directly for the backtester's speed; the live shell
can drive this instead when it talks to venues through the seam.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from engine.book import OrderBook
from engine.execution.venue import (
    ExecutionReportSink,
    FillReport,
    OrderReport,
    ReconciliationReport,
    VenueOrderState,
)
from engine.matching import (
    BrokerCancelled,
    BrokerConfig,
    BrokerFill,
    BrokerRejected,
    BrokerRested,
    BrokerResult,
    PaperBroker,
)
from engine.model.market import MarketEvent
from engine.model.money import ZERO
from engine.model.orders import Order


class PaperExecutionVenue:
    """``ExecutionVenue`` over ``books`` (those of a ``MarketDataSource``)."""

    name = "paper"

    def __init__(
        self,
        books: Mapping[str, OrderBook],
        config: BrokerConfig,
        sink: ExecutionReportSink,
        *,
        clock: Callable[[], int] = time.time_ns,
        next_fill_id: Callable[[], str] | None = None,
    ) -> None:
        self._seq = 0
        self._broker = PaperBroker(books, config, next_fill_id or self._fill_id)
        self._sink = sink
        self._clock = clock
        self._states: dict[str, VenueOrderState] = {}
        self._orders: dict[str, Order] = {}
        self._positions: dict[str, Decimal] = {}

    def _fill_id(self) -> str:
        self._seq += 1
        return f"PF-{self._seq:06d}"

    # ------------------------------------------------------------------ ExecutionVenue

    async def submit(self, order: Order) -> None:
        cid = order.order_id
        if cid in self._states:
            raise ValueError(f"client order id {cid} was already used")
        self._orders[cid] = order
        self._report(order, VenueOrderState.SUBMITTED, "")
        await asyncio.sleep(0)  # the acknowledgement comes back later, not in the call
        if self._states.get(cid) is not VenueOrderState.SUBMITTED:
            return
        result = self._broker.submit(order, self._clock())
        rejected = any(isinstance(e, BrokerRejected) and e.order is order for e in result.events)
        if not rejected:
            self._report(order, VenueOrderState.ACCEPTED, "")
        self._apply(result)

    async def cancel(self, client_order_id: str) -> None:
        order = self._orders.get(client_order_id)
        state = self._states.get(client_order_id)
        if order is None or state is None or state.is_final:
            return
        self._report(order, VenueOrderState.PENDING_CANCEL, "")
        await asyncio.sleep(0)
        if self._broker.cancel(client_order_id, self._clock()) is not None:
            self._report(order, VenueOrderState.CANCELLED, "cancelled")

    async def reconcile(self) -> ReconciliationReport:
        now = self._clock()
        open_orders = {
            cid: OrderReport(cid, cid, state, self._orders[cid].filled_qty, "", now)
            for cid, state in self._states.items()
            if not state.is_final
        }
        return ReconciliationReport(open_orders, dict(self._positions), now)

    def state_of(self, client_order_id: str) -> VenueOrderState | None:
        return self._states.get(client_order_id)

    # ------------------------------------------------------------------ market data

    def on_market(self, events: Sequence[MarketEvent]) -> None:
        """Events already applied to the books (a source's push)."""
        for ev in events:
            self._apply(self._broker.on_market(ev))
        self._apply(self._broker.advance(self._clock()))

    # ------------------------------------------------------------------ reports

    def _apply(self, result: BrokerResult) -> None:
        for ev in result.events:
            order = ev.order
            if isinstance(ev, BrokerFill):
                fill = ev.fill
                self._positions[fill.symbol] = (
                    self._positions.get(fill.symbol, ZERO) + fill.qty * fill.side.sign
                )
                self._sink.on_fill_report(FillReport(order.order_id, fill))
                done = not order.status.is_open
                state = VenueOrderState.FILLED if done else VenueOrderState.PARTIALLY_FILLED
                self._report(order, state, "")
            elif isinstance(ev, BrokerCancelled):
                self._report(order, VenueOrderState.CANCELLED, ev.reason)
            elif isinstance(ev, BrokerRejected):
                self._report(order, VenueOrderState.REJECTED, ev.reason)
            elif isinstance(ev, BrokerRested):
                continue

    def _report(self, order: Order, state: VenueOrderState, reason: str) -> None:
        cid = order.order_id
        self._states[cid] = state
        self._sink.on_order_report(
            OrderReport(cid, cid, state, order.filled_qty, reason, self._clock())
        )
