"""The live engine drives whatever market-data source the venue registry opens: instruments
come from the source, its pushes reach the books and the tape, its health reaches the snapshot,
and pausing the feed stops the source (resuming runs it again). A venue plugs in by registering
a factory; nothing in ``engine/live`` knows it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path

import pytest

from engine import Engine, EngineConfig, OrderFilled, SubmitOrder
from engine.book import OrderBook
from engine.messages import SetFeedPaused
from engine.model.instrument import Instrument
from engine.model.market import BookSide, LevelUpdate, TradeTick
from engine.model.orders import OrderSide
from engine.venues.base import (
    FeedHealth,
    HealthChange,
    MarketDataSink,
    MarketDataSource,
    SourceRequest,
)
from engine.venues.registry import VENUES, VenueInfo
from tests.kit import WAIT_S

FAKE = Instrument(
    "ABC/USDT", "ABC", "USDT", Decimal("0.5"), Decimal("0.1"), Decimal(1)
)  # a symbol no built-in table lists


class StubSource:
    """A venue the engine has never heard of: it reconnects, resyncs, then streams."""

    name = "stub"

    def __init__(self, req: SourceRequest) -> None:
        self.request = req
        self._books = {FAKE.symbol: OrderBook(FAKE)}
        self._health = FeedHealth.RECONNECTING
        self.runs = 0
        self.seq = 0

    @property
    def instruments(self) -> Mapping[str, Instrument]:
        return {FAKE.symbol: FAKE}

    @property
    def books(self) -> Mapping[str, OrderBook]:
        return self._books

    @property
    def health(self) -> FeedHealth:
        return self._health

    def _set(self, sink: MarketDataSink, health: FeedHealth, why: str) -> None:
        self._health = health
        sink.on_health(HealthChange(None, health, why, time.time_ns()))

    async def run(self, sink: MarketDataSink) -> None:
        self.runs += 1
        self._set(sink, FeedHealth.RESYNCING, "snapshot requested")
        await asyncio.sleep(0.01)
        book = self._books[FAKE.symbol]
        now = time.time_ns()
        events = []
        for side, price in ((BookSide.BID, 200), (BookSide.ASK, 202)):
            update = LevelUpdate(FAKE.symbol, side, price, 1_000, book.seq + 1, now)
            book.apply_update(update)
            events.append(update)
        sink.on_market(events)
        self._set(sink, FeedHealth.LIVE, "in sync")
        while True:
            await asyncio.sleep(0.01)
            self.seq += 1
            sink.on_market(
                [TradeTick(FAKE.symbol, 201, 3, OrderSide.BUY, self.seq, time.time_ns())]
            )


@pytest.fixture
def stub_venue() -> Iterator[list[StubSource]]:
    opened: list[StubSource] = []

    def open_stub(req: SourceRequest) -> MarketDataSource:
        source = StubSource(req)
        opened.append(source)
        return source

    VENUES.register(VenueInfo("stub", "a test venue", open=open_stub, user_facing=False))
    try:
        yield opened
    finally:
        VENUES.unregister("stub")


def _wait(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_registered_source_drives_the_live_engine(
    tmp_path: Path, stub_venue: list[StubSource]
) -> None:
    cfg = EngineConfig(
        data_dir=tmp_path, venue="stub", symbols=(FAKE.symbol,), latency_ms=Decimal(0)
    )
    eng = Engine(cfg).start()
    try:
        (source,) = stub_venue
        assert source.request.symbols == (FAKE.symbol,)
        assert eng.snapshot().instruments[FAKE.symbol] == FAKE  # from the source
        _wait(lambda: eng.snapshot().stats.feed_health == "live", "the feed never went live")
        snap = eng.snapshot()
        assert snap.stats.feed_ok
        assert snap.stats.feed_health_reason == "in sync"
        _wait(lambda: eng.snapshot().books[FAKE.symbol].best_ask is not None, "no book")
        _wait(lambda: eng.snapshot().trades[FAKE.symbol], "no trades on the tape")
        event = eng.submit(
            SubmitOrder(symbol=FAKE.symbol, side="buy", type="market", qty=Decimal("0.2"))
        ).result(WAIT_S)
        assert isinstance(event, OrderFilled), event
        assert event.fill.price == Decimal(101)  # 202 ticks of 0.5: the source's grid

        eng.submit(SetFeedPaused(paused=True)).result(WAIT_S)
        assert not eng.snapshot().stats.feed_ok
        seq = source.seq
        time.sleep(0.1)
        assert source.seq == seq  # the source is not running while paused
        eng.submit(SetFeedPaused(paused=False)).result(WAIT_S)
        _wait(lambda: source.runs == 2, "resuming did not run the source again")
        _wait(lambda: eng.snapshot().stats.feed_ok, "the feed did not come back")
    finally:
        eng.stop()


def test_health_changes_reach_the_snapshot(tmp_path: Path, stub_venue: list[StubSource]) -> None:
    seen: list[str] = []
    eng = Engine(EngineConfig(data_dir=tmp_path, venue="stub", symbols=(FAKE.symbol,)))
    unsubscribe = eng.on_snapshot(lambda: seen.append(eng.snapshot().stats.feed_health))
    eng.start()
    try:
        _wait(lambda: "live" in seen, "the feed never went live")
        assert seen[0] == "reconnecting"  # the source's health when it opened
        assert "resyncing" in seen
        assert seen.index("resyncing") < seen.index("live")
    finally:
        unsubscribe()
        eng.stop()
