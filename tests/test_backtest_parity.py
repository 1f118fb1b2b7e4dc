"""Backtest vs paper-trading replay: the same bars and strategy give exactly the same fills.

The replay path (engine/venues/replay.py) is the live order path with a simulated clock: every
price point of every bar is a market event, the strategy is prepared bar by bar on the bars seen
so far and called on every bar, every command goes validate -> RiskEngine -> PaperBroker, the
risk engine sees the equity after every event. The backtester skips bars where nothing can
happen and precomputes signals. Any shortcut that changes a fill, a denial or a risk halt fails
here - fills are compared field by field (ids, times, prices, fees, slippage, decision mids).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.backtest.config import BacktestConfig
from engine.backtest.data import Bars, load_bars, synthetic_bars
from engine.backtest.runner import Backtest
from engine.matching import FeeSchedule
from engine.risk import RiskLimits
from engine.strategy import make_strategy
from engine.venues.replay import ReplaySession, run_paper_replay

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def bars() -> Bars:
    path = DATA / "binance_spot_BTCUSDT_1h.csv.gz"
    if not path.is_file():
        return synthetic_bars(4000, seed=21, interval_ms=3_600_000, annual_vol=0.7)
    full, _ = load_bars(path)
    return full.window(60_000, 64_000)  # 2024-06 .. 2024-11, real gaps included


def _replay(bars: Bars, name: str, params: dict[str, str], cfg: BacktestConfig) -> ReplaySession:
    limits = cfg.risk_limits()
    assert isinstance(limits, RiskLimits)
    return run_paper_replay(
        bars,
        make_strategy(name, params),
        instrument=cfg.instrument(bars.symbol, bars.tick_size),
        model=cfg.slippage_model(),
        cash=cfg.cash,
        fees=FeeSchedule(maker=cfg.maker_fee, taker=cfg.taker_fee),
        limits=limits,
        fill=cfg.fill,
        limit_fill=cfg.limit_fill,
        latency_ns=cfg.latency_ns(bars.interval_ms),
        day_start_hour=cfg.day_start_hour,
    )


CASES: list[tuple[str, dict[str, str], dict[str, Any]]] = [
    ("sma_cross", {}, {}),
    ("sma_cross", {}, {"fill": "close"}),
    ("sma_cross", {"fast": "5", "slow": "12"}, {"slippage": "book", "latency_bars": 1}),
    ("breakout", {}, {}),
    ("breakout", {"atr_mult": "1.5"}, {"slippage": "impact", "latency_ms": 1_500_000}),
    ("mean_reversion", {}, {"slippage": "fixed:5"}),
    ("mean_reversion", {"entry_z": "1.5"}, {"fill": "close", "slippage": "impact"}),
    ("grid", {"levels": "20", "range_pct": "10"}, {}),
    ("grid", {"levels": "20", "range_pct": "10"}, {"limit_fill": "touch", "fill": "close"}),
    ("grid", {"levels": "15", "range_pct": "8"}, {"slippage": "book", "latency_bars": 2}),
    # risk in the way: a daily-loss halt, order-size denials
    ("sma_cross", {}, {"risk": {"max_daily_loss_pct": "1"}}),
    ("breakout", {}, {"risk": {"max_order_notional": "5000"}, "cash": Decimal(20000)}),
    ("grid", {"levels": "20", "range_pct": "10"}, {"risk": {"max_daily_loss_pct": "0.5"}}),
]


@pytest.mark.parametrize(("name", "params", "cfg"), CASES)
def test_backtest_and_replay_give_identical_fills(
    bars: Bars, name: str, params: dict[str, str], cfg: dict[str, Any]
) -> None:
    config = BacktestConfig(**cfg)
    rec = Backtest(bars, make_strategy(name, params), config).run()
    session = _replay(bars, name, params, config)
    assert rec.fills == session.log.fills
    assert [(d.ts_ns, d.reason) for d in rec.denials] == [
        (d.ts_ns, d.reason) for d in session.log.denials
    ]
    assert [(s.ts_ns, s.state, s.reason) for s in rec.state_changes] == session.log.states
    assert rec.cash == session.portfolio.cash
    assert rec.qty == session.portfolio.position(bars.symbol).qty
    assert [o.order_id for o in rec.open_orders] == list(session.orders)
    assert session.risk.state.value == (
        rec.state_changes[-1].state if rec.state_changes else "ACTIVE"
    )
    # the backtester did visit fewer points than the replay (that is the point of it)
    assert rec.points_visited < 4 * len(bars)


def test_the_parity_cases_exercise_what_they_claim(bars: Bars) -> None:
    """Guard against a vacuous parity test: the risky cases do deny and halt."""
    halted = Backtest(
        bars, make_strategy("sma_cross"), BacktestConfig(risk={"max_daily_loss_pct": "1"})
    ).run()
    assert halted.state_changes
    assert halted.denials
    assert halted.fills
    grid = Backtest(
        bars, make_strategy("grid", {"levels": "20", "range_pct": "10"}), BacktestConfig()
    ).run()
    assert any(f.liquidity.value == "maker" for f in grid.fills)
    lat = Backtest(
        bars, make_strategy("sma_cross"), BacktestConfig(slippage="book", latency_bars=1)
    ).run()
    assert any(f.slippage != 0 for f in lat.fills)
