"""Engine benchmarks on the real engine thread and sim venue (real SQLite in a temp dir).

- book update -> paper fill: from the moment the engine takes a book update off the feed to
  the resting order's fill being matched, written to SQLite and published (target p99 <= 1 ms);
- panic-to-flat: 10 open positions and 20 resting orders, engine time from PanicClose to the
  verified-flat report (target p99 <= 100 ms).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from engine import (
    CancelAll,
    Engine,
    EngineConfig,
    PanicClose,
    PanicCompleted,
    ResetHalt,
    SubmitOrder,
    UpdateRiskLimits,
)

TEN = (
    "BTC/USDT",
    "ETH/USDT",
    "SOL/USDT",
    "BNB/USDT",
    "XRP/USDT",
    "ADA/USDT",
    "LTC/USDT",
    "LINK/USDT",
    "AVAX/USDT",
    "BCH/USDT",
)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def _fill_latency(seconds: float = 20.0) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        eng = Engine(
            EngineConfig(data_dir=Path(tmp), symbols=("BTC/USDT", "ETH/USDT"), sim_rate=5.0)
        ).start()
        try:
            eng.submit(UpdateRiskLimits(max_open_orders=200, max_orders_per_second=50)).result(5)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and len(eng.fill_latency_ns) < 400:
                snap = eng.snapshot()
                for sym in snap.symbols:
                    book = snap.books[sym]
                    inst = snap.instruments[sym]
                    if book.best_bid is None or book.best_ask is None:
                        continue
                    qty = (Decimal(20) / book.best_bid).quantize(inst.lot_size) + inst.lot_size
                    for side, price in (("buy", book.best_bid), ("sell", book.best_ask)):
                        eng.submit(
                            SubmitOrder(symbol=sym, side=side, type="limit", qty=qty, price=price)
                        ).result(5)
                time.sleep(0.3)
                if len(eng.snapshot().orders) > 100:
                    eng.submit(CancelAll()).result(5)
            samples = [ns / 1000.0 for ns in eng.fill_latency_ns]
        finally:
            eng.stop()
    if not samples:
        raise RuntimeError("no resting order was filled by the simulated flow")
    return statistics.median(samples), _pct(samples, 0.99), len(samples)


def _panic(rounds: int = 20) -> tuple[float, float, float, int]:
    durations: list[float] = []
    flat = 0
    with tempfile.TemporaryDirectory() as tmp:
        eng = Engine(EngineConfig(data_dir=Path(tmp), symbols=TEN, paper_cash=Decimal(1_000_000)))
        eng.start()
        try:
            eng.submit(UpdateRiskLimits(max_orders_per_second=50, max_open_orders=100)).result(5)
            for _ in range(rounds):
                snap = eng.snapshot()
                for sym in TEN:
                    mid = snap.books[sym].mid
                    inst = snap.instruments[sym]
                    assert mid is not None
                    qty = (Decimal(2000) / mid).quantize(inst.lot_size)
                    eng.submit(SubmitOrder(symbol=sym, side="buy", type="market", qty=qty)).result(
                        5
                    )
                    for k in (1, 2):
                        price = (mid * (1 - Decimal(k) / 100)).quantize(inst.tick_size)
                        eng.submit(
                            SubmitOrder(symbol=sym, side="buy", type="limit", qty=qty, price=price)
                        ).result(5)
                    time.sleep(0.1)  # stay under the orders/s throttle
                report = eng.submit(PanicClose()).result(30)
                assert isinstance(report, PanicCompleted)
                durations.append(report.duration_ms)
                flat += report.flat
                eng.submit(ResetHalt(confirm=True)).result(5)
        finally:
            eng.stop()
    return statistics.median(durations), _pct(durations, 0.99), max(durations), flat


def run() -> list[dict[str, object]]:
    p50, p99, n = _fill_latency()
    panic50, panic99, panic_max, flat = _panic()
    return [
        {
            "name": "book update -> paper fill in engine, p50",
            "value": round(p50, 1),
            "unit": "us",
            "target": "",
            "note": f"{n} fills, includes SQLite commit",
        },
        {
            "name": "book update -> paper fill in engine, p99",
            "value": round(p99, 1),
            "unit": "us",
            "target": "<= 1000",
        },
        {
            "name": "panic-to-flat (10 positions, 20 orders), p50",
            "value": round(panic50, 1),
            "unit": "ms",
            "target": "",
        },
        {
            "name": "panic-to-flat (10 positions, 20 orders), p99",
            "value": round(panic99, 1),
            "unit": "ms",
            "target": "<= 100",
            "note": f"flat in {flat}/20 rounds, max {panic_max:.1f}",
        },
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<48} {row['value']:>10} {row['unit']:<4} target {row['target']}")
