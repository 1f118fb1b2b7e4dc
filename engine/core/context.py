"""The one ``StrategyContext``: a strategy's view of a kernel, on one symbol.

The backtester, the replay session and the live engine's strategy host all hand a strategy this
adapter, so ``submit`` means the kernel's order path everywhere and a strategy cannot tell the
hosts apart except by their clocks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import Decimal

from engine.core.kernel import CancelResult, Kernel, SubmitResult
from engine.matching import FeeSchedule
from engine.messages import CancelOrder, CancelRejected, SubmitOrder
from engine.model.instrument import Instrument
from engine.model.orders import OrderView


class KernelContext:
    """``engine.strategy.base.StrategyContext`` over a ``Kernel``.

    With ``source`` set (the live host), orders are tagged with it and ``open_orders`` lists
    only this strategy's orders; without, every open order on the symbol.
    """

    __slots__ = ("_fees", "_instrument", "_kernel", "_source", "_symbol", "cancel_reason")

    def __init__(
        self,
        kernel: Kernel,
        instrument: Instrument,
        fees: FeeSchedule,
        *,
        source: str | None = None,
        cancel_reason: str = "cancelled by strategy",
    ) -> None:
        self._kernel = kernel
        self._instrument = instrument
        self._symbol = instrument.symbol
        self._fees = fees
        self._source = source
        self.cancel_reason = cancel_reason

    @property
    def kernel(self) -> Kernel:
        return self._kernel

    @property
    def now_ns(self) -> int:
        return self._kernel.clock()

    @property
    def instrument(self) -> Instrument:
        return self._instrument

    @property
    def fees(self) -> FeeSchedule:
        return self._fees

    def submit(self, cmd: SubmitOrder) -> SubmitResult:
        source = self._source
        if source is not None and cmd.source != source:
            cmd = dataclasses.replace(cmd, source=source)
        return self._kernel.submit(cmd)

    def cancel(self, cmd: CancelOrder) -> CancelResult:
        kernel = self._kernel
        now = kernel.clock()
        event = kernel.cancel(cmd.order_id, self.cancel_reason, now)
        if event is None:
            return CancelRejected(
                order_id=cmd.order_id, reason=f"no open order {cmd.order_id!r}", ts_ns=now
            )
        return event

    def position(self) -> Decimal:
        return self._kernel.position(self._symbol)

    def cash(self) -> Decimal:
        return self._kernel.portfolio.cash

    def best_bid(self) -> Decimal | None:
        return self._kernel.best(self._symbol, bid=True)

    def best_ask(self) -> Decimal | None:
        return self._kernel.best(self._symbol, bid=False)

    def open_orders(self) -> Sequence[OrderView]:
        symbol, source = self._symbol, self._source
        return [
            o.view()
            for o in self._kernel.orders.values()
            if o.symbol == symbol and (source is None or o.source == source)
        ]
