"""Backtests on real trades and L2 updates (hftbacktest BTCUSDT captures) through the live path."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kit import needs_data

from engine.backtest.config import BacktestConfig
from engine.backtest.depth import CAPTURE_FILES
from engine.backtest.result import result_document
from engine.backtest.ticks import run_tick_backtest
from engine.model.instrument import DEFAULT_INSTRUMENTS
from engine.model.market import TradeTick
from engine.snapshot import BookView
from engine.strategy import SmaCross
from engine.strategy.base import StrategyContext

TICKS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ticks_l2"
pytestmark = needs_data(TICKS)
PATHS = [TICKS / name for name in CAPTURE_FILES]
BTC = DEFAULT_INSTRUMENTS["BTC/USDT"]


class Recording(SmaCross):
    """sma_cross that also records what the tick callbacks showed it."""

    def reset(self) -> None:
        super().reset()
        self.books: list[BookView] = []
        self.trades: list[TradeTick] = []

    def on_book(self, ctx: StrategyContext, book: BookView) -> None:
        self.books.append(book)

    def on_trade(self, ctx: StrategyContext, trade: TradeTick) -> None:
        self.trades.append(trade)


def test_sma_cross_on_one_second_bars_walks_the_recorded_book() -> None:
    cfg = BacktestConfig(cash=Decimal(100_000))
    strat = Recording(fast=5, slow=20)
    rec = run_tick_backtest(PATHS, strat, cfg, instrument=BTC, bar_ms=1000)
    assert len(rec.bars) == 642  # seconds with at least one trade
    assert len(strat.trades) == 19_904  # every recorded trade reached on_trade
    assert strat.books
    assert strat.books[-1].bids
    assert strat.books[-1].asks
    assert len(rec.fills) == 28
    assert rec.final_equity == Decimal("97206.1062212026")
    # ~1.6 BTC at ~61.8k does not fit the best level: it walks several real levels
    first = rec.fills[0]
    assert first.levels > 1
    assert first.slippage > 0
    assert first.mid_at_decision is not None
    doc = result_document(rec)
    assert doc["metrics"]["number_of_trades"] == 14
    assert doc["metrics"]["slippage_paid"] > 0
    again = run_tick_backtest(PATHS, SmaCross(fast=5, slow=20), cfg, instrument=BTC)
    assert again.fills == rec.fills
