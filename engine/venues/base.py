"""The market-data seam: what any source of books and trades offers the engine.

A source is push-based and asynchronous: ``run(sink)`` delivers events as they come (a sim's
clock, a replay's timestamps, a websocket) and reports its health as it changes; it supplies
its instruments (tick, lot, minimum notional) - they come from the venue, not from a table in
the engine. ``books`` are the source's own order books, already updated when an event is
pushed, so a paper execution venue can match against them (``engine.execution.paper``).

``SimSource`` and ``CaptureSource`` adapt the two built-in venues to it; a real exchange will
be one more class in its own package (``engine/venues/<name>/``) that registers a factory
(``SourceRequest -> MarketDataSource``) in ``engine.venues.registry.VENUES``; the live engine
opens whatever the registry returns and changes for no venue.

Two optional extensions, checked with ``isinstance``:
- ``RecordedSource``: the events carry the clock (a recording); the engine's time is the
  recording's, starting at ``start_ns``. Otherwise the engine's clock is the wall clock.
- ``ClockedSink``: a recorded source tells the sink the time it is about to reach
  (``advance_to``) before it applies the events stamped then, so orders due earlier match the
  book as it was, not as it will be.
- ``CandleHistory``: a source that can seed the candle charts with history.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from engine.book import OrderBook
from engine.model.instrument import Instrument
from engine.model.market import MarketEvent
from engine.venues.sim import Candle, SimMarket

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
class ClockedSink(MarketDataSink, Protocol):
    """A sink that wants to hear the recorded clock before each step of a recording."""

    def advance_to(self, ts_ns: int) -> None: ...


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
        """Push events until cancelled (or, for a finite source, until the end).

        Cancelling and calling ``run`` again resumes the feed (the engine pauses it so)."""
        ...


@runtime_checkable
class RecordedSource(MarketDataSource, Protocol):
    """A source whose events carry the clock (a recording played back)."""

    @property
    def start_ns(self) -> int:
        """The recording's first timestamp (0 when it is empty)."""
        ...


@runtime_checkable
class CandleHistory(Protocol):
    def history(self, symbol: str, seconds: int, count: int) -> list[Candle]:
        """``count`` closed candles of ``seconds`` before now, oldest first."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceRequest:
    """What the engine asks a venue's factory for (``engine.venues.registry.VenueInfo.open``)."""

    symbols: tuple[str, ...]
    argument: str | None  # the PATH of ``replay:PATH``; None for a plain venue name
    now_ns: int
    seed: int = 7
    sim_rate: float = 1.0
    market_data_dir: Path | None = None
    replay_speed: float = 1.0
    step_s: float = 0.005  # how often a clocked source (the sim) steps


SourceFactory = Callable[[SourceRequest], MarketDataSource]


class SimSource:
    """The embedded simulator (``engine.venues.sim.SimMarket``) as a market-data source."""

    def __init__(
        self,
        market: SimMarket,
        instruments: Mapping[str, Instrument],
        step_s: float,
        *,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._market = market
        self._instruments = dict(instruments)
        self._step_s = step_s
        self._clock = clock
        self._health = FeedHealth.LIVE

    @property
    def market(self) -> SimMarket:
        return self._market

    def history(self, symbol: str, seconds: int, count: int) -> list[Candle]:
        return self._market.history(symbol, seconds, count)

    name = "sim"
    # Paper fills take the liquidity they match from the simulated book (it is ours to change).
    consume_liquidity = True

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
            events = self._market.step_until(self._clock())
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
        self._start_ns = self._market.next_time() or 0

    name = "replay"

    @property
    def start_ns(self) -> int:
        return self._start_ns

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
        clocked = sink if isinstance(sink, ClockedSink) else None
        while (t := market.next_time()) is not None:
            if self._speed > 0:
                delay = (t - first) / 1e9 / self._speed - (time.monotonic() - wall0)
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
            if clocked is not None:
                clocked.advance_to(t)
            events = market.step_until(t)
            synced = FeedHealth.LIVE if market.synced else FeedHealth.RESYNCING
            if synced is not self._health:
                self._health = synced
                why = "book in sync" if market.synced else "sequence gap: waiting for a snapshot"
                sink.on_health(HealthChange(None, synced, why, t))
            if events:
                sink.on_market(events)
