"""Running a strategy on bars that arrive one at a time (paper trading, live, replay).

The host keeps the bars closed so far in a growing buffer; after each new bar it prepares the
strategy over the last ``window`` bars (at least ``lookback``) and calls ``on_bar`` for the newest
one - on every bar, with no ``signal_bars`` shortcut, which is what makes it the reference the
backtester is checked against.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from engine.backtest.data import Bars
from engine.strategy.base import Strategy, StrategyContext

_INT_COLUMNS = ("time_ms", "open", "high", "low", "close")


class StreamingHost:
    """Feeds closed bars to ``strategy`` in order; it never sees a bar before it closed."""

    def __init__(
        self,
        strategy: Strategy,
        symbol: str,
        tick_size: Decimal,
        interval_ms: int,
        window: int | None = None,
    ) -> None:
        self.strategy = strategy
        self.symbol = symbol
        self.tick_size = tick_size
        self.interval_ms = interval_ms
        self.window = max(window or 0, strategy.lookback, 1)
        self.started = False
        self._n = 0
        self._cap = 1024
        self._ints = {name: np.zeros(self._cap, dtype=np.int64) for name in _INT_COLUMNS}
        self._vol = np.zeros(self._cap, dtype=np.float64)

    def __len__(self) -> int:
        return self._n

    def bars(self, start: int = 0, stop: int | None = None) -> Bars:
        stop = self._n if stop is None else stop
        i = self._ints
        return Bars(
            self.symbol,
            self.tick_size,
            self.interval_ms,
            i["time_ms"][start:stop],
            i["open"][start:stop],
            i["high"][start:stop],
            i["low"][start:stop],
            i["close"][start:stop],
            self._vol[start:stop],
        )

    def start(self, ctx: StrategyContext) -> None:
        """``on_start`` with the history so far (none for a fresh start)."""
        self.strategy.on_start(ctx, self.bars())
        self.started = True

    def push(
        self, ctx: StrategyContext, time_ms: int, o: int, h: int, lo: int, c: int, volume: float
    ) -> None:
        """A bar has closed: store it, prepare on the tail and call ``on_bar`` for it."""
        if not self.started:
            self.start(ctx)
        self.append(time_ms, o, h, lo, c, volume)
        lo_i = max(0, self._n - self.window)
        self.strategy.prepare(self.bars(lo_i, self._n))
        self.strategy.on_bar(ctx, self._n - 1 - lo_i)

    def append(self, time_ms: int, o: int, h: int, lo: int, c: int, volume: float) -> None:
        """Store a closed bar without calling the strategy (warm-up history before ``start``)."""
        if self._n == self._cap:
            self._cap *= 2
            for name, arr in self._ints.items():
                self._ints[name] = np.resize(arr, self._cap)
            self._vol = np.resize(self._vol, self._cap)
        n = self._n
        for name, value in zip(_INT_COLUMNS, (time_ms, o, h, lo, c), strict=True):
            self._ints[name][n] = value
        self._vol[n] = volume
        self._n = n + 1

    def push_from(self, ctx: StrategyContext, bars: Bars, i: int) -> None:
        """Bar ``i`` of a recorded series has closed."""
        self.push(
            ctx,
            int(bars.time_ms[i]),
            int(bars.open[i]),
            int(bars.high[i]),
            int(bars.low[i]),
            int(bars.close[i]),
            float(bars.volume[i]),
        )
