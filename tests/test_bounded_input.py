"""Every input is bounded: hostile numbers are accepted or refused with a reason, never a hang.

Through the public engine API (a real engine on a temporary data directory): huge exponents,
a megabyte of digits, NaN/inf/sNaN, bools, numpy scalars, lists, dicts and None as an order's
quantity and price, as every risk limit and as strategy parameters; ``ResetHalt`` with anything
but ``True``. Each refusal is the usual event with the field named in words, and a panic sent
right behind it still completes (the engine thread is not frozen). The futures' 60 s timeout is
the hang guard; no test measures wall-clock time. Then the parser itself, with hypothesis.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import (
    CancelOrder,
    CancelRejected,
    Engine,
    EngineConfig,
    HaltResetRefused,
    OrderAccepted,
    OrderDenied,
    OrderFilled,
    PanicClose,
    PanicCompleted,
    ResetHalt,
    RiskLimitsChanged,
    RiskLimitsRejected,
    SubmitOrder,
    TradingStateChanged,
    UpdateRiskLimits,
)
from engine.messages import (
    RISK_LIMIT_FIELDS,
    StartStrategy,
    StopStrategy,
    StrategyRejected,
    StrategyStarted,
    StrategyStopped,
)
from engine.model.money import (
    MAX_ADJUSTED_EXPONENT,
    MAX_NUMBER_CHARS,
    MAX_SIGNIFICANT_DIGITS,
    MIN_ADJUSTED_EXPONENT,
    BadNumber,
    describe,
    parse_decimal,
    parse_number,
)
from engine.risk import SPECS

D = Decimal
TIMEOUT = 60  # the hang guard: a frozen engine thread fails here, not by a stopwatch
MEGABYTE_OF_DIGITS = "1" * 1_000_000

# The whole class of values no number field may take. (id, value)
BAD_NUMBERS: list[tuple[str, object]] = [
    ("1e999999", "1e999999"),
    ("1e2999999", "1e2999999"),
    ("-1e999999", "-1e999999"),
    ("Decimal 9e999999999", D("9e999999999")),
    ("-1e-999999", "-1e-999999"),
    ("Decimal -1e-999999", D("-1e-999999")),
    ("Decimal of 5000 digits", D("7" * 5000)),
    ("int 10**5000", 10**5000),
    ("float 1e300", 1e300),
    ("True", True),
    ("False", False),
    ("numpy True", np.True_),
    ("text NaN", "NaN"),
    ("text sNaN", "sNaN"),
    ("text -Infinity", "-Infinity"),
    ("float nan", float("nan")),
    ("float inf", float("inf")),
    ("Decimal NaN", D("NaN")),
    ("Decimal sNaN", D("sNaN")),
    ("Decimal Infinity", D("Infinity")),
    ("numpy nan", np.float64("nan")),
    ("numpy inf", np.float32("inf")),
    ("1 MB of digits", MEGABYTE_OF_DIGITS),
    ("not a number", "abc"),
    ("hex", "0x10"),
    ("empty list", []),
    ("list", [0]),
    ("dict", {"qty": 1}),
    ("bytes", b"1"),
    ("complex", 1 + 2j),
    ("object", object()),
]
BAD_IDS = [name for name, _ in BAD_NUMBERS]
BAD_VALUES = [value for _, value in BAD_NUMBERS]
# A reason quotes at most a few dozen characters of the input, whatever its size.
MAX_REASON = 300


def _config(path: Path) -> EngineConfig:
    return EngineConfig(data_dir=path, seed=11, latency_ms=D(0))


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One engine for the refusal cases: a refusal changes nothing, so they may share it."""
    eng = Engine(_config(tmp_path_factory.mktemp("bounded"))).start()
    try:
        yield eng
    finally:
        eng.stop()


@pytest.fixture
def fresh_engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(_config(tmp_path)).start()
    try:
        yield eng
    finally:
        eng.stop()


def _refused_then_panic(eng: Engine, command: Any) -> Any:
    """Send ``command`` and a panic right behind it; both must answer. Returns the first answer."""
    answer = eng.submit(command)
    panic = eng.submit(PanicClose())
    result = answer.result(TIMEOUT)
    report = panic.result(TIMEOUT)
    assert isinstance(report, PanicCompleted), report
    assert report.flat is True
    # And the loop still answers a command queued after both.
    after = eng.submit(PanicClose()).result(TIMEOUT)
    assert isinstance(after, PanicCompleted)
    return result


# ---------------------------------------------------------------- orders


@pytest.mark.parametrize("value", BAD_VALUES, ids=BAD_IDS)
def test_bad_quantity_is_denied_with_a_reason_and_the_loop_keeps_going(
    engine: Engine, value: object
) -> None:
    cmd = SubmitOrder(symbol="BTC/USDT", side="buy", type="market", qty=value)
    ev = _refused_then_panic(engine, cmd)
    assert isinstance(ev, OrderDenied), ev
    assert ev.limit == "qty"
    assert ev.order_id == ""
    assert ev.reason.startswith("quantity ")
    assert len(ev.reason) < MAX_REASON
    assert isinstance(ev.value, str)
    assert 0 < len(ev.value) < MAX_REASON
    assert engine.snapshot().positions["BTC/USDT"].qty == 0


@pytest.mark.parametrize("value", BAD_VALUES, ids=BAD_IDS)
def test_bad_limit_price_is_denied_with_a_reason_and_the_loop_keeps_going(
    engine: Engine, value: object
) -> None:
    cmd = SubmitOrder(symbol="ETH/USDT", side="sell", type="limit", qty="0.01", price=value)
    ev = _refused_then_panic(engine, cmd)
    assert isinstance(ev, OrderDenied), ev
    assert ev.limit == "price"
    assert ev.reason.startswith("price ")
    assert len(ev.reason) < MAX_REASON
    assert engine.snapshot().positions["ETH/USDT"].qty == 0


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("qty", "1e999999", "quantity 1e999999 is too large (numbers must be below 1e30)"),
        ("qty", "1e2999999", "quantity 1e2999999 is too large (numbers must be below 1e30)"),
        (
            "qty",
            "-1e-999999",
            "quantity -1e-999999 is too small (a number other than 0 must be at least 1e-30)",
        ),
        ("qty", True, "quantity must be a number, not true/false"),
        ("qty", float("nan"), "quantity nan is not a finite number"),
        ("qty", [0], "quantity must be a number, got a list"),
        ("qty", None, "quantity must be a number, got nothing (None)"),
        (
            "qty",
            MEGABYTE_OF_DIGITS,
            "quantity must be a number, got text of 1,000,000 characters (at most 100)",
        ),
        ("price", D("9e999999999"), "price 9E+999999999 is too large (numbers must be below 1e30)"),
        ("price", "sNaN", "price sNaN is not a finite number"),
    ],
)
def test_order_refusals_say_why_in_words(
    engine: Engine, field: str, value: object, reason: str
) -> None:
    fields: dict[str, Any] = {"qty": "0.01", "price": "100.00", field: value}
    cmd = SubmitOrder(symbol="BTC/USDT", side="buy", type="limit", **fields)
    ev = engine.submit(cmd).result(TIMEOUT)
    assert isinstance(ev, OrderDenied)
    assert (ev.limit, ev.reason) == (field, reason)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("post_only", "false", "post-only must be True or False, not 'false'"),
        ("reduce_only", [0], "reduce-only must be True or False, not 'a list'"),
        (
            "side",
            "x" * 100_000,
            "side must be 'buy' or 'sell', not 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ),
        ("client_id", ["a"], "client order id must be text of at most 64 characters"),
    ],
)
def test_other_order_fields_are_bounded_too(
    engine: Engine, field: str, value: object, reason: str
) -> None:
    fields: dict[str, Any] = {"side": "buy", field: value}
    cmd = SubmitOrder(symbol="BTC/USDT", type="market", qty="0.01", **fields)
    ev = _refused_then_panic(engine, cmd)
    assert isinstance(ev, OrderDenied)
    assert ev.limit == field
    assert ev.reason.startswith(reason)
    assert len(ev.reason) < MAX_REASON


def test_a_huge_but_bounded_quantity_reaches_the_risk_gate_and_is_denied_there(
    fresh_engine: Engine,
) -> None:
    """9e29 BTC is on the lot grid (checked exactly, not "not a multiple" by lack of precision);
    the order-notional limit refuses it."""
    ev = fresh_engine.submit(
        SubmitOrder(symbol="BTC/USDT", side="buy", type="market", qty="9e29")
    ).result(TIMEOUT)
    assert isinstance(ev, OrderDenied)
    assert ev.limit == "max_order_notional"
    assert ev.reason.endswith("is above the limit of 25000")
    assert fresh_engine.snapshot().positions["BTC/USDT"].qty == 0


def test_numpy_scalars_are_read_by_value(fresh_engine: Engine) -> None:
    eng = fresh_engine
    filled = eng.submit(
        SubmitOrder(symbol="BTC/USDT", side="buy", type="market", qty=np.float64(0.01))
    ).result(TIMEOUT)
    assert isinstance(filled, OrderFilled), filled
    assert filled.order.qty == D("0.01")
    sol = eng.submit(
        SubmitOrder(symbol="SOL/USDT", side="buy", type="market", qty=np.int64(3))
    ).result(TIMEOUT)
    assert isinstance(sol, OrderFilled), sol
    assert sol.order.qty == D(3)
    bid = eng.snapshot().books["ETH/USDT"].best_bid
    assert isinstance(bid, Decimal)
    low = bid - D(10)  # well under the market: rests
    rests = eng.submit(
        SubmitOrder(
            symbol="ETH/USDT",
            side="buy",
            type="limit",
            qty=np.float32(0.01),
            price=np.float64(float(low)),
            post_only=np.True_,
        )
    ).result(TIMEOUT)
    assert isinstance(rests, OrderAccepted), rests
    assert (rests.order.qty, rests.order.price) == (D("0.01"), low)
    snap = eng.snapshot()
    assert snap.positions["BTC/USDT"].qty == D("0.01")
    assert snap.positions["SOL/USDT"].qty == D(3)


# ---------------------------------------------------------------- risk limits


@pytest.mark.parametrize("value", BAD_VALUES, ids=BAD_IDS)
@pytest.mark.parametrize("name", RISK_LIMIT_FIELDS)
def test_bad_risk_limit_is_refused_whole_and_the_loop_keeps_going(
    engine: Engine, name: str, value: object
) -> None:
    before = dict(engine.snapshot().risk.limits)
    ev = _refused_then_panic(engine, UpdateRiskLimits(**{name: value}))
    assert isinstance(ev, RiskLimitsRejected), ev
    assert ev.field == name
    assert ev.reason.startswith(f"{SPECS[name].label} ({name}) ")
    assert len(ev.reason) < MAX_REASON
    assert isinstance(ev.value, str)
    assert 0 < len(ev.value) < MAX_REASON
    assert dict(engine.snapshot().risk.limits) == before


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        (
            "max_open_orders",
            "1e999999",
            "Max open orders (max_open_orders) 1e999999 is above the hard ceiling of 500 orders",
        ),
        (
            "max_orders_per_second",
            "1e2999999",
            "Max order rate (max_orders_per_second) 1e2999999 is above the hard ceiling of "
            "50 orders/s",
        ),
        (
            "max_leverage",
            D("9e999999999"),
            "Max leverage (max_leverage) 9E+999999999 is above the hard ceiling of 5x",
        ),
        (
            "max_daily_loss_pct",
            "-1e-999999",
            "Max daily loss (max_daily_loss_pct) -1e-999999 must not be negative",
        ),
        (
            "price_band_pct",
            "1e-999999",
            "Price band (price_band_pct) 1e-999999 is below the minimum of 0.01%",
        ),
        (
            "max_open_orders",
            np.float64(3.0),
            "Max open orders (max_open_orders) must be a whole number, got 3.0",
        ),
        (
            "stale_after_s",
            True,
            "Stale book after (stale_after_s) must be a number, not true/false",
        ),
        (
            "max_position_pct",
            {"a": 1},
            "Max position (max_position_pct) must be a number, got a dict",
        ),
    ],
)
def test_limit_refusals_say_why_in_words(
    engine: Engine, name: str, value: object, reason: str
) -> None:
    ev = engine.submit(UpdateRiskLimits(**{name: value})).result(TIMEOUT)
    assert isinstance(ev, RiskLimitsRejected)
    assert (ev.field, ev.reason) == (name, reason)


def test_numpy_scalars_set_limits_to_exact_types(fresh_engine: Engine) -> None:
    ev = fresh_engine.submit(
        UpdateRiskLimits(max_open_orders=np.int64(7), max_leverage=np.float64(2.5))
    ).result(TIMEOUT)
    assert isinstance(ev, RiskLimitsChanged), ev
    assert ev.new["max_open_orders"] == 7
    assert type(ev.new["max_open_orders"]) is int
    assert ev.new["max_leverage"] == D("2.5")
    limits = fresh_engine.snapshot().risk.limits
    assert (limits["max_open_orders"], limits["max_leverage"]) == (7, D("2.5"))


# ---------------------------------------------------------------- strategy parameters


@pytest.mark.parametrize("value", BAD_VALUES, ids=BAD_IDS)
@pytest.mark.parametrize(
    ("strategy", "param"),
    [("sma_cross", "fast"), ("mean_reversion", "entry_z"), ("grid", "upper")],
)
def test_bad_strategy_param_is_refused_and_the_loop_keeps_going(
    engine: Engine, strategy: str, param: str, value: object
) -> None:
    cmd = StartStrategy(name=strategy, symbol="BTC/USDT", params={param: value})
    ev = _refused_then_panic(engine, cmd)
    assert isinstance(ev, StrategyRejected), ev
    assert ev.name == strategy
    assert ev.reason.startswith(f"{param} ")
    assert len(ev.reason) < MAX_REASON
    not_running = engine.submit(StopStrategy(name_or_id=strategy)).result(TIMEOUT)
    assert isinstance(not_running, StrategyRejected)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        (None, "strategy parameters must be a mapping of name to value, got None"),
        ([0], "strategy parameters must be a mapping of name to value, got a list"),
        ("fast=5", "strategy parameters must be a mapping of name to value, got fast=5"),
        ({1: "5"}, "parameter names must be text, got '1'"),
        ({"self": "5"}, "unknown parameter(s) self; known: fast, slow"),
        ({f"p{i}": 1 for i in range(10_000)}, "too many strategy parameters (10,000; at most 64)"),
        ({"fast": "1e999999"}, "fast must be <= 10000, got 1e999999"),
        ({"fast": "1e2999999"}, "fast must be <= 10000, got 1e2999999"),
        ({"fast": True}, "fast must be a whole number, got True"),
        ({"fast": "2.5"}, "fast must be a whole number, got 2.5"),
        ({"fast": "nan"}, "fast nan is not a finite number"),
    ],
)
def test_strategy_refusals_say_why_in_words(engine: Engine, params: Any, reason: str) -> None:
    ev = engine.submit(StartStrategy(name="sma_cross", symbol="BTC/USDT", params=params))
    result = ev.result(TIMEOUT)
    assert isinstance(result, StrategyRejected)
    assert result.reason == reason


def test_numpy_strategy_params_are_read_by_value(fresh_engine: Engine) -> None:
    cmd = StartStrategy(
        name="sma_cross", symbol="BTC/USDT", params={"fast": np.int64(5), "slow": np.int32(20)}
    )
    started = fresh_engine.submit(cmd).result(TIMEOUT)
    assert isinstance(started, StrategyStarted), started
    stopped = fresh_engine.submit(StopStrategy(name_or_id=started.strategy_id)).result(TIMEOUT)
    assert isinstance(stopped, StrategyStopped)
    assert stopped.strategy_id == started.strategy_id


# ---------------------------------------------------------------- names, ids and actors


@pytest.mark.parametrize("value", [["BTC/USDT"], {"s": 1}, None, 7, "B" * 1_000_000], ids=repr)
def test_names_and_ids_that_are_not_short_text_are_refused_not_raised(
    engine: Engine, value: object
) -> None:
    order = _refused_then_panic(
        engine,
        SubmitOrder(symbol=value, side="buy", type="market", qty="0.01"),  # type: ignore[arg-type]
    )
    assert isinstance(order, OrderDenied)
    assert order.limit == "symbol"
    assert order.reason.startswith("unknown symbol ")
    assert len(order.reason) < MAX_REASON
    by_name = _refused_then_panic(engine, StartStrategy(name=value, symbol="BTC/USDT"))  # type: ignore[arg-type]
    assert isinstance(by_name, StrategyRejected)
    assert by_name.reason.startswith("unknown strategy ")
    on_symbol = _refused_then_panic(engine, StartStrategy(name="sma_cross", symbol=value))  # type: ignore[arg-type]
    assert isinstance(on_symbol, StrategyRejected)
    assert on_symbol.reason.startswith("unknown symbol ")
    stop = _refused_then_panic(engine, StopStrategy(name_or_id=value))  # type: ignore[arg-type]
    assert isinstance(stop, StrategyRejected)
    assert stop.reason.startswith("no running strategy ")
    cancel = _refused_then_panic(engine, CancelOrder(order_id=value))  # type: ignore[arg-type]
    assert isinstance(cancel, CancelRejected)
    assert cancel.reason.startswith("no open order ")
    assert len(cancel.reason) < MAX_REASON


def test_an_actor_that_is_not_text_is_audited_as_text_and_does_not_halt(
    fresh_engine: Engine,
) -> None:
    changed = fresh_engine.submit(UpdateRiskLimits(max_leverage="2", actor=[1])).result(TIMEOUT)  # type: ignore[arg-type]
    assert isinstance(changed, RiskLimitsChanged), changed
    assert changed.actor == "a list"
    snap = fresh_engine.snapshot()
    assert snap.risk.state == "ACTIVE"
    assert [a["actor"] for a in snap.risk.audit if a["action"] == "limit"] == ["a list"]


# ---------------------------------------------------------------- halt reset


@pytest.mark.parametrize(
    "confirm",
    ["false", "no", "0", "true", "yes", [0], [True], 1, 1.0, np.True_, None, False],
    ids=repr,
)
def test_reset_halt_needs_confirm_to_be_true_itself(engine: Engine, confirm: object) -> None:
    eng = engine
    assert isinstance(eng.submit(PanicClose()).result(TIMEOUT), PanicCompleted)
    assert eng.snapshot().risk.state == "HALTED"
    refused = eng.submit(ResetHalt(confirm=confirm)).result(TIMEOUT)  # type: ignore[arg-type]
    assert isinstance(refused, HaltResetRefused), refused
    assert refused.reason == (
        f"reset refused: it must be confirmed with confirm=True, got {describe(confirm)!r}"
    )
    assert eng.snapshot().risk.state == "HALTED"
    lifted = eng.submit(ResetHalt(confirm=True)).result(TIMEOUT)
    assert isinstance(lifted, TradingStateChanged), lifted
    assert lifted.state == "ACTIVE"
    assert eng.snapshot().risk.state == "ACTIVE"


# ---------------------------------------------------------------- the parser


def _in_bounds(number: Decimal) -> bool:
    if not number.is_finite():
        return False
    if not number:
        return True
    digits = len(number.as_tuple().digits)
    return (
        MIN_ADJUSTED_EXPONENT <= number.adjusted() <= MAX_ADJUSTED_EXPONENT
        and digits <= MAX_SIGNIFICANT_DIGITS
    )


huge_decimals = st.builds(
    lambda sign, digits, exponent: Decimal((sign, digits, exponent)),
    st.integers(0, 1),
    st.lists(st.integers(0, 9), min_size=1, max_size=80).map(tuple),
    st.integers(-(10**12), 10**12),
)
anything = st.one_of(
    st.text(max_size=200),
    st.text(alphabet="0123456789eE+-._ naNsifIty", max_size=120),
    st.decimals(allow_nan=True, allow_infinity=True),
    huge_decimals,
    st.integers(),
    st.integers(-3000, 3000).map(lambda e: 10**e if e >= 0 else -(10 ** (-e))),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
    st.builds(lambda e: f"1e{e}", st.integers(-(10**9), 10**9)),
)


@settings(deadline=None, max_examples=500)
@given(value=anything, whole=st.booleans())
def test_parser_never_raises_and_only_gives_bounded_numbers(value: object, whole: bool) -> None:
    result = parse_number(value, whole=whole)
    if isinstance(result, BadNumber):
        assert result.kind in {
            "type",
            "text",
            "finite",
            "too_large",
            "too_small",
            "digits",
            "whole",
        }
        assert result.why
        assert len(result.why) < MAX_REASON
        assert len(result.shown) < MAX_REASON
        assert parse_decimal(value) is None or whole
    else:
        assert isinstance(result, Decimal)
        assert _in_bounds(result)
        if whole:
            assert result == result.to_integral_value()
            assert int(result) == result  # cheap: below 1e30
        assert parse_decimal(value) == result


@settings(deadline=None)
@given(value=st.one_of(st.booleans(), st.just(np.True_), st.just(np.False_)))
def test_bools_are_never_numbers(value: object) -> None:
    result = parse_number(value)
    assert isinstance(result, BadNumber)
    assert (result.kind, result.why) == ("type", "must be a number, not true/false")


@settings(deadline=None)
@given(
    number=st.decimals(
        min_value=D("-1e29"), max_value=D("1e29"), places=12, allow_nan=False, allow_infinity=False
    )
)
def test_every_sane_number_reads_back_exactly(number: Decimal) -> None:
    if number and abs(number) < D("1e-30"):
        return
    assert parse_number(number) == number
    assert parse_number(str(number)) == number
    assert parse_number(f"  {number}  ") == number


@settings(deadline=None)
@given(n=st.integers())
def test_integers_are_accepted_exactly_below_1e30(n: int) -> None:
    result = parse_number(n, whole=True)
    if abs(n) < 10**30:
        assert result == D(n)
    else:
        assert isinstance(result, BadNumber)
        assert result.kind == "too_large"
        assert result.negative is (n < 0)


@settings(deadline=None)
@given(f=st.floats(allow_nan=True, allow_infinity=True))
def test_floats_read_by_shortest_text(f: float) -> None:
    result = parse_number(f)
    expected = D(repr(f)) if np.isfinite(f) else None
    if expected is not None and (not expected or 1e-30 <= abs(f) < 1e30):
        assert result == expected
    else:
        assert isinstance(result, BadNumber)


@settings(deadline=None)
@given(e=st.integers(-(10**15), 10**15), sign=st.sampled_from(["", "-"]))
def test_any_exponent_is_answered_without_expanding_it(e: int, sign: str) -> None:
    result = parse_number(f"{sign}1e{e}", whole=True)
    if 0 <= e <= MAX_ADJUSTED_EXPONENT:
        assert result == D(f"{sign}1e{e}")
    elif e > MAX_ADJUSTED_EXPONENT:
        assert isinstance(result, BadNumber)
        assert (result.kind, result.negative) == ("too_large", sign == "-")
    elif e < MIN_ADJUSTED_EXPONENT:
        assert isinstance(result, BadNumber)
        assert result.kind == "too_small"
    else:
        assert isinstance(result, BadNumber)
        assert result.kind == "whole"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.float64(0.01), D("0.01")),
        (np.float32(0.01), D("0.01")),
        (np.float16(0.5), D("0.5")),
        (np.int64(3), D(3)),
        (np.uint8(255), D(255)),
        (np.str_("1.25"), D("1.25")),
    ],
    ids=repr,
)
def test_numpy_scalars_convert_by_value(value: object, expected: Decimal) -> None:
    assert parse_number(value) == expected


def test_text_length_is_checked_before_parsing() -> None:
    padded = "1." + "0" * (MAX_NUMBER_CHARS - 2)  # 99 digits, all but one padding
    assert parse_number(padded) == 1
    assert len(parse_number(padded).as_tuple().digits) == MAX_SIGNIFICANT_DIGITS  # type: ignore[union-attr]
    long = parse_number("1" * (MAX_NUMBER_CHARS + 1))
    assert isinstance(long, BadNumber)
    assert long.kind == "text"
    assert long.shown == "1" * 40 + "... (101 characters)"


def test_zero_with_any_exponent_is_zero() -> None:
    assert parse_number("0e999999") == 0
    assert parse_number("-0E-999999999") == 0
    assert parse_number(D("0e-5")) == 0
