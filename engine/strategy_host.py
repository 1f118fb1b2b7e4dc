"""Running a ``Strategy`` inside the live ``Engine``, on the engine thread.

The strategy gets the same view it gets in a paper replay (``engine.venues.replay``): bars reach
it once closed, through ``StreamingHost`` (prepared over the latest ``lookback`` bars, ``on_bar``
on every bar), at the first trade of the next bar - the ``fill="next_open"`` moment. Its orders
go through the engine's own order path (validation, ``RiskEngine``, ``PaperBroker``, SQLite),
so nothing a strategy does here bypasses what a manual order would meet. Fills and closed
orders reach it as the engine emits them, with the replay's rule: the settling event of the
order being submitted is the return value of ``submit``, not an ``on_order`` call.

Closed bars are queued by the candle hook and delivered by the engine at a safe point (after a
market event was fully handled), so a strategy never submits from inside broker bookkeeping.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from engine.candles import CandleSeries
from engine.matching import FeeSchedule
from engine.messages import (
    CancelOrder,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    SubmitOrder,
)
from engine.model.instrument import Instrument
from engine.model.orders import OrderView
from engine.strategy.base import CancelResult, Strategy, SubmitResult
from engine.strategy.stream import StreamingHost

if TYPE_CHECKING:
    from engine.runtime import Engine

_NS_PER_MS = 1_000_000

# (time_ms, open, high, low, close, volume) in ticks, as ``StreamingHost.push`` takes them.
_Bar = tuple[int, int, int, int, int, float]


class StrategyHost:
    """One running strategy on one symbol; also its ``StrategyContext``."""

    def __init__(
        self,
        engine: Engine,
        strategy_id: str,
        strategy: Strategy,
        instrument: Instrument,
        series: CandleSeries,
        params: Mapping[str, str],
        *,
        warm_up: bool = True,
    ) -> None:
        self.engine = engine
        self.strategy_id = strategy_id
        self.strategy = strategy
        self.params = dict(params)
        self._instrument = instrument
        self._series = series
        self.stream = StreamingHost(
            strategy, instrument.symbol, instrument.tick_size, series.interval_ns // _NS_PER_MS
        )
        self._pending: deque[_Bar] = deque()
        self._submitting: str | None = None  # order id inside submit(): its result goes back
        self._in_submit = False
        self.running = False
        if warm_up:
            to_ticks = instrument.price_to_ticks
            for c in series.closed():
                self.stream.append(
                    c.ts_open_ns // _NS_PER_MS,
                    to_ticks(c.open),
                    to_ticks(c.high),
                    to_ticks(c.low),
                    to_ticks(c.close),
                    float(c.volume),
                )

    @property
    def name(self) -> str:
        return self.strategy.name

    @property
    def symbol(self) -> str:
        return self._instrument.symbol

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._series.listeners.append(self._on_bar_closed)
        self.running = True
        self.stream.start(self)

    def stop(self) -> None:
        """Detach and call ``on_stop``; open orders and the position stay (as in a backtest)."""
        if not self.running:
            return
        self.running = False
        self._pending.clear()
        if self._on_bar_closed in self._series.listeners:
            self._series.listeners.remove(self._on_bar_closed)
        self.strategy.on_stop(self)

    def _on_bar_closed(self, ts_ns: int, o: int, h: int, lo: int, c: int, v: int) -> None:
        volume = float(self._instrument.lots_to_qty(v))
        self._pending.append((ts_ns // _NS_PER_MS, o, h, lo, c, volume))

    def drain(self) -> None:
        """Deliver the bars closed since the last call (the engine calls this at safe points)."""
        while self._pending and self.running:
            t, o, h, lo, c, v = self._pending.popleft()
            self.stream.push(self, t, o, h, lo, c, v)

    def on_event(self, event: object) -> None:
        """Engine events, as a subscriber sees them; only our own orders concern the strategy."""
        if not self.running:
            return
        source = self.strategy.source
        if isinstance(event, OrderAccepted):
            if self._in_submit and event.order.source == source and self._submitting is None:
                self._submitting = event.order.order_id
        elif isinstance(event, OrderFilled):
            if event.order.source == source:
                self.strategy.on_fill(self, event.fill)
        elif isinstance(event, OrderCancelled | OrderRejected) and (
            event.order.source == source and event.order.order_id != self._submitting
        ):
            self.strategy.on_order(self, event)

    # ------------------------------------------------------------------ StrategyContext

    @property
    def now_ns(self) -> int:
        return self.engine.strategy_now_ns()

    @property
    def instrument(self) -> Instrument:
        return self._instrument

    @property
    def fees(self) -> FeeSchedule:
        return self.engine.strategy_fees()

    def submit(self, cmd: SubmitOrder) -> SubmitResult:
        """Through ``Engine._submit_order`` -> ``Engine._place``, tagged with our source."""
        if cmd.source != self.strategy.source:
            cmd = dataclasses.replace(cmd, source=self.strategy.source)
        outer = (self._in_submit, self._submitting)
        self._in_submit, self._submitting = True, None
        try:
            return self.engine.strategy_submit(cmd)
        finally:
            self._in_submit, self._submitting = outer

    def cancel(self, cmd: CancelOrder) -> CancelResult:
        return self.engine.strategy_cancel(cmd, f"cancelled by {self.strategy.source}")

    def position(self) -> Decimal:
        return self.engine.strategy_position(self.symbol)

    def cash(self) -> Decimal:
        return self.engine.strategy_cash()

    def best_bid(self) -> Decimal | None:
        return self.engine.strategy_best(self.symbol, bid=True)

    def best_ask(self) -> Decimal | None:
        return self.engine.strategy_best(self.symbol, bid=False)

    def open_orders(self) -> Sequence[OrderView]:
        return [
            v
            for v in self.engine.strategy_open_orders()
            if v.symbol == self.symbol and v.source == self.strategy.source
        ]
