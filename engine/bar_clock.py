"""Bars on the nanosecond clock: the units and the span of each bar, shared by everything that
plays bars through the kernel (the bar backtester, the paper replay venue, the live engine's
bar replay). Neutral ground: it imports neither the backtester nor a venue.
"""

from __future__ import annotations

from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]

NS_PER_MS: Final = 1_000_000
PRINT_ALL: Final = 1 << 62  # a "touch" print: fills every order at its price, queue or not


class BarTimes(Protocol):
    """What ``bar_spans_ns`` reads of a bar series (``engine.backtest.data.Bars`` has it)."""

    @property
    def time_ms(self) -> I64: ...

    @property
    def interval_ms(self) -> int: ...


def bar_spans_ns(bars: BarTimes) -> I64:
    """Each bar's length on the clock: the interval, cut short by the next bar if sooner."""
    t = bars.time_ms
    span = np.full(len(t), bars.interval_ms, dtype=np.int64)
    if len(t) > 1:
        span[:-1] = np.minimum(span[:-1], np.diff(t))
    out: I64 = np.maximum(span, 1) * NS_PER_MS
    return out
