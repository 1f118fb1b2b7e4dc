"""Order book throughput: level diffs applied per second with the top of book read after each.

A synthetic stream per symbol (updates cluster near the touch, a quarter are removals, the mid
drifts and clears the levels it crosses) drives the two hot paths: ``set_level`` (sim, broker)
and ``apply_update`` (sequence-checked). The real Binance capture, parsed once, is then replayed
through ``apply_diff``. Best of a few repetitions, since the machine is shared.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from engine.book import OrderBook
from engine.book_replay import DepthDiff, DepthSnapshot, iter_messages
from engine.model.instrument import DEFAULT_INSTRUMENTS, Instrument
from engine.model.market import BookSide, LevelUpdate

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ticks_l2"
CAPTURES = [
    DATA / "hftbacktest_binance_spot_btcusdt_20240808_ws.jsonl.gz",
    DATA / "hftbacktest_binance_spot_btcusdt_20240809_ws.jsonl.gz",
]
TARGET = ">= 300000"
REPEATS = 3
UPDATES_PER_SYMBOL = 150_000

Levels = list[tuple[int, int]]
Change = tuple[BookSide, int, int]


def synthetic_stream(
    mid_ticks: int, n: int, seed: int, depth: int = 1_000
) -> tuple[Levels, Levels, list[Change]]:
    """A snapshot and ``n`` consistent level changes (the book never crosses)."""
    rng = random.Random(seed)
    bids = [(mid_ticks - 1 - k, rng.randint(1, 50_000)) for k in range(depth) if rng.random() < 0.7]
    asks = [(mid_ticks + k, rng.randint(1, 50_000)) for k in range(depth) if rng.random() < 0.7]
    mid = mid_ticks  # bids live below ``mid``, asks at or above it
    out: list[Change] = []
    while len(out) < n:
        r = rng.random()
        if r < 0.02:  # the mid moves; the levels it passes are taken out first
            step = rng.choice((-3, -2, -1, 1, 2, 3))
            if step > 0:
                out += [(BookSide.ASK, p, 0) for p in range(mid, mid + step)]
            else:
                out += [(BookSide.BID, p, 0) for p in range(mid + step, mid)]
            mid += step
            continue
        distance = min(int(rng.expovariate(0.15)), 2 * depth)  # most within ~7 ticks
        size = 0 if r < 0.27 else int(rng.paretovariate(1.2) * 100)
        if rng.random() < 0.5:
            out.append((BookSide.BID, mid - 1 - distance, size))
        else:
            out.append((BookSide.ASK, mid + distance, size))
    return bids, asks, out[:n]


def best_of(repeats: int, prepare: Callable[[], None], body: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(repeats):
        prepare()
        t0 = time.perf_counter()
        body()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_synthetic(instrument: Instrument, mid_ticks: int, seed: int) -> list[dict[str, object]]:
    bids, asks, changes = synthetic_stream(mid_ticks, UPDATES_PER_SYMBOL, seed)
    updates = [
        LevelUpdate(instrument.symbol, side, price, size, seq, seq)
        for seq, (side, price, size) in enumerate(changes, start=1)
    ]
    book = OrderBook(instrument)

    def reset() -> None:
        book.apply_snapshot(bids, asks, seq=0)

    def via_set_level() -> None:
        set_level, best_bid, best_ask = book.set_level, book.best_bid, book.best_ask
        for side, price, size in changes:
            set_level(side, price, size)
            best_bid()
            best_ask()

    def via_apply_update() -> None:
        apply, best_bid, best_ask = book.apply_update, book.best_bid, book.best_ask
        for u in updates:
            apply(u)
            best_bid()
            best_ask()

    n = len(changes)
    rows: list[dict[str, object]] = []
    for label, body in (("set_level", via_set_level), ("apply_update", via_apply_update)):
        seconds = best_of(REPEATS, reset, body)
        assert not book.is_crossed()
        rows.append(
            {
                "name": f"{instrument.symbol} {label} + top read",
                "value": round(n / seconds),
                "unit": "diffs/s",
                "target": TARGET,
                "note": f"{n:,} synthetic diffs, {len(bids) + len(asks):,}-level snapshot",
            }
        )
    return rows


def bench_capture() -> list[dict[str, object]]:
    paths = [p for p in CAPTURES if p.exists()]
    if not CAPTURES[0].exists():  # the first file holds the REST snapshot
        return [
            {
                "name": "Binance BTCUSDT capture",
                "value": None,
                "unit": "",
                "target": TARGET,
                "note": f"skipped: {CAPTURES[0]} absent",
            }
        ]
    instrument = DEFAULT_INSTRUMENTS["BTC/USDT"]
    t0 = time.perf_counter()
    messages = list(iter_messages(paths, instrument))
    parse_s = time.perf_counter() - t0
    snapshot = next(m for m in messages if isinstance(m, DepthSnapshot))
    diffs = [m for m in messages if isinstance(m, DepthDiff)]
    levels = sum(len(d.bids) + len(d.asks) for d in diffs)
    book = OrderBook(instrument)
    applied = 0

    def reset() -> None:
        book.apply_snapshot(snapshot.bids, snapshot.asks, snapshot.last_update_id)

    def replay() -> None:
        nonlocal applied
        applied = 0
        apply, best_bid, best_ask = book.apply_diff, book.best_bid, book.best_ask
        for d in diffs:  # the two diffs older than the snapshot are dropped by apply_diff
            applied += apply(d.bids, d.asks, d.first_seq, d.last_seq, d.ts_event)
            best_bid()
            best_ask()

    seconds = best_of(REPEATS, reset, replay)
    assert not book.is_crossed()
    note = f"{applied:,} events, {levels / len(diffs):.0f} levels/event avg, {len(paths)} files"
    return [
        {
            "name": "Binance BTCUSDT capture apply_diff + top read",
            "value": round(levels / seconds),
            "unit": "levels/s",
            "target": TARGET,
            "note": note,
        },
        {
            "name": "Binance BTCUSDT capture depth events",
            "value": round(len(diffs) / seconds),
            "unit": "events/s",
            "target": "",
            "note": "one depth@100ms message each",
        },
        {
            "name": "Binance capture parse (exact Decimal -> ticks/lots)",
            "value": round(len(messages) / parse_s),
            "unit": "msgs/s",
            "target": "",
            "note": f"{len(messages):,} messages, {parse_s:.2f} s",
        },
    ]


def run() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for seed, (symbol, mid) in enumerate(
        (("BTC/USDT", 6_183_763), ("ETH/USDT", 265_012), ("XRP/USDT", 5_732))
    ):
        rows += bench_synthetic(DEFAULT_INSTRUMENTS[symbol], mid, seed)
    rows += bench_capture()
    return rows


if __name__ == "__main__":
    t0 = time.perf_counter()
    results = run()
    width = max(len(str(r["name"])) for r in results)
    print(f"{'benchmark':<{width}}  {'value':>12}  {'unit':<9} {'target':<11} note")
    for r in results:
        value = "-" if r["value"] is None else f"{r['value']:,}"
        print(
            f"{r['name']!s:<{width}}  {value:>12}  {r['unit']!s:<9} {r['target']!s:<11} {r['note']}"
        )
    print(f"({time.perf_counter() - t0:.1f} s)")
