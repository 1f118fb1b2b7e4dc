"""The engine on its own thread, end to end, with a real SQLite file and the sim venue. No Qt."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from kit import WAIT_S

from engine import (
    AllCancelled,
    CancelAll,
    CancelOrder,
    CancelRejected,
    DataDirLocked,
    Engine,
    EngineConfig,
    EngineNotRunning,
    OrderAccepted,
    OrderCancelled,
    OrderDenied,
    OrderFilled,
    SubmitOrder,
)
from engine.model import OrderStatus


def _config(path: Path, **kw: object) -> EngineConfig:
    base: dict[str, object] = {"data_dir": path, "seed": 11, "latency_ms": Decimal(0)}
    base.update(kw)
    return EngineConfig(**base)  # type: ignore[arg-type]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(_config(tmp_path)).start()
    yield eng
    eng.stop()


def _wait(pred, timeout: float = WAIT_S) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


def test_books_move_and_snapshot_has_all_symbols(engine: Engine) -> None:
    snap = engine.snapshot()
    assert set(snap.symbols) == {"BTC/USDT", "ETH/USDT", "SOL/USDT"}
    first = snap.books["BTC/USDT"].seq
    _wait(lambda: engine.snapshot().books["BTC/USDT"].seq > first + 5)
    book = engine.snapshot().books["BTC/USDT"]
    assert book.best_bid is not None
    assert book.best_ask is not None
    assert book.best_bid < book.best_ask
    assert engine.snapshot().positions["BTC/USDT"].qty == 0
    assert engine.snapshot().account.equity == Decimal(10000)


def test_market_buy_makes_a_position_and_pays_fees(engine: Engine) -> None:
    ev = engine.submit(
        SubmitOrder(symbol="BTC/USDT", side="buy", type="market", qty=Decimal("0.01"), price=None)
    ).result(WAIT_S)
    assert isinstance(ev, OrderFilled), ev
    assert ev.order.status is OrderStatus.FILLED
    snap = engine.snapshot()
    pos = snap.positions["BTC/USDT"]
    assert pos.qty == Decimal("0.01")
    fills = [f for f in snap.fills if f.order_id == ev.order.order_id]
    assert sum(f.qty for f in fills) == Decimal("0.01")
    notional = sum(f.notional for f in fills)
    fees = sum(f.fee for f in fills)
    assert fees == (notional * Decimal("0.001")).quantize(Decimal("1e-10"), rounding="ROUND_UP")
    assert snap.account.cash == Decimal(10000) - notional - fees
    # Taker buy pays at least the mid at decision time.
    assert all(f.slippage >= 0 for f in fills)


@pytest.mark.parametrize(
    ("qty", "price", "otype", "symbol", "needle"),
    [
        ("0", None, "market", "BTC/USDT", "positive"),
        ("-1", None, "market", "BTC/USDT", "positive"),
        ("abc", None, "market", "BTC/USDT", "not a number"),
        ("0.000001", None, "market", "BTC/USDT", "lot size"),
        ("0.00001", None, "market", "BTC/USDT", "minimum notional"),
        ("0.01", None, "market", "DOGE/XYZ", "unknown symbol"),
        ("0.01", "100.001", "limit", "BTC/USDT", "tick size"),
        ("0.01", None, "limit", "BTC/USDT", "needs a price"),
    ],
)
def test_bad_orders_are_denied_with_a_reason(
    engine: Engine, qty: str, price: str | None, otype: str, symbol: str, needle: str
) -> None:
    ev = engine.submit(
        SubmitOrder(symbol=symbol, side="buy", type=otype, qty=qty, price=price)
    ).result(WAIT_S)
    assert isinstance(ev, OrderDenied)
    assert needle in ev.reason
    assert engine.snapshot().positions.get("BTC/USDT") is None or (
        engine.snapshot().positions["BTC/USDT"].qty == 0
    )


def test_limit_order_rests_and_cancels(engine: Engine) -> None:
    bid = engine.snapshot().books["ETH/USDT"].best_bid
    assert bid is not None
    price = (bid * Decimal("0.97")).quantize(Decimal("0.01"))
    ev = engine.submit(
        SubmitOrder(symbol="ETH/USDT", side="buy", type="limit", qty=Decimal("0.01"), price=price)
    ).result(WAIT_S)
    assert isinstance(ev, OrderAccepted)
    oid = ev.order.order_id
    assert oid in engine.snapshot().orders
    done = engine.submit(CancelOrder(order_id=oid)).result(WAIT_S)
    assert isinstance(done, OrderCancelled)
    assert oid not in engine.snapshot().orders
    again = engine.submit(CancelOrder(order_id=oid)).result(WAIT_S)
    assert isinstance(again, CancelRejected)


def test_cancel_all(engine: Engine) -> None:
    bid = engine.snapshot().books["SOL/USDT"].best_bid
    assert bid is not None
    for i in range(3):
        price = (bid * Decimal("0.98") - Decimal(i) / 10).quantize(Decimal("0.01"))
        engine.submit(
            SubmitOrder(symbol="SOL/USDT", side="buy", type="limit", qty=Decimal("1"), price=price)
        ).result(WAIT_S)
    assert len(engine.snapshot().orders) == 3
    ev = engine.submit(CancelAll()).result(WAIT_S)
    assert isinstance(ev, AllCancelled)
    assert len(ev.order_ids) == 3
    assert engine.snapshot().orders == {}


def test_restart_restores_state_exactly(tmp_path: Path) -> None:
    eng = Engine(_config(tmp_path)).start()
    eng.submit(
        SubmitOrder(symbol="BTC/USDT", side="buy", type="market", qty=Decimal("0.02"))
    ).result(WAIT_S)
    eng.submit(
        SubmitOrder(symbol="BTC/USDT", side="sell", type="market", qty=Decimal("0.005"))
    ).result(WAIT_S)
    bid = eng.snapshot().books["ETH/USDT"].best_bid
    assert bid is not None
    rest = eng.submit(
        SubmitOrder(
            symbol="ETH/USDT",
            side="buy",
            type="limit",
            qty=Decimal("0.01"),
            price=(bid * Decimal("0.97")).quantize(Decimal("0.01")),
        )
    ).result(WAIT_S)
    before = eng.snapshot()
    eng.stop()

    again = Engine(_config(tmp_path)).start()
    try:
        after = again.snapshot()
        assert after.account.cash == before.account.cash
        pos_b, pos_a = before.positions["BTC/USDT"], after.positions["BTC/USDT"]
        assert (pos_a.qty, pos_a.cost_basis, pos_a.realised_pnl, pos_a.fees) == (
            pos_b.qty,
            pos_b.cost_basis,
            pos_b.realised_pnl,
            pos_b.fees,
        )
        assert set(after.orders) == {rest.order.order_id}
        assert after.orders[rest.order.order_id].price == rest.order.price
        assert [f.fill_id for f in after.fills] == [f.fill_id for f in before.fills]
        # New ids continue after the restored ones.
        ev = again.submit(
            SubmitOrder(symbol="BTC/USDT", side="sell", type="market", qty=Decimal("0.005"))
        ).result(WAIT_S)
        assert ev.order.order_id > rest.order.order_id
    finally:
        again.stop()


def test_second_instance_on_same_dir_is_refused(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(DataDirLocked, match="already"):
        Engine(_config(tmp_path)).start()


def test_stop_joins_thread_and_refuses_commands(tmp_path: Path) -> None:
    import threading

    before = {t.name for t in threading.enumerate()}
    eng = Engine(_config(tmp_path)).start()
    assert "tradedeck-engine" in {t.name for t in threading.enumerate()}
    eng.stop()
    assert {t.name for t in threading.enumerate()} <= before | set()
    fut = eng.submit(SubmitOrder(symbol="BTC/USDT", side="buy", type="market", qty="0.01"))
    with pytest.raises(EngineNotRunning):
        fut.result(timeout=1)


def test_latency_delays_the_fill(tmp_path: Path) -> None:
    eng = Engine(_config(tmp_path, latency_ms=Decimal(50))).start()
    try:
        t0 = time.perf_counter()
        ev = eng.submit(
            SubmitOrder(symbol="BTC/USDT", side="buy", type="market", qty=Decimal("0.001"))
        ).result(WAIT_S)
        elapsed = time.perf_counter() - t0
        assert isinstance(ev, OrderFilled)
        assert elapsed >= 0.045
        assert ev.fill.ts_event - ev.order.ts_created >= 50_000_000
    finally:
        eng.stop()
