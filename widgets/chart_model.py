"""Qt-free data model of the candle chart: OHLCV as numpy float arrays, updated incrementally.

vn.py's ``BarManager`` idea: the chart items draw from plain arrays and never see engine objects.
The engine publishes a new candle tuple whenever a bar changes; closed bars never change, only
the last (forming) bar does, and a bounded window may drop bars at the front. ``BarSeries.update``
therefore aligns the new tuple on bar open times and only writes the last old bar and the new ones,
reporting what changed in a ``BarChange`` so the drawing item can keep its cache of closed bars.
Floats are for plotting only; the snapshot keeps the exact Decimals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.model.fill import Fill
from engine.model.orders import OrderSide
from engine.snapshot import CandleView

_NS = 1_000_000_000
TIME, OPEN, HIGH, LOW, CLOSE, VOLUME = range(6)


@dataclass(frozen=True, slots=True)
class BarChange:
    """What one ``update`` did, in the numbering of the arrays *after* the update."""

    count: int
    reset: bool = False  # everything rebuilt
    dropped: int = 0  # bars removed at the front (the window slid)
    first_changed: int = 0  # lowest index whose values were (re)written; == count if none
    appended: int = 0  # bars added at the end

    @property
    def changed(self) -> bool:
        return self.reset or self.dropped > 0 or self.first_changed < self.count


class BarSeries:
    """Bars of one symbol, oldest first; ``time`` is the bar's open in epoch seconds (UTC)."""

    def __init__(self, bar_seconds: int = 60, capacity: int = 512) -> None:
        if bar_seconds <= 0:
            raise ValueError(f"bar_seconds must be > 0, got {bar_seconds}")
        self.bar_seconds = bar_seconds
        self._data = np.zeros((6, max(capacity, 8)), dtype=np.float64)
        self._ts = np.zeros(self._data.shape[1], dtype=np.int64)
        self._start = 0
        self._count = 0
        self._source: Sequence[CandleView] | None = None
        self.writes = 0  # bars converted to floats since creation (tests check it stays small)

    # ------------------------------------------------------------ read access (views, no copies)
    def __len__(self) -> int:
        return self._count

    def _view(self, field: int) -> np.ndarray:
        view = self._data[field, self._start : self._start + self._count]
        view.flags.writeable = False
        return view

    @property
    def time(self) -> np.ndarray:
        return self._view(TIME)

    @property
    def open(self) -> np.ndarray:
        return self._view(OPEN)

    @property
    def high(self) -> np.ndarray:
        return self._view(HIGH)

    @property
    def low(self) -> np.ndarray:
        return self._view(LOW)

    @property
    def close(self) -> np.ndarray:
        return self._view(CLOSE)

    @property
    def volume(self) -> np.ndarray:
        return self._view(VOLUME)

    @property
    def ts_ns(self) -> np.ndarray:
        view = self._ts[self._start : self._start + self._count]
        view.flags.writeable = False
        return view

    def index_range(self, t0: float, t1: float) -> tuple[int, int]:
        """Indices ``[lo, hi)`` of bars that overlap the time span ``[t0, t1]`` (seconds)."""
        times = self.time
        lo = int(np.searchsorted(times, t0 - self.bar_seconds, side="right"))
        hi = int(np.searchsorted(times, t1, side="right"))
        return lo, hi

    # ------------------------------------------------------------ updates
    def update(self, candles: Sequence[CandleView], bar_seconds: int | None = None) -> BarChange:
        """Follow ``candles`` (oldest first), writing only what differs from the arrays."""
        n = self._count
        if bar_seconds is not None and bar_seconds != self.bar_seconds:
            self.bar_seconds = bar_seconds
            return self.reset(candles)
        if candles is self._source:
            return BarChange(count=n, first_changed=n)
        m = len(candles)
        if n == 0 or m == 0:
            return self.reset(candles)
        ts = self._ts[self._start : self._start + n]
        j = int(np.searchsorted(ts, candles[0].ts_open_ns))
        if j >= n or ts[j] != candles[0].ts_open_ns:
            return self.reset(candles)
        overlap = n - j  # old bars j.. are new bars 0..overlap-1
        if overlap > m or candles[overlap - 1].ts_open_ns != ts[n - 1]:
            return self.reset(candles)
        self._source = candles
        self._start += j
        self._count -= j
        last_old = overlap - 1
        appended = m - overlap
        before = self._data[:, self._start + last_old].copy()
        self._write(last_old, candles[last_old:])
        same_last = bool(np.array_equal(before, self._data[:, self._start + last_old]))
        first_changed = last_old if appended or not same_last else m
        return BarChange(count=m, dropped=j, first_changed=first_changed, appended=appended)

    def reset(self, candles: Sequence[CandleView]) -> BarChange:
        self._source = candles
        self._start = 0
        self._count = 0
        self._write(0, candles)
        return BarChange(count=len(candles), reset=True, first_changed=0)

    def _write(self, at: int, candles: Sequence[CandleView]) -> None:
        """Write ``candles`` at index ``at`` (<= count) and make them the tail of the series."""
        total = at + len(candles)
        self._reserve(total)
        base = self._start + at
        data, ts = self._data, self._ts
        for i, c in enumerate(candles):
            k = base + i
            ts[k] = c.ts_open_ns
            data[TIME, k] = c.ts_open_ns / _NS
            data[OPEN, k] = float(c.open)
            data[HIGH, k] = float(c.high)
            data[LOW, k] = float(c.low)
            data[CLOSE, k] = float(c.close)
            data[VOLUME, k] = float(c.volume)
        self._count = total
        self.writes += len(candles)

    def _reserve(self, total: int) -> None:
        capacity = self._data.shape[1]
        if self._start + total <= capacity:
            return
        keep = self._count
        if total > capacity // 2:  # grow; otherwise compacting to the front is enough
            capacity = max(capacity * 2, total * 2)
        data = np.zeros((6, capacity), dtype=np.float64)
        ts = np.zeros(capacity, dtype=np.int64)
        data[:, :keep] = self._data[:, self._start : self._start + keep]
        ts[:keep] = self._ts[self._start : self._start + keep]
        self._data, self._ts, self._start = data, ts, 0


@dataclass(frozen=True, slots=True)
class FillMarkers:
    """Our fills of one symbol as plot points: time (s), price, and side."""

    time: np.ndarray
    price: np.ndarray
    is_buy: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.time)


def fill_markers(fills: Sequence[Fill], symbol: str) -> FillMarkers:
    mine = [f for f in fills if f.symbol == symbol]
    return FillMarkers(
        time=np.array([f.ts_event / _NS for f in mine], dtype=np.float64),
        price=np.array([float(f.price) for f in mine], dtype=np.float64),
        is_buy=np.array([f.side == OrderSide.BUY for f in mine], dtype=bool),
    )
