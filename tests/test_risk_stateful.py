"""Stateful property test of the risk engine against a real Portfolio.

Random orders (filled at once at mid, no fee, so equity is unchanged by a fill), price moves,
time passing (across UTC midnight), stale books, limit changes and halts/resets. Invariants:
an accepted risk-increasing order never leaves its symbol's position, the gross exposure or the
leverage above its limit at the moment of acceptance (price moves alone may push over; then only
reducing orders pass); outside ACTIVE, and after a daily-loss halt, only reducing orders pass;
refused limit changes change nothing (hostile values included: huge exponents, numpy scalars,
bools, lists); no limit ever leaves its floor..ceiling range; only ``confirm is True`` resets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from engine.messages import RISK_LIMIT_FIELDS
from engine.model import DEFAULT_INSTRUMENTS, Fill, Liquidity, Order, OrderSide, OrderType
from engine.portfolio import Portfolio
from engine.risk import (
    CEILINGS,
    FLOORS,
    LimitError,
    RiskContext,
    RiskEngine,
    TradingState,
)
from engine.risk.checks import is_reducing

D = Decimal
S = 1_000_000_000
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
START = {"BTC/USDT": D(60000), "ETH/USDT": D(3000), "SOL/USDT": D(150)}
# Two hours before UTC midnight: runs cross the day boundary.
T0 = int(datetime(2024, 3, 10, 22, tzinfo=UTC).timestamp()) * S

OrderSpec = tuple[str, OrderSide, int, bool, int | None, bool, int]
ORDERS = st.tuples(
    st.sampled_from(SYMBOLS),
    st.sampled_from([OrderSide.BUY, OrderSide.SELL]),
    st.integers(50, 40000),  # notional in USDT
    st.sampled_from([False] * 5 + [True]),  # close the whole position instead
    st.none() | st.integers(-800, 800),  # limit price offset from mid in bps, None = market
    st.sampled_from([False] * 4 + [True]),  # reduce-only
    st.integers(0, 300),  # ms since the previous order: bursts hit the throttle
)

limit_values = st.one_of(
    st.integers(-5, 700),
    st.decimals(min_value=-1, max_value=600, places=2, allow_nan=False).map(str),
    st.decimals(min_value=D("0.5"), max_value=10, places=1, allow_nan=False),
    st.sampled_from(["abc", "NaN", "-inf", "1.5", "", "2.0"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "1e999999",
            "1e2999999",
            D("9e999999999"),
            "-1e-999999",
            D("sNaN"),
            True,
            np.int64(7),
            np.float64(2.5),
            np.float32(0.5),
            [3],
            {"v": 3},
            "9" * 10_000,
            10**400,
        ]
    ),
    st.integers(-400, 400).map(lambda e: f"1e{e}"),
)
# Anything a caller might mean as "yes" that is not the object True: none of these may reset.
not_true = st.sampled_from(
    [False, "true", "True", "yes", "1", "false", "no", "0", 1, 1.0, [0], [True], np.True_, None]
)


class RiskMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.portfolio = Portfolio.new(D(100000), SYMBOLS)
        self.marks: dict[str, Decimal] = dict(START)
        self.now = T0
        self.last_book = dict.fromkeys(SYMBOLS, T0)
        self.engine = RiskEngine()
        self.engine.roll_day(self.ctx())
        self.fills = 0
        self.loss_halted = False

    # -------------------------------------------------------------- helpers

    def ctx(self) -> RiskContext:
        return RiskContext(
            equity=self.portfolio.equity(self.marks),
            start_of_day_equity=self.portfolio.start_of_day_equity,
            positions={s: p.qty for s, p in self.portfolio.positions.items()},
            marks=dict(self.marks),
            open_orders=(),
            last_book_ns=dict(self.last_book),
            now_ns=self.now,
            instruments=DEFAULT_INSTRUMENTS,
        )

    def on_equity(self) -> None:
        change = self.engine.on_equity(self.ctx())
        sod = self.engine.start_of_day_equity
        assert sod is not None
        self.portfolio.start_of_day_equity = sod  # what the runtime does with a roll
        if change is not None and change.reason.startswith("daily loss"):
            self.loss_halted = True
        equity = self.portfolio.equity(self.marks)
        limit = self.engine.limits.max_daily_loss_pct
        if sod > 0 and (sod - equity) * 100 >= limit * sod:
            assert self.engine.state is TradingState.HALTED

    def fill(self, order: Order) -> None:
        mark = self.marks[order.symbol]
        self.fills += 1
        self.portfolio.apply_fill(
            Fill(
                fill_id=f"f{self.fills}",
                order_id=order.order_id,
                symbol=order.symbol,
                side=order.side,
                qty=order.qty,
                price=mark,
                notional=order.qty * mark,
                fee=D(0),
                fee_asset="USDT",
                liquidity=Liquidity.TAKER,
                mid_at_decision=mark,
                slippage=D(0),
                levels=1,
                ts_event=self.now,
                ts_init=self.now,
            )
        )

    # -------------------------------------------------------------- rules

    @rule(order=ORDERS)
    def submit(self, order: OrderSpec) -> None:
        self.submit_one(*order)

    @rule(orders=st.lists(ORDERS, min_size=2, max_size=8))
    def submit_burst(self, orders: list[OrderSpec]) -> None:
        """Several orders in a row: builds positions up to (and against) the limits."""
        for spec in orders:
            self.submit_one(*spec)

    def submit_one(
        self,
        symbol: str,
        side: OrderSide,
        notional: int,
        close: bool,
        offset_bps: int | None,
        reduce_only: bool,
        gap_ms: int,
    ) -> None:
        self.now += gap_ms * 1_000_000
        inst = DEFAULT_INSTRUMENTS[symbol]
        mark = self.marks[symbol]
        before = self.portfolio.position(symbol).qty
        if close and before:
            side = OrderSide.SELL if before > 0 else OrderSide.BUY
            qty = abs(before)
        else:
            qty = inst.lots_to_qty(max(1, inst.qty_to_lots(D(notional) / mark)))
        price = None
        if offset_bps is not None:
            price = inst.ticks_to_price(inst.price_to_ticks(mark * (1 + D(offset_bps) / 10000)))
        self.fills += 1
        order = Order(
            order_id=f"o{self.fills}",
            client_id=None,
            symbol=symbol,
            side=side,
            type=OrderType.MARKET if price is None else OrderType.LIMIT,
            qty=qty,
            price=price,
            reduce_only=reduce_only,
        )
        state = self.engine.state
        ctx = self.ctx()
        if self.engine.check_order(order, ctx) is not None:
            return
        self.engine.record_submitted(self.now)
        reducing = is_reducing(before, side.sign, qty, D(0))
        if reduce_only or state is not TradingState.ACTIVE or self.loss_halted:
            assert reducing, (state, self.engine.reason, order)
        self.fill(order)
        after = self.portfolio.position(symbol).qty
        if reducing:
            assert abs(after) < abs(before)
            assert after == 0 or (after > 0) == (before > 0)
            return
        limits = self.engine.limits
        equity = self.portfolio.equity(self.marks)
        assert equity == ctx.equity  # a fill at mid without fee moves no equity
        assert abs(after) * mark * 100 <= limits.max_position_pct * equity
        gross = self.portfolio.gross_exposure(self.marks)
        assert gross * 100 <= limits.max_gross_exposure_pct * equity
        assert gross <= limits.max_leverage * equity
        assert qty * (price if price is not None else mark) <= limits.max_order_notional
        if price is not None:
            assert abs(price - mark) * 100 <= limits.price_band_pct * mark

    @rule(symbol=st.sampled_from(SYMBOLS), move_bps=st.integers(-1500, 1500))
    def move_price(self, symbol: str, move_bps: int) -> None:
        inst = DEFAULT_INSTRUMENTS[symbol]
        ticks = inst.price_to_ticks(self.marks[symbol] * (1 + D(move_bps) / 10000))
        self.marks[symbol] = inst.ticks_to_price(max(ticks, 100))
        self.now += 50_000_000
        self.last_book[symbol] = self.now
        self.on_equity()

    @rule(move_bps=st.integers(500, 3000))
    def adverse_move(self, move_bps: int) -> None:
        """The market runs against the biggest position: drives the daily-loss halt."""
        symbol = max(SYMBOLS, key=lambda s: abs(self.portfolio.position(s).qty * self.marks[s]))
        qty = self.portfolio.position(symbol).qty
        self.move_price(symbol, -move_bps if qty >= 0 else move_bps)

    @rule(seconds=st.integers(0, 4) | st.integers(0, 3 * 3600))
    def pass_time(self, seconds: int) -> None:
        """Time without book updates: books go stale, the day may roll."""
        self.now += seconds * S
        self.on_equity()

    @rule()
    def books_refresh(self) -> None:
        self.last_book = dict.fromkeys(SYMBOLS, self.now)

    @rule(field=st.sampled_from(RISK_LIMIT_FIELDS), value=limit_values)
    def change_limit(self, field: str, value: object) -> None:
        before, state = self.engine.limits, self.engine.state
        result = self.engine.update_limits({field: value})
        if isinstance(result, LimitError):
            assert self.engine.limits is before
        else:
            assert result == (before, self.engine.limits)
        assert self.engine.state is state  # a limit change never lifts (or causes) a halt

    @rule(action=st.sampled_from(["reset", "reset unconfirmed", "halt", "reduce", "resume"]))
    def operator(self, action: str) -> None:
        """What a person does from the risk panel."""
        was = self.engine.state
        if action == "halt":
            change = self.engine.halt("manual")
            assert (change is None) == (was is TradingState.HALTED)
            assert self.engine.state is TradingState.HALTED
        elif action == "reduce":
            self.engine.reduce_only("test")
            assert self.engine.state is (
                TradingState.REDUCING if was is TradingState.ACTIVE else was
            )
        elif action == "resume":
            self.engine.resume()
            assert self.engine.state is (
                TradingState.ACTIVE if was is TradingState.REDUCING else was
            )
        else:
            confirm = action == "reset"
            result = self.engine.reset_halt(confirm)
            if not confirm or was is not TradingState.HALTED:
                assert isinstance(result, str)
                assert self.engine.state is was
            elif not isinstance(result, str):
                assert self.engine.state is TradingState.ACTIVE
                self.loss_halted = False

    @rule(confirm=not_true)
    def reset_without_true(self, confirm: object) -> None:
        """A reset confirmed by anything but ``True`` itself is refused, with a reason."""
        was = self.engine.state
        result = self.engine.reset_halt(confirm)
        assert isinstance(result, str)
        assert result.startswith("reset refused: it must be confirmed with confirm=True")
        assert self.engine.state is was

    # -------------------------------------------------------------- invariants

    @invariant()
    def limits_stay_within_floor_and_ceiling(self) -> None:
        for name, value in self.engine.limits.as_dict().items():
            assert FLOORS[name] <= value <= CEILINGS[name]

    @invariant()
    def loss_halt_holds_until_reset(self) -> None:
        if self.loss_halted:
            assert self.engine.state is TradingState.HALTED


RiskMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRiskStateful = RiskMachine.TestCase
