"""The execution-venue seam: an asynchronous order lifecycle, as a real exchange has one.

The kernel hands an accepted order to a venue under a client order id and learns what became of
it only from reports: the order is SUBMITTED (sent, not acknowledged) until the venue answers
ACCEPTED or REJECTED; a cancel makes it PENDING_CANCEL until the venue confirms CANCELLED (or a
fill races it). Fills come as ``FillReport``s; ``reconcile()`` answers what the venue believes
is open and held, so a restart or a reconnect can compare it with the journal (nautilus's
order/fill/position status reports, vn.py's ``BaseGateway`` ``on_order``/``on_trade``).

``engine.execution.paper.PaperExecutionVenue`` is the paper broker over any market-data
source's books; an exchange adapter will be another implementation in its own package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from engine.model.fill import Fill
from engine.model.orders import Order


class VenueOrderState(StrEnum):
    SUBMITTED = "submitted"  # sent, not acknowledged yet
    ACCEPTED = "accepted"  # acknowledged, working (pending arrival or resting)
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"  # cancel sent, not confirmed yet
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        return self in (VenueOrderState.FILLED, VenueOrderState.CANCELLED, VenueOrderState.REJECTED)


@dataclass(frozen=True, slots=True)
class OrderReport:
    """What the venue says about one order."""

    client_order_id: str
    venue_order_id: str | None
    state: VenueOrderState
    filled_qty: Decimal
    reason: str
    ts_ns: int


@dataclass(frozen=True, slots=True)
class FillReport:
    client_order_id: str
    fill: Fill


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    """The venue's view of the account: open orders by client id, positions by symbol."""

    open_orders: Mapping[str, OrderReport]
    positions: Mapping[str, Decimal]
    ts_ns: int


class ExecutionReportSink(Protocol):
    def on_order_report(self, report: OrderReport) -> None: ...

    def on_fill_report(self, report: FillReport) -> None: ...


@runtime_checkable
class ExecutionVenue(Protocol):
    """Where accepted orders go. Every call returns once the request is sent, not done."""

    @property
    def name(self) -> str: ...

    async def submit(self, order: Order) -> None:
        """Send an accepted order (its ``order_id`` is the client order id)."""
        ...

    async def cancel(self, client_order_id: str) -> None: ...

    async def reconcile(self) -> ReconciliationReport: ...

    def state_of(self, client_order_id: str) -> VenueOrderState | None:
        """The last state reported for an order (``None``: never seen)."""
        ...


def report_states(reports: Sequence[OrderReport]) -> list[VenueOrderState]:
    return [r.state for r in reports]
