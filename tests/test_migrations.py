"""Schema migrations, freqtrade style: build an old database by hand, open it, check the upgrade."""

from __future__ import annotations

import hashlib
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from engine.model import OrderStatus
from engine.persistence import (
    DB_FILENAME,
    LATEST_VERSION,
    MIGRATIONS,
    SchemaTooNew,
    StorageError,
    Store,
)

# Schema version 1 exactly as the first release created it. Kept here on purpose, not imported:
# if someone edits migration 1 instead of appending a new one, the comparison test below fails.
V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE account (
    id INTEGER PRIMARY KEY CHECK (id = 1), cash TEXT NOT NULL, initial_cash TEXT NOT NULL,
    currency TEXT NOT NULL DEFAULT 'USDT'
);
CREATE TABLE orders (
    seq INTEGER PRIMARY KEY, order_id TEXT NOT NULL UNIQUE, client_id TEXT,
    symbol TEXT NOT NULL, side TEXT NOT NULL, type TEXT NOT NULL, qty TEXT NOT NULL, price TEXT,
    tif TEXT NOT NULL, post_only INTEGER NOT NULL, reduce_only INTEGER NOT NULL,
    status TEXT NOT NULL, filled_qty TEXT NOT NULL, avg_fill_price TEXT, fees TEXT NOT NULL,
    source TEXT NOT NULL, reason TEXT NOT NULL, ts_created INTEGER NOT NULL,
    ts_updated INTEGER NOT NULL
);
CREATE INDEX orders_status ON orders (status);
CREATE TABLE order_events (
    seq INTEGER PRIMARY KEY, order_id TEXT NOT NULL REFERENCES orders (order_id),
    event TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, fill_id TEXT,
    ts_ns INTEGER NOT NULL
);
CREATE INDEX order_events_order ON order_events (order_id);
CREATE TABLE fills (
    seq INTEGER PRIMARY KEY, fill_id TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL REFERENCES orders (order_id), symbol TEXT NOT NULL,
    side TEXT NOT NULL, qty TEXT NOT NULL, price TEXT NOT NULL, notional TEXT NOT NULL,
    fee TEXT NOT NULL, fee_asset TEXT NOT NULL, liquidity TEXT NOT NULL, mid_at_decision TEXT,
    slippage TEXT NOT NULL, levels INTEGER NOT NULL, ts_event INTEGER NOT NULL,
    ts_init INTEGER NOT NULL
);
CREATE INDEX fills_order ON fills (order_id);
CREATE TABLE positions (
    symbol TEXT PRIMARY KEY, qty TEXT NOT NULL, cost_basis TEXT NOT NULL,
    realised_pnl TEXT NOT NULL, fees TEXT NOT NULL, ts_updated INTEGER NOT NULL
);
INSERT INTO meta (key, value) VALUES ('schema_version', '1');
"""

# Notionals chosen so a float sum would not be exact: 0.1 + 0.2 style digits.
V1_DATA = """
INSERT INTO account VALUES (1, '99123.4567890123', '100000', 'USDT');
INSERT INTO settings VALUES ('layout', 'classic');
INSERT INTO orders VALUES
 (1, 'O-000001', NULL, 'BTC/USDT', 'buy', 'limit', '0.3', '43210.1', 'gtc', 0, 0,
  'filled', '0.3', '43210.1000000000', '12.963030000', 'manual', '', 100, 300),
 (2, 'O-000017', 'c2', 'ETH/USDT', 'buy', 'limit', '3', '2345.6789', 'gtc', 1, 0,
  'partially_filled', '1.1', '2345.6789000000', '2.58024679', 'manual', '', 400, 500),
 (3, 'O-000018', NULL, 'ETH/USDT', 'sell', 'market', '1', NULL, 'ioc', 0, 1,
  'denied', '0', NULL, '0', 'manual', 'reduce only: no position', 600, 600);
INSERT INTO order_events (order_id, event, status, reason, fill_id, ts_ns) VALUES
 ('O-000001', 'accepted', 'accepted', '', NULL, 100),
 ('O-000001', 'partially_filled', 'partially_filled', '', 'F-000001', 200),
 ('O-000001', 'filled', 'filled', '', 'F-000002', 300),
 ('O-000017', 'accepted', 'accepted', '', NULL, 400),
 ('O-000017', 'partially_filled', 'partially_filled', '', 'F-000009', 500),
 ('O-000018', 'denied', 'denied', 'reduce only: no position', NULL, 600);
INSERT INTO fills VALUES
 (1, 'F-000001', 'O-000001', 'BTC/USDT', 'buy', '0.1', '43210.1', '4321.01', '4.32101', 'USDT',
  'maker', '43210.15', '-0.005', 1, 200, 201),
 (2, 'F-000002', 'O-000001', 'BTC/USDT', 'buy', '0.2', '43210.1', '8642.02', '8.64202', 'USDT',
  'maker', NULL, '0', 1, 300, 301),
 (3, 'F-000009', 'O-000017', 'ETH/USDT', 'buy', '1.1', '2345.6789', '2580.24679', '2.58024679',
  'USDT', 'maker', '2345.70', '-0.0234', 2, 500, 501);
INSERT INTO positions VALUES
 ('BTC/USDT', '0.3', '12963.03', '0', '12.96303', 300),
 ('ETH/USDT', '1.1', '2580.24679', '0', '2.58024679', 500);
"""


def build_v1(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / DB_FILENAME
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA + V1_DATA)
    conn.commit()
    conn.close()
    return path


def fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def schema_shape(path: Path) -> dict[str, object]:
    """Columns (name, type, not null, default, pk) and indexes of every table."""
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        shape: dict[str, object] = {}
        for t in tables:
            shape[t] = (
                [tuple(r[1:]) for r in conn.execute(f"PRAGMA table_info({t})")],
                sorted(
                    (r[1], r[2], tuple(c[2] for c in conn.execute(f"PRAGMA index_info({r[1]})")))
                    for r in conn.execute(f"PRAGMA index_list({t})")
                ),
                [tuple(r[2:5]) for r in conn.execute(f"PRAGMA foreign_key_list({t})")],
            )
        return shape
    finally:
        conn.close()


def test_migrations_are_numbered_one_to_latest() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST_VERSION + 1))
    assert LATEST_VERSION >= 2


def test_v1_database_is_migrated_with_data_preserved(tmp_path: Path) -> None:
    build_v1(tmp_path)
    with Store.open(tmp_path) as store:
        assert store.schema_version == LATEST_VERSION
        state = store.load_state()
        fills = store.fills()
        events = store.order_events("O-000001")
        assert store.get_setting("layout") == "classic"
        # the v2 tables exist and work
        assert store.load_risk_limits() == {}
        store.save_risk_limits({"max_leverage": "3"})
        store.save_risk_state("ACTIVE", "", "2024-05-01", Decimal("100000"), 700)
        store.record_risk_audit(700, "user", "limit", "max_leverage", None, "3", "")
        store.record_account_snapshot(
            700, Decimal(1), Decimal(2), Decimal(3), Decimal(4), Decimal(5)
        )

    assert repr(state.cash) == "Decimal('99123.4567890123')"
    assert repr(state.initial_cash) == "Decimal('100000')"
    assert repr(state.positions["ETH/USDT"].cost_basis) == "Decimal('2580.24679')"
    assert repr(state.positions["BTC/USDT"].fees) == "Decimal('12.96303')"
    assert [o.order_id for o in state.open_orders] == ["O-000017"]
    assert [o.order_id for o in state.recent_orders] == ["O-000001", "O-000018"]
    assert state.recent_orders[1].status is OrderStatus.DENIED
    assert (state.last_order_seq, state.last_fill_seq, state.fill_count) == (18, 9, 3)
    assert [f.fill_id for f in fills] == ["F-000001", "F-000002", "F-000009"]
    assert fills[1].mid_at_decision is None
    assert [e["event"] for e in events] == ["accepted", "partially_filled", "filled"]
    # v2 backfilled the exact filled notional from the fills (a float sum would drift).
    assert repr(state.recent_orders[0].filled_notional) == "Decimal('12963.03')"
    assert repr(state.open_orders[0].filled_notional) == "Decimal('2580.24679')"
    assert repr(state.recent_orders[1].filled_notional) == "Decimal('0')"

    with Store.open(tmp_path) as store:  # and the new data persists
        assert store.load_risk_limits() == {"max_leverage": "3"}
        assert len(store.account_history()) == 1


def test_migrated_schema_equals_fresh_schema(tmp_path: Path) -> None:
    old = build_v1(tmp_path / "old")
    with Store.open(tmp_path / "old"):
        pass
    with Store.open(tmp_path / "fresh") as fresh:
        new = fresh.path
    assert schema_shape(old) == schema_shape(new)


def test_fresh_v1_migration_matches_hand_built_v1(tmp_path: Path) -> None:
    hand = build_v1(tmp_path / "hand")
    path = tmp_path / "mig" / DB_FILENAME
    path.parent.mkdir()
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0].sql)
    conn.close()
    assert schema_shape(path) == schema_shape(hand)


def test_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        store.set_setting("k", "v")
        path = store.path
    conn = sqlite3.connect(path)
    conn.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(LATEST_VERSION + 5)]
    )
    conn.commit()
    conn.close()
    before = fingerprint(path)
    with pytest.raises(SchemaTooNew) as info:
        Store.open(tmp_path)
    message = str(info.value)
    assert isinstance(info.value, StorageError)
    assert str(path) in message
    assert f"schema version {LATEST_VERSION + 5}" in message
    assert f"up to {LATEST_VERSION}" in message
    assert "left untouched" in message
    assert fingerprint(path) == before
    with pytest.raises(SchemaTooNew):  # lock released after the refusal
        Store.open(tmp_path)


def test_failed_migration_keeps_previous_version_and_data(tmp_path: Path) -> None:
    path = build_v1(tmp_path)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE risk_audit (note TEXT)")  # collides with migration 2
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="previous schema version"):
        Store.open(tmp_path)
    conn = sqlite3.connect(path)
    try:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        columns = [r[1] for r in conn.execute("PRAGMA table_info(orders)")]
        risk_tables = conn.execute(
            "SELECT name FROM sqlite_master WHERE name IN ('risk_limits', 'risk_state')"
        ).fetchall()
        orders = conn.execute("SELECT COUNT(*) FROM orders").fetchone()
    finally:
        conn.close()
    assert version == ("1",)
    assert "filled_notional" not in columns
    assert risk_tables == []
    assert orders == (3,)
