"""OHLCV candles built from trades on the engine thread (ticks and lots, converted for views)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from engine.model.instrument import Instrument
from engine.snapshot import CandleView

_NS = 1_000_000_000

# (ts_open_ns, open, high, low, close, volume_lots) of a bar that just closed.
BarListener = Callable[[int, int, int, int, int, int], None]


class CandleSeries:
    """Fixed-interval bars for one symbol; closed bars are kept as an immutable tuple cache."""

    def __init__(self, instrument: Instrument, seconds: int, keep: int = 720) -> None:
        self.instrument = instrument
        self.interval_ns = seconds * _NS
        self._closed: deque[CandleView] = deque(maxlen=keep)
        self._closed_cache: tuple[CandleView, ...] = ()
        self._cache_valid = True
        self._open_ts: int | None = None
        self._o = self._h = self._l = self._c = 0
        self._v = 0
        # Told of every bar closed by a trade (not seeded history); a strategy host uses it.
        self.listeners: list[BarListener] = []

    def seed(self, bars: Iterable[tuple[int, int, int, int, int, int]]) -> None:
        """Warm-up history: (ts_open_ns, o, h, l, c, volume_lots), oldest first."""
        for ts, o, h, low, c, v in bars:
            self._closed.append(self._view(ts, o, h, low, c, v))
        self._cache_valid = False

    def _view(self, ts: int, o: int, h: int, low: int, c: int, v: int) -> CandleView:
        t = self.instrument.ticks_to_price
        return CandleView(
            ts_open_ns=ts,
            open=t(o),
            high=t(h),
            low=t(low),
            close=t(c),
            volume=self.instrument.lots_to_qty(v),
        )

    def add_trade(self, price_ticks: int, size_lots: int, ts_ns: int) -> None:
        bucket = ts_ns - ts_ns % self.interval_ns
        if self._open_ts is None or bucket > self._open_ts:
            self._close_current()
            self._open_ts = bucket
            self._o = self._h = self._l = self._c = price_ticks
            self._v = size_lots
            return
        if bucket < self._open_ts:  # late trade: fold into the current bar rather than reorder
            bucket = self._open_ts
        self._c = price_ticks
        if price_ticks > self._h:
            self._h = price_ticks
        if price_ticks < self._l:
            self._l = price_ticks
        self._v += size_lots

    def close_bar(self, ts: int, o: int, h: int, low: int, c: int, v: int) -> None:
        """Append a bar known to be closed (a replay venue's recorded bar) and tell listeners."""
        self._closed.append(self._view(ts, o, h, low, c, v))
        self._cache_valid = False
        for cb in self.listeners:
            cb(ts, o, h, low, c, v)

    def _close_current(self) -> None:
        if self._open_ts is not None:
            self._closed.append(
                self._view(self._open_ts, self._o, self._h, self._l, self._c, self._v)
            )
            self._cache_valid = False
            for cb in self.listeners:
                cb(self._open_ts, self._o, self._h, self._l, self._c, self._v)

    def closed(self) -> tuple[CandleView, ...]:
        if not self._cache_valid:
            self._closed_cache = tuple(self._closed)
            self._cache_valid = True
        return self._closed_cache

    def view(self) -> tuple[CandleView, ...]:
        closed = self.closed()
        if self._open_ts is None:
            return closed
        current = self._view(self._open_ts, self._o, self._h, self._l, self._c, self._v)
        return (*closed, current)
