"""The database invariants an outside attack broke (issue 7, 6.6), through the public API.

- one writer per data directory, even with ``tradedeck.lock`` deleted;
- a database that is emptied, missing, truncated, gutted or garbage where an account existed is
  reported (``CorruptDatabase``), never replaced by a fresh account;
- ``integrity_check`` catches an index damaged in place, which ``quick_check`` passes;
- a deleted WAL takes at most the last few seconds of history (the checkpoint policy).

Real SQLite files and real processes; deadlines are hang guards, never speed assertions.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from engine import (
    DataDirLocked,
    Engine,
    EngineConfig,
    OrderDenied,
    OrderFilled,
    SubmitOrder,
)
from engine.persistence import (
    CHECKPOINT_INTERVAL_S,
    DB_FILENAME,
    LOCK_FILENAME,
    MARKER_FILENAME,
    CorruptDatabase,
    Store,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock and SIGKILL are POSIX")

ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 60.0

# Trades market orders until killed, pausing argv[2] s between them; prints every fill it was
# told about, with its clock.
TRADER = r"""
import sys, time
from decimal import Decimal
from engine import Engine, EngineConfig, OrderFilled, SubmitOrder

eng = Engine(EngineConfig(data_dir=sys.argv[1], seed=3, latency_ms=Decimal(0))).start()

def on_event(ev):
    if isinstance(ev, OrderFilled):
        print("FILL", ev.fill.fill_id, time.monotonic(), flush=True)

eng.subscribe(on_event)
print("READY", flush=True)
side = "buy"
while True:
    eng.submit(SubmitOrder(symbol="BTC/USDT", side=side, type="market", qty=Decimal("0.001")))
    side = "sell" if side == "buy" else "buy"
    time.sleep(float(sys.argv[2]))
"""


class Trader:
    """A trading engine in a child process, read line by line."""

    def __init__(self, data_dir: Path, pause_s: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", TRADER, str(data_dir), str(pause_s)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
        )
        self.fills: list[tuple[str, float]] = []  # (fill id, the trader's monotonic clock)
        self.ready = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def read_until(self, done: Callable[[], bool]) -> None:
        """Read the trader's output until ``done()``; fail on its death or the deadline."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + DEADLINE_S
        while not done():
            assert time.monotonic() < deadline, "the trader did not get there in time"
            line = self.proc.stdout.readline()
            if not line:
                stderr = self.proc.stderr.read() if self.proc.stderr else ""
                pytest.fail(f"the trader died: {stderr[-2000:]}")
            self._take(line)

    def kill(self) -> None:
        """SIGKILL (no close, no checkpoint), then collect what it had published."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        out, _ = self.proc.communicate(timeout=DEADLINE_S)
        for line in out.splitlines():
            self._take(line)

    def _take(self, line: str) -> None:
        parts = line.split()
        if parts == ["READY"]:
            self.ready = True
        elif len(parts) == 3 and parts[0] == "FILL":
            self.fills.append((parts[1], float(parts[2])))


@pytest.fixture
def trader_factory() -> Iterator[Callable[[Path, float], Trader]]:
    started: list[Trader] = []

    def start(data_dir: Path, pause_s: float) -> Trader:
        trader = Trader(data_dir, pause_s)
        started.append(trader)
        return trader

    yield start
    for trader in started:
        trader.kill()


def _config(data_dir: Path) -> EngineConfig:
    return EngineConfig(data_dir=data_dir, seed=11, latency_ms=Decimal(0))


def _stored_fill_ids(data_dir: Path) -> list[str]:
    with Store.open(data_dir) as store:
        return [f.fill_id for f in store.fills()]


def _dir_fingerprint(data_dir: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data_dir.iterdir())
        if p.is_file()
    }


# ---------------------------------------------------------------- one writer


def test_deleted_lock_file_does_not_let_a_second_engine_trade(
    tmp_path: Path, trader_factory: Callable[[Path, float], Trader]
) -> None:
    first = trader_factory(tmp_path, 0.002)
    first.read_until(lambda: len(first.fills) >= 20)
    (tmp_path / LOCK_FILENAME).unlink()

    second = Engine(_config(tmp_path))
    with pytest.raises(DataDirLocked) as info:
        second.start()
    assert info.value.pid == first.pid
    assert f"pid {first.pid}" in str(info.value)
    assert str(tmp_path) in str(info.value)
    assert not second.running
    assert not (tmp_path / LOCK_FILENAME).exists()  # the refused engine touched nothing
    assert (
        second.submit(
            SubmitOrder(symbol="BTC/USDT", side="buy", type="market", qty=Decimal("0.001"))
        ).exception(timeout=5)
        is not None
    )

    first.read_until(lambda: len(first.fills) >= 40)  # the first one trades on, undisturbed
    first.kill()
    stored = _stored_fill_ids(tmp_path)
    published = [fill_id for fill_id, _ in first.fills]
    # One writer: one unbroken id sequence, holding everything the first engine published.
    assert stored == [f"F-{n:06d}" for n in range(1, len(stored) + 1)]
    assert stored[: len(published)] == published


def test_second_store_in_the_same_process_is_refused_without_the_lock_file(
    tmp_path: Path,
) -> None:
    with Store.open(tmp_path) as first:
        (tmp_path / LOCK_FILENAME).unlink()
        with pytest.raises(DataDirLocked) as info:
            Store.open(tmp_path)
        assert info.value.pid == os.getpid()
        first.set_setting("still", "works")
    with Store.open(tmp_path) as again:  # released on close: the next open is fine
        assert again.get_setting("still") == "works"
        assert (tmp_path / LOCK_FILENAME).read_text().strip() == str(os.getpid())


# ---------------------------------------------------------------- lost accounts


def _make_account(data_dir: Path, fills: int = 12) -> None:
    """A real account: an engine that traded, stopped cleanly (the WAL checkpointed away)."""
    seen: list[OrderFilled] = []
    engine = Engine(_config(data_dir)).start()
    engine.subscribe(lambda ev: seen.append(ev) if isinstance(ev, OrderFilled) else None)
    deadline = time.monotonic() + DEADLINE_S
    try:
        side = "buy"
        while len(seen) < fills:
            assert time.monotonic() < deadline, "the engine did not fill in time"
            event = engine.submit(
                SubmitOrder(symbol="BTC/USDT", side=side, type="market", qty=Decimal("0.001"))
            ).result(timeout=DEADLINE_S)
            if isinstance(event, OrderDenied):  # the orders-per-second limit: slow down
                time.sleep(0.1)
                continue
            side = "sell" if side == "buy" else "buy"
    finally:
        engine.stop()
    assert len(_stored_fill_ids(data_dir)) >= fills


def _empty(db: Path) -> None:
    db.write_bytes(b"")


def _delete(db: Path) -> None:
    db.unlink()


def _truncate_mid_file(db: Path) -> None:
    size = db.stat().st_size
    with db.open("r+b") as f:
        f.truncate(size // 4096 // 2 * 4096 + 1000)


def _random_bytes(db: Path) -> None:
    db.write_bytes(os.urandom(db.stat().st_size))


def _drop_every_table(db: Path) -> None:
    conn = sqlite3.connect(db)
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for name in names:
        conn.execute(f"DROP TABLE {name}")
    conn.commit()
    conn.execute("VACUUM")
    conn.close()


def _drop_fills(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE fills")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("damage", "detail"),
    [
        (_empty, "empty (0 bytes)"),
        (_delete, "missing"),
        (_truncate_mid_file, ""),
        (_random_bytes, ""),
        (_drop_every_table, "none of tradedeck's tables"),
        (_drop_fills, "table fills"),
    ],
    ids=["emptied", "deleted", "truncated", "random-bytes", "no-tables", "no-fills-table"],
)
def test_damaged_database_of_an_account_is_reported_not_replaced(
    tmp_path: Path, damage: Callable[[Path], None], detail: str
) -> None:
    _make_account(tmp_path)
    db = tmp_path / DB_FILENAME
    assert (tmp_path / MARKER_FILENAME).exists()
    damage(db)
    before = _dir_fingerprint(tmp_path)

    with pytest.raises(CorruptDatabase) as info:
        Engine(_config(tmp_path)).start()
    message = str(info.value)
    assert str(db) in message
    assert detail in message
    assert "left untouched" in message
    assert MARKER_FILENAME in message  # what to move aside to start afresh
    assert _dir_fingerprint(tmp_path) == before
    with pytest.raises(CorruptDatabase):  # and again: the refusal released the lock
        Store.open(tmp_path)
    assert _dir_fingerprint(tmp_path) == before


def test_emptied_database_is_one_line_on_the_command_line(tmp_path: Path) -> None:
    _make_account(tmp_path)
    (tmp_path / DB_FILENAME).write_bytes(b"")
    out = subprocess.run(
        [sys.executable, "-m", "app", "headless", "--seconds", "1", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    [line] = [ln for ln in out.stderr.splitlines() if ln.startswith("tradedeck: ")]
    assert "is damaged (the file is empty (0 bytes)" in line
    assert (tmp_path / DB_FILENAME).stat().st_size == 0


def test_fresh_data_dir_creates_an_account_and_its_marker(tmp_path: Path) -> None:
    data = tmp_path / "new"
    engine = Engine(_config(data)).start()
    try:
        assert engine.snapshot().account.cash == engine.config.paper_cash
    finally:
        engine.stop()
    marker = json.loads((data / MARKER_FILENAME).read_text())
    assert marker["database"] == DB_FILENAME
    created = datetime.strptime(marker["created_utc"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - created) < timedelta(days=1)
    # An empty database without a marker is still a fresh start (never written to yet).
    other = tmp_path / "other"
    other.mkdir()
    (other / DB_FILENAME).write_bytes(b"")
    with Store.open(other) as store:
        assert store.load_state().cash is None
    assert (other / MARKER_FILENAME).exists()


def test_data_dir_from_before_markers_gets_one_on_its_next_open(tmp_path: Path) -> None:
    _make_account(tmp_path)
    (tmp_path / MARKER_FILENAME).unlink()  # as an older tradedeck left it
    with Store.open(tmp_path) as store:
        assert store.load_state().fill_count >= 12
    assert (tmp_path / MARKER_FILENAME).exists()
    (tmp_path / DB_FILENAME).write_bytes(b"")
    with pytest.raises(CorruptDatabase, match="empty"):
        Store.open(tmp_path)


def test_database_gone_but_its_wal_left_is_reported_even_without_a_marker(
    tmp_path: Path, trader_factory: Callable[[Path, float], Trader]
) -> None:
    trader = trader_factory(tmp_path, 0.002)
    trader.read_until(lambda: len(trader.fills) >= 5)
    trader.kill()
    wal = tmp_path / (DB_FILENAME + "-wal")
    (tmp_path / MARKER_FILENAME).unlink()
    (tmp_path / DB_FILENAME).unlink()
    if not wal.exists() or wal.stat().st_size == 0:
        wal.write_bytes(b"\0" * 4096)  # the trader happened to be between WAL resets
    with pytest.raises(CorruptDatabase, match="write-ahead log"):
        Store.open(tmp_path)
    assert not (tmp_path / DB_FILENAME).exists()


# ---------------------------------------------------------------- integrity_check


def _corrupt_index_in_place(db: Path, index: str) -> None:
    """Rewrite the greatest key of ``index`` inside its root page, keeping the page well-formed.

    The greatest key gets a higher last character, so the b-tree stays ordered and every page
    header and cell stays valid: only comparing the index with its table shows the damage.
    """
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", [index]).fetchone()[0]
    last = conn.execute("SELECT max(order_id) FROM fills").fetchone()[0]
    conn.close()
    key = last.encode()
    with db.open("r+b") as f:
        f.seek((root - 1) * page_size)
        page = bytearray(f.read(page_size))
        assert page[0] == 0x0A, "the index should fit in one leaf page"
        assert page.count(key) >= 1
        # "O-000030" -> "O-000031" in each of its entries (one per fill): still the greatest.
        damaged = page.replace(key, key[:-1] + bytes([key[-1] + 1]))
        f.seek((root - 1) * page_size)
        f.write(damaged)


def test_corrupt_index_passes_quick_check_but_is_refused(tmp_path: Path) -> None:
    _make_account(tmp_path)
    db = tmp_path / DB_FILENAME
    _corrupt_index_in_place(db, "fills_order")
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA quick_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA integrity_check").fetchall() != [("ok",)]
    finally:
        conn.close()
    before = _dir_fingerprint(tmp_path)

    with pytest.raises(CorruptDatabase) as info:
        Engine(_config(tmp_path)).start()
    assert "fills_order" in str(info.value)
    assert str(db) in str(info.value)
    assert _dir_fingerprint(tmp_path) == before


# ---------------------------------------------------------------- checkpoint policy

# The trader's clock between a fill's commit and its line reaching us, and between the policy
# falling due and the engine loop getting to it, on a loaded machine: slack, not a target.
_SLACK_S = 2.0


def _checkpoint_in_progress(shm: Path) -> bool:
    """Whether a stopped writer is inside a checkpoint: nBackfillAttempted != nBackfill.

    The WAL index's checkpoint info follows its two 48-byte headers: ``nBackfill`` at offset 96,
    ``nBackfillAttempted`` at 128, native byte order (sqlite.org/walformat.html, 2.1).
    """
    data = shm.read_bytes()[:136]
    if len(data) < 136:
        return False
    (backfilled,) = struct.unpack_from("=I", data, 96)
    (attempted,) = struct.unpack_from("=I", data, 128)
    return attempted != backfilled


def test_deleted_wal_loses_at_most_the_last_seconds(
    tmp_path: Path, trader_factory: Callable[[Path, float], Trader]
) -> None:
    # Paced under the orders-per-second limit: no denials, a small WAL, so SQLite's size-based
    # autocheckpoint never runs and only the time-based policy moves commits out of the WAL.
    trader = trader_factory(tmp_path, 0.12)
    trader.read_until(lambda: trader.ready)
    db = tmp_path / DB_FILENAME
    wal, shm = db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")
    size_at_start = db.stat().st_size

    def span() -> float:
        return trader.fills[-1][1] - trader.fills[0][1] if trader.fills else 0.0

    # Until the policy has checkpointed fills into the main file, and fills span a while.
    bound = CHECKPOINT_INTERVAL_S + _SLACK_S
    trader.read_until(lambda: db.stat().st_size > size_at_start and span() > 2 * bound)

    # Freeze the trader outside a checkpoint (killing it inside one, then deleting the WAL
    # that checkpoint still needed, is a torn file: integrity_check's case, not this one).
    deadline = time.monotonic() + DEADLINE_S
    while True:
        os.kill(trader.pid, signal.SIGSTOP)
        if not _checkpoint_in_progress(shm):
            break
        os.kill(trader.pid, signal.SIGCONT)
        assert time.monotonic() < deadline
        time.sleep(0.01)
    trader.kill()
    wal.unlink()

    stored = set(_stored_fill_ids(tmp_path))
    last = trader.fills[-1][1]
    lost = [(fill_id, t) for fill_id, t in trader.fills if fill_id not in stored]
    old_lost = [(fill_id, round(last - t, 3)) for fill_id, t in lost if last - t > bound]
    assert old_lost == []
    kept = [fill_id for fill_id, _ in trader.fills if fill_id in stored]
    assert len(kept) > len(lost)  # the session survived, all but its last moments
    assert kept == [fill_id for fill_id, _ in trader.fills[: len(kept)]]  # a prefix, no holes
