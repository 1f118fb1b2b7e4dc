"""The ccxt.pro source against the Binance emulator, through the real ccxt client.

Every book the source publishes is checked against the emulator's true book at the same update
id (top ``TRUTH_DEPTH`` levels, exact decimals), across each injected fault: a socket drop, a
stall, a sequence gap, duplicated and out-of-order diffs, a malformed frame, HTTP 429 with
``Retry-After`` and a 5xx during the resync. Waits are for conditions, bounded by ``WAIT_S``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from decimal import Decimal

import pytest
from emulators.binance import TRUTH_DEPTH, BinanceEmulator, Script, capture_script, generated_script
from emulators.net import NonLoopbackConnection, loopback_only
from kit import TICKS, WAIT_S, needs_data

from engine.model.market import BookSide, MarketEvent, TradeTick
from engine.venues.base import FeedHealth, HealthChange, MarketDataSource
from engine.venues.ccxt.source import CcxtFeedConfig, CcxtMarketData
from engine.venues.registry import VENUES

CAPTURE = TICKS / "hftbacktest_binance_spot_btcusdt_20240808_ws.jsonl.gz"
SYMBOL = "BTC/USDT"


@pytest.fixture(autouse=True)
def _loopback() -> object:
    with loopback_only():
        yield


class Recorder:
    """A sink that snapshots the source's book after every push (seq -> exact top levels)."""

    def __init__(self, source: CcxtMarketData) -> None:
        self.source = source
        self.states: list[tuple[int, tuple[object, object]]] = []
        self.health: list[HealthChange] = []
        self.trades: list[TradeTick] = []

    def on_market(self, events: Sequence[MarketEvent]) -> None:
        self.trades.extend(e for e in events if isinstance(e, TradeTick))
        if any(not isinstance(e, TradeTick) for e in events):
            book = self.source.books[SYMBOL]
            inst = book.instrument

            def side(s: BookSide) -> tuple[tuple[Decimal, Decimal], ...]:
                return tuple(
                    (inst.ticks_to_price(p), inst.lots_to_qty(q))
                    for p, q in book.top(s, TRUTH_DEPTH)
                )

            self.states.append((book.seq, (side(BookSide.BID), side(BookSide.ASK))))

    def on_health(self, change: HealthChange) -> None:
        self.health.append(change)

    def count(self, health: FeedHealth) -> int:
        return sum(1 for h in self.health if h.health is health)


def assert_books_true(rec: Recorder, emu: BinanceEmulator) -> None:
    assert rec.states, "no book was published"
    for seq, top in rec.states:
        assert seq in emu.truth, f"published update id {seq} the exchange never had"
        bids, asks = emu.truth[seq]
        assert top == (bids, asks), f"book differs from the exchange's at update id {seq}"


async def until(cond: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not cond():  # noqa: ASYNC110  (conditions on ccxt and emulator state, no event)
            await asyncio.sleep(0.005)


Scenario = Callable[[BinanceEmulator, CcxtMarketData, Recorder], Awaitable[None]]


def run(scenario: Scenario, script: Script | None = None, **config: object) -> Recorder:
    async def main() -> Recorder:
        async with BinanceEmulator(script or generated_script()) as emu:
            cfg = CcxtFeedConfig(symbols=(SYMBOL,), api_url=emu.api_url, ws_url=emu.ws_url)
            cfg = replace(cfg, **{"stale_after_s": 1.0, "backoff_base_s": 0.02, **config})
            source = CcxtMarketData(cfg)
            rec = Recorder(source)
            task = asyncio.create_task(source.run(rec))
            try:
                await until(lambda: len(rec.states) >= 10)
                await scenario(emu, source, rec)
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            assert source._exchange is None  # closed before the loop closes
            assert_books_true(rec, emu)
            return rec

    return asyncio.run(main())


async def _recovered(rec: Recorder, more: int = 20) -> None:
    """Wait for ``more`` books published after this point (the source is live again)."""
    n = len(rec.states)
    await until(lambda: len(rec.states) >= n + more)


def test_source_implements_the_protocol_and_binance_is_registered() -> None:
    import engine.venues.ccxt  # noqa: F401  (registers the venue)

    assert "binance" in VENUES.names()
    assert isinstance(CcxtMarketData(CcxtFeedConfig()), MarketDataSource)


def test_tests_refuse_non_loopback_connections() -> None:
    with pytest.raises(NonLoopbackConnection):
        socket.create_connection(("93.184.216.34", 443), timeout=1)


def test_instruments_come_from_load_markets() -> None:
    async def scenario(emu: BinanceEmulator, src: CcxtMarketData, rec: Recorder) -> None:
        inst = src.instruments[SYMBOL]
        assert (inst.tick_size, inst.lot_size, inst.min_notional) == (
            Decimal("0.01"),
            Decimal("0.001"),
            Decimal("5"),
        )
        await until(lambda: len(rec.trades) >= 3)

    rec = run(scenario)
    assert all(t.price_ticks > 0 and t.size_lots > 0 for t in rec.trades)
    assert rec.health[-1].health is FeedHealth.LIVE


def test_normal_generated_replay_every_book_is_true() -> None:
    async def scenario(emu: BinanceEmulator, src: CcxtMarketData, rec: Recorder) -> None:
        await _recovered(rec, 100)
        assert src.stats.reconnects == src.stats.resyncs == src.stats.stalls == 0

    run(scenario)


@needs_data(CAPTURE)
def test_real_capture_replay_reaches_the_last_update_id_with_the_true_book() -> None:
    script = capture_script(CAPTURE, max_diffs=300)

    async def scenario(emu: BinanceEmulator, src: CcxtMarketData, rec: Recorder) -> None:
        await emu.finished.wait()
        await until(lambda: src.books[SYMBOL].seq == emu.update_id)
        book = src.books[SYMBOL]
        assert book.best_bid() is not None
        assert not book.is_crossed()

    # A finished capture goes quiet: a long watchdog keeps the end of the replay undisturbed.
    run(scenario, script, stale_after_s=30.0)


def test_socket_drop_reconnects_to_the_true_book() -> None:
    async def scenario(emu: BinanceEmulator, src: CcxtMarketData, rec: Recorder) -> None:
        opened = emu.connections_opened
        await emu.drop_sockets()
        await until(lambda: src.stats.reconnects >= 1)
        await _recovered(rec)
        assert emu.connections_opened > opened

    rec = run(scenario)
    assert rec.count(FeedHealth.RECONNECTING) >= 1


def test_stall_is_caught_by_the_watchdog() -> None:
    async def scenario(emu: BinanceEmulator, src: CcxtMarketData, rec: Recorder) -> None:
        emu.stall_sockets()
        await until(lambda: src.stats.stalls >= 1)
        await _recovered(rec)

    rec = run(scenario, stale_after_s=0.3)
    assert rec.count(FeedHealth.STALE) >= 1


def test_sequence_gap_resyncs() -> None:
    async def scenario(emu: BinanceEmulator, src: CcxtMarketData, rec: Recorder) -> None:
        emu.skip_next_diff()
        await until(lambda: src.stats.resyncs >= 1)
        await _recovered(rec)

    rec = run(scenario)
    assert rec.count(FeedHealth.RESYNCING) >= 2  # the first subscription, then the gap


def test_duplicated_diff_is_ignored_and_out_of_order_diffs_resync() -> None:
    async def scenario(emu: BinanceEmulator, src: CcxtMarketData, rec: Recorder) -> None:
        emu.duplicate_next_diff()
        await _recovered(rec)
        assert src.stats.resyncs == 0
        emu.swap_next_diffs()
        await until(lambda: src.stats.resyncs >= 1)
        await _recovered(rec)

    run(scenario)


def test_malformed_frame_recovers_instead_of_hanging() -> None:
    async def scenario(emu: BinanceEmulator, src: CcxtMarketData, rec: Recorder) -> None:
        emu.malformed_next_frame()
        await until(lambda: src.stats.reconnects + src.stats.stalls >= 1)
        await _recovered(rec)

    run(scenario, stale_after_s=0.5)


def test_http_429_on_the_snapshot_waits_retry_after() -> None:
    retry_after = 1.0

    async def scenario(emu: BinanceEmulator, src: CcxtMarketData, rec: Recorder) -> None:
        emu.fail_depth(429, count=3, retry_after=retry_after)  # ccxt's three quick retries
        emu.skip_next_diff()  # forces a new snapshot
        await until(lambda: sum(1 for _, s in emu.depth_requests if s == 429) >= 3)
        await _recovered(rec)
        last_429 = max(t for t, s in emu.depth_requests if s == 429)
        next_ok = min(t for t, s in emu.depth_requests if s == 200 and t > last_429)
        assert next_ok - last_429 >= retry_after

    run(scenario)


def test_http_500_during_resync_is_retried() -> None:
    async def scenario(emu: BinanceEmulator, src: CcxtMarketData, rec: Recorder) -> None:
        emu.fail_depth(500, count=4)
        emu.skip_next_diff()
        await until(lambda: sum(1 for _, s in emu.depth_requests if s == 500) >= 4)
        await _recovered(rec)
        assert "OperationFailed" in src.stats.last_error or src.stats.errors >= 1

    run(scenario)


def test_the_rest_backup_serves_while_the_primary_is_down_then_hands_back() -> None:
    async def scenario(emu: BinanceEmulator, src: CcxtMarketData, rec: Recorder) -> None:
        assert src.serving[SYMBOL] == "primary"
        emu.refuse_websockets()
        await emu.drop_sockets()
        await until(lambda: src.stats.failovers >= 1)
        assert src.serving[SYMBOL] == "backup"
        assert src.health_of(SYMBOL) is FeedHealth.LIVE
        served = src.stats.backup_books
        await until(lambda: src.stats.backup_books >= served + 3)  # it keeps serving
        emu.refuse_websockets(False)
        await until(lambda: src.serving[SYMBOL] == "primary")
        await _recovered(rec)

    rec = run(scenario, backup_poll_s=0.1, failover_after_s=0.3, backup_depth=TRUTH_DEPTH)
    reasons = [h.reason for h in rec.health]
    assert "failover: the REST backup serves" in reasons
    assert "the primary stream serves again" in reasons


@needs_data(CAPTURE)
def test_real_capture_with_a_gap_and_a_drop_ends_on_the_true_book() -> None:
    script = capture_script(CAPTURE, max_diffs=500)

    async def scenario(emu: BinanceEmulator, src: CcxtMarketData, rec: Recorder) -> None:
        emu.skip_next_diff()
        await until(lambda: src.stats.resyncs >= 1)
        await _recovered(rec, 10)
        await emu.drop_sockets()
        await until(lambda: src.stats.reconnects >= 1)
        await emu.finished.wait()
        await until(lambda: src.books[SYMBOL].seq == emu.update_id)

    run(scenario, script, stale_after_s=30.0)
