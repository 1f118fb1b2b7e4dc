"""The market-data seam: what any source of books and trades offers the engine.

A source is push-based and asynchronous: ``run(sink)`` delivers events as they come (a sim's
clock, a replay's timestamps, a websocket) and reports its health as it changes; it supplies
its instruments (tick, lot, minimum notional) - they come from the venue, not from a table in
the engine. ``books`` are the source's own order books, already updated when an event is
pushed, so a paper execution venue can match against them (``engine.execution.paper``).

``SimSource`` and ``CaptureSource`` adapt the two built-in venues to it; a real exchange will
be one more class in its own package (``engine/venues/<name>/``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from engine.book import OrderBook
from engine.model.instrument import Instrument
from engine.model.market import MarketEvent
from engine.venues.sim import SimMarket

if TYPE_CHECKING:
    from engine.venues.replay import CaptureReplayMarket


class FeedHealth(StrEnum):
    LIVE = "live"  # events arrive and the books are in sync
    STALE = "stale"  # connected, but nothing arrived for longer than expected
    RECONNECTING = "reconnecting"  # the connection dropped; books are not to be trusted
    RESYNCING = "resyncing"  # connected again, books being rebuilt (snapshot + buffered diffs)


@dataclass(frozen=True, slots=True)
class HealthChange:
    symbol: str | None  # None: the whole source
    health: FeedHealth
    reason: str
    ts_ns: int


class MarketDataSink(Protocol):
    """Where a source pushes (the engine's feed loop)."""

    def on_market(self, events: Sequence[MarketEvent]) -> None: ...

    def on_health(self, change: HealthChange) -> None: ...


@runtime_checkable
class MarketDataSource(Protocol):
    """A push-based, asynchronous source of books and trades."""

    @property
    def name(self) -> str: ...

    @property
    def instruments(self) -> Mapping[str, Instrument]: ...

    @property
    def books(self) -> Mapping[str, OrderBook]: ...

    @property
    def health(self) -> FeedHealth: ...

    async def run(self, sink: MarketDataSink) -> None:
        """Push events until cancelled (or, for a finite source, until the end)."""
        ...


class SimSource:
    """The embedded simulator (``engine.venues.sim.SimMarket``) as a market-data source."""

    def __init__(
        self, market: SimMarket, instruments: Mapping[str, Instrument], step_s: float
    ) -> None:
        self._market = market
        self._instruments = dict(instruments)
        self._step_s = step_s
        self._health = FeedHealth.LIVE

    name = "sim"

    @property
    def instruments(self) -> Mapping[str, Instrument]:
        return self._instruments

    @property
    def books(self) -> Mapping[str, OrderBook]:
        return self._market.books

    @property
    def health(self) -> FeedHealth:
        return self._health

    async def run(self, sink: MarketDataSink) -> None:
        while True:
            await asyncio.sleep(self._step_s)
            events = self._market.step_until(time.time_ns())
            if events:
                sink.on_market(events)


class CaptureSource:
    """Recorded L2 captures (``CaptureReplayMarket``: snapshot + update-id chained diffs) played
    back at ``speed`` times the recorded pace (0: as fast as possible)."""

    def __init__(
        self, paths: Sequence[Path], instrument: Instrument, *, speed: float = 1.0
    ) -> None:
        from engine.venues.replay import CaptureReplayMarket  # numpy-heavy: only when used

        if not speed >= 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        self._market: CaptureReplayMarket = CaptureReplayMarket(paths, instrument)
        self._instrument = instrument
        self._speed = speed
        self._health = FeedHealth.RESYNCING

    name = "replay"

    @property
    def instruments(self) -> Mapping[str, Instrument]:
        return {self._instrument.symbol: self._instrument}

    @property
    def books(self) -> Mapping[str, OrderBook]:
        return self._market.books

    @property
    def health(self) -> FeedHealth:
        return self._health

    async def run(self, sink: MarketDataSink) -> None:
        market = self._market
        first = market.next_time()
        if first is None:
            return
        wall0 = time.monotonic()
        while (t := market.next_time()) is not None:
            if self._speed > 0:
                delay = (t - first) / 1e9 / self._speed - (time.monotonic() - wall0)
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
            events = market.step_until(t)
            synced = FeedHealth.LIVE if market.synced else FeedHealth.RESYNCING
            if synced is not self._health:
                self._health = synced
                why = "book in sync" if market.synced else "sequence gap: waiting for a snapshot"
                sink.on_health(HealthChange(None, synced, why, t))
            if events:
                sink.on_market(events)
