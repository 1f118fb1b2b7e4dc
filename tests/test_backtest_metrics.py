"""Metrics against an independent library (empyrical-reloaded) on the same series, and by hand.

Our definitions follow empyrical's (see engine/backtest/metrics.py); the one deliberate
difference is CAGR's year count, taken from the elapsed time rather than the number of returns so
that missing bars do not shorten the year: on gap-free data the two agree, on gapped data they
agree once empyrical is given the same number of periods per elapsed year.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from engine.backtest import metrics as m
from engine.backtest.config import BacktestConfig
from engine.backtest.data import Bars, load_bars, synthetic_bars
from engine.backtest.result import build_trades, compute_metrics, result_document
from engine.backtest.runner import Backtest
from engine.model.fill import Fill, Liquidity
from engine.model.orders import OrderSide
from engine.strategy import make_strategy

ep = pytest.importorskip("empyrical")
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _bars_gap_free() -> Bars:
    path = DATA / "binance_spot_BTC_ETH_1m_2025-06.csv.gz"
    if path.is_file():
        bars, rep = load_bars(path, "BTC/USDT")
        assert rep.gap_count == 0
        return bars
    return synthetic_bars(43_200, seed=8)


def _check_against_empyrical(bars: Bars, name: str, ppy_for_cagr: float | None = None) -> None:
    rec = Backtest(bars, make_strategy(name), BacktestConfig()).run()
    doc = result_document(rec)
    mx = doc["metrics"]
    r = m.simple_returns(rec.equity)
    ppy = m.periods_per_year(bars.interval_ms)
    assert len(rec.fills) > 20
    assert mx["total_return"] == pytest.approx(ep.cum_returns_final(r), rel=1e-9)
    assert mx["sharpe"] == pytest.approx(ep.sharpe_ratio(r, annualization=ppy), rel=1e-9)
    assert mx["sortino"] == pytest.approx(ep.sortino_ratio(r, annualization=ppy), rel=1e-9)
    assert mx["volatility"] == pytest.approx(ep.annual_volatility(r, annualization=ppy), rel=1e-9)
    assert mx["max_drawdown"] == pytest.approx(ep.max_drawdown(r), rel=1e-9)
    cagr_ppy = ppy_for_cagr or ppy
    assert mx["cagr"] == pytest.approx(ep.annual_return(r, annualization=cagr_ppy), rel=1e-9)
    assert mx["calmar"] == pytest.approx(ep.calmar_ratio(r, annualization=cagr_ppy), rel=1e-9)


def test_metrics_match_empyrical_on_gap_free_real_data() -> None:
    _check_against_empyrical(_bars_gap_free(), "mean_reversion")


def test_metrics_match_empyrical_on_gapped_data_with_elapsed_years() -> None:
    path = DATA / "binance_spot_ETHUSDT_1h.csv.gz"
    if not path.is_file():
        pytest.skip("shared/data not available")
    bars, rep = load_bars(path)
    assert rep.gap_count > 0
    years = (int(bars.time_ms[-1]) - int(bars.time_ms[0])) / m.MS_PER_YEAR
    _check_against_empyrical(bars, "breakout", ppy_for_cagr=(len(bars) - 1) / years)


def test_drawdown_and_its_duration_by_hand() -> None:
    day = 86_400_000
    t = np.arange(8, dtype=np.int64) * day
    eq = np.array([100, 110, 99, 88, 105, 111, 100, 120], dtype=np.float64)
    dd = m.drawdown(eq, t)
    assert dd.max_drawdown == pytest.approx(88 / 110 - 1)
    assert dd.peak_ms == 1 * day
    assert dd.trough_ms == 3 * day
    assert dd.duration_ms == 4 * day  # from the 110 peak (day 1) back above it on day 5
    never_back = m.drawdown(np.array([1.0, 2.0, 1.5, 1.2]), t[:4])
    assert never_back.duration_ms == 2 * day  # peak on day 1, still under water at the end
    flat = m.drawdown(np.array([5.0, 5.0, 6.0]), t[:3])
    assert flat.max_drawdown == 0
    assert flat.duration_ms == 0


def test_trade_stats_and_round_trips_exact() -> None:
    def fill(n: int, side: OrderSide, qty: str, price: str, fee: str) -> Fill:
        q, p = Decimal(qty), Decimal(price)
        return Fill(
            fill_id=f"F{n}",
            order_id=f"O{n}",
            symbol="BTC/USDT",
            side=side,
            qty=q,
            price=p,
            notional=q * p,
            fee=Decimal(fee),
            fee_asset="USDT",
            liquidity=Liquidity.TAKER,
            mid_at_decision=p,
            slippage=Decimal(0),
            levels=1,
            ts_event=n * 1_000_000,
            ts_init=n * 1_000_000,
        )

    fills = [
        fill(1, OrderSide.BUY, "2", "100", "0.2"),
        fill(2, OrderSide.SELL, "1", "110", "0.11"),  # closes half: +10 - 0.1 - 0.11
        fill(3, OrderSide.SELL, "1.5", "90", "0.135"),  # closes the rest, opens a short of 0.5
    ]
    closed, still_open = build_trades(fills, Decimal("80"))
    assert [t.pnl for t in closed] == [Decimal("9.79"), Decimal("-10.19")]
    assert closed[1].fees == Decimal("0.1") + Decimal("0.09")
    assert len(still_open) == 1
    assert still_open[0].side == "short"
    assert still_open[0].qty == Decimal("0.5")
    assert still_open[0].pnl == Decimal("0.5") * (90 - 80) - Decimal("0.045")
    stats = m.trade_stats([t.pnl for t in closed])
    assert stats["win_rate"] == 0.5
    assert stats["profit_factor"] == pytest.approx(9.79 / 10.19)
    assert stats["average_trade"] == pytest.approx((9.79 - 10.19) / 2)


def test_monthly_returns_chain_to_the_total() -> None:
    bars = _bars_gap_free()
    rec = Backtest(bars, make_strategy("sma_cross"), BacktestConfig()).run()
    monthly = m.monthly_returns(rec.equity, bars.time_ms, float(rec.config.cash))
    total = np.prod([1 + r for _, _, r in monthly]) - 1
    closed, _ = build_trades(rec.fills, bars.price(int(bars.close[-1])))
    mx = compute_metrics(rec, closed)
    assert total == pytest.approx(mx["total_return"], rel=1e-9)
    assert mx["fees_paid"] == sum(f.fee for f in rec.fills)
    assert mx["number_of_trades"] == len(closed)
    assert 0 <= mx["exposure"] <= 1
    assert mx["turnover"] > 0
