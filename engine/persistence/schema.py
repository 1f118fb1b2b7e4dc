"""The database schema as an ordered list of migrations; ``meta.schema_version`` says how far.

A fresh database runs every migration from 1; an old one runs the ones it lacks. Each migration
and its version bump commit together, so a failed upgrade leaves the previous version intact.
A shipped migration is history: never edit one, append the next (``tests/test_migrations.py``
builds version 1 by hand and upgrades it). Decimals are TEXT (``str(Decimal)``, exact), timestamps
INTEGER ns UTC; tables with a ``seq`` INTEGER PRIMARY KEY keep insertion order through VACUUM.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlite_utils import Database

from engine.persistence.errors import SchemaTooNew, StorageError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    """DDL, then an optional Python step for data SQL cannot transform exactly (Decimal sums)."""

    version: int
    name: str
    sql: str
    backfill: Callable[[Database], None] | None = None


_V1_INITIAL = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE account (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    cash         TEXT NOT NULL,
    initial_cash TEXT NOT NULL,
    currency     TEXT NOT NULL DEFAULT 'USDT'
);
CREATE TABLE orders (
    seq            INTEGER PRIMARY KEY,
    order_id       TEXT NOT NULL UNIQUE,
    client_id      TEXT,
    symbol         TEXT NOT NULL,
    side           TEXT NOT NULL,
    type           TEXT NOT NULL,
    qty            TEXT NOT NULL,
    price          TEXT,
    tif            TEXT NOT NULL,
    post_only      INTEGER NOT NULL,
    reduce_only    INTEGER NOT NULL,
    status         TEXT NOT NULL,
    filled_qty     TEXT NOT NULL,
    avg_fill_price TEXT,
    fees           TEXT NOT NULL,
    source         TEXT NOT NULL,
    reason         TEXT NOT NULL,
    ts_created     INTEGER NOT NULL,
    ts_updated     INTEGER NOT NULL
);
CREATE INDEX orders_status ON orders (status);
CREATE TABLE order_events (
    seq      INTEGER PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    event    TEXT NOT NULL,
    status   TEXT NOT NULL,
    reason   TEXT NOT NULL,
    fill_id  TEXT,
    ts_ns    INTEGER NOT NULL
);
CREATE INDEX order_events_order ON order_events (order_id);
CREATE TABLE fills (
    seq             INTEGER PRIMARY KEY,
    fill_id         TEXT NOT NULL UNIQUE,
    order_id        TEXT NOT NULL REFERENCES orders (order_id),
    symbol          TEXT NOT NULL,
    side            TEXT NOT NULL,
    qty             TEXT NOT NULL,
    price           TEXT NOT NULL,
    notional        TEXT NOT NULL,
    fee             TEXT NOT NULL,
    fee_asset       TEXT NOT NULL,
    liquidity       TEXT NOT NULL,
    mid_at_decision TEXT,
    slippage        TEXT NOT NULL,
    levels          INTEGER NOT NULL,
    ts_event        INTEGER NOT NULL,
    ts_init         INTEGER NOT NULL
);
CREATE INDEX fills_order ON fills (order_id);
CREATE TABLE positions (
    symbol       TEXT PRIMARY KEY,
    qty          TEXT NOT NULL,
    cost_basis   TEXT NOT NULL,
    realised_pnl TEXT NOT NULL,
    fees         TEXT NOT NULL,
    ts_updated   INTEGER NOT NULL
);
"""

_V2_RISK = """
ALTER TABLE orders ADD COLUMN filled_notional TEXT NOT NULL DEFAULT '0';
CREATE TABLE risk_limits (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE risk_state (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    state               TEXT NOT NULL,
    reason              TEXT NOT NULL,
    trading_day         TEXT NOT NULL,
    start_of_day_equity TEXT NOT NULL,
    ts_ns               INTEGER NOT NULL
);
CREATE TABLE risk_audit (
    seq    INTEGER PRIMARY KEY,
    ts_ns  INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    field  TEXT,
    old    TEXT,
    new    TEXT,
    reason TEXT NOT NULL
);
CREATE TABLE account_snapshots (
    seq        INTEGER PRIMARY KEY,
    ts_ns      INTEGER NOT NULL,
    cash       TEXT NOT NULL,
    equity     TEXT NOT NULL,
    realised   TEXT NOT NULL,
    unrealised TEXT NOT NULL,
    fees       TEXT NOT NULL
);
CREATE INDEX account_snapshots_ts ON account_snapshots (ts_ns);
"""


def _backfill_filled_notional(db: Database) -> None:
    """v1 kept only the rounded average price; the exact notional is the sum of the fills."""
    totals: dict[str, Decimal] = {}
    for order_id, notional in db.execute("SELECT order_id, notional FROM fills ORDER BY seq"):
        totals[order_id] = totals.get(order_id, Decimal(0)) + Decimal(notional)
    for order_id, total in totals.items():
        db.execute(
            "UPDATE orders SET filled_notional = ? WHERE order_id = ?", [str(total), order_id]
        )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial: account, orders, order events, fills, positions, settings", _V1_INITIAL),
    Migration(
        2,
        "orders.filled_notional (backfilled from fills); risk limits, state, audit; "
        "account snapshots",
        _V2_RISK,
        _backfill_filled_notional,
    ),
)
LATEST_VERSION = MIGRATIONS[-1].version
assert [m.version for m in MIGRATIONS] == list(range(1, LATEST_VERSION + 1))


def read_version(db: Database, path: Path) -> int:
    """The version recorded in ``meta``; 0 for an empty file. Refuses foreign databases."""
    names = [n for n in db.table_names() if not n.startswith("sqlite_")]
    if "meta" not in names:
        if names:
            raise StorageError(
                f"{path} is an SQLite database but not a tradedeck one (it has tables "
                f"{', '.join(sorted(names)[:5])} and no schema version). The file was left "
                "untouched; move it aside or choose another data directory."
            )
        return 0
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None or not str(row[0]).isdigit():
        raise StorageError(
            f"{path} has no readable tradedeck schema version. The file was left untouched; "
            "move it aside or choose another data directory."
        )
    return int(row[0])


def missing_objects(db: Database, version: int) -> list[str]:
    """Tables and indexes that schema ``version`` has and ``db`` lacks (sorted; ``[]`` if whole).

    A database that says it is at ``version`` but lost a table (dropped, or a damaged schema
    page) must not be migrated or traded on as if it were complete.
    """
    have = _schema_objects(db.conn)
    return sorted(f"{kind} {name}" for kind, name in _expected_objects(version) - have)


@functools.cache
def _expected_objects(version: int) -> frozenset[tuple[str, str]]:
    """What migrations 1..``version`` create, found by running them on an in-memory database."""
    conn = sqlite3.connect(":memory:")
    try:
        for migration in MIGRATIONS[:version]:
            conn.executescript(migration.sql)
        return _schema_objects(conn)
    finally:
        conn.close()


def _schema_objects(conn: sqlite3.Connection) -> frozenset[tuple[str, str]]:
    return frozenset(
        (str(kind), str(name))
        for kind, name in conn.execute(
            "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index')"
        )
    )


def migrate(db: Database, path: Path) -> int:
    """Bring the schema to ``LATEST_VERSION``, one transaction per migration; returns it."""
    current = read_version(db, path)
    if current > LATEST_VERSION:
        raise SchemaTooNew(path, current, LATEST_VERSION)
    for migration in MIGRATIONS[current:]:
        with db.atomic():
            db.executescript(migration.sql)
            if migration.backfill is not None:
                migration.backfill(db)
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [str(migration.version)],
            )
        if current:
            log.info("migrated %s to schema v%d (%s)", path, migration.version, migration.name)
    return LATEST_VERSION
