"""Venue seams: the registry behind ``--venue``, the market-data and execution-venue protocols,
the paper broker as an execution venue, and the recorded L2 captures as a live-engine venue."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.cli import build_parser
from engine import ConfigError, Engine, EngineConfig, OrderFilled, SubmitOrder
from engine.book import OrderBook
from engine.execution import (
    ExecutionVenue,
    FillReport,
    OrderReport,
    PaperExecutionVenue,
    VenueOrderState,
)
from engine.matching import BrokerConfig, FeeSchedule
from engine.model.instrument import DEFAULT_INSTRUMENTS
from engine.model.market import BookSide, MarketEvent
from engine.model.orders import Order, OrderSide, OrderStatus, OrderType
from engine.venues.base import CaptureSource, FeedHealth, HealthChange, MarketDataSource
from engine.venues.registry import VENUES, UnknownVenue, VenueInfo, VenueRegistry

TICKS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ticks_l2"
CAPTURE = TICKS / "hftbacktest_binance_spot_btcusdt_20240808_ws.jsonl.gz"
needs_capture = pytest.mark.skipif(
    not CAPTURE.is_file() and os.environ.get("CI") != "true",
    reason="shared/data/ticks_l2 not available",
)
BTC = DEFAULT_INSTRUMENTS["BTC/USDT"]


# ---------------------------------------------------------------------- registry


def test_the_registry_lists_sim_and_replay_and_parses_specs() -> None:
    # Exchange packages (engine.venues.ccxt) add theirs when imported: sim and replay come first.
    assert VENUES.names()[:2] == ("sim", "replay")
    assert VENUES.describe().startswith("sim, replay:PATH")
    info, arg = VENUES.parse("replay:/data/x.jsonl.gz")
    assert (info.name, arg) == ("replay", "/data/x.jsonl.gz")
    assert VENUES.parse("sim") == (VENUES.parse("sim")[0], None)
    for bad in ("nope", "sim:x", "replay", "replay:"):
        with pytest.raises(UnknownVenue):
            VENUES.parse(bad)
    registry = VenueRegistry()
    registry.register(VenueInfo("exchange", "a real one"))
    with pytest.raises(ValueError, match="already registered"):
        registry.register(VenueInfo("exchange", "twice"))


def test_help_and_config_read_the_registry() -> None:
    text = " ".join(build_parser().format_help().split())
    assert "sim: the built-in simulated exchange" in text
    assert "replay:PATH: recorded market data" in text
    with pytest.raises(ConfigError, match=r"known: sim, replay:PATH"):
        EngineConfig(venue="nope")
    with pytest.raises(ConfigError, match="no capture file"):
        EngineConfig(venue="replay:/nonexistent/capture.jsonl.gz")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--venue", "nope"])


# ---------------------------------------------------------------------- execution venue


class _Reports:
    def __init__(self) -> None:
        self.orders: list[OrderReport] = []
        self.fills: list[FillReport] = []

    def on_order_report(self, report: OrderReport) -> None:
        self.orders.append(report)

    def on_fill_report(self, report: FillReport) -> None:
        self.fills.append(report)

    def states(self, cid: str) -> list[VenueOrderState]:
        return [r.state for r in self.orders if r.client_order_id == cid]


def _accepted(oid: str, side: OrderSide, qty: str, price: str | None = None) -> Order:
    order = Order(
        order_id=oid,
        client_id=None,
        symbol=BTC.symbol,
        side=side,
        type=OrderType.MARKET if price is None else OrderType.LIMIT,
        qty=Decimal(qty),
        price=None if price is None else Decimal(price),
        ts_created=1,
        ts_updated=1,
    )
    order.transition(OrderStatus.ACCEPTED, 1)
    return order


def test_the_paper_broker_is_an_execution_venue_with_an_async_lifecycle() -> None:
    book = OrderBook(BTC)
    book.set_level(BookSide.BID, 6_000_000, 100_000)
    book.set_level(BookSide.ASK, 6_000_001, 100_000)
    reports = _Reports()
    venue = PaperExecutionVenue(
        {BTC.symbol: book},
        BrokerConfig(fees=FeeSchedule(), latency_ns=0, consume_liquidity=False),
        reports,
        clock=lambda: 1_000,
    )
    assert isinstance(venue, ExecutionVenue)

    async def scenario() -> Any:
        await venue.submit(_accepted("C-1", OrderSide.BUY, "0.01"))
        await venue.submit(_accepted("C-2", OrderSide.SELL, "0.01", "61000.00"))
        assert venue.state_of("C-2") is VenueOrderState.ACCEPTED
        snapshot = await venue.reconcile()
        await venue.cancel("C-2")
        return snapshot

    snapshot = asyncio.run(scenario())
    assert reports.states("C-1") == [
        VenueOrderState.SUBMITTED,
        VenueOrderState.ACCEPTED,
        VenueOrderState.FILLED,
    ]
    assert reports.states("C-2") == [
        VenueOrderState.SUBMITTED,
        VenueOrderState.ACCEPTED,
        VenueOrderState.PENDING_CANCEL,
        VenueOrderState.CANCELLED,
    ]
    assert [f.client_order_id for f in reports.fills] == ["C-1"]
    assert reports.fills[0].fill.qty == Decimal("0.01")
    assert set(snapshot.open_orders) == {"C-2"}
    assert snapshot.positions == {BTC.symbol: Decimal("0.01")}
    with pytest.raises(ValueError, match="already used"):
        asyncio.run(venue.submit(_accepted("C-1", OrderSide.BUY, "0.01")))


# ---------------------------------------------------------------------- market data


class _Sink:
    def __init__(self, stop_after: int) -> None:
        self.events: list[MarketEvent] = []
        self.health: list[HealthChange] = []
        self.stop_after = stop_after
        self.task: asyncio.Task[None] | None = None

    def on_market(self, events: Sequence[MarketEvent]) -> None:
        self.events.extend(events)
        if len(self.events) >= self.stop_after and self.task is not None:
            self.task.cancel()

    def on_health(self, change: HealthChange) -> None:
        self.health.append(change)


@needs_capture
def test_a_capture_is_a_push_based_source_that_reports_its_health() -> None:
    source = CaptureSource([CAPTURE], BTC, speed=0)
    assert isinstance(source, MarketDataSource)
    assert source.health is FeedHealth.RESYNCING
    sink = _Sink(stop_after=5_000)

    async def run() -> None:
        sink.task = asyncio.current_task()
        with contextlib.suppress(asyncio.CancelledError):  # cancelled after 5,000 events
            await source.run(sink)

    asyncio.run(run())
    assert len(sink.events) >= 5_000
    assert sink.health[0].health is FeedHealth.LIVE
    assert source.health is FeedHealth.LIVE
    book = source.books[BTC.symbol]
    assert book.best_bid() is not None
    assert book.best_ask() is not None


@needs_capture
def test_the_live_engine_opens_a_recorded_capture_as_a_venue(tmp_path: Path) -> None:
    cfg = EngineConfig(
        data_dir=tmp_path,
        venue=f"replay:{CAPTURE}",
        replay_speed=0,
        latency_ms=Decimal(0),
        market_data_dir=None,
    )
    assert cfg.symbols == ("BTC/USDT",)
    eng = Engine(cfg).start()
    try:
        deadline = time.monotonic() + 60
        while eng.snapshot().books["BTC/USDT"].best_ask is None:
            assert time.monotonic() < deadline, "the capture's book never synced"
            time.sleep(0.01)
        event = eng.submit(
            SubmitOrder(symbol="BTC/USDT", side="buy", type="market", qty=Decimal("0.001"))
        ).result(30)
        assert isinstance(event, OrderFilled), event
        assert eng.replay_finished.wait(300)
        snap = eng.snapshot()
        assert snap.venue == f"replay:{CAPTURE}"
        assert snap.stats.trades > 100
        assert snap.stats.book_updates > 1000
        assert snap.positions["BTC/USDT"].qty == Decimal("0.001")
        # the clock is the recording's: the fill is stamped inside the capture's day
        assert time.gmtime(event.fill.ts_event // 1_000_000_000)[:3] == (2024, 8, 8)
    finally:
        eng.stop()
