"""Risk core: limits, validation, checks, trading state, day rollover. No Qt, no mocks."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from engine.messages import RISK_LIMIT_FIELDS
from engine.model import DEFAULT_INSTRUMENTS, Order, OrderSide, OrderStatus, OrderType, OrderView
from engine.risk import (
    CEILINGS,
    DEFAULT_LIMITS,
    DEFAULTS,
    FLOORS,
    LIMIT_SPECS,
    SPECS,
    Denial,
    LimitError,
    RiskContext,
    RiskEngine,
    RiskLimits,
    TradingState,
    TradingStateChange,
    validate_changes,
)

D = Decimal
S = 1_000_000_000
T0 = int(datetime(2024, 3, 10, 12, 0, tzinfo=UTC).timestamp()) * S
BTC, ETH, SOL = "BTC/USDT", "ETH/USDT", "SOL/USDT"
MARKS = {BTC: D(60000), ETH: D(3000), SOL: D(150)}
EQUITY = D(100000)


def ns(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()) * S


def make_ctx(
    *,
    equity: Decimal = EQUITY,
    sod: Decimal = EQUITY,
    positions: Mapping[str, Decimal] | None = None,
    marks: Mapping[str, Decimal | None] | None = None,
    open_orders: Sequence[OrderView] = (),
    book_age_s: float = 0.1,
    last_book_ns: Mapping[str, int] | None = None,
    now: int = T0,
) -> RiskContext:
    pos = {BTC: D(0), ETH: D(0), SOL: D(0)}
    pos.update(positions or {})
    return RiskContext(
        equity=equity,
        start_of_day_equity=sod,
        positions=pos,
        marks=dict(MARKS) if marks is None else marks,
        open_orders=open_orders,
        last_book_ns=(
            {s: now - int(book_age_s * S) for s in MARKS} if last_book_ns is None else last_book_ns
        ),
        now_ns=now,
        instruments=DEFAULT_INSTRUMENTS,
    )


_ids = iter(range(10**9))


def make_order(
    side: str = "buy",
    qty: str = "0.1",
    symbol: str = BTC,
    price: str | None = None,
    *,
    reduce_only: bool = False,
    order_id: str | None = None,
) -> Order:
    return Order(
        order_id=order_id or f"o{next(_ids)}",
        client_id=None,
        symbol=symbol,
        side=OrderSide(side),
        type=OrderType.MARKET if price is None else OrderType.LIMIT,
        qty=D(qty),
        price=None if price is None else D(price),
        reduce_only=reduce_only,
    )


def resting(side: str, qty: str, symbol: str = BTC, price: str = "59000") -> OrderView:
    order = make_order(side, qty, symbol, price)
    order.transition(OrderStatus.ACCEPTED, T0)
    return order.view()


def engine(**limits: Any) -> RiskEngine:
    eng = RiskEngine()
    if limits:
        result = eng.update_limits(limits)
        assert not isinstance(result, LimitError), result
    return eng


# ---------------------------------------------------------------- defaults, ceilings, types


def test_defaults_table_is_documented_and_within_floor_and_ceiling() -> None:
    assert tuple(DEFAULTS) == RISK_LIMIT_FIELDS
    assert {f.name for f in dataclasses.fields(RiskLimits)} == set(RISK_LIMIT_FIELDS)
    assert DEFAULTS["max_leverage"] == D(3)
    assert CEILINGS["max_leverage"] == D(5)
    for name in RISK_LIMIT_FIELDS:
        assert FLOORS[name] <= DEFAULTS[name] <= CEILINGS[name], name
        assert type(DEFAULTS[name]) is type(CEILINGS[name]) is type(FLOORS[name]), name
    assert isinstance(DEFAULT_LIMITS.max_open_orders, int)
    assert isinstance(DEFAULT_LIMITS.max_orders_per_second, int)
    assert isinstance(DEFAULT_LIMITS.max_position_pct, Decimal)
    assert RiskEngine().limits == DEFAULT_LIMITS


@pytest.mark.parametrize("name", RISK_LIMIT_FIELDS)
def test_ceiling_is_accepted_and_one_past_it_is_not(name: str) -> None:
    eng = RiskEngine()
    ceiling = CEILINGS[name]
    ok = eng.update_limits({name: str(ceiling)})
    assert isinstance(ok, tuple)
    assert getattr(eng.limits, name) == ceiling
    refused = eng.update_limits({name: str(ceiling + 1)})
    assert isinstance(refused, LimitError)
    spec = SPECS[name]
    assert refused.reason == (
        f"{spec.label} ({name}) {ceiling + 1} is above the hard ceiling of {ceiling}{spec.unit}"
    )
    assert getattr(eng.limits, name) == ceiling


def test_above_ceiling_reason_in_words() -> None:
    result = RiskEngine().update_limits({"max_leverage": 7})
    assert result == LimitError(
        "max_leverage", "7", "Max leverage (max_leverage) 7 is above the hard ceiling of 5x"
    )


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("max_leverage", -1, "must not be negative"),
        ("max_position_pct", "-0.5", "must not be negative"),
        ("max_leverage", "NaN", "not a finite number"),
        ("max_leverage", float("nan"), "not a finite number"),
        ("max_daily_loss_pct", float("inf"), "not a finite number"),
        ("max_order_notional", "Infinity", "not a finite number"),
        ("max_position_pct", "abc", "'abc' is not a number"),
        ("max_position_pct", "", "is not a number"),
        ("max_order_notional", None, "must be a number"),
        ("max_daily_loss_pct", True, "must be a number"),
        ("max_leverage", 7, "above the hard ceiling of 5"),
        ("max_open_orders", 1.5, "must be a whole number, got 1.5"),
        ("max_open_orders", 2.0, "must be a whole number"),
        ("max_orders_per_second", "2.5", "must be a whole number"),
        ("max_orders_per_second", D("0.5"), "must be a whole number"),
        ("max_open_orders", 0, "must be greater than zero"),
        ("price_band_pct", "0", "must be greater than zero"),
        ("stale_after_s", "0.01", "below the minimum of 0.1"),
        ("max_gross_exposure_pct", "1e9", "above the hard ceiling of 500"),
        ("max_legerage", 2, "unknown risk limit"),
        ("max_open_orders", "1e999999", "1e999999 is above the hard ceiling of 500 orders"),
        ("max_orders_per_second", "1e2999999", "is above the hard ceiling of 50 orders/s"),
        ("max_leverage", D("9e999999999"), "9E+999999999 is above the hard ceiling of 5x"),
        ("max_position_pct", "-1e-999999", "-1e-999999 must not be negative"),
        ("stale_after_s", "1e-999999", "1e-999999 is below the minimum of 0.1 s"),
        pytest.param(
            "max_open_orders",
            10**5000,
            "about 1e5000 is above the hard ceiling of 500",
            id="10**5000",
        ),
        ("max_open_orders", np.float64(7.0), "must be a whole number, got 7.0"),
        ("max_open_orders", np.True_, "must be a number, not true/false"),
        ("max_order_notional", "1" * 1_000_000, "got text of 1,000,000 characters (at most 100)"),
        ("max_order_notional", [100], "must be a number, got a list"),
        ("price_band_pct", D("sNaN"), "sNaN is not a finite number"),
    ],
)
def test_invalid_update_is_refused_and_limits_unchanged(
    field: str, value: object, words: str
) -> None:
    eng = RiskEngine()
    before = eng.limits
    result = eng.update_limits({field: value})
    assert isinstance(result, LimitError)
    assert result.field == field
    assert words in result.reason
    assert eng.limits is before


def test_one_bad_field_refuses_the_whole_update() -> None:
    eng = RiskEngine()
    result = eng.update_limits({"max_leverage": "4", "max_open_orders": "x"})
    assert isinstance(result, LimitError)
    assert result.field == "max_open_orders"
    assert eng.limits.max_leverage == D(3)


def test_numpy_scalars_update_limits_by_value() -> None:
    eng = RiskEngine()
    result = eng.update_limits({"max_open_orders": np.int64(20), "max_leverage": np.float32(2.5)})
    assert isinstance(result, tuple)
    assert (eng.limits.max_open_orders, eng.limits.max_leverage) == (20, D("2.5"))
    assert type(eng.limits.max_open_orders) is int


def test_limit_catalogue_describes_each_limit_once() -> None:
    assert tuple(s.name for s in LIMIT_SPECS) == RISK_LIMIT_FIELDS
    for spec in LIMIT_SPECS:
        assert (DEFAULTS[spec.name], FLOORS[spec.name], CEILINGS[spec.name]) == (
            spec.default,
            spec.floor,
            spec.ceiling,
        )
        assert type(getattr(DEFAULT_LIMITS, spec.name)) is spec.type
        assert spec.label
        assert spec.help
    assert SPECS["max_open_orders"].whole
    assert not SPECS["max_leverage"].whole


def test_valid_update_parses_text_and_numbers_to_exact_types() -> None:
    eng = RiskEngine()
    result = eng.update_limits(
        {"max_leverage": "4.5", "max_open_orders": "20", "price_band_pct": 2.5, "stale_after_s": 3}
    )
    assert isinstance(result, tuple)
    old, new = result
    assert old == DEFAULT_LIMITS
    assert new is eng.limits
    assert new.max_leverage == D("4.5")
    assert new.max_open_orders == 20
    assert type(new.max_open_orders) is int
    assert new.price_band_pct == D("2.5")
    assert new.stale_after_s == D(3)
    assert type(new.stale_after_s) is Decimal
    assert validate_changes(new, {}) is new


def test_limits_text_round_trip_is_exact() -> None:
    limits = validate_changes(DEFAULT_LIMITS, {"max_leverage": "2.50", "price_band_pct": "0.125"})
    assert isinstance(limits, RiskLimits)
    text = limits.to_strings()
    assert text["max_leverage"] == "2.50"
    back = RiskLimits.from_strings(text)
    assert back == limits
    assert back.to_strings() == text
    assert RiskLimits.from_strings({"max_open_orders": "7"}).max_leverage == D(3)
    assert RiskLimits.from_strings({"retired_limit": "1"}) == DEFAULT_LIMITS
    with pytest.raises(ValueError, match="above the hard ceiling"):
        RiskLimits.from_strings({"max_leverage": "9"})


# ---------------------------------------------------------------- every limit denies


def test_accepts_an_order_within_every_limit() -> None:
    assert RiskEngine().check_order(make_order("buy", "0.3"), make_ctx()) is None


def test_max_position_pct() -> None:
    eng = engine(max_order_notional=100000)
    denial = eng.check_order(make_order("buy", "1"), make_ctx())
    assert denial is not None
    assert (denial.limit, denial.value) == ("max_position_pct", "60")
    assert "BTC/USDT position would be 60% of equity" in denial.reason
    assert "above the limit of 50%" in denial.reason


def test_position_counts_same_side_open_orders() -> None:
    eng = RiskEngine()
    ctx = make_ctx(open_orders=[resting("buy", "0.5")])
    denial = eng.check_order(make_order("buy", "0.4"), ctx)
    assert denial is not None
    assert (denial.limit, denial.value) == ("max_position_pct", "54")
    assert eng.check_order(make_order("buy", "0.4"), make_ctx()) is None
    # opposite-side resting orders do not add to a buy's worst case
    assert (
        eng.check_order(make_order("buy", "0.4"), make_ctx(open_orders=[resting("sell", "3")]))
        is None
    )


def test_order_already_in_open_orders_is_not_counted_twice() -> None:
    order = make_order("buy", "0.45", price="60000")
    order.transition(OrderStatus.ACCEPTED, T0)
    ctx = make_ctx(open_orders=[order.view()])
    assert engine(max_order_notional=100000).check_order(order, ctx) is None  # 45%, not 90%


def test_limit_price_through_mid_counts_as_an_equity_loss() -> None:
    eng = engine(max_position_pct=24, max_order_notional=100000)
    assert eng.check_order(make_order("buy", "0.4", price="60000"), make_ctx()) is None  # 24%
    # Filled at 63000 the buy pays 1200 over mid: 24000 / 98800 is over 24%.
    denial = eng.check_order(make_order("buy", "0.4", price="63000"), make_ctx())
    assert denial is not None
    assert (denial.limit, denial.value) == ("max_position_pct", "24.29")
    # A sell limit above mid rests: no adverse gap.
    assert eng.check_order(make_order("sell", "0.4", price="63000"), make_ctx()) is None


def test_max_gross_exposure_pct() -> None:
    eng = engine(max_gross_exposure_pct=100)
    ctx = make_ctx(positions={ETH: D(15), SOL: D(-300)})  # 45% + 45%
    denial = eng.check_order(make_order("buy", "0.4"), ctx)  # + 24%
    assert denial is not None
    assert (denial.limit, denial.value) == ("max_gross_exposure_pct", "114")
    assert denial.reason == "gross exposure would be 114% of equity, above the limit of 100%"
    assert eng.check_order(make_order("buy", "0.1"), ctx) is None  # 96%


def test_gross_exposure_counts_other_symbols_worst_side() -> None:
    eng = engine(max_gross_exposure_pct=60)
    # ETH long 10 (30%) with 5 more working on the buy side: worst case 45%.
    ctx = make_ctx(positions={ETH: D(10)}, open_orders=[resting("buy", "5", ETH, "2990")])
    denial = eng.check_order(make_order("buy", "0.3"), ctx)  # 18% -> 63% (48% without it)
    assert denial is not None
    assert (denial.limit, denial.value) == ("max_gross_exposure_pct", "63")
    assert eng.check_order(make_order("buy", "0.25"), ctx) is None  # exactly 60%


def test_max_leverage() -> None:
    eng = engine(max_leverage="1.1")
    ctx = make_ctx(positions={ETH: D(15), SOL: D(300)})
    denial = eng.check_order(make_order("buy", "0.4"), ctx)
    assert denial is not None
    assert (denial.limit, denial.value) == ("max_leverage", "1.14")
    assert denial.reason == "leverage would be 1.14x, above the limit of 1.1x"


def test_non_positive_equity_refuses_new_risk() -> None:
    denial = RiskEngine().check_order(make_order(), make_ctx(equity=D(-5), sod=D(-5)))
    assert denial is not None
    assert denial.limit == "max_leverage"
    assert "equity is -5" in denial.reason


def test_max_order_notional() -> None:
    denial = RiskEngine().check_order(make_order("buy", "0.5"), make_ctx())
    assert denial == Denial(
        "max_order_notional", "30000", "order notional 30000 is above the limit of 25000"
    )
    # limit orders are valued at their limit price
    priced = make_order("buy", "0.41", price="61000")
    denial = RiskEngine().check_order(priced, make_ctx())
    assert denial is not None
    assert (denial.limit, denial.value) == ("max_order_notional", "25010")


def test_max_daily_loss_pct() -> None:
    denial = RiskEngine().check_order(make_order(), make_ctx(equity=D(94000)))
    assert denial is not None
    assert (denial.limit, denial.value) == ("max_daily_loss_pct", "6")
    assert denial.reason.startswith("daily loss 6% reached limit 5%")


def test_max_open_orders() -> None:
    eng = engine(max_open_orders=2)
    views = [resting("buy", "0.01"), resting("sell", "1", ETH, "3100")]
    denial = eng.check_order(make_order(), make_ctx(open_orders=views))
    assert denial == Denial("max_open_orders", "2", "2 open orders reached the limit of 2")
    finished = make_order("buy", "0.01", price="59000")
    finished.transition(OrderStatus.CANCELLED, T0)
    assert eng.check_order(make_order(), make_ctx(open_orders=[views[0], finished.view()])) is None


def test_max_orders_per_second_sliding_window() -> None:
    eng = engine(max_orders_per_second=3)
    for k in range(3):
        eng.record_submitted(T0 - S // 2 + k)
    denial = eng.check_order(make_order(), make_ctx())
    assert denial is not None
    assert (denial.limit, denial.value) == ("max_orders_per_second", "3")
    assert "3 orders in the last second" in denial.reason
    later = T0 + S // 2  # the first one is now exactly 1 s old: out of the window
    assert eng.check_order(make_order(), make_ctx(now=later)) is None
    assert eng.orders_last_second(later) == 2


def test_throttle_counts_only_recorded_orders() -> None:
    eng = engine(max_orders_per_second=2)
    for _ in range(10):
        assert eng.check_order(make_order(), make_ctx()) is None
    assert eng.orders_last_second(T0) == 0


def test_throttle_applies_to_reducing_orders_too() -> None:
    eng = engine(max_orders_per_second=1)
    eng.record_submitted(T0)
    denial = eng.check_order(make_order("sell", "0.1"), make_ctx(positions={BTC: D("0.2")}))
    assert denial is not None
    assert denial.limit == "max_orders_per_second"


@pytest.mark.parametrize(
    ("side", "price", "denied"),
    [
        ("buy", "63000", False),
        ("buy", "63000.01", True),
        ("sell", "56999.99", True),
        ("sell", "57000", False),
        ("sell", "90000", True),
    ],
)
def test_price_band(side: str, price: str, denied: bool) -> None:
    denial = RiskEngine().check_order(make_order(side, "0.01", price=price), make_ctx())
    if not denied:
        assert denial is None
        return
    assert denial is not None
    assert denial.limit == "price_band_pct"
    assert f"limit price {price} is {denial.value}% from mid 60000" in denial.reason
    assert "outside the band of 5%" in denial.reason


def test_stale_book_refuses_increasing_orders() -> None:
    eng = RiskEngine()
    stale = make_ctx(book_age_s=6.5, positions={BTC: D("0.2")})
    denial = eng.check_order(make_order("buy", "0.01"), stale)
    assert denial == Denial(
        "stale_after_s", "6.5", "BTC/USDT book is 6.5 s old, older than the limit of 5 s"
    )
    assert eng.check_order(make_order("sell", "0.1"), stale) is None  # reducing passes
    assert eng.check_order(make_order("buy", "0.01"), make_ctx(book_age_s=5)) is None


def test_missing_book_or_mid_refuses_increasing_but_not_reducing() -> None:
    eng = RiskEngine()
    no_book = make_ctx(last_book_ns={}, positions={BTC: D("-0.2")})
    denial = eng.check_order(make_order("sell", "0.01"), no_book)
    assert denial is not None
    assert (denial.limit, denial.value) == ("stale_after_s", "no data")
    no_mid = make_ctx(marks={**MARKS, BTC: None}, positions={BTC: D("-0.2")})
    denial = eng.check_order(make_order("sell", "0.01"), no_mid)
    assert denial is not None
    assert "no mid price" in denial.reason
    assert eng.check_order(make_order("buy", "0.2"), no_mid) is None


def test_unknown_mark_of_another_exposed_symbol_refuses_new_risk() -> None:
    ctx = make_ctx(marks={**MARKS, ETH: None}, positions={ETH: D(1)})
    denial = RiskEngine().check_order(make_order(), ctx)
    assert denial is not None
    assert "no mid price for ETH/USDT" in denial.reason


# ---------------------------------------------------------------- reducing and reduce-only


def test_reduce_only_semantics() -> None:
    eng = RiskEngine()
    long = make_ctx(positions={BTC: D("0.5")})
    assert eng.check_order(make_order("sell", "0.3", reduce_only=True), long) is None
    assert eng.check_order(make_order("sell", "0.5", reduce_only=True), long) is None
    flip = eng.check_order(make_order("sell", "0.6", reduce_only=True), long)
    assert flip is not None
    assert (flip.limit, flip.value) == ("reduce_only", "-0.1")
    assert "would flip the BTC/USDT position of 0.5 to -0.1" in flip.reason
    grow = eng.check_order(make_order("buy", "0.1", reduce_only=True), long)
    assert grow is not None
    assert grow.limit == "reduce_only"
    assert "would increase" in grow.reason
    flat = eng.check_order(make_order("sell", "0.1", reduce_only=True), make_ctx())
    assert flat is not None
    assert "no BTC/USDT position to reduce" in flat.reason


def test_reduce_only_counts_orders_already_working_on_that_side() -> None:
    ctx = make_ctx(positions={BTC: D("0.5")}, open_orders=[resting("sell", "0.3", price="61000")])
    denial = RiskEngine().check_order(make_order("sell", "0.3", reduce_only=True), ctx)
    assert denial is not None
    assert denial.limit == "reduce_only"
    assert "with 0.3 already working" in denial.reason
    assert RiskEngine().check_order(make_order("sell", "0.2", reduce_only=True), ctx) is None


def test_reducing_orders_pass_when_over_every_exposure_limit() -> None:
    eng = engine(max_open_orders=1)
    # Price moves left the account far over position, gross and leverage, with a loss today.
    ctx = make_ctx(
        equity=D(90000),
        positions={BTC: D(4), ETH: D(-40)},
        open_orders=[resting("buy", "1", SOL, "149")],
        book_age_s=60,
    )
    for order in (make_order("buy", "0.1"), make_order("sell", "1", ETH)):
        assert eng.check_order(order, ctx) is not None
    assert eng.check_order(make_order("sell", "1"), ctx) is None  # 60k notional, over the max
    assert eng.check_order(make_order("buy", "40", ETH), ctx) is None
    # but a closing limit order still gets the fat-finger check
    denial = eng.check_order(make_order("sell", "1", price="30000"), ctx)
    assert denial is not None
    assert denial.limit == "price_band_pct"


# ---------------------------------------------------------------- trading state


def test_halt_on_daily_loss_then_only_reducing_orders_pass() -> None:
    eng = RiskEngine()
    assert eng.on_equity(make_ctx(equity=D(96000))) is None
    change = eng.on_equity(make_ctx(equity=D(94700), positions={BTC: D("0.2")}))
    assert change == TradingStateChange(
        TradingState.ACTIVE, TradingState.HALTED, "daily loss 5.3% reached limit 5%"
    )
    assert eng.state is TradingState.HALTED
    assert eng.reason == "daily loss 5.3% reached limit 5%"
    assert eng.on_equity(make_ctx(equity=D(90000))) is None  # already halted: no new change

    recovered = make_ctx(positions={BTC: D("0.2")})  # even after a recovery the halt stays
    denial = eng.check_order(make_order("buy", "0.01"), recovered)
    assert denial is not None
    assert (denial.limit, denial.value) == ("trading_state", "HALTED")
    assert "daily loss 5.3% reached limit 5%" in denial.reason
    assert eng.check_order(make_order("sell", "0.1"), recovered) is None
    assert eng.check_order(make_order("sell", "0.2", reduce_only=True), recovered) is None
    flip = eng.check_order(make_order("sell", "0.3"), recovered)
    assert flip is not None
    assert flip.limit == "trading_state"


def test_raising_a_limit_while_halted_keeps_the_halt_and_reset_needs_confirm() -> None:
    eng = RiskEngine()
    eng.on_equity(make_ctx(equity=D(94700)))
    assert eng.state is TradingState.HALTED
    assert isinstance(eng.update_limits({"max_daily_loss_pct": 10}), tuple)
    assert eng.state is TradingState.HALTED
    assert eng.check_order(make_order(), make_ctx(equity=D(94700))) is not None

    refused = eng.reset_halt(confirm=False)
    assert isinstance(refused, str)
    assert "confirmed" in refused
    assert eng.state is TradingState.HALTED
    for almost in ("false", "no", "0", "true", 1, [0], np.True_):
        assert eng.reset_halt(confirm=almost) == (
            f"reset refused: it must be confirmed with confirm=True, got {str(almost)!r}"
            if not isinstance(almost, list)
            else "reset refused: it must be confirmed with confirm=True, got 'a list'"
        )
        assert eng.state is TradingState.HALTED

    change = eng.reset_halt(confirm=True)
    assert change == TradingStateChange(TradingState.HALTED, TradingState.ACTIVE, "")
    assert eng.state_name == "ACTIVE"
    assert eng.check_order(make_order(), make_ctx(equity=D(94700))) is None
    not_halted = eng.reset_halt(confirm=True)
    assert isinstance(not_halted, str)
    assert "not HALTED" in not_halted


def test_reset_refused_while_the_loss_is_still_over_the_limit() -> None:
    eng = RiskEngine()
    eng.on_equity(make_ctx(equity=D(94000)))
    refused = eng.reset_halt(confirm=True)
    assert isinstance(refused, str)
    assert "daily loss 6% reached limit 5%" in refused
    assert eng.state is TradingState.HALTED


def test_manual_halt_reduce_and_resume() -> None:
    eng = RiskEngine()
    change = eng.halt("panic close by user")
    assert change == TradingStateChange(
        TradingState.ACTIVE, TradingState.HALTED, "panic close by user"
    )
    assert eng.halt("again") is None
    assert eng.reason == "panic close by user"
    assert eng.reduce_only("softer") is None  # a halt is not softened this way
    assert isinstance(eng.reset_halt(confirm=True), TradingStateChange)

    assert eng.reduce_only("end of session") is not None
    assert eng.state_name == "REDUCING"
    denial = eng.check_order(make_order(), make_ctx())
    assert denial is not None
    assert (denial.limit, denial.value) == ("trading_state", "REDUCING")
    assert eng.check_order(make_order("sell", "0.1"), make_ctx(positions={BTC: D(1)})) is None
    assert isinstance(eng.resume(), TradingStateChange)
    assert eng.state is TradingState.ACTIVE
    assert isinstance(eng.resume(), str)


# ---------------------------------------------------------------- trading day


def test_trading_day_boundary_is_utc_midnight() -> None:
    eng = RiskEngine()
    midnight = ns(2024, 3, 11)
    assert eng.trading_day(midnight - 1) == "2024-03-10"
    assert eng.trading_day(midnight) == "2024-03-11"


def test_configurable_day_start_hour() -> None:
    eng = RiskEngine(day_start_hour=22)
    assert eng.trading_day(ns(2024, 3, 10, 21, 59, 59)) == "2024-03-09"
    assert eng.trading_day(ns(2024, 3, 10, 22)) == "2024-03-10"
    assert eng.trading_day(ns(2024, 3, 11, 21, 59, 59)) == "2024-03-10"
    with pytest.raises(ValueError, match=r"0\.\.23"):
        RiskEngine(day_start_hour=24)


def test_day_rollover_rebases_the_daily_loss() -> None:
    eng = RiskEngine()
    before = ns(2024, 3, 10, 23, 59, 59)
    roll = eng.roll_day(make_ctx(equity=D(97000), now=before))
    assert roll is not None
    assert (roll.previous_day, roll.day, roll.start_of_day_equity) == (
        None,
        "2024-03-10",
        D(100000),
    )
    assert eng.on_equity(make_ctx(equity=D(97000), now=before)) is None  # 3% down

    # Past midnight, before the engine has seen an equity update: nothing lost today yet.
    after = ns(2024, 3, 11, 0, 0, 1)
    assert eng.check_order(make_order(), make_ctx(equity=D(94000), now=after)) is None

    assert eng.on_equity(make_ctx(equity=D(97000), now=after)) is None
    assert eng.current_day == "2024-03-11"
    assert eng.start_of_day_equity == D(97000)
    assert eng.on_equity(make_ctx(equity=D(92200), now=after + S)) is None  # 4.95%
    change = eng.on_equity(make_ctx(equity=D(92100), now=after + 2 * S))  # 5.05%
    assert change is not None
    assert change.reason == "daily loss 5.05% reached limit 5%"


def test_daily_loss_halt_survives_the_rollover() -> None:
    eng = RiskEngine()
    eng.on_equity(make_ctx(equity=D(90000), now=ns(2024, 3, 10, 23)))
    assert eng.state is TradingState.HALTED
    assert eng.on_equity(make_ctx(equity=D(90000), now=ns(2024, 3, 11, 1))) is None
    assert eng.state is TradingState.HALTED
    assert eng.start_of_day_equity == D(90000)
    assert isinstance(eng.reset_halt(confirm=True), TradingStateChange)  # the new day is flat


# ---------------------------------------------------------------- persistence round trip


def test_restore_gives_back_state_reason_limits_and_baseline() -> None:
    eng = engine(max_leverage="2.5", stale_after_s="1.5")
    eng.on_equity(make_ctx(equity=D(94000), sod=D("100000.5")))
    saved = eng.persistent_state()
    assert saved == {
        "state": "HALTED",
        "reason": "daily loss 6% reached limit 5%",
        "trading_day": "2024-03-10",
        "start_of_day_equity": "100000.5",
    }
    back = RiskEngine.restore(
        eng.limits.to_strings(),
        saved["state"],
        saved["reason"],
        trading_day=saved["trading_day"],
        start_of_day_equity=saved["start_of_day_equity"],
    )
    assert back.limits == eng.limits
    assert (back.state, back.reason) == (TradingState.HALTED, eng.reason)
    assert (back.current_day, back.start_of_day_equity) == ("2024-03-10", D("100000.5"))
    assert back.persistent_state() == saved
    # the same day keeps its baseline; a later day rolls it
    assert back.roll_day(make_ctx(equity=D(1), now=T0 + S)) is None
    roll = back.roll_day(make_ctx(equity=D(95000), now=ns(2024, 3, 12)))
    assert roll is not None
    assert (roll.previous_day, roll.day, roll.start_of_day_equity) == (
        "2024-03-10",
        "2024-03-12",
        D(95000),
    )


def test_restore_of_an_unknown_state_halts() -> None:
    back = RiskEngine.restore({}, "PAUSED?", "")
    assert back.state is TradingState.HALTED
    assert "PAUSED?" in back.reason
    assert back.limits == DEFAULT_LIMITS
    assert RiskEngine.restore({}, "reducing", "x").state is TradingState.REDUCING


def test_setters_used_by_the_runtime_at_restart() -> None:
    eng = RiskEngine.restore({}, "ACTIVE", "")
    eng.start_of_day_equity = D(100000)
    eng.current_day = "2024-03-10"
    assert eng.on_equity(make_ctx(equity=D(94900), sod=D(1))) is not None  # uses 100000


# ---------------------------------------------------------------- utilisation


def test_utilisation_fractions() -> None:
    eng = engine(max_open_orders=4, max_orders_per_second=4)
    eng.record_submitted(T0)
    ctx = make_ctx(
        equity=D(98000),
        positions={BTC: D("0.49"), ETH: D("-4.9")},
        open_orders=[resting("buy", "0.01")],
    )
    use = eng.utilisation(ctx)
    assert use["position:BTC/USDT"] == pytest.approx(0.6)  # 30% of 50%
    assert use["position:ETH/USDT"] == pytest.approx(0.3)
    assert use["position:SOL/USDT"] == 0.0
    assert use["gross_exposure"] == pytest.approx(0.225)  # 45% of 200%
    assert use["leverage"] == pytest.approx(0.15)  # 0.45x of 3x
    assert use["daily_loss"] == pytest.approx(0.4)  # 2% of 5%
    assert use["orders_per_second"] == pytest.approx(0.25)
    assert use["open_orders"] == pytest.approx(0.25)
    assert all(isinstance(v, float) for v in use.values())
