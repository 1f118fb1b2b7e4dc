"""The engine's invariants, each through the public API (``from engine import ...``).

- No risk-increasing fill while HALTED: a halt cancels resting orders that add risk, keeps the
  ones that reduce, and says how many it cancelled.
- Reduce-only holds at fill time: closing the position by another order cancels the
  reduce-only order, and the market trading through its price then opens nothing.
- Nothing is published unless committed: a failing journal halts, publishes nothing, answers
  ``NotPersisted``, refuses ``ResetHalt`` until a probe write succeeds, stores the halt, and no
  published fill is lost or has its id reused after a restart.
- Control before flow: a panic sent behind 10,000 queued orders runs before them.

No assertion here depends on the machine's speed: conditions are awaited with long deadlines.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import pytest

from engine import (
    Engine,
    EngineConfig,
    EngineFailed,
    HaltResetRefused,
    OrderAccepted,
    OrderCancelled,
    OrderDenied,
    OrderFilled,
    PanicClose,
    PanicCompleted,
    ResetHalt,
    SetFeedPaused,
    SubmitOrder,
    TradingStateChanged,
    UpdateRiskLimits,
)
from engine.persistence import Store
from engine.runtime import NotPersisted

SYM = "BTC/USDT"
LOT = Decimal("0.00001")
TICK = Decimal("0.01")
DEADLINE = 60.0


def _wait(pred: Callable[[], bool], timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


class _Events:
    """A thread-safe recorder of everything the engine publishes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Any] = []

    def __call__(self, event: Any) -> None:
        with self._lock:
            self._items.append(event)

    def all(self) -> list[Any]:
        with self._lock:
            return list(self._items)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.all() if isinstance(e, kind)]


def _config(path: Path, **kw: Any) -> EngineConfig:
    base: dict[str, Any] = {
        "data_dir": path,
        "seed": 11,
        "latency_ms": Decimal(0),
        "symbols": (SYM,),
        "market_data_dir": None,
        "sim_rate": 20.0,
    }
    base.update(kw)
    return EngineConfig(**base)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[Engine, _Events]]:
    eng = Engine(_config(tmp_path)).start()
    events = _Events()
    eng.subscribe(events)
    _wait(lambda: eng.snapshot().books[SYM].best_bid is not None)
    yield eng, events
    eng.stop()


def _mid(eng: Engine) -> Decimal:
    book = eng.snapshot().books[SYM]
    assert book.best_bid is not None
    assert book.best_ask is not None
    return (book.best_bid + book.best_ask) / 2


def _qty(notional: Decimal, price: Decimal) -> Decimal:
    return (notional / price / LOT).to_integral_value(rounding=ROUND_FLOOR) * LOT


def _px(value: Decimal) -> Decimal:
    return (value / TICK).to_integral_value(rounding=ROUND_FLOOR) * TICK


def _market(side: str, qty: Decimal, **kw: Any) -> SubmitOrder:
    return SubmitOrder(symbol=SYM, side=side, type="market", qty=qty, price=None, **kw)


def _limit(side: str, qty: Decimal, price: Decimal, **kw: Any) -> SubmitOrder:
    return SubmitOrder(symbol=SYM, side=side, type="limit", qty=qty, price=price, **kw)


# ---------------------------------------------------------------------- halt sweep


def test_a_halt_cancels_resting_orders_that_add_risk_and_keeps_reducing_ones(
    engine: tuple[Engine, _Events],
) -> None:
    eng, events = engine
    mid = _mid(eng)
    small = _qty(Decimal(500), mid)
    # resting, far from the market: a buy (adds to the long to come) and a sell (reduces it)
    buy = eng.submit(_limit("buy", small, _px(mid * Decimal("0.97")))).result(30)
    sell = eng.submit(_limit("sell", small, _px(mid * Decimal("1.03")))).result(30)
    assert isinstance(buy, OrderAccepted), buy
    assert isinstance(sell, OrderAccepted), sell
    # a tiny daily-loss limit: the fee of the next fill alone reaches it
    changed = eng.submit(UpdateRiskLimits(max_daily_loss_pct="0.01")).result(30)
    assert type(changed).__name__ == "RiskLimitsChanged", changed
    filled = eng.submit(_market("buy", _qty(Decimal(4000), mid))).result(30)
    assert isinstance(filled, OrderFilled), filled

    _wait(lambda: bool([e for e in events.of(TradingStateChanged) if e.state == "HALTED"]))
    halt = next(e for e in events.of(TradingStateChanged) if e.state == "HALTED")
    assert halt.reason.startswith("daily loss")
    assert halt.orders_cancelled == 1
    cancelled = [e for e in events.of(OrderCancelled) if e.order.order_id == buy.order.order_id]
    assert len(cancelled) == 1
    assert cancelled[0].reason == "trading HALTED: the order would add risk"
    snap = eng.snapshot()
    assert snap.risk.state == "HALTED"
    assert set(snap.orders) == {sell.order.order_id}  # the reducing sell still rests
    # and nothing that adds risk gets in while halted
    denied = eng.submit(_limit("buy", small, _px(mid * Decimal("0.97")))).result(30)
    assert isinstance(denied, OrderDenied), denied
    assert denied.limit == "trading_state"


# ---------------------------------------------------------------------- reduce-only


def test_reduce_only_never_opens_a_position_after_the_position_closed(
    engine: tuple[Engine, _Events],
) -> None:
    eng, events = engine
    qty = Decimal("0.02")
    opened = eng.submit(_market("buy", qty)).result(30)
    assert isinstance(opened, OrderFilled), opened
    assert eng.snapshot().positions[SYM].qty == qty
    # no market events while the orders are placed: nothing can fill the reduce-only meanwhile
    eng.submit(SetFeedPaused(paused=True)).result(30)
    ask = eng.snapshot().books[SYM].best_ask
    assert ask is not None
    reduce_only = eng.submit(_limit("sell", qty, ask, reduce_only=True)).result(30)
    assert isinstance(reduce_only, OrderAccepted), reduce_only
    rid = reduce_only.order.order_id
    closed = eng.submit(_market("sell", qty)).result(30)
    assert isinstance(closed, OrderFilled), closed
    _wait(lambda: rid not in eng.snapshot().orders)
    assert eng.snapshot().positions[SYM].qty == 0
    gone = [e for e in events.of(OrderCancelled) if e.order.order_id == rid]
    assert [e.reason for e in gone] == ["reduce-only: the position it reduced is closed"]

    # now let the market trade through the reduce-only's price
    resumed_ns = time.time_ns()  # the sim venue runs on the wall clock
    eng.submit(SetFeedPaused(paused=False)).result(30)

    def traded_through() -> bool:
        s = eng.snapshot()
        bid = s.books[SYM].best_bid
        return (bid is not None and bid > ask) or any(
            t.price > ask and t.ts_ns > resumed_ns for t in s.trades[SYM]
        )

    _wait(traded_through, 120)
    assert eng.snapshot().positions[SYM].qty == 0  # no short
    assert not [e for e in events.of(OrderFilled) if e.order.order_id == rid]


# ---------------------------------------------------------------------- journal failure


@contextlib.contextmanager
def _disk_full(monkeypatch: pytest.MonkeyPatch, only: str = "") -> Iterator[threading.Event]:
    """Journal writes (those whose description starts with ``only``) fail as SQLite does on a
    full disk, until the event is set."""
    healed = threading.Event()
    original = Store._write

    @contextlib.contextmanager
    def failing(self: Store, what: str) -> Iterator[Any]:
        with original(self, what) as db:
            if not healed.is_set() and what.startswith(only):
                raise sqlite3.OperationalError("database or disk is full")
            yield db

    monkeypatch.setattr(Store, "_write", failing)
    try:
        yield healed
    finally:
        monkeypatch.setattr(Store, "_write", original)


def test_a_failed_journal_write_publishes_nothing_and_halts_until_a_probe_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = Engine(_config(tmp_path)).start()
    events = _Events()
    eng.subscribe(events)
    try:
        _wait(lambda: eng.snapshot().books[SYM].best_bid is not None)
        first = eng.submit(_market("buy", Decimal("0.01"))).result(30)
        assert isinstance(first, OrderFilled), first
        published_before = [e.fill.fill_id for e in events.of(OrderFilled)]
        assert published_before == [first.fill.fill_id]

        with _disk_full(monkeypatch, only="fill") as healed:
            fut = eng.submit(_market("buy", Decimal("0.01")))
            with pytest.raises(NotPersisted) as info:
                fut.result(30)
            assert "database or disk is full" in str(info.value)
            failed = [e for e in events.of(EngineFailed) if e.where == "storage"]
            assert failed
            assert "database or disk is full" in failed[0].message
            # the fill happened in memory but was not published as done
            assert [e.fill.fill_id for e in events.of(OrderFilled)] == published_before
            snap = eng.snapshot()
            assert snap.stats.storage_ok is False
            assert snap.risk.state == "HALTED"
            assert snap.risk.reason.startswith("storage failure")
            # no reset while the database does not take writes
            refused = eng.submit(ResetHalt(confirm=True)).result(30)
            assert isinstance(refused, HaltResetRefused), refused
            assert "cannot be written" in refused.reason
            assert eng.snapshot().risk.state == "HALTED"
            # the disk is freed: the probe writes the backlog, then publishes it, in order
            healed.set()
            _wait(lambda: eng.snapshot().stats.storage_ok)
        fills = [e.fill.fill_id for e in events.of(OrderFilled)]
        assert fills[: len(published_before)] == published_before
        assert len(fills) == 2
        halts = [e for e in events.of(TradingStateChanged) if e.state == "HALTED"]
        assert [h.reason[:15] for h in halts] == ["storage failure"]
    finally:
        eng.stop()

    # after a restart: the halt is stored, every published fill is there, ids go on
    store = Store.open(tmp_path)
    try:
        state = store.load_risk_state()
        assert state is not None
        assert state.state == "HALTED"
        assert state.reason.startswith("storage failure")
        stored = [f.fill_id for f in store.load_state().recent_fills]
    finally:
        store.close()
    assert stored == fills
    again = Engine(_config(tmp_path)).start()
    try:
        assert again.snapshot().risk.state == "HALTED"
        reset = again.submit(ResetHalt(confirm=True)).result(30)
        assert isinstance(reset, TradingStateChanged), reset
        _wait(lambda: again.snapshot().books[SYM].best_bid is not None)
        nxt = again.submit(_market("buy", Decimal("0.01"))).result(30)
        assert isinstance(nxt, OrderFilled), nxt
        assert nxt.fill.fill_id not in fills
        assert int(nxt.fill.fill_id.split("-")[1]) == len(fills) + 1
    finally:
        again.stop()


def test_a_restart_during_a_journal_failure_loses_no_published_fill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = Engine(_config(tmp_path)).start()
    events = _Events()
    eng.subscribe(events)
    try:
        _wait(lambda: eng.snapshot().books[SYM].best_bid is not None)
        for _ in range(3):
            assert isinstance(eng.submit(_market("buy", Decimal("0.01"))).result(30), OrderFilled)
        with _disk_full(monkeypatch):
            for _ in range(3):
                with pytest.raises(NotPersisted):
                    eng.submit(_market("buy", Decimal("0.01"))).result(30)
            published = [e.fill.fill_id for e in events.of(OrderFilled)]
            eng.stop()
    finally:
        eng.stop()
    assert len(published) == 3
    store = Store.open(tmp_path)
    try:
        stored = [f.fill_id for f in store.load_state().recent_fills]
    finally:
        store.close()
    assert stored == published  # every published fill survived; nothing unpublished was kept
    again = Engine(_config(tmp_path)).start()
    try:
        _wait(lambda: again.snapshot().books[SYM].best_bid is not None)
        nxt = again.submit(_market("buy", Decimal("0.01"))).result(30)
        assert isinstance(nxt, OrderFilled), nxt
        assert nxt.fill.fill_id not in published
    finally:
        again.stop()


# ---------------------------------------------------------------------- control before flow


def test_a_panic_behind_10000_queued_orders_runs_before_them(
    engine: tuple[Engine, _Events],
) -> None:
    eng, events = engine
    gate = threading.Event()
    entered = threading.Event()

    def hold(event: Any) -> None:  # blocks the engine thread inside the gate order
        if isinstance(event, OrderAccepted) and event.order.client_id == "gate":
            entered.set()
            gate.wait(DEADLINE)

    eng.subscribe(hold)
    mid = _mid(eng)
    price = _px(mid * Decimal("0.98"))
    gate_fut = eng.submit(_limit("buy", Decimal("0.001"), price, client_id="gate"))
    assert entered.wait(DEADLINE)
    queued = [
        eng.submit(_limit("buy", Decimal("0.001"), price, client_id=f"q{i}")) for i in range(10_000)
    ]
    panic = eng.submit(PanicClose())
    gate.set()
    report = panic.result(DEADLINE)
    assert isinstance(report, PanicCompleted), report
    assert isinstance(gate_fut.result(DEADLINE), OrderAccepted)
    results = [f.result(DEADLINE) for f in queued]

    seen = events.all()
    panic_at = next(i for i, e in enumerate(seen) if isinstance(e, PanicCompleted))
    halt_at = next(
        i
        for i, e in enumerate(seen)
        if isinstance(e, TradingStateChanged) and e.reason.startswith("panic close")
    )
    names = {f"q{n}" for n in range(10_000)}
    queued_at = [
        i
        for i, e in enumerate(seen)
        if getattr(e, "client_id", None) in names
        or getattr(getattr(e, "order", None), "client_id", None) in names
    ]
    assert len(queued_at) >= 10_000
    assert halt_at < panic_at < min(queued_at)  # the panic ran before any queued order
    # and every queued order then met the halt: denied, each answered
    assert all(isinstance(r, OrderDenied) for r in results)
    assert {r.limit for r in results} == {"trading_state"}
    assert report.orders_cancelled == 1  # the gate order, resting when the panic came


def test_reset_halt_needs_confirm_to_be_true(engine: tuple[Engine, _Events]) -> None:
    eng, _ = engine
    eng.submit(PanicClose()).result(DEADLINE)
    assert eng.snapshot().risk.state == "HALTED"
    for confirm in ("false", "no", "0", [0], 1, "true"):
        refused = eng.submit(ResetHalt(confirm=confirm)).result(30)  # type: ignore[arg-type]
        assert isinstance(refused, HaltResetRefused), (confirm, refused)
        assert eng.snapshot().risk.state == "HALTED"
    lifted = eng.submit(ResetHalt(confirm=True)).result(30)
    assert isinstance(lifted, TradingStateChanged), lifted
    assert lifted.state == "ACTIVE"


def test_throttle_denials_are_journaled_in_batches(
    engine: tuple[Engine, _Events], monkeypatch: pytest.MonkeyPatch
) -> None:
    eng, events = engine
    writes: list[str] = []
    original = Store._write

    @contextlib.contextmanager
    def counting(self: Store, what: str) -> Iterator[Any]:
        writes.append(what)
        with original(self, what) as db:
            yield db

    monkeypatch.setattr(Store, "_write", counting)
    price = _px(_mid(eng) * Decimal("0.98"))
    futures = [
        eng.submit(_limit("buy", Decimal("0.001"), price, client_id=f"b{i}")) for i in range(2_000)
    ]
    results = [f.result(DEADLINE) for f in futures]
    denied = [r for r in results if isinstance(r, OrderDenied)]
    throttled = [r for r in denied if r.limit == "max_orders_per_second"]
    assert len(throttled) >= 1_000  # 10 orders/s: nearly all of the burst
    # every denial was answered and published, but written a batch at a time
    published = {e.client_id for e in events.of(OrderDenied)}
    assert {r.client_id for r in denied} <= published
    denial_writes = [w for w in writes if w.endswith("order events")]
    assert sum(int(w.split()[0]) for w in denial_writes) == len(denied)
    assert len(denial_writes) <= len(denied) // 10
    store_state = Store.open(eng.config.data_dir, lock=False)
    try:
        recent = store_state.load_state().recent_orders
    finally:
        store_state.close()
    assert any(o.client_id == denied[-1].client_id for o in recent)
