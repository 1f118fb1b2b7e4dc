"""Fill rules of the bar backtester on hand-made bars: where and when each order fills.

A scripted strategy sends given orders at given bars; each test states the expected fill from
the rules in engine/backtest/runner.py and engine/backtest/slippage.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from engine.backtest.config import BacktestConfig
from engine.backtest.data import Bars, synthetic_bars
from engine.backtest.job import BacktestJob
from engine.backtest.runner import Backtest
from engine.backtest.slippage import BookSlippage, ImpactSlippage, impact_inputs
from engine.backtest.worker import start_backtest
from engine.book import OrderBook
from engine.messages import SubmitOrder
from engine.model.instrument import DEFAULT_INSTRUMENTS
from engine.model.orders import OrderSide
from engine.strategy.base import Strategy, StrategyContext

H = 3_600_000
T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC
INST = DEFAULT_INSTRUMENTS["BTC/USDT"]


def make_bars(rows: list[tuple[float, float, float, float]], volume: float = 100.0) -> Bars:
    n = len(rows)
    arr = np.array([[round(x * 100) for x in r] for r in rows], dtype=np.int64)
    return Bars(
        "BTC/USDT",
        Decimal("0.01"),
        H,
        T0 + np.arange(n, dtype=np.int64) * H,
        arr[:, 0].copy(),
        arr[:, 1].copy(),
        arr[:, 2].copy(),
        arr[:, 3].copy(),
        np.full(n, volume),
    )


class Scripted(Strategy):
    name = "scripted"

    def __init__(self, script: dict[int, Callable[[StrategyContext], object]]) -> None:
        super().__init__()
        self.script = script

    def signal_bars(self) -> np.ndarray:  # type: ignore[type-arg]
        return np.array(sorted(self.script), dtype=np.int64)

    def on_bar(self, ctx: StrategyContext, i: int) -> None:
        action = self.script.get(i)
        if action is not None:
            action(ctx)


def market(side: str, qty: str) -> Callable[[StrategyContext], object]:
    return lambda ctx: ctx.submit(
        SubmitOrder(symbol="BTC/USDT", side=side, type="market", qty=Decimal(qty))
    )


def limit(side: str, qty: str, price: str) -> Callable[[StrategyContext], object]:
    return lambda ctx: ctx.submit(
        SubmitOrder(
            symbol="BTC/USDT", side=side, type="limit", qty=Decimal(qty), price=Decimal(price)
        )
    )


BARS = make_bars(
    [
        (100, 101, 99, 100.5),
        (100.5, 102, 100, 101.5),  # 1
        (101.5, 103, 101, 102.5),  # 2
        (102.5, 104, 98, 99),  # 3: down bar, low 98
        (99, 99.5, 97, 97.5),  # 4
        (96, 97, 95, 96.5),  # 5: gaps down to 96
        (96.5, 98, 96, 97.5),  # 6
    ]
)


def run(script: dict[int, Callable[[StrategyContext], object]], **cfg: object) -> Backtest:
    bt = Backtest(BARS, Scripted(script), BacktestConfig(**cfg))  # type: ignore[arg-type]
    bt.run()
    return bt


def ns(bar: int, third: int = 0) -> int:
    """Time of a bar's point: 0 open, 1/2 the extremes, 3 the close."""
    t = (T0 + bar * H) * 1_000_000
    span = H * 1_000_000
    return t + span - 1 if third == 3 else t + span * third // 3


def test_market_order_fills_at_the_next_open_or_at_the_close() -> None:
    nxt = run({1: market("buy", "0.1")}).record.fills
    assert len(nxt) == 1
    assert nxt[0].price == Decimal("101.5")
    assert nxt[0].ts_event == ns(2)
    assert nxt[0].fee == Decimal("0.01015")  # 10 bps of 10.15, exact
    close = run({1: market("buy", "0.1")}, fill="close").record.fills
    assert close[0].price == Decimal("101.5")
    assert close[0].ts_event == ns(1, 3)
    last = run({6: market("buy", "0.1")}).record.fills
    assert last == []  # decided on the last close: there is no next open


def test_limit_order_touch_versus_through() -> None:
    # a buy at 98 rests from bar 3's open (102.5); bar 3's low is exactly 98
    touch = run({2: limit("buy", "0.1", "98")}, limit_fill="touch").record.fills
    assert [(f.price, f.ts_event, f.liquidity.value) for f in touch] == [
        (Decimal("98"), ns(3, 2), "maker")  # down bar: open, high, low, close
    ]
    through = run({2: limit("buy", "0.1", "98")}, limit_fill="through").record.fills
    assert through[0].ts_event == ns(4, 2)  # needs a print below 98: bar 4's low of 97
    assert through[0].price == Decimal("98")  # at its limit, not at the low


def test_gap_through_a_resting_limit_fills_at_the_limit_on_the_open() -> None:
    fills = run({3: limit("buy", "0.1", "96.5")}, limit_fill="through").record.fills
    # bar 4 low 97 does not reach it; bar 5 opens at 96 (a print below 96.5)
    assert fills[0].ts_event == ns(5)
    assert fills[0].price == Decimal("96.5")


def test_marketable_limit_takes_at_the_market() -> None:
    fills = run({1: limit("buy", "0.1", "105")}).record.fills
    assert fills[0].price == Decimal("101.5")
    assert fills[0].liquidity.value == "taker"


def test_latency_in_bars_and_its_cost() -> None:
    fills = run({1: market("buy", "0.1")}, latency_bars=2).record.fills
    f = fills[0]
    assert f.ts_event == ns(4)
    assert f.price == Decimal("99")
    assert f.mid_at_decision == Decimal("101.5")  # decided at bar 2's open
    assert f.slippage == (Decimal("99") - Decimal("101.5")) * Decimal("0.1")  # a gain here


def test_latency_in_ms_lands_between_points() -> None:
    # 30 min after bar 2's open, between the points at 20 and 40 min: it meets the book of the
    # first extreme of bar 2 (an up bar: the low, 101) at its exact arrival time
    fills = run({1: market("buy", "0.1")}, latency_ms=30 * 60_000).record.fills
    assert fills[0].ts_event == ns(2) + 30 * 60_000 * 1_000_000
    assert fills[0].price == Decimal("101")


def test_fixed_slippage_is_symmetric_around_the_price() -> None:
    fills = run({1: market("buy", "1"), 3: market("sell", "1")}, slippage="fixed:10").record.fills
    buy, sell = fills
    assert buy.price == Decimal("101.61")  # 101.5 + ceil(10.15 ticks)
    assert buy.slippage == Decimal("0.11")
    assert sell.price == Decimal("98.90")  # bar 4 opens at 99: 99 - ceil(9.9) ticks
    assert sell.slippage == Decimal("0.10")


def test_impact_model_costs_the_square_root_law() -> None:
    bars = synthetic_bars(500, seed=3, interval_ms=H)
    model = ImpactSlippage(coef=1.0, window=20, levels=32, max_volumes=10.0)
    model.prepare(bars, INST)
    sigma, volume = impact_inputs(bars, 20)
    i = 300
    closes = bars.close[i - 21 : i].astype(float)
    assert sigma[i] == pytest.approx(np.std(np.diff(np.log(closes)), ddof=1))
    assert volume[i] == pytest.approx(bars.volume[i - 20 : i].mean())
    p = int(bars.open[i])
    bids, asks = model.book_at(p, i)
    book = OrderBook(INST)
    book.apply_snapshot(bids, asks, 1)
    assert book.mid_x2() is not None
    assert abs(book.mid_x2() - 2 * p) <= 1
    # walking 1/4 of Qmax (whole bands) costs Y sigma sqrt(Q / V) on average (ticks round out)
    q_lots = sum(size for _, size in asks[:16])
    taken = book.walk(OrderSide.BUY, q_lots)
    vwap = sum(px * s for px, s in taken) / q_lots
    q = q_lots * float(INST.lot_size)
    expected = sigma[i] * math.sqrt(q / volume[i])
    assert (vwap / p - 1) == pytest.approx(expected, rel=0.02)


def test_book_model_walks_real_depth_and_cancels_what_is_not_there() -> None:
    model = BookSlippage()
    model.prepare(BARS, INST)
    _, asks = model.book_at(6_000_000, 0)  # 60,000.00
    depth = sum(p * s for p, s in asks) * float(INST.tick_size * INST.lot_size)
    assert depth == pytest.approx(6_618_600, rel=1e-3)  # the profile's 30 bps total
    small = run({1: market("buy", "200")}, slippage="book", cash=Decimal(50_000)).record
    assert small.fills[0].levels == 1  # ~20k USDT: inside the 140k at the touch
    assert small.fills[0].price == Decimal("101.5")
    assert small.fills[0].slippage == 0
    big = run({1: market("buy", "3000")}, slippage="book", cash=Decimal(10**6)).record
    # ~305k USDT walks past the touch (140k) and the 1 bps level (291k cumulative)
    assert big.fills[0].levels == 3
    assert big.fills[0].slippage > 0
    assert Decimal("101.5") < big.fills[0].price < Decimal("101.52")
    # a tenth of the depth (book:0.1, 662k USDT to 30 bps) cannot fill ~913k USDT (under the
    # risk ceiling of 1M per order): the rest is cancelled, as on a real book
    huge = run({1: market("buy", "9000")}, slippage="book:0.1", cash=Decimal(2 * 10**6)).record
    assert not huge.denials
    assert Decimal(6000) < huge.fills[0].qty < Decimal(9000)
    assert "depth exhausted" in huge.cancels[0].reason


def test_risk_refusals_are_events_not_errors() -> None:
    bt = run({1: market("buy", "1"), 2: limit("buy", "1", "50")})
    reasons = [d.reason for d in bt.record.denials]
    assert len(reasons) == 1
    assert "band" in reasons[0]


def test_worker_process_reports_progress_and_can_be_cancelled(tmp_path: Path) -> None:
    from engine.backtest.data import write_csv

    path = tmp_path / "s.csv"
    write_csv(synthetic_bars(200_000, seed=6), path)
    handle = start_backtest(BacktestJob(data=str(path), strategy="sma_cross"), tmp_path / "a")
    assert handle.wait(120) == "done", handle.error
    progress = [v for k, v in handle.messages if k == "progress"]
    assert len(progress) >= 50
    assert progress == sorted(progress)
    doc = handle.result()
    assert doc["metrics"]["number_of_trades"] > 100
    slow = start_backtest(
        BacktestJob(data=str(path), strategy="breakout", config=BacktestConfig(slippage="impact")),
        tmp_path / "b",
    )
    while slow.state == "running" and slow.progress < 0.2:
        slow.poll(0.05)
    slow.cancel()
    assert slow.wait(60) == "cancelled"
    assert "stopped at bar" in slow.error
    assert not slow.process.is_alive()
