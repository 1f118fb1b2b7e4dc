"""The built-in strategies: ``sma_cross``, ``breakout``, ``mean_reversion``, ``grid``.

All are long-only spot strategies that size by cash (``affordable_qty``) or a fixed quote value
per order, trade through ``SubmitOrder`` only, and compute their signals vectorised in
``prepare`` (see ``engine.strategy.base`` for the timing contract).
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

import numpy as np
import numpy.typing as npt

from engine.backtest.data import Bars
from engine.messages import OrderDenied, SubmitOrder
from engine.model.fill import Fill
from engine.model.orders import OrderSide
from engine.strategy import indicators as ind
from engine.strategy.base import (
    OrderEvent,
    Param,
    ParamError,
    Strategy,
    StrategyContext,
    affordable_qty,
    floor_to_lot,
)

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


def _market(ctx: StrategyContext, side: str, qty: Decimal, source: str) -> SubmitOrder:
    return SubmitOrder(
        symbol=ctx.instrument.symbol, side=side, type="market", qty=qty, source=source
    )


class SmaCross(Strategy):
    """Long when the fast SMA of closes crosses above the slow one, flat when it crosses below.

    Signal at the close of bar ``i``: up when ``fast[i-1] < slow[i-1]`` and ``fast[i] > slow[i]``,
    down for the mirror image (strict inequalities: touching is not crossing). Up while flat buys
    with all cash (``cash / (price x (1 + fee))`` floored to the lot); down while long sells the
    whole position. SMAs are compared exactly (integer window sums cross-multiplied).
    """

    name = "sma_cross"
    title = "SMA crossover"
    params_schema = (
        Param("fast", int, 10, min=1, max=10_000, help="fast SMA length (bars)"),
        Param("slow", int, 30, min=2, max=10_000, help="slow SMA length (bars)"),
    )

    def check_params(self) -> None:
        if self.params["fast"] >= self.params["slow"]:
            raise ParamError("fast must be shorter than slow")

    @property
    def lookback(self) -> int:
        return int(self.params["slow"]) + 1

    def prepare(self, bars: Bars) -> None:
        self.bars = bars
        fast, slow = self.params["fast"], self.params["slow"]
        c = bars.close
        d = ind.compare_means(ind.rolling_sum(c, fast), fast, ind.rolling_sum(c, slow), slow)
        d[: slow - 1] = 0
        prev = np.zeros_like(d)
        prev[1:] = d[:-1]
        self.up: B = (prev < 0) & (d > 0)
        self.down: B = (prev > 0) & (d < 0)
        self._signals: I64 = np.flatnonzero(self.up | self.down).astype(np.int64)

    def signal_bars(self) -> I64:
        return self._signals

    def on_bar(self, ctx: StrategyContext, i: int) -> None:
        if self.up[i]:
            if ctx.position() == 0:
                qty = affordable_qty(ctx)
                if qty > 0:
                    ctx.submit(_market(ctx, "buy", qty, self.source))
        elif self.down[i]:
            pos = ctx.position()
            if pos > 0:
                ctx.submit(_market(ctx, "sell", pos, self.source))


class Breakout(Strategy):
    """Donchian breakout with an ATR trailing stop.

    Enter long (all cash) when the close breaks above the highest high of the previous ``entry``
    bars. Exit when the close falls below the lowest low of the previous ``exit`` bars, or below
    the stop: ``atr_mult`` x ATR under the highest close since entry (ATR = mean true range over
    ``atr`` bars). The stop only moves up.
    """

    name = "breakout"
    title = "Donchian breakout"
    params_schema = (
        Param("entry", int, 20, min=2, max=10_000, help="channel length for entries (bars)"),
        Param("exit", int, 10, min=2, max=10_000, help="channel length for exits (bars)"),
        Param("atr", int, 14, min=1, max=10_000, help="ATR length (bars)"),
        Param("atr_mult", float, 3.0, min=0.1, max=100.0, help="stop distance in ATRs"),
    )

    @property
    def lookback(self) -> int:
        p = self.params
        return max(int(p["entry"]), int(p["exit"]), int(p["atr"])) + 1

    def prepare(self, bars: Bars) -> None:
        self.bars = bars
        p = self.params
        n_in, n_out, n_atr = int(p["entry"]), int(p["exit"]), int(p["atr"])
        h, lo, c = bars.high, bars.low, bars.close
        length = len(c)
        self.upper: I64 = ind.shift(ind.rolling_max(h, n_in), 1)
        self.lower: I64 = ind.shift(ind.rolling_min(lo, n_out), 1)
        self.atr_sum: I64 = ind.rolling_sum(ind.true_range(h, lo, c), n_atr)
        first = max(n_in, n_out, n_atr)
        valid = ind.valid_from(length, first)
        self.enter: B = valid & (c > self.upper)
        self.leave: B = valid & (c < self.lower)
        self._signals: I64 = np.flatnonzero(self.enter).astype(np.int64)

    def reset(self) -> None:
        super().reset()
        self._stop: float | None = None
        self._high_close = 0

    def signal_bars(self) -> I64:
        return self._signals

    def _stop_at(self, i: int) -> float:
        atr = self.atr_sum[i] / int(self.params["atr"])
        return float(self._high_close - float(self.params["atr_mult"]) * atr)

    def on_bar(self, ctx: StrategyContext, i: int) -> None:
        assert self.bars is not None
        pos = ctx.position()
        close = int(self.bars.close[i])
        if pos > 0:
            if self._stop is None:  # entered this bar's decision ago: start the stop
                self._high_close = close
                self._stop = self._stop_at(i)
            self._high_close = max(self._high_close, close)
            self._stop = max(self._stop, self._stop_at(i))
            if self.leave[i] or close < self._stop:
                ctx.submit(_market(ctx, "sell", pos, self.source))
            return
        if self.enter[i] and not ctx.open_orders():
            qty = affordable_qty(ctx)
            if qty > 0:
                ctx.submit(_market(ctx, "buy", qty, self.source))

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        if ctx.position() > 0:
            self.watch = True
            if fill.side is OrderSide.BUY:
                self._stop = None
                self._high_close = 0
        else:
            self.watch = False
            self._stop = None


class MeanReversion(Strategy):
    """Bollinger / z-score mean reversion, long only.

    z = (close - SMA) / SD over ``window`` closes. Buy (all cash) when z falls below
    ``-entry_z``; sell the position when z rises to ``exit_z`` or above (0 = back at the mean).
    """

    name = "mean_reversion"
    title = "Mean reversion (z-score)"
    params_schema = (
        Param("window", int, 20, min=2, max=10_000, help="SMA / SD window (bars)"),
        Param("entry_z", float, 2.0, min=0.1, max=10.0, help="enter below -entry_z"),
        Param("exit_z", float, 0.0, min=-10.0, max=10.0, help="exit at or above exit_z"),
    )

    def check_params(self) -> None:
        if self.params["exit_z"] <= -self.params["entry_z"]:
            raise ParamError("exit_z must be above -entry_z")

    @property
    def lookback(self) -> int:
        return int(self.params["window"])

    def prepare(self, bars: Bars) -> None:
        self.bars = bars
        z, valid = ind.zscore(bars.close, int(self.params["window"]))
        self.z = z
        self.enter: B = valid & (z < -float(self.params["entry_z"]))
        self.leave: B = valid & (z >= float(self.params["exit_z"]))
        self._signals: I64 = np.flatnonzero(self.enter | self.leave).astype(np.int64)

    def signal_bars(self) -> I64:
        return self._signals

    def on_bar(self, ctx: StrategyContext, i: int) -> None:
        pos = ctx.position()
        if pos > 0:
            if self.leave[i]:
                ctx.submit(_market(ctx, "sell", pos, self.source))
        elif self.enter[i] and not ctx.open_orders():
            qty = affordable_qty(ctx)
            if qty > 0:
                ctx.submit(_market(ctx, "buy", qty, self.source))


class Grid(Strategy):
    """``levels`` limit prices evenly spaced in [lower, upper]; each fill re-arms the next level.

    At the first bar, a buy rests at every level below the market. A filled buy at level k puts
    a sell of the same quantity at level k+1; a filled sell at level k+1 puts the buy back at
    level k. ``lower``/``upper`` of 0 mean ``range_pct`` around the first close. Each buy is
    worth ``order_value`` quote (0: the starting cash split over the buy levels).
    """

    name = "grid"
    title = "Grid"
    params_schema = (
        Param("lower", Decimal, Decimal(0), min=Decimal(0), help="lowest level (0: auto)"),
        Param("upper", Decimal, Decimal(0), min=Decimal(0), help="highest level (0: auto)"),
        Param("levels", int, 10, min=2, max=200, help="number of price levels"),
        Param("range_pct", float, 5.0, min=0.1, max=90.0, help="auto range: +/- % of price"),
        Param(
            "order_value",
            Decimal,
            Decimal(0),
            min=Decimal(0),
            help="quote value per buy (0: cash / buy levels)",
        ),
    )

    def check_params(self) -> None:
        lo, hi = self.params["lower"], self.params["upper"]
        if (lo or hi) and not (0 < lo < hi):
            raise ParamError("grid needs 0 < lower < upper (or both 0 for auto)")

    def prepare(self, bars: Bars) -> None:
        self.bars = bars
        self._signals: I64 = np.zeros(1 if len(bars) else 0, dtype=np.int64)

    def reset(self) -> None:
        super().reset()
        self.prices: list[Decimal] = []
        self._armed = False
        self._level_of: dict[str, int] = {}  # order id -> level index
        self._qty: dict[int, Decimal] = {}

    def signal_bars(self) -> I64:
        return self._signals

    def _build(self, ctx: StrategyContext, i: int) -> None:
        assert self.bars is not None
        inst = ctx.instrument
        lo, hi = self.params["lower"], self.params["upper"]
        if not (lo and hi):
            ref = self.bars.price(int(self.bars.close[i]))
            pct = Decimal(repr(self.params["range_pct"])) / 100
            lo, hi = ref * (1 - pct), ref * (1 + pct)
        n = int(self.params["levels"])
        step = (hi - lo) / (n - 1)
        tick = inst.tick_size
        self.prices = [
            ((lo + step * k) / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
            for k in range(n)
        ]

    def on_bar(self, ctx: StrategyContext, i: int) -> None:
        if self._armed:
            return
        self._armed = True
        self._build(ctx, i)
        bid = ctx.best_bid()
        if bid is None:
            return
        below = [k for k, p in enumerate(self.prices) if p < bid]
        if not below:
            return
        value = self.params["order_value"] or ctx.cash() / len(below)
        self._qty = {k: self._qty_for(ctx, value, self.prices[k]) for k in below}
        for k in below:
            self._place(ctx, "buy", k, self._qty[k])

    @staticmethod
    def _qty_for(ctx: StrategyContext, value: Decimal, price: Decimal) -> Decimal:
        fee = ctx.fees.maker
        qty = floor_to_lot(value / (price * (1 + fee)), ctx.instrument.lot_size)
        return qty if qty * price >= ctx.instrument.min_notional else Decimal(0)

    def _place(self, ctx: StrategyContext, side: str, k: int, qty: Decimal) -> None:
        if qty <= 0 or not 0 <= k < len(self.prices):
            return
        result = ctx.submit(
            SubmitOrder(
                symbol=ctx.instrument.symbol,
                side=side,
                type="limit",
                qty=qty,
                price=self.prices[k],
                source=self.source,
            )
        )
        if not isinstance(result, OrderDenied):
            self._level_of[result.order.order_id] = k

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        k = self._level_of.get(fill.order_id)
        if k is None:
            return
        if fill.side is OrderSide.BUY:
            self._place(ctx, "sell", k + 1, fill.qty)
        else:
            self._place(ctx, "buy", k - 1, fill.qty)

    def on_order(self, ctx: StrategyContext, event: OrderEvent) -> None:
        if not isinstance(event, OrderDenied):
            self._level_of.pop(event.order.order_id, None)


STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (SmaCross, Breakout, MeanReversion, Grid)
}
