"""A real order book's depth profile, for the ``book`` slippage model.

``DEPTH_PROFILE`` is the average cumulative depth of the Binance BTCUSDT spot book, in quote
currency (USDT), within a distance from the mid, measured from the two hftbacktest websocket
captures in ``shared/data/ticks_l2`` (2024-08-08 23:54 -> 2024-08-09 00:05, price ~61.8k):

- the book is rebuilt exactly with ``engine.book_replay.BinanceBookReplay`` (REST snapshot plus
  ``depth@100ms`` diffs, Binance's update-id rules; the two files are one continuous stream);
- once synchronised, the book is sampled after the first diff of every second of local
  receive time (651 samples);
- at each sample, for each side and each distance d, the notional ``price x size`` of every
  level within d bps of the mid is summed (distance 0 = the best level alone);
- sums are averaged over samples and over the two sides and rounded to whole USDT.

The snapshot holds 1000 levels a side, which always reached at least 33 bps from the mid during
the capture, so the profile stops at 30 bps: beyond that the capture does not show the book. An
order larger than the whole profile is partly filled and the rest cancelled, as a real book of
that depth would leave it. ``tests/test_backtest_depth.py`` recomputes the table from the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from engine.book_replay import BinanceBookReplay, DepthDiff
from engine.model.instrument import Instrument
from engine.model.market import BookSide

# (distance from mid in bps, average cumulative depth within it in USDT), nearest first.
DEPTH_PROFILE: Final[tuple[tuple[int, int], ...]] = (
    (0, 140350),
    (1, 290799),
    (2, 456456),
    (3, 735686),
    (5, 1401158),
    (10, 2775676),
    (15, 4104752),
    (20, 5411014),
    (25, 6192914),
    (30, 6618600),
)
DEPTH_BPS: Final[tuple[int, ...]] = tuple(d for d, _ in DEPTH_PROFILE)
CAPTURE_FILES: Final = (
    "hftbacktest_binance_spot_btcusdt_20240808_ws.jsonl.gz",
    "hftbacktest_binance_spot_btcusdt_20240809_ws.jsonl.gz",
)


def measure_depth_profile(
    paths: Sequence[Path],
    instrument: Instrument,
    bps: Sequence[int] = DEPTH_BPS,
    every_ns: int = 1_000_000_000,
) -> tuple[list[tuple[int, int]], int]:
    """Recompute the profile from captures: ([(bps, USDT)], number of samples)."""
    replay = BinanceBookReplay(list(paths), instrument)
    book = replay.book
    unit = float(instrument.tick_size * instrument.lot_size)
    sums = [0.0] * len(bps)
    samples = 0
    next_ns: int | None = None
    widest = max(bps)
    for msg in replay:
        if not replay.synced or not isinstance(msg, DepthDiff):
            continue
        if next_ns is None:
            next_ns = msg.ts_init
        if msg.ts_init < next_ns:
            continue
        next_ns += every_ns
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None:
            continue
        mid = (bid[0] + ask[0]) / 2
        for side in (BookSide.BID, BookSide.ASK):
            levels = book.top(side, 5000)
            for k, d in enumerate(bps):
                total = 0.0
                for j, (price, size) in enumerate(levels):
                    dist = abs(price - mid) / mid * 1e4
                    if (d == 0 and j > 0) or (d > 0 and dist > d) or dist > widest:
                        break
                    total += price * size * unit
                sums[k] += total
        samples += 1
    if not samples:
        raise ValueError("no synchronised book in the captures")
    return [(d, round(s / samples / 2)) for d, s in zip(bps, sums, strict=True)], samples
