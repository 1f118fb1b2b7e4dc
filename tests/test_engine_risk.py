"""Hard stops on the real engine thread: limits edited by command, halts that survive a restart,
the stale-data guard, and a panic close that flattens everything even with the feed stopped."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from kit import WAIT_S

from engine import (
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
    SetFeedPaused,
    SubmitOrder,
    TradingStateChanged,
    UpdateRiskLimits,
)
from engine.persistence import Store

D = Decimal


def _config(path: Path) -> EngineConfig:
    return EngineConfig(data_dir=path, seed=21, latency_ms=D(0))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(_config(tmp_path)).start()
    yield eng
    eng.stop()


def _buy(eng: Engine, symbol: str, qty: str, **kw: object) -> object:
    return eng.submit(
        SubmitOrder(symbol=symbol, side="buy", type="market", qty=D(qty), **kw)  # type: ignore[arg-type]
    ).result(WAIT_S)


def _sell(eng: Engine, symbol: str, qty: str, **kw: object) -> object:
    return eng.submit(
        SubmitOrder(symbol=symbol, side="sell", type="market", qty=D(qty), **kw)  # type: ignore[arg-type]
    ).result(WAIT_S)


def test_limit_change_is_applied_persisted_and_audited(tmp_path: Path) -> None:
    eng = Engine(_config(tmp_path)).start()
    try:
        ev = eng.submit(UpdateRiskLimits(max_leverage="2", max_open_orders=7)).result(WAIT_S)
        assert isinstance(ev, RiskLimitsChanged)
        assert ev.old["max_leverage"] == D(3)
        assert ev.new["max_leverage"] == D(2)
        limits = eng.snapshot().risk.limits
        assert (limits["max_leverage"], limits["max_open_orders"]) == (D(2), 7)
        fields = [a["field"] for a in eng.snapshot().risk.audit if a["action"] == "limit"]
        assert sorted(fields) == ["max_leverage", "max_open_orders"]
    finally:
        eng.stop()
    again = Engine(_config(tmp_path)).start()
    try:
        assert again.snapshot().risk.limits["max_leverage"] == D(2)
        assert any(a["field"] == "max_leverage" for a in again.snapshot().risk.audit)
    finally:
        again.stop()


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"max_leverage": "7"}, "ceiling"),
        ({"max_leverage": "-1"}, "max_leverage"),
        ({"max_position_pct": "abc"}, "max_position_pct"),
        ({"max_daily_loss_pct": "NaN"}, "max_daily_loss_pct"),
        ({"max_open_orders": 1.5}, "max_open_orders"),
    ],
)
def test_invalid_limit_values_change_nothing(
    engine: Engine, changes: dict[str, object], needle: str
) -> None:
    before = dict(engine.snapshot().risk.limits)
    ev = engine.submit(UpdateRiskLimits(**changes)).result(WAIT_S)  # type: ignore[arg-type]
    assert isinstance(ev, RiskLimitsRejected)
    assert needle in ev.reason
    assert dict(engine.snapshot().risk.limits) == before


def test_order_notional_limit_denies_with_limit_value_and_reason(engine: Engine) -> None:
    engine.submit(UpdateRiskLimits(max_order_notional="100")).result(WAIT_S)
    ev = _buy(engine, "ETH/USDT", "0.5")
    assert isinstance(ev, OrderDenied)
    assert ev.limit == "max_order_notional"
    assert ev.value
    assert "100" in ev.reason
    assert engine.snapshot().positions["ETH/USDT"].qty == 0


def test_daily_loss_halt_survives_restart_and_needs_a_confirmed_reset(tmp_path: Path) -> None:
    eng = Engine(_config(tmp_path)).start()
    try:
        eng.submit(UpdateRiskLimits(max_daily_loss_pct="0.01")).result(WAIT_S)
        filled = _buy(eng, "BTC/USDT", "0.05")  # the taker fee alone loses more than 0.01 %
        assert isinstance(filled, OrderFilled)
        deadline = time.monotonic() + WAIT_S
        while eng.snapshot().risk.state != "HALTED" and time.monotonic() < deadline:
            time.sleep(0.02)
        snap = eng.snapshot()
        assert snap.risk.state == "HALTED"
        assert "daily loss" in snap.risk.reason
        sod = snap.account.start_of_day_equity
        denied = _buy(eng, "BTC/USDT", "0.001")
        assert isinstance(denied, OrderDenied)
        reducing = _sell(eng, "BTC/USDT", "0.001")
        assert isinstance(reducing, OrderFilled)
    finally:
        eng.stop()

    again = Engine(_config(tmp_path)).start()
    try:
        snap = again.snapshot()
        assert snap.risk.state == "HALTED"
        assert snap.account.start_of_day_equity == sod
        assert isinstance(_buy(again, "BTC/USDT", "0.001"), OrderDenied)
        # Raising a limit does not lift the halt; an unconfirmed reset is refused.
        again.submit(UpdateRiskLimits(max_daily_loss_pct="20")).result(WAIT_S)
        assert again.snapshot().risk.state == "HALTED"
        refused = again.submit(ResetHalt(confirm=False)).result(WAIT_S)
        assert isinstance(refused, HaltResetRefused)
        lifted = again.submit(ResetHalt(confirm=True)).result(WAIT_S)
        assert isinstance(lifted, TradingStateChanged)
        assert again.snapshot().risk.state == "ACTIVE"
        assert isinstance(_buy(again, "BTC/USDT", "0.001"), OrderFilled)
    finally:
        again.stop()
    store = Store.open(tmp_path)
    try:
        actions = [a["action"] for a in store.risk_audit()]
    finally:
        store.close()
    assert "reset_halt" in actions


def test_stale_feed_blocks_new_risk_but_not_reducing(engine: Engine) -> None:
    assert isinstance(_buy(engine, "SOL/USDT", "2"), OrderFilled)
    engine.submit(UpdateRiskLimits(stale_after_s="0.3")).result(WAIT_S)
    engine.submit(SetFeedPaused(paused=True)).result(WAIT_S)
    time.sleep(0.5)
    denied = _buy(engine, "SOL/USDT", "1")
    assert isinstance(denied, OrderDenied)
    assert denied.limit == "stale_after_s"
    assert isinstance(_sell(engine, "SOL/USDT", "1"), OrderFilled)


def _open_book(eng: Engine) -> None:
    eng.submit(UpdateRiskLimits(max_orders_per_second=50)).result(WAIT_S)
    for sym, qty in (("BTC/USDT", "0.02"), ("ETH/USDT", "0.3"), ("SOL/USDT", "5")):
        assert isinstance(_buy(eng, sym, qty), OrderFilled)
    assert isinstance(_sell(eng, "ETH/USDT", "0.5"), OrderFilled)  # short 0.2 ETH
    for sym in ("BTC/USDT", "ETH/USDT", "SOL/USDT"):
        bid = eng.snapshot().books[sym].best_bid
        assert bid is not None
        price = (bid * D("0.98")).quantize(D("0.01"))
        inst = eng.snapshot().instruments[sym]
        qty = (D(20) / price).quantize(inst.lot_size) + inst.lot_size
        ev = eng.submit(
            SubmitOrder(symbol=sym, side="buy", type="limit", qty=qty, price=price)
        ).result(WAIT_S)
        assert isinstance(ev, OrderAccepted)


@pytest.mark.parametrize("feed_paused", [False, True])
def test_panic_close_flattens_everything(engine: Engine, feed_paused: bool) -> None:
    _open_book(engine)
    assert len(engine.snapshot().orders) == 3
    if feed_paused:
        engine.submit(SetFeedPaused(paused=True)).result(WAIT_S)
        time.sleep(0.2)
    report = engine.submit(PanicClose()).result(WAIT_S)
    assert isinstance(report, PanicCompleted)
    assert report.flat, report.log
    assert report.orders_cancelled == 3
    assert report.positions_closed == 3
    assert report.fees > 0
    snap = engine.snapshot()
    assert all(p.qty == 0 for p in snap.positions.values())
    assert snap.orders == {}
    assert snap.risk.state == "HALTED"
    # A halted engine takes no new risk.
    assert isinstance(_buy(engine, "BTC/USDT", "0.001"), OrderDenied)
