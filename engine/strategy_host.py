"""Running a ``Strategy`` inside the live ``Engine``, on the engine thread, on the kernel.

The strategy gets the same view it gets in a paper replay and a backtest: a ``KernelContext``
over the engine's kernel (``engine.core``), so its orders meet the same validation, risk gate
and paper broker as a manual order, and the live journal records them. Bars reach it once
closed, through ``StreamingHost`` (prepared over the latest ``lookback`` bars, ``on_bar`` on
every bar), at the first trade of the next bar - the ``fill="next_open"`` moment. Fills and
closed orders reach it as the engine publishes them, with the kernel's rule: the settling event
of the order being submitted (or cancelled) is the return value, not an ``on_order`` call.

Closed bars are queued by the candle hook and delivered by the engine at a safe point (after a
market event was fully handled), so a strategy never submits from inside broker bookkeeping.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from engine.candles import CandleSeries
from engine.core import Kernel, KernelContext
from engine.matching import FeeSchedule
from engine.messages import OrderCancelled, OrderFilled, OrderRejected
from engine.model.instrument import Instrument
from engine.strategy.base import Strategy
from engine.strategy.stream import StreamingHost

_NS_PER_MS = 1_000_000

# (time_ms, open, high, low, close, volume) in ticks, as ``StreamingHost.push`` takes them.
_Bar = tuple[int, int, int, int, int, float]


class StrategyHost:
    """One running strategy on one symbol, with its ``KernelContext`` (``ctx``)."""

    def __init__(
        self,
        kernel: Kernel,
        strategy_id: str,
        strategy: Strategy,
        instrument: Instrument,
        series: CandleSeries,
        params: Mapping[str, str],
        *,
        fees: FeeSchedule,
        warm_up: bool = True,
    ) -> None:
        self.kernel = kernel
        self.strategy_id = strategy_id
        self.strategy = strategy
        self.params = dict(params)
        self._instrument = instrument
        self._series = series
        source = strategy.source
        self.ctx = KernelContext(
            kernel, instrument, fees, source=source, cancel_reason=f"cancelled by {source}"
        )
        self.stream = StreamingHost(
            strategy, instrument.symbol, instrument.tick_size, series.interval_ns // _NS_PER_MS
        )
        self._pending: deque[_Bar] = deque()
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
        self.stream.start(self.ctx)

    def stop(self) -> None:
        """Detach and call ``on_stop``; open orders and the position stay (as in a backtest)."""
        if not self.running:
            return
        self.running = False
        self._pending.clear()
        if self._on_bar_closed in self._series.listeners:
            self._series.listeners.remove(self._on_bar_closed)
        self.strategy.on_stop(self.ctx)

    def _on_bar_closed(self, ts_ns: int, o: int, h: int, lo: int, c: int, v: int) -> None:
        volume = float(self._instrument.lots_to_qty(v))
        self._pending.append((ts_ns // _NS_PER_MS, o, h, lo, c, volume))

    def drain(self) -> None:
        """Deliver the bars closed since the last call (the engine calls this at safe points)."""
        while self._pending and self.running:
            t, o, h, lo, c, v = self._pending.popleft()
            self.stream.push(self.ctx, t, o, h, lo, c, v)

    def on_event(self, event: object) -> None:
        """Engine events, as a subscriber sees them; only our own orders concern the strategy."""
        if not self.running:
            return
        source = self.strategy.source
        if isinstance(event, OrderFilled):
            if event.order.source == source:
                self.strategy.on_fill(self.ctx, event.fill)
        elif isinstance(event, OrderCancelled | OrderRejected) and (
            event.order.source == source and event.order.order_id != self.kernel.settling
        ):
            self.strategy.on_order(self.ctx, event)
