"""The store on real SQLite files: exact round trips, locking, corruption, atomicity."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from engine.model import (
    Fill,
    Liquidity,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    fee_amount,
)
from engine.persistence import (
    DB_FILENAME,
    LATEST_VERSION,
    LOCK_FILENAME,
    RECENT_LIMIT,
    CorruptDatabase,
    DataDirLocked,
    StorageError,
    Store,
    UnwritableDataDir,
)
from engine.portfolio import Portfolio

BTC = "BTC/USDT"
ETH = "ETH/USDT"
T0 = 1_700_000_000_000_000_000
FEE_RATE = Decimal("0.001")
INITIAL = Decimal("100000.1234567891")


class Paper:
    """A tiny stand-in for the runtime: mutates orders and the portfolio, then persists."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.portfolio = Portfolio.new(INITIAL, [BTC, ETH])
        self.orders: dict[str, Order] = {}
        self.fills: list[Fill] = []
        self.now = T0
        store.save_account(self.portfolio.cash, INITIAL, "USDT")

    def tick(self) -> int:
        self.now += 1_000_003
        return self.now

    def submit(
        self,
        n: int,
        symbol: str,
        side: OrderSide,
        qty: str,
        price: str | None = None,
        *,
        accept: bool = True,
    ) -> Order:
        ts = self.tick()
        order = Order(
            order_id=f"O-{n:06d}",
            client_id=f"c{n}" if n % 2 else None,
            symbol=symbol,
            side=side,
            type=OrderType.MARKET if price is None else OrderType.LIMIT,
            qty=Decimal(qty),
            price=None if price is None else Decimal(price),
            tif=TimeInForce.IOC if price is None else TimeInForce.GTC,
            post_only=price is not None and n % 3 == 0,
            source="test",
            ts_created=ts,
            ts_updated=ts,
        )
        self.orders[order.order_id] = order
        if accept:
            order.transition(OrderStatus.ACCEPTED, ts)
            self.store.record_order_event(order.view(), "accepted", ts_ns=ts)
        return order

    def make_fill(self, order: Order, n: int, qty: str, price: str) -> Fill:
        q, p = Decimal(qty), Decimal(price)
        notional = q * p
        mid = p - order.side.sign * Decimal("0.000000000012345678901234567")
        return Fill(
            fill_id=f"F-{n:06d}",
            order_id=order.order_id,
            symbol=order.symbol,
            side=order.side,
            qty=q,
            price=p,
            notional=notional,
            fee=fee_amount(notional, FEE_RATE),
            fee_asset="USDT",
            liquidity=Liquidity.TAKER if order.type is OrderType.MARKET else Liquidity.MAKER,
            mid_at_decision=mid,
            slippage=(p - mid) * q * order.side.sign,
            levels=n % 4 + 1,
            ts_event=self.now,
            ts_init=self.now + 7,
        )

    def fill(self, order: Order, n: int, qty: str, price: str) -> Fill:
        fill = self.make_fill(order, n, qty, price)
        ts = self.tick()
        order.apply_fill(fill.qty, fill.notional, fill.fee, ts)
        self.portfolio.apply_fill(fill)
        self.store.record_fill(
            fill, order.view(), self.portfolio.position(order.symbol), self.portfolio.cash, ts
        )
        self.fills.append(fill)
        return fill

    def close_order(self, order: Order, status: OrderStatus, reason: str) -> None:
        ts = self.tick()
        order.transition(status, ts, reason)
        self.store.record_order_event(order.view(), status.value, reason, ts)


def trade_history(store: Store) -> Paper:
    """Filled, resting, partially filled, cancelled and denied orders across two symbols."""
    paper = Paper(store)
    o1 = paper.submit(1, BTC, OrderSide.BUY, "0.12345678")
    paper.fill(o1, 1, "0.1", "43210.12345678")
    paper.fill(o1, 2, "0.02345678", "43210.98765432")
    paper.submit(2, BTC, OrderSide.SELL, "0.05", "45000.5")
    o3 = paper.submit(3, ETH, OrderSide.BUY, "1.2345", "2345.6789")
    paper.fill(o3, 3, "0.5", "2345.6789")
    o4 = paper.submit(4, ETH, OrderSide.BUY, "2", "2000.00")
    paper.close_order(o4, OrderStatus.CANCELLED, "cancelled by user")
    o5 = paper.submit(5, BTC, OrderSide.BUY, "100", accept=False)
    paper.close_order(o5, OrderStatus.DENIED, "max_order_notional: 4321012 > 50000")
    o6 = paper.submit(6, BTC, OrderSide.SELL, "0.07")
    paper.fill(o6, 4, "0.07", "43999.99999999")
    return paper


def file_fingerprint(path: Path) -> tuple[int, str]:
    data = path.read_bytes()
    return len(data), hashlib.sha256(data).hexdigest()


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


# ---------------------------------------------------------------- round trips


def test_fresh_database_has_no_state(tmp_path: Path) -> None:
    with Store.open(tmp_path / "data") as store:
        state = store.load_state()
        assert store.schema_version == LATEST_VERSION
        assert store.path == tmp_path / "data" / DB_FILENAME
    assert state.is_fresh
    assert state.cash is None
    assert state.initial_cash == 0
    assert state.positions == {}
    assert state.open_orders == []
    assert (state.fill_count, state.last_order_seq, state.last_fill_seq) == (0, 0, 0)


def test_state_round_trips_exactly_across_reopen(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        paper = trade_history(store)
    with Store.open(tmp_path) as store:
        state = store.load_state()
        fills = store.fills()

    assert repr(state.cash) == repr(paper.portfolio.cash)
    assert repr(state.initial_cash) == repr(INITIAL)
    assert state.currency == "USDT"
    # repr compares Decimal digits and exponent, not just numeric value.
    assert {s: repr(p) for s, p in state.positions.items()} == {
        s: repr(p) for s, p in paper.portfolio.positions.items() if p.qty or p.fees
    }
    assert state.positions[BTC].realised_pnl != 0
    assert [repr(f) for f in fills] == [repr(f) for f in paper.fills]
    assert [repr(f) for f in state.recent_fills] == [repr(f) for f in paper.fills]
    assert state.fill_count == 4


def test_open_orders_restored_and_closed_ones_are_history(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        paper = trade_history(store)
    with Store.open(tmp_path) as store:
        state = store.load_state()

    assert [repr(o) for o in state.open_orders] == [
        repr(paper.orders[i].view()) for i in ("O-000002", "O-000003")
    ]
    assert state.open_orders[1].status is OrderStatus.PARTIALLY_FILLED
    assert [o.order_id for o in state.recent_orders] == [
        "O-000001",
        "O-000004",
        "O-000005",
        "O-000006",
    ]
    assert all(not o.is_open for o in state.recent_orders)
    assert repr(state.recent_orders[2]) == repr(paper.orders["O-000005"].view())
    # The exact filled notional survives (the average price alone is rounded).
    assert state.open_orders[1].filled_notional == Decimal("0.5") * Decimal("2345.6789")


def test_ids_continue_after_restart(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        paper = trade_history(store)
        order = paper.submit(123, BTC, OrderSide.BUY, "0.001")
        paper.fill(order, 41, "0.001", "43000")
    with Store.open(tmp_path) as store:
        state = store.load_state()
    assert state.last_order_seq == 123
    assert state.last_fill_seq == 41
    assert f"O-{state.last_order_seq + 1:06d}" == "O-000124"


def test_order_events_trace_each_order(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        trade_history(store)
        events = store.order_events("O-000001")
        cancelled = store.order_events("O-000004")
        assert store.order_events("O-999999") == []
    assert [(e["event"], e["status"], e["fill_id"]) for e in events] == [
        ("accepted", "accepted", None),
        ("partially_filled", "partially_filled", "F-000001"),
        ("filled", "filled", "F-000002"),
    ]
    assert [e["ts_ns"] for e in events] == sorted(e["ts_ns"] for e in events)
    assert cancelled[-1]["reason"] == "cancelled by user"


def test_recent_lists_are_capped_and_oldest_first(tmp_path: Path) -> None:
    total = RECENT_LIMIT + 5
    with Store.open(tmp_path) as store:
        paper = Paper(store)
        order = paper.submit(1, BTC, OrderSide.BUY, str(total), "50000")
        for n in range(1, total + 1):
            paper.fill(order, n, "1", "50000")
        state = store.load_state()
        last3 = store.fills(limit=3)
    assert state.fill_count == total
    assert len(state.recent_fills) == RECENT_LIMIT
    assert state.recent_fills[0].fill_id == "F-000006"
    assert state.recent_fills[-1].fill_id == f"F-{total:06d}"
    assert [f.fill_id for f in last3] == [f"F-{n:06d}" for n in range(total - 2, total + 1)]
    assert state.open_orders == []
    assert state.recent_orders[0].filled_qty == Decimal(total)


def test_settings_and_account_history(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        assert store.get_setting("layout") is None
        assert store.get_setting("layout", "default") == "default"
        store.set_setting("layout", "v1")
        store.set_setting("layout", "v2")
        for i in range(3):
            store.record_account_snapshot(
                T0 + i,
                Decimal("100.0000000001"),
                Decimal(f"1{i}0.5"),
                Decimal("1E-10"),
                Decimal("-0.0000000000"),
                Decimal("0.25"),
            )
    with Store.open(tmp_path) as store:
        assert store.get_setting("layout") == "v2"
        history = store.account_history()
        assert [h.ts_ns for h in store.account_history(since_ns=T0 + 1)] == [T0 + 1, T0 + 2]
        assert [h.ts_ns for h in store.account_history(limit=1)] == [T0 + 2]
    assert [repr(h.equity) for h in history] == [
        "Decimal('100.5')",
        "Decimal('110.5')",
        "Decimal('120.5')",
    ]
    assert repr(history[0].realised) == "Decimal('1E-10')"
    assert repr(history[0].unrealised) == "Decimal('-0E-10')"


def test_risk_limits_state_and_audit(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        assert store.load_risk_limits() == {}
        assert store.load_risk_state() is None
        store.save_risk_limits({"max_leverage": "3", "max_order_notional": "50000.00"})
        store.save_risk_limits({"max_leverage": "2.5", "max_open_orders": "20"})
        store.save_risk_state("HALTED", "daily loss 5.1% > 5%", "2024-05-01", Decimal("1e5"), T0)
        for i in range(5):
            store.record_risk_audit(T0 + i, "user", "set_limit", "max_leverage", str(i), None, "")
        store.record_risk_audit(T0 + 9, "risk", "halt", None, None, None, "daily loss")
    with Store.open(tmp_path) as store:
        limits = store.load_risk_limits()
        risk = store.load_risk_state()
        audit = store.risk_audit(limit=3)
        assert len(store.risk_audit()) == 6
    assert limits == {"max_leverage": "2.5", "max_open_orders": "20"}  # replaced, not merged
    assert risk is not None
    assert (risk.state, risk.reason, risk.trading_day, risk.ts_ns) == (
        "HALTED",
        "daily loss 5.1% > 5%",
        "2024-05-01",
        T0,
    )
    assert repr(risk.start_of_day_equity) == "Decimal('1E+5')"
    assert [a["old"] for a in audit] == ["3", "4", ""]
    assert audit[-1] == {
        "ts_ns": str(T0 + 9),
        "actor": "risk",
        "action": "halt",
        "field": "",
        "old": "",
        "new": "",
        "reason": "daily loss",
    }


# ---------------------------------------------------------------- durability settings


def test_wal_mode_synchronous_normal_and_foreign_keys(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        diag = store.diagnostics()
        path = store.path
    assert diag["journal_mode"] == "wal"
    assert diag["synchronous"] == "1"  # NORMAL
    assert diag["foreign_keys"] == "1"
    # WAL is a property of the file, visible to any other connection.
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_store_can_be_used_from_another_thread(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    with Store.open(tmp_path) as store:

        def work() -> None:
            try:
                Paper(store).submit(1, BTC, OrderSide.BUY, "1")
            except BaseException as exc:
                errors.append(exc)

        t = threading.Thread(target=work)
        t.start()
        t.join(10)
        assert errors == []
        assert [o.order_id for o in store.load_state().open_orders] == ["O-000001"]


def test_closed_store_refuses_calls_and_close_is_idempotent(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    store.close()
    store.close()
    assert store.closed
    with pytest.raises(StorageError, match="closed"):
        store.set_setting("a", "b")
    with pytest.raises(StorageError, match="closed"):
        store.load_state()


# ---------------------------------------------------------------- single instance


def test_second_open_is_refused_while_first_is_open(tmp_path: Path) -> None:
    first = Store.open(tmp_path)
    try:
        assert (tmp_path / LOCK_FILENAME).read_text().strip() == str(os.getpid())
        with pytest.raises(DataDirLocked) as info:
            Store.open(tmp_path)
        assert info.value.pid == os.getpid()
        assert f"pid {os.getpid()}" in str(info.value)
        assert str(tmp_path) in str(info.value)
        first.set_setting("still", "works")  # the refused open did not disturb the first
    finally:
        first.close()
    with Store.open(tmp_path) as second:
        assert second.get_setting("still") == "works"


_OPEN_FROM_OTHER_PROCESS = """
import sys
from pathlib import Path
from engine.persistence import DataDirLocked, Store
try:
    store = Store.open(Path(sys.argv[1]))
except DataDirLocked as exc:
    print(exc)
    sys.exit(3)
store.close()
print("opened")
"""


def test_second_process_is_refused_with_holder_pid(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Store.open(data):
        proc = subprocess.run(
            [sys.executable, "-c", _OPEN_FROM_OTHER_PROCESS, str(data)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env=subprocess_env(),
        )
        assert proc.returncode == 3, proc.stderr
        assert f"pid {os.getpid()}" in proc.stdout
        assert str(data) in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-c", _OPEN_FROM_OTHER_PROCESS, str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=subprocess_env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "opened"


_RECORD_THEN_HANG = """
import sys, time
from decimal import Decimal
from pathlib import Path
from engine.model import Order, OrderSide, OrderStatus, OrderType
from engine.persistence import Store
store = Store.open(Path(sys.argv[1]))
store.save_account(Decimal("123.4567890123"), Decimal("1000"), "USDT")
order = Order(order_id="O-000007", client_id=None, symbol="BTC/USDT", side=OrderSide.BUY,
              type=OrderType.LIMIT, qty=Decimal("0.5"), price=Decimal("40000.01"))
order.transition(OrderStatus.ACCEPTED, 5)
store.record_order_event(order.view(), "accepted", ts_ns=5)
print("ready", flush=True)
time.sleep(120)
"""


def test_killed_process_releases_lock_and_keeps_committed_records(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-c", _RECORD_THEN_HANG, str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=subprocess_env(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read() if proc.stderr else ""
        with pytest.raises(DataDirLocked) as info:
            Store.open(data)
        assert info.value.pid == proc.pid
    finally:
        proc.kill()  # SIGKILL: no close(), no checkpoint
        proc.communicate(timeout=30)
    with Store.open(data) as store:
        state = store.load_state()
    assert repr(state.cash) == "Decimal('123.4567890123')"
    assert [(o.order_id, o.price) for o in state.open_orders] == [("O-000007", Decimal("40000.01"))]


# ---------------------------------------------------------------- damaged files


def test_garbage_file_is_corrupt_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    path.write_bytes(bytes(range(256)) * 40)
    before = file_fingerprint(path)
    with pytest.raises(CorruptDatabase) as info:
        Store.open(tmp_path)
    message = str(info.value)
    assert str(path) in message
    assert "left untouched" in message
    assert file_fingerprint(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_FILENAME, DB_FILENAME]
    with pytest.raises(CorruptDatabase):  # the lock was released: same error, not DataDirLocked
        Store.open(tmp_path)


def test_truncated_database_is_corrupt_and_left_untouched(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        paper = Paper(store)
        for n in range(1, 301):
            paper.submit(n, BTC, OrderSide.BUY, "0.001", f"{40000 + n}.5")
    path = tmp_path / DB_FILENAME
    size = path.stat().st_size
    page = 4096
    assert size > 8 * page
    with path.open("r+b") as f:
        f.truncate((size // page // 2) * page + 1000)  # mid-page
    before = file_fingerprint(path)
    with pytest.raises(CorruptDatabase) as info:
        Store.open(tmp_path)
    assert str(path) in str(info.value)
    assert file_fingerprint(path) == before
    assert not path.with_name(DB_FILENAME + "-wal").exists()


def test_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    conn.close()
    before = file_fingerprint(path)
    with pytest.raises(StorageError, match="not a tradedeck"):
        Store.open(tmp_path)
    assert file_fingerprint(path) == before


def test_database_missing_an_index_is_corrupt_and_left_untouched(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        trade_history(store)
    path = tmp_path / DB_FILENAME
    conn = sqlite3.connect(path)
    conn.execute("DROP INDEX fills_order")
    conn.commit()
    conn.close()
    before = file_fingerprint(path)
    with pytest.raises(CorruptDatabase, match="index fills_order") as info:
        Store.open(tmp_path)
    assert f"schema v{LATEST_VERSION}" in str(info.value)
    assert file_fingerprint(path) == before


# ---------------------------------------------------------------- checkpoint policy


def _setting_in_main_file(path: Path, key: str, scratch: Path) -> str | None:
    """``key`` as the database file alone holds it, as if its WAL had been deleted."""
    copy = scratch / "main-file-only.sqlite3"
    copy.write_bytes(path.read_bytes())
    conn = sqlite3.connect(f"{copy.as_uri()}?immutable=1", uri=True)
    try:
        row = conn.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


def test_checkpoint_if_due_moves_commits_into_the_main_file(tmp_path: Path) -> None:
    data, scratch = tmp_path / "data", tmp_path / "scratch"
    scratch.mkdir()
    with Store.open(data) as store:
        assert store.checkpoint_if_due() is False  # nothing committed since the open
        store.set_setting("first", "1")
        assert _setting_in_main_file(store.path, "first", scratch) is None  # only in the WAL
        deadline = time.monotonic() + 60
        while not store.checkpoint_if_due():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert _setting_in_main_file(store.path, "first", scratch) == "1"
        assert store.checkpoint_if_due() is False  # nothing new since


def test_commits_reach_the_main_file_even_if_nobody_asks(tmp_path: Path) -> None:
    """The policy's backstop: a store used without ``checkpoint_if_due`` (a script, a tool)."""
    data, scratch = tmp_path / "data", tmp_path / "scratch"
    scratch.mkdir()
    with Store.open(data) as store:
        store.set_setting("first", "1")
        deadline = time.monotonic() + 60
        n = 0
        while _setting_in_main_file(store.path, "first", scratch) is None:
            assert time.monotonic() < deadline
            n += 1
            store.set_setting("n", str(n))
            time.sleep(0.05)
        assert n >= 1


# ---------------------------------------------------------------- unwritable places


def test_data_dir_below_a_regular_file_is_unwritable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(UnwritableDataDir) as info:
        Store.open(blocker / "sub")
    assert str(blocker / "sub") in str(info.value)
    with pytest.raises(UnwritableDataDir, match="not a directory"):
        Store.open(blocker)


def test_read_only_data_dir_is_unwritable(tmp_path: Path) -> None:
    data = tmp_path / "ro"
    data.mkdir()
    data.chmod(0o500)
    try:
        try:
            (data / "probe").touch()
        except PermissionError:
            pass
        else:
            pytest.skip("permissions do not apply to this user (root)")
        with pytest.raises(UnwritableDataDir) as info:
            Store.open(data)
        assert str(data) in str(info.value)
        with pytest.raises(UnwritableDataDir):
            Store.open(data / "sub")
    finally:
        data.chmod(0o700)


# ---------------------------------------------------------------- atomicity


def _durable_view(store: Store) -> tuple[str, str, str, int, int]:
    state = store.load_state()
    return (
        repr(state.cash),
        repr(state.positions),
        repr(state.open_orders),
        state.fill_count,
        len(store.order_events("O-000001")),
    )


def test_failed_fill_changes_nothing(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        paper = Paper(store)
        order = paper.submit(1, BTC, OrderSide.BUY, "1", "50000")
        first = paper.fill(order, 1, "0.25", "50000")
        before = _durable_view(store)

        # A second fill that reuses F-000001: the order upsert and event go in before the
        # duplicate insert fails, so only a rollback keeps them out.
        dup = replace(paper.make_fill(order, 1, "0.5", "49999.5"), fill_id=first.fill_id)
        order.apply_fill(dup.qty, dup.notional, dup.fee, paper.tick())
        paper.portfolio.apply_fill(dup)
        with pytest.raises(StorageError, match="F-000001") as info:
            store.record_fill(
                dup, order.view(), paper.portfolio.position(BTC), paper.portfolio.cash, paper.now
            )
        assert isinstance(info.value.__cause__, sqlite3.IntegrityError)
        assert _durable_view(store) == before

        # The store is still usable (no transaction left open).
        good = replace(dup, fill_id="F-000002")
        store.record_fill(
            good, order.view(), paper.portfolio.position(BTC), paper.portfolio.cash, paper.now
        )
    with Store.open(tmp_path) as store:
        state = store.load_state()
    assert state.fill_count == 2
    assert repr(state.cash) == repr(paper.portfolio.cash)
    assert state.open_orders[0].filled_qty == Decimal("0.75")


def test_mismatched_fill_is_refused_whole(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        paper = Paper(store)
        order = paper.submit(1, BTC, OrderSide.BUY, "1", "50000")
        before = _durable_view(store)
        fill = paper.make_fill(order, 1, "0.5", "50000")
        with pytest.raises(StorageError, match="Nothing of it was written"):
            store.record_fill(fill, order.view(), paper.portfolio.position(ETH), Decimal(1), 1)
        assert _durable_view(store) == before
