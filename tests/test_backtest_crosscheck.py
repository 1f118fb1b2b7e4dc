"""Cross-check against backtesting.py (kernc): same bars, same rules, same fills, same equity.

backtesting.py's ``FractionalBacktest(fractional_unit=lot)`` trades whole multiples of the lot.
A market order of ``size`` = a fraction of equity is sized at fill time (next open) as
``int(margin_available * size // (price * (1 + commission)))`` units, commission is charged on
entry and exit (``commission x size x price``), and an open trade at the end is marked at the last
close. That is our sma_cross rule (``cash / (open x (1 + fee))`` floored to the lot) when the
fraction is the largest float below 1 and the account is flat (margin available == cash).
Signals use backtesting.lib.crossover on pandas rolling means.

backtesting.py has no minimum notional, so ours is set to 0 here.
"""

from __future__ import annotations

import math
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kit import needs_data as kit_needs_data

from engine.backtest.config import BacktestConfig
from engine.backtest.data import Bars, load_bars
from engine.backtest.result import build_trades
from engine.backtest.runner import Backtest
from engine.model.orders import OrderSide
from engine.strategy import SmaCross

pd = pytest.importorskip("pandas")
backtesting = pytest.importorskip("backtesting")
from backtesting import Strategy  # noqa: E402
from backtesting.lib import FractionalBacktest, crossover  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_data = kit_needs_data(DATA)
FEE = 0.001
LOT = 1e-5


def _bt_run(bars: Bars, fast: int, slow: int) -> Any:
    df = pd.DataFrame(
        {
            "Open": bars.floats("open"),
            "High": bars.floats("high"),
            "Low": bars.floats("low"),
            "Close": bars.floats("close"),
            "Volume": bars.volume,
        },
        index=pd.to_datetime(bars.time_ms, unit="ms"),
    )

    def sma(x: Any, n: int) -> Any:
        return pd.Series(x).rolling(n).mean().to_numpy()

    class Cross(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.f = self.I(sma, self.data.Close, fast)
            self.s = self.I(sma, self.data.Close, slow)

        def next(self) -> None:
            if crossover(self.f, self.s):
                if not self.position:
                    self.buy(size=float(np.nextafter(1.0, 0.0)))
            elif crossover(self.s, self.f) and self.position:
                self.position.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = FractionalBacktest(
            df,
            Cross,
            cash=10_000,
            commission=FEE,
            trade_on_close=False,
            exclusive_orders=True,
            fractional_unit=LOT,
        )
        return bt.run()


def _bt_fills(stats: Any) -> list[tuple[int, str, int, int]]:
    """(time ms, side, lots, price in cents) of every fill backtesting.py made, in order."""
    fills = []
    for tr in stats["_trades"].itertuples():
        lots = round(tr.Size / LOT)
        fills.append(
            (int(tr.EntryTime.value // 1_000_000), "buy", lots, round(tr.EntryPrice * 100))
        )
        if not (isinstance(tr.ExitTime, float) and math.isnan(tr.ExitTime)) and not pd.isna(
            tr.ExitTime
        ):
            fills.append(
                (int(tr.ExitTime.value // 1_000_000), "sell", lots, round(tr.ExitPrice * 100))
            )
    # A trade still open at the end is only in the broker, in fractional units (lots, and
    # prices scaled by the lot).
    for tr in stats["_strategy"]._broker.trades:
        t = int(tr.entry_time.value // 1_000_000)
        fills.append((t, "buy", round(tr.size), round(tr.entry_price / LOT * 100)))
    return sorted(fills, key=lambda f: (f[0], f[1] == "buy"))


def _ours(bars: Bars, fast: int, slow: int) -> Any:
    cfg = BacktestConfig(
        taker_fee=Decimal(str(FEE)), maker_fee=Decimal(str(FEE)), min_notional=Decimal(0)
    )
    return Backtest(bars, SmaCross(fast=fast, slow=slow), cfg).run()


def _compare(bars: Bars, fast: int, slow: int) -> tuple[Any, Any]:
    stats = _bt_run(bars, fast, slow)
    rec = _ours(bars, fast, slow)
    ours = [
        (
            f.ts_event // 1_000_000,
            f.side.value,
            int(f.qty / Decimal("0.00001")),
            int(f.price * 100),
        )
        for f in rec.fills
    ]
    theirs = _bt_fills(stats)
    assert len(ours) == len(theirs)
    assert ours == theirs
    final_bt = float(stats["Equity Final [$]"])
    assert math.isclose(float(rec.final_equity), final_bt, rel_tol=1e-6)
    closed, _ = build_trades(rec.fills, bars.price(int(bars.close[-1])))
    assert len(closed) == int(stats["# Trades"])
    wins = sum(1 for t in closed if t.pnl > 0)
    assert wins / len(closed) * 100 == pytest.approx(float(stats["Win Rate [%]"]), rel=1e-9)
    # the equity curve itself, bar by bar
    ours_eq = rec.equity
    theirs_eq = stats["_equity_curve"]["Equity"].to_numpy()
    np.testing.assert_allclose(ours_eq, theirs_eq, rtol=1e-6)
    dd = float(np.min(ours_eq / np.maximum.accumulate(ours_eq) - 1) * 100)
    assert dd == pytest.approx(float(stats["Max. Drawdown [%]"]), rel=1e-6)
    return rec, stats


@needs_data
def test_sma_cross_matches_backtesting_py_on_btcusdt_1h() -> None:
    bars, _ = load_bars(DATA / "binance_spot_BTCUSDT_1h.csv.gz")
    rec, stats = _compare(bars, 10, 30)
    assert len(rec.fills) == 3113  # 1556 round trips and a position open at the end
    assert rec.fills[-1].side is OrderSide.BUY
    assert rec.qty > 0
    assert int(stats["# Trades"]) == 1556


@needs_data
def test_sma_cross_matches_backtesting_py_on_a_year_of_5m() -> None:
    bars, _ = load_bars(DATA / "binance_spot_BTCUSDT_5m_2022-2026.csv.gz")
    year = bars.between(
        int(np.datetime64("2024-01-01", "ms").astype(np.int64)),
        int(np.datetime64("2025-01-01", "ms").astype(np.int64)),
    )
    assert len(year) > 100_000
    rec, _ = _compare(year, 20, 50)
    assert len(rec.fills) > 1000
