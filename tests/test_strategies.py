"""Built-in strategies on real data: pinned counts and final balances, reruns identical.

Pinned values come from running each strategy once on the named file with the defaults shown
(fees 10 bps, no slippage, fill at the next open); a change in any strategy, the broker, the risk
engine or the backtester that moves a fill shows up here. The sma_cross value is independently
confirmed by backtesting.py (tests/test_backtest_crosscheck.py).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from kit import needs_data as kit_needs_data

from engine.backtest.config import BacktestConfig
from engine.backtest.data import Bars, load_bars, synthetic_bars
from engine.backtest.runner import Backtest
from engine.messages import SubmitOrder
from engine.model.orders import OrderSide
from engine.strategy import (
    STRATEGIES,
    Breakout,
    Grid,
    MeanReversion,
    Param,
    ParamError,
    SmaCross,
    make_strategy,
    parse_kv,
    parse_params,
)
from engine.strategy import indicators as ind
from engine.strategy.base import params_mapping

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_data = kit_needs_data(DATA)

PINNED = [
    # strategy, params, file, symbol, fills, closed trades, final equity, open orders
    ("sma_cross", {}, "binance_spot_BTCUSDT_1h.csv.gz", None, 3113, 1556, "34955.3624242436", 0),
    ("breakout", {}, "binance_spot_ETHUSDT_1h.csv.gz", None, 2120, 1060, "11123.2986344510", 0),
    (
        "mean_reversion",
        {},
        "binance_spot_SOLUSDT_30m_2020-09_to_2025-09.csv.gz",
        None,
        3394,
        1697,
        "3772.6002768152",
        0,
    ),
    (
        "grid",
        {"levels": "12", "range_pct": "6"},
        "binance_spot_BTC_ETH_1m_2025-06.csv.gz",
        "BTC/USDT",
        46,
        37,
        "10350.8280749802",
        6,
    ),
]


def _run(bars: Bars, name: str, params: dict[str, str], **cfg: object) -> Backtest:
    bt = Backtest(bars, make_strategy(name, params), BacktestConfig(**cfg))  # type: ignore[arg-type]
    bt.run()
    return bt


@needs_data
@pytest.mark.parametrize(
    ("name", "params", "file", "symbol", "fills", "trades", "final", "open_orders"), PINNED
)
def test_strategy_on_real_data_is_pinned_and_repeatable(
    name: str,
    params: dict[str, str],
    file: str,
    symbol: str | None,
    fills: int,
    trades: int,
    final: str,
    open_orders: int,
) -> None:
    from engine.backtest.result import build_trades

    bars, _ = load_bars(DATA / file, symbol)
    first = _run(bars, name, params).record
    assert len(first.fills) == fills
    closed, _ = build_trades(first.fills, bars.price(int(bars.close[-1])))
    assert len(closed) == trades
    assert first.final_equity == Decimal(final)
    assert len(first.open_orders) == open_orders
    assert not first.denials
    # exact accounting: cash + position at the last close is the final equity, fees add up
    assert first.final_equity == first.cash + first.qty * bars.price(int(bars.close[-1]))
    second = _run(bars, name, params).record
    assert second.fills == first.fills
    assert second.final_equity == first.final_equity


@needs_data
def test_sma_cross_follows_the_rules_exactly() -> None:
    """Cross at bar i's close, fill at bar i+1's open, qty = cash / (open x 1.001) floored."""
    bars, _ = load_bars(DATA / "binance_spot_BTCUSDT_1h.csv.gz")
    bars = bars.window(0, 3000)
    rec = _run(bars, "sma_cross", {}).record
    strat = SmaCross()
    strat.prepare(bars)
    closes = bars.close.astype(np.float64)
    fast = np.convolve(closes, np.ones(10) / 10, "valid")[20:]  # aligned to index 29..
    slow = np.convolve(closes, np.ones(30) / 30, "valid")
    diff = fast - slow
    ups = [29 + k for k in range(1, len(diff)) if diff[k - 1] < 0 < diff[k]]
    assert ups[:5] == [int(i) for i in np.flatnonzero(strat.up)[:5]]
    cash = Decimal(10000)
    buy = rec.fills[0]
    i = int(np.flatnonzero(strat.up)[0])
    assert buy.ts_event == int(bars.time_ms[i + 1]) * 1_000_000
    open_px = bars.price(int(bars.open[i + 1]))
    assert buy.price == open_px
    lots = int(cash / (open_px * Decimal("1.001")) / Decimal("0.00001"))
    assert buy.qty == Decimal("0.00001") * lots
    sell = rec.fills[1]
    assert sell.side is OrderSide.SELL
    assert sell.qty == buy.qty


def test_signals_are_causal_and_window_independent() -> None:
    """Preparing on a tail window gives the same signal at its last bar as the full run."""
    bars = synthetic_bars(3000, seed=9)
    for cls in (SmaCross, Breakout, MeanReversion):
        full = cls()
        full.prepare(bars)
        look = full.lookback
        for i in range(look, 3000, 97):
            part = cls()
            part.prepare(bars.window(i + 1 - look, i + 1))
            for attr in ("up", "down", "enter", "leave"):
                if hasattr(full, attr):
                    assert getattr(part, attr)[-1] == getattr(full, attr)[i], (cls.name, attr, i)
            # and a later bar never changes an earlier signal
            longer = cls()
            longer.prepare(bars.window(0, i + 1))
            for attr in ("up", "down", "enter", "leave"):
                if hasattr(full, attr):
                    assert np.array_equal(getattr(longer, attr), getattr(full, attr)[: i + 1])


def test_zscore_is_exact_on_integers() -> None:
    close = np.array([100, 102, 101, 105, 98, 100, 100, 100, 100], dtype=np.int64)
    z, valid = ind.zscore(close, 4)
    w = close[1:5].astype(float)
    expected = (w[-1] - w.mean()) / w.std()
    assert z[4] == pytest.approx(expected, rel=1e-12)
    assert not valid[2]
    assert valid[4]
    assert not valid[8]


def test_param_schema_parses_and_refuses() -> None:
    assert set(STRATEGIES) == {"sma_cross", "breakout", "mean_reversion", "grid"}
    s = make_strategy("sma_cross", parse_kv(["fast=5", "slow=20"]))
    assert s.params == {"fast": 5, "slow": 20}
    with pytest.raises(ParamError, match="shorter"):
        make_strategy("sma_cross", {"fast": "30", "slow": "10"})
    with pytest.raises(ParamError, match="unknown parameter"):
        make_strategy("sma_cross", {"fats": "3"})
    with pytest.raises(ParamError, match=">= 1"):
        make_strategy("sma_cross", {"fast": "0"})
    with pytest.raises(ParamError, match="whole number"):
        make_strategy("breakout", {"entry": "2.5"})
    with pytest.raises(ParamError, match="unknown strategy"):
        make_strategy("nope")
    with pytest.raises(ParamError, match="name=value"):
        parse_kv(["fast"])
    g = make_strategy("grid", {"lower": "100.5", "upper": "120"})
    assert g.params["lower"] == Decimal("100.5")
    for cls in STRATEGIES.values():
        schema = cls.schema()
        assert schema
        assert all({"name", "type", "default", "min", "max"} <= set(p) for p in schema)
    assert Param("x", bool, False).parse("yes") is True


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        (Param("n", int, 1, min=1, max=100), "1e999999", "n must be <= 100, got 1e999999"),
        (Param("n", int, 1, min=1, max=100), "1e2999999", "n must be <= 100, got 1e2999999"),
        (Param("n", int, 1, min=1, max=100), "-1e999999", "n must be >= 1, got -1e999999"),
        (Param("n", int, 1), True, "n must be a whole number, got True"),
        (Param("n", int, 1), [0], "n must be a whole number, got a list"),
        pytest.param(Param("n", int, 1), 10**5000, "n about 1e5000 is too large", id="10**5000"),
        (Param("x", float, 1.0), "nan", "x nan is not a finite number"),
        (Param("x", float, 1.0), float("inf"), "x inf is not a finite number"),
        (Param("x", float, 1.0, max=10.0), Decimal("9e999999999"), "x must be <= 10.0"),
        (Param("d", Decimal, Decimal(0)), "-1e-999999", "d -1e-999999 is too small"),
        (
            Param("d", Decimal, Decimal(0)),
            "1" * 1_000_000,
            "d must be a number, got text of 1,000,",
        ),
        (Param("b", bool, False), "maybe", "b must be true or false, got 'maybe'"),
        (Param("b", bool, False), [0], "b must be true or false, got 'a list'"),
        (Param("s", str, ""), "x" * 1000, "s must be text of at most 200 characters"),
        (Param("s", str, ""), 5, "s must be text of at most 200 characters, got '5'"),
    ],
)
def test_params_refuse_hostile_values_in_words(param: Param, value: object, message: str) -> None:
    with pytest.raises(ParamError) as err:
        param.parse(value)
    assert str(err.value).startswith(message)
    assert len(str(err.value)) < 300


def test_params_read_numpy_scalars_by_value() -> None:
    assert Param("n", int, 1).parse(np.int64(7)) == 7
    assert type(Param("n", int, 1).parse(np.int64(7))) is int
    assert Param("x", float, 1.0).parse(np.float32(0.25)) == 0.25
    assert Param("d", Decimal, Decimal(0)).parse(np.float64(0.01)) == Decimal("0.01")
    assert Param("b", bool, False).parse(np.True_) is True


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (None, "strategy parameters must be a mapping of name to value, got None"),
        ([("fast", 5)], "strategy parameters must be a mapping of name to value, got a list"),
        ({1: 5}, "parameter names must be text, got '1'"),
        ({f"k{i}": 1 for i in range(100)}, "too many strategy parameters (100; at most 64)"),
    ],
)
def test_params_mapping_refuses_what_is_not_a_small_mapping(values: object, message: str) -> None:
    with pytest.raises(ParamError) as err:
        params_mapping(values)
    assert str(err.value) == message


def test_unknown_parameter_list_is_bounded() -> None:
    with pytest.raises(ParamError) as err:
        parse_params(SmaCross.params_schema, {f"x{i}": 1 for i in range(60)})
    assert str(err.value) == (
        "unknown parameter(s) x0, x1, x10, x11, x12 and 55 more; known: fast, slow"
    )


def test_grid_rearms_on_fill() -> None:
    """Every filled buy at level k is followed by a sell of the same size at level k+1."""
    bars = synthetic_bars(20_000, seed=4, annual_vol=0.8)
    bt = Backtest(bars, Grid(levels=8, range_pct=3.0), BacktestConfig(limit_fill="touch"))
    rec = bt.run()
    grid = bt.strategy
    assert isinstance(grid, Grid)
    prices = grid.prices
    buys = [f for f in rec.fills if f.side is OrderSide.BUY]
    sells = [f for f in rec.fills if f.side is OrderSide.SELL]
    assert len(buys) >= 3
    assert sells
    for s in sells:
        k = prices.index(s.price)
        assert k >= 1
        assert any(b.price == prices[k - 1] and b.qty == s.qty for b in buys)
    assert all(f.liquidity.value == "maker" for f in rec.fills)


def test_orders_go_through_risk_and_denials_are_recorded() -> None:
    bars = synthetic_bars(5000, seed=2)
    rec = _run(bars, "sma_cross", {}, risk={"max_order_notional": "1000"}).record
    assert not rec.fills
    assert rec.denials
    assert all(d.limit == "max_order_notional" for d in rec.denials)


def test_min_notional_and_lot_size_are_respected() -> None:
    bars = synthetic_bars(3000, seed=2)
    rec = _run(bars, "sma_cross", {}, lot_size=Decimal("0.001")).record
    assert rec.fills
    assert all(f.qty % Decimal("0.001") == 0 for f in rec.fills)
    tiny = _run(bars, "sma_cross", {}, cash=Decimal(4)).record  # 4 USDT < min notional 5
    assert not tiny.fills
    assert not tiny.denials


def test_context_refuses_bad_commands_like_the_engine() -> None:
    bars = synthetic_bars(100, seed=1)
    bt = Backtest(bars, SmaCross(), BacktestConfig())
    bt.run()
    out = bt.submit(SubmitOrder(symbol="BTC/USDT", side="buy", type="market", qty="abc"))
    assert out.__class__.__name__ == "OrderDenied"
    assert "not a number" in out.reason
