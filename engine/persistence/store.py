"""The store: the only code that reads or writes the database.

Every ``record_*``/``save_*`` is one transaction, committed before it returns, because the runtime
publishes an event to the UI only after it is on disk; on any error the transaction is rolled
back and a ``StorageError`` naming what was lost is raised, so nothing is ever half-written.
WAL with ``synchronous=NORMAL``: a commit survives the process being killed (not a power cut),
at the cost of no fsync per trade. The object is used by one thread at a time in practice (the
engine's); a mutex makes an occasional call from another thread safe too.

Opening refuses, and leaves everything as it was: a data directory another process holds (see
``lock``), a damaged file (``PRAGMA integrity_check``), and a database that is missing, empty or
without its tables where an account existed (see ``marker``): a fresh account is created only
in a data directory that never had one.

Checkpoint policy. A commit lands in the ``-wal`` file; a checkpoint copies it into the database
file. A WAL that is deleted (by hand, by a cleaning tool, with its process killed) takes every
commit since the last checkpoint with it, so the store never lets the oldest un-checkpointed
commit get older than ``CHECKPOINT_INTERVAL_S`` (1 s) for long: ``checkpoint_if_due()`` runs a
``PRAGMA wal_checkpoint(PASSIVE)`` once that age is reached (the engine calls it from its loop,
after publishing, so no fill waits for it), and every commit runs it itself once the age reaches
``CHECKPOINT_BACKSTOP_S`` (3 s), for callers that never do. No thread, no timer. PASSIVE never
waits for readers (a checkpoint a reader holds back is retried a second later), and a failed
checkpoint only logs: the commit itself is safe in the WAL. ``wal_autocheckpoint`` (10,000
pages, ~40 MB) still caps the WAL's size in a burst; ``close()`` checkpoints everything.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlite_utils import Database

from engine.model.fill import Fill
from engine.model.orders import OrderStatus, OrderView
from engine.persistence.errors import (
    CorruptDatabase,
    SchemaTooNew,
    StorageError,
    UnwritableDataDir,
)
from engine.persistence.integrity import (
    SQLITE_CANTOPEN,
    SQLITE_READONLY,
    check_integrity,
    primary_code,
)
from engine.persistence.lock import InstanceLock
from engine.persistence.marker import AccountMarker, read_marker, write_marker
from engine.persistence.records import AccountSnapshotRecord, RestoredState, RiskStateRecord
from engine.persistence.rows import (
    FILL_COLUMNS,
    OPEN_STATUSES,
    ORDER_COLUMNS,
    POSITION_COLUMNS,
    dec_text,
    fill_from_row,
    fill_row,
    insert_sql,
    max_seq,
    order_from_row,
    order_row,
    position_from_row,
    position_row,
    text_dec,
    upsert_sql,
)
from engine.persistence.schema import LATEST_VERSION, migrate, missing_objects, read_version
from engine.portfolio import Position

log = logging.getLogger(__name__)

DB_FILENAME = "tradedeck.sqlite3"
RECENT_LIMIT = 200
CHECKPOINT_INTERVAL_S = 1.0
CHECKPOINT_BACKSTOP_S = 3.0

_UPSERT_ORDER = upsert_sql("orders", ORDER_COLUMNS, "order_id")
_INSERT_FILL = insert_sql("fills", FILL_COLUMNS)
_UPSERT_POSITION = upsert_sql("positions", POSITION_COLUMNS, "symbol")
_INSERT_ORDER_EVENT = insert_sql(
    "order_events", ("order_id", "event", "status", "reason", "fill_id", "ts_ns")
)
_OPEN_IN = f"({', '.join('?' for _ in OPEN_STATUSES)})"


class Store:
    """SQLite persistence of one paper account. Create with ``Store.open(data_dir)``."""

    def __init__(
        self, db: Database, path: Path, lock: InstanceLock | None, schema_version: int
    ) -> None:
        self._db: Database | None = db
        self._lock = lock
        self._mutex = threading.RLock()
        self.path = path
        self.data_dir = path.parent
        self.schema_version = schema_version
        # monotonic time of the oldest commit not yet checkpointed (None: the WAL is copied back)
        self._dirty_since: float | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, data_dir: Path, *, lock: bool = True) -> Store:
        """Create the directory, lock it, check and migrate the database.

        ``lock=False`` skips the single-instance lock (read-only tools, tests); never use it for
        a process that trades.
        """
        data_dir = Path(data_dir).expanduser().absolute()
        _ensure_writable_dir(data_dir)
        held = InstanceLock.acquire(data_dir) if lock else None
        try:
            path = data_dir / DB_FILENAME
            marker = read_marker(data_dir)
            marker_path = None if marker is None else marker.path
            _refuse_lost_account(path, marker)
            if path.exists() and path.stat().st_size > 0:
                if not os.access(path, os.R_OK | os.W_OK):
                    raise UnwritableDataDir(data_dir, f"{path.name} is not readable and writable")
                check_integrity(path, marker_path)
            db = _connect(path)
            try:
                # Refuse foreign, newer or gutted files before WAL mode rewrites the header.
                found = read_version(db, path)
                if found > LATEST_VERSION:
                    raise SchemaTooNew(path, found, LATEST_VERSION)
                if found == 0 and marker is not None:
                    raise CorruptDatabase(
                        path,
                        f"it has none of tradedeck's tables, but {marker.describe()}",
                        marker_path,
                    )
                missing = missing_objects(db, found)
                if missing:
                    raise CorruptDatabase(
                        path,
                        f"schema v{found} without its {', '.join(missing[:4])}"
                        + (f" and {len(missing) - 4} more" if len(missing) > 4 else ""),
                        marker_path,
                    )
                _configure(db, path)
                version = migrate(db, path)
                _initial_checkpoint(db, path)
                if marker is None:
                    write_marker(data_dir, DB_FILENAME)
            except sqlite3.Error as exc:
                db.close()
                raise StorageError(
                    f"Could not prepare the tradedeck database {path} ({exc}); "
                    "it was left at its previous schema version."
                ) from exc
            except BaseException:
                db.close()
                raise
        except BaseException:
            if held is not None:
                held.release()
            raise
        return cls(db, path, held, version)

    @property
    def closed(self) -> bool:
        return self._db is None

    def close(self) -> None:
        """Checkpoint the WAL into the main file, close, release the lock. Idempotent."""
        with self._mutex:
            db, self._db = self._db, None
            if db is None:
                return
            try:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                db.execute("PRAGMA optimize")
            except sqlite3.Error as exc:
                log.warning("closing %s: checkpoint failed: %s", self.path, exc)
            finally:
                db.close()
                if self._lock is not None:
                    self._lock.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"v{self.schema_version}"
        return f"Store({str(self.path)!r}, {state})"

    # ------------------------------------------------------------------ orders and fills

    def record_order_event(
        self, order: OrderView, event: str, reason: str = "", ts_ns: int | None = None
    ) -> None:
        """Upsert the order and append one event (``ts_ns`` defaults to ``order.ts_updated``)."""
        ts = order.ts_updated if ts_ns is None else ts_ns
        with self._write(f"order {order.order_id} ({event})") as db:
            _write_order_event(db, order, event, reason, ts)

    def record_order_events(self, events: list[tuple[OrderView, str, str, int]]) -> None:
        """Several ``record_order_event`` calls in one transaction (batched denials)."""
        with self._write(f"{len(events)} order events") as db:
            for order, event, reason, ts in events:
                _write_order_event(db, order, event, reason, ts)

    def record_fill(
        self, fill: Fill, order: OrderView, position: Position, cash: Decimal, ts_ns: int
    ) -> None:
        """The fill, the order after it, its event, the position and the cash: all or nothing."""
        with self._write(f"fill {fill.fill_id} of order {order.order_id}") as db:
            if fill.order_id != order.order_id or fill.symbol != position.symbol:
                raise ValueError(
                    f"fill {fill.fill_id} is for {fill.order_id}/{fill.symbol}, "
                    f"not {order.order_id}/{position.symbol}"
                )
            db.execute(_UPSERT_ORDER, order_row(order))
            db.execute(_INSERT_FILL, fill_row(fill))
            filled = order.status is OrderStatus.FILLED
            db.execute(
                _INSERT_ORDER_EVENT,
                {
                    "order_id": order.order_id,
                    "event": "filled" if filled else "partially_filled",
                    "status": order.status.value,
                    "reason": "",
                    "fill_id": fill.fill_id,
                    "ts_ns": ts_ns,
                },
            )
            db.execute(_UPSERT_POSITION, position_row(position, ts_ns))
            # No account row yet (the runtime saves one first): the cash is the best initial guess.
            db.execute(
                "INSERT INTO account (id, cash, initial_cash) VALUES (1, :cash, :cash) "
                "ON CONFLICT (id) DO UPDATE SET cash = excluded.cash",
                {"cash": dec_text(cash)},
            )

    def fills(self, limit: int | None = None) -> list[Fill]:
        """All fills (or the last ``limit``), oldest first."""
        with self._read("fills") as db:
            return [fill_from_row(r) for r in _last_rows(db, "fills", limit)]

    def order_events(self, order_id: str) -> list[dict[str, Any]]:
        """One order's history, oldest first: event, status, reason, fill_id, ts_ns."""
        with self._read(f"events of order {order_id}") as db:
            return list(
                db.query(
                    "SELECT order_id, event, status, reason, fill_id, ts_ns FROM order_events "
                    "WHERE order_id = ? ORDER BY seq",
                    [order_id],
                )
            )

    # ------------------------------------------------------------------ account

    def save_account(self, cash: Decimal, initial_cash: Decimal, currency: str) -> None:
        with self._write("the account") as db:
            db.execute(
                "INSERT INTO account (id, cash, initial_cash, currency) VALUES (1, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET cash = excluded.cash, "
                "initial_cash = excluded.initial_cash, currency = excluded.currency",
                [dec_text(cash), dec_text(initial_cash), currency],
            )

    def record_account_snapshot(
        self,
        ts_ns: int,
        cash: Decimal,
        equity: Decimal,
        realised: Decimal,
        unrealised: Decimal,
        fees: Decimal,
    ) -> None:
        with self._write("an equity snapshot") as db:
            db.execute(
                "INSERT INTO account_snapshots (ts_ns, cash, equity, realised, unrealised, fees) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [ts_ns, *(dec_text(v) for v in (cash, equity, realised, unrealised, fees))],
            )

    def account_history(
        self, since_ns: int | None = None, limit: int | None = None
    ) -> list[AccountSnapshotRecord]:
        """Equity history, oldest first: points at or after ``since_ns``, at most the last
        ``limit`` of them."""
        sql = (
            "SELECT * FROM (SELECT * FROM account_snapshots WHERE ts_ns >= ? "
            "ORDER BY seq DESC LIMIT ?) ORDER BY seq"
        )
        lowest = -(2**63) if since_ns is None else since_ns
        with self._read("the equity history") as db:
            return [
                AccountSnapshotRecord(
                    ts_ns=r["ts_ns"],
                    cash=text_dec(r["cash"]),
                    equity=text_dec(r["equity"]),
                    realised=text_dec(r["realised"]),
                    unrealised=text_dec(r["unrealised"]),
                    fees=text_dec(r["fees"]),
                )
                for r in db.query(sql, [lowest, -1 if limit is None else limit])
            ]

    # ------------------------------------------------------------------ restore

    def load_state(self) -> RestoredState:
        """Everything needed to resume, read in one consistent snapshot."""
        with self._read("the saved state") as db, db.atomic():
            account = next(db.query("SELECT * FROM account WHERE id = 1"), None)
            positions = {
                r["symbol"]: position_from_row(r)
                for r in db.query("SELECT * FROM positions ORDER BY symbol")
            }
            open_orders = [
                order_from_row(r)
                for r in db.query(
                    f"SELECT * FROM orders WHERE status IN {_OPEN_IN} ORDER BY seq",
                    list(OPEN_STATUSES),
                )
            ]
            recent_orders = [
                order_from_row(r)
                for r in db.query(
                    "SELECT * FROM (SELECT * FROM orders "
                    f"WHERE status NOT IN {_OPEN_IN} ORDER BY ts_updated DESC, seq DESC LIMIT ?) "
                    "ORDER BY ts_updated, seq",
                    [*OPEN_STATUSES, RECENT_LIMIT],
                )
            ]
            recent_fills = [fill_from_row(r) for r in _last_rows(db, "fills", RECENT_LIMIT)]
            fill_count = db.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
            last_order_seq = max_seq(r[0] for r in db.execute("SELECT order_id FROM orders"))
            last_fill_seq = max_seq(r[0] for r in db.execute("SELECT fill_id FROM fills"))
        return RestoredState(
            cash=None if account is None else text_dec(account["cash"]),
            initial_cash=Decimal(0) if account is None else text_dec(account["initial_cash"]),
            currency="USDT" if account is None else account["currency"],
            positions=positions,
            open_orders=open_orders,
            fill_count=int(fill_count),
            last_order_seq=last_order_seq,
            last_fill_seq=last_fill_seq,
            recent_fills=recent_fills,
            recent_orders=recent_orders,
        )

    # ------------------------------------------------------------------ settings

    def get_setting(self, key: str, default: str | None = None) -> str | None:
        with self._read(f"setting {key!r}") as db:
            row = db.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
        return default if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        with self._write(f"setting {key!r}") as db:
            db.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )

    # ------------------------------------------------------------------ risk

    def save_risk_limits(self, limits: Mapping[str, str]) -> None:
        """Replace the whole set of limits (values as exact text)."""
        with self._write("the risk limits") as db:
            db.execute("DELETE FROM risk_limits")
            for key, value in limits.items():
                db.execute("INSERT INTO risk_limits (key, value) VALUES (?, ?)", [key, str(value)])

    def load_risk_limits(self) -> dict[str, str]:
        with self._read("the risk limits") as db:
            return {
                str(k): str(v)
                for k, v in db.execute("SELECT key, value FROM risk_limits ORDER BY key")
            }

    def save_risk_state(
        self,
        state: str,
        reason: str,
        trading_day: str,
        start_of_day_equity: Decimal,
        ts_ns: int,
    ) -> None:
        with self._write(f"the trading state {state}") as db:
            db.execute(
                "INSERT INTO risk_state "
                "(id, state, reason, trading_day, start_of_day_equity, ts_ns) "
                "VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "state = excluded.state, reason = excluded.reason, "
                "trading_day = excluded.trading_day, "
                "start_of_day_equity = excluded.start_of_day_equity, ts_ns = excluded.ts_ns",
                [state, reason, trading_day, dec_text(start_of_day_equity), ts_ns],
            )

    def load_risk_state(self) -> RiskStateRecord | None:
        with self._read("the trading state") as db:
            r = next(db.query("SELECT * FROM risk_state WHERE id = 1"), None)
        if r is None:
            return None
        return RiskStateRecord(
            state=r["state"],
            reason=r["reason"],
            trading_day=r["trading_day"],
            start_of_day_equity=text_dec(r["start_of_day_equity"]),
            ts_ns=r["ts_ns"],
        )

    def record_risk_audit(
        self,
        ts_ns: int,
        actor: str,
        action: str,
        field: str | None,
        old: str | None,
        new: str | None,
        reason: str,
    ) -> None:
        with self._write(f"risk audit entry {action!r}") as db:
            db.execute(
                "INSERT INTO risk_audit (ts_ns, actor, action, field, old, new, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [ts_ns, actor, action, field, old, new, reason],
            )

    def risk_audit(self, limit: int = 200) -> list[dict[str, str]]:
        """The last ``limit`` audit entries, oldest first; every value is text (``None`` -> "")."""
        with self._read("the risk audit") as db:
            rows = _last_rows(db, "risk_audit", limit)
        keys = ("ts_ns", "actor", "action", "field", "old", "new", "reason")
        return [{k: "" if r[k] is None else str(r[k]) for k in keys} for r in rows]

    # ------------------------------------------------------------------ diagnostics

    def checkpoint(self) -> None:
        """Copy the WAL back into the database file now (PASSIVE: never waits for readers).

        Unlike ``checkpoint_if_due`` a failure raises ``StorageError``.
        """
        with self._mutex:
            db = self._require_open()
            try:
                busy, logged, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as exc:
                raise StorageError(f"Could not checkpoint {self.path}: {exc}.") from exc
            self._dirty_since = time.monotonic() if busy or logged != copied else None

    def checkpoint_if_due(self) -> bool:
        """Checkpoint if the oldest un-checkpointed commit is ``CHECKPOINT_INTERVAL_S`` old.

        Cheap when not due (one clock read); never raises (see the policy in the module
        docstring). Returns whether a checkpoint ran.
        """
        dirty = self._dirty_since
        if dirty is None or time.monotonic() - dirty < CHECKPOINT_INTERVAL_S:
            return False
        with self._mutex:
            if self._db is None:
                return False
            self._passive_checkpoint(self._db)
        return True

    def diagnostics(self) -> dict[str, str]:
        """Connection settings as SQLite reports them (for a status dialog and tests)."""
        with self._read("diagnostics") as db:
            pragma = {
                name: str(db.execute(f"PRAGMA {name}").fetchone()[0])
                for name in ("journal_mode", "synchronous", "foreign_keys")
            }
        return {"path": str(self.path), "schema_version": str(self.schema_version), **pragma}

    # ------------------------------------------------------------------ internals

    def _require_open(self) -> Database:
        if self._db is None:
            raise StorageError(f"The tradedeck database {self.path} is closed.")
        return self._db

    @contextmanager
    def _write(self, what: str) -> Iterator[Database]:
        """One transaction; committed on normal exit, rolled back and reported otherwise."""
        with self._mutex:
            db = self._require_open()
            try:
                with db.atomic():
                    yield db
            except StorageError:
                raise
            except Exception as exc:
                raise StorageError(
                    f"Could not save {what} to {self.path}: {exc}. Nothing of it was written."
                ) from exc
            now = time.monotonic()
            if self._dirty_since is None:
                self._dirty_since = now
            elif now - self._dirty_since >= CHECKPOINT_BACKSTOP_S:
                self._passive_checkpoint(db)

    def _passive_checkpoint(self, db: Database) -> None:
        """Copy the WAL back; a failure (or a reader holding it back) is retried later."""
        self._dirty_since = None
        try:
            busy, logged, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            log.warning("%s: checkpoint failed (the WAL keeps the commits): %s", self.path, exc)
            self._dirty_since = time.monotonic()
            return
        if busy or logged != copied:
            self._dirty_since = time.monotonic()

    @contextmanager
    def _read(self, what: str) -> Iterator[Database]:
        with self._mutex:
            db = self._require_open()
            try:
                yield db
            except StorageError:
                raise
            except (sqlite3.Error, ValueError, ArithmeticError) as exc:
                raise StorageError(f"Could not read {what} from {self.path}: {exc}.") from exc


def _last_rows(db: Database, table: str, limit: int | None) -> list[dict[str, Any]]:
    """The last ``limit`` rows of a ``seq``-ordered table (all if ``None``), oldest first."""
    return list(
        db.query(
            f"SELECT * FROM (SELECT * FROM {table} ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            [-1 if limit is None else limit],
        )
    )


def _initial_checkpoint(db: Database, path: Path) -> None:
    """The new schema (or a killed session's WAL) into the main file; a failure only logs
    (the commits are safe in the WAL, and the first write that fails will halt trading)."""
    try:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.Error as exc:
        log.warning("%s: checkpoint on open failed (the WAL keeps the commits): %s", path, exc)


def _refuse_lost_account(path: Path, marker: AccountMarker | None) -> None:
    """A missing or 0-byte database is a fresh start only where no account ever was."""
    try:
        size: int | None = path.stat().st_size
    except FileNotFoundError:
        size = None
    if size:
        return
    wal = path.with_name(path.name + "-wal")
    try:
        wal_size = wal.stat().st_size
    except OSError:
        wal_size = 0
    if marker is None and not wal_size:
        return
    state = "the file is missing" if size is None else "the file is empty (0 bytes)"
    if marker is not None:
        why = marker.describe()
    else:
        why = f"its write-ahead log {wal.name} ({wal_size} bytes) is still there"
    raise CorruptDatabase(path, f"{state}, but {why}", None if marker is None else marker.path)


def _ensure_writable_dir(data_dir: Path) -> None:
    try:
        if data_dir.exists() and not data_dir.is_dir():
            raise UnwritableDataDir(data_dir, "it exists but is not a directory")
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnwritableDataDir(data_dir, exc.strerror or str(exc)) from exc
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise UnwritableDataDir(data_dir, "permission denied")


def _connect(path: Path) -> Database:
    """A connection usable from any one thread at a time (the store serialises calls)."""
    try:
        conn = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
        return Database(conn, execute_plugins=False)
    except sqlite3.Error as exc:
        raise UnwritableDataDir(path.parent, f"cannot open {path.name} ({exc})") from exc


def _configure(db: Database, path: Path) -> None:
    """WAL, ``synchronous=NORMAL`` (a commit survives a killed process), foreign keys."""
    try:
        db.enable_wal()
        if db.journal_mode != "wal":
            log.warning("%s: WAL mode unavailable, using %s", path, db.journal_mode)
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        # The store checkpoints on its own schedule (see the module docstring), so a fill's commit
        # rarely pays for copying the WAL back; SQLite still checkpoints past 10k pages.
        db.execute("PRAGMA wal_autocheckpoint = 10000")
    except sqlite3.Error as exc:
        if primary_code(exc) in (SQLITE_READONLY, SQLITE_CANTOPEN):
            raise UnwritableDataDir(path.parent, f"cannot write {path.name} ({exc})") from exc
        raise StorageError(f"Cannot open the tradedeck database {path}: {exc}.") from exc


def _write_order_event(db: Any, order: OrderView, event: str, reason: str, ts_ns: int) -> None:
    """Upsert the order and append one event without a fill, inside the caller's transaction."""
    db.execute(_UPSERT_ORDER, order_row(order))
    db.execute(
        _INSERT_ORDER_EVENT,
        {
            "order_id": order.order_id,
            "event": event,
            "status": order.status.value,
            "reason": reason,
            "fill_id": None,
            "ts_ns": ts_ns,
        },
    )
