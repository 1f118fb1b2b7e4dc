"""Control before flow, measured through the public engine API (real engine thread, sim venue,
SQLite in a temp dir).

- panic behind a burst: 10,000 orders are queued (not awaited), then ``PanicClose`` is sent;
  the time from sending it to its ``PanicCompleted`` (target <= 100 ms, median and p99 over
  the rounds): the panic overtakes the queue instead of waiting behind it;
- burst stall: the worst engine-loop stall while a 10,000-order burst is taken in, as the
  engine's own lag probe sees it (``snapshot().stats.loop_lag_ms_max``: how late a 20 ms
  sleep on the engine loop woke up; target <= 50 ms), a fresh engine per round.

The orders are limit buys 5% below the market: the throttle (orders/s) and the open-order cap
deny most of them, which is the expensive path (each denial is journaled and answered).
"""

from __future__ import annotations

import concurrent.futures
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine import Engine, EngineConfig, PanicClose, PanicCompleted, ResetHalt, SubmitOrder

BURST = 10_000
SYMBOL = "BTC/USDT"
WAIT_S = 120.0


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def _engine(tmp: str) -> Engine:
    return Engine(EngineConfig(data_dir=Path(tmp), symbols=(SYMBOL,), market_data_dir=None)).start()


def _burst(eng: Engine) -> list[concurrent.futures.Future[Any]]:
    deadline = time.monotonic() + WAIT_S
    while (mid := eng.snapshot().books[SYMBOL].mid) is None:
        if time.monotonic() > deadline:
            raise TimeoutError("the book never filled")
        time.sleep(0.01)
    inst = eng.snapshot().instruments[SYMBOL]
    price = (mid * Decimal("0.95")).quantize(inst.tick_size)
    order = SubmitOrder(
        symbol=SYMBOL, side="buy", type="limit", qty=inst.lot_size * 10, price=price
    )
    return [eng.submit(order) for _ in range(BURST)]


def _settle(futures: list[concurrent.futures.Future[Any]]) -> None:
    concurrent.futures.wait(futures, timeout=WAIT_S)


def _panic_behind_burst(rounds: int) -> list[float]:
    times_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        eng = _engine(tmp)
        try:
            for _ in range(rounds):
                futures = _burst(eng)
                t0 = time.perf_counter()
                report = eng.submit(PanicClose()).result(WAIT_S)
                times_ms.append((time.perf_counter() - t0) * 1000)
                assert isinstance(report, PanicCompleted), report
                _settle(futures)
                eng.submit(ResetHalt(confirm=True)).result(WAIT_S)
                time.sleep(1.1)  # a fresh orders/s window for the next round
        finally:
            eng.stop()
    return times_ms


def _burst_stall(rounds: int) -> list[float]:
    stalls: list[float] = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            eng = _engine(tmp)
            try:
                time.sleep(1.0)  # past the start-up
                _settle(_burst(eng))
                time.sleep(1.0)  # the stats refresh twice a second
                stalls.append(eng.snapshot().stats.loop_lag_ms_max)
            finally:
                eng.stop()
    return stalls


def run(rounds: int = 7) -> list[dict[str, object]]:
    panic = _panic_behind_burst(rounds)
    stall = _burst_stall(rounds)
    return [
        {
            "name": "panic behind 10,000 queued orders -> PanicCompleted, median",
            "value": round(statistics.median(panic), 1),
            "unit": "ms",
            "target": "",
            "note": f"{rounds} rounds, max {max(panic):.1f}",
        },
        {
            "name": "panic behind 10,000 queued orders -> PanicCompleted, p99",
            "value": round(_pct(panic, 0.99), 1),
            "unit": "ms",
            "target": "<= 100",
        },
        {
            "name": "10k-order burst: worst engine-loop stall, median",
            "value": round(statistics.median(stall), 1),
            "unit": "ms",
            "target": "",
            "note": f"{rounds} rounds, fresh engine each",
        },
        {
            "name": "10k-order burst: worst engine-loop stall, p99",
            "value": round(_pct(stall, 0.99), 1),
            "unit": "ms",
            "target": "<= 50",
        },
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<60} {row['value']:>10} {row['unit']:<4} target {row['target']}")
