"""The market feed: the engine is the ``MarketDataSink`` its venue's source pushes into; the
periodic work, stats and the tape. (Recorded bars, a test venue, keep their own loop.)"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from decimal import Decimal

from engine.live.state import (
    _EQUITY_HISTORY_EVERY_NS,
    _LAG_PROBE_S,
    _MARKET_STEP_S,
    _NS,
    _PROBE_EVERY_S,
    _RISK_EVERY_NS,
    _STATS_EVERY_NS,
    EngineState,
)
from engine.messages import (
    EngineFailed,
)
from engine.model.market import LevelUpdate, MarketEvent, TradeTick
from engine.snapshot import (
    TradeView,
)
from engine.venues.base import FeedHealth, HealthChange

log = logging.getLogger(__name__)


class FeedMixin(EngineState):
    """The market loops: venue events into the kernel, periodic work, stats, the tape."""

    async def _replay_loop(self) -> None:
        """The market loop on recorded bars: one price point per step, as fast as it goes.

        Same sequence as ``engine.venues.replay.ReplaySession.step`` (both drive the kernel),
        then closed bars go to running strategies.
        """
        market = self._replay
        assert market is not None
        kernel = self._kernel
        broker = kernel.broker
        bars = market.bars
        series = self._candles[market.symbol]
        inst = market.instrument
        while True:
            if self._feed_paused:
                await asyncio.sleep(_MARKET_STEP_S)
                continue
            t = market.next_time()
            if t is None:
                self._flush_denials()
                self._publish_snapshot(force=True)
                self.replay_finished.set()
                return
            try:
                while (due := broker.next_arrival_ns()) is not None and due < t:
                    self._replay_now = due
                    kernel.advance(due)
                    kernel.check_equity(due)
                self._replay_now = t
                events = market.step_until(t)
                for book in market.books.values():
                    kernel.last_book_ns[book.symbol] = book.ts_ns
                for ev in events:
                    self._on_market_event(ev)
                    kernel.on_market(ev)
                kernel.advance(t)
                kernel.check_equity(t)
                pt = market.last
                if pt is not None and pt.k == 0 and pt.bar >= 1:
                    j = pt.bar - 1
                    series.close_bar(
                        int(bars.time_ms[j]) * 1_000_000,
                        int(bars.open[j]),
                        int(bars.high[j]),
                        int(bars.low[j]),
                        int(bars.close[j]),
                        inst.qty_to_lots(Decimal(str(float(bars.volume[j])))),
                    )
                if self._strategy_hosts:
                    self._run_strategies()
                self._flush_denials()
                self._periodic(t)
                self._publish_snapshot()
            except Exception as exc:
                log.exception("replay step failed")
                self._emit(EngineFailed(where="market", message=str(exc), ts_ns=t))
            await asyncio.sleep(0)

    # ------------------------------------------------------------------ the source's sink

    async def _feed_loop(self) -> None:
        """Run the venue's market-data source into this engine (its ``MarketDataSink``).

        Pausing the feed cancels this task; resuming runs the source again. A finite source
        (a recording) that reaches its end sets ``replay_finished``. A source that fails is
        reported (``EngineFailed``) and run again a second later.
        """
        source = self._source
        assert source is not None
        while True:
            try:
                await source.run(self)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("market data source %s failed", source.name)
                self._emit(EngineFailed(where="market", message=str(exc), ts_ns=self._now()))
                await asyncio.sleep(1.0)
                continue
            self._flush_denials()
            self._publish_snapshot(force=True)
            self.replay_finished.set()
            return

    async def _clock_loop(self) -> None:
        """The periodic work on the wall clock (a live or simulated venue), fed or not: orders
        arrive, limits are re-checked, the journal checkpoints, snapshots go out."""
        kernel = self._kernel
        while True:
            await asyncio.sleep(_MARKET_STEP_S)
            now = self._now()
            try:
                kernel.advance(now)
                self._flush_denials()
                self._periodic(now)
                self._publish_snapshot()
            except Exception as exc:
                log.exception("market loop step failed")
                self._emit(EngineFailed(where="market", message=str(exc), ts_ns=now))

    def _start_feed(self) -> None:
        task = self._feed_task
        if self._source is None or (task is not None and not task.done()):
            return
        self._feed_task = asyncio.get_running_loop().create_task(self._feed_loop(), name="feed")

    def _stop_feed(self) -> None:
        if self._feed_task is not None:
            self._feed_task.cancel()

    def advance_to(self, ts_ns: int) -> None:
        """``ClockedSink``: a recording is about to reach ``ts_ns``; orders due before it arrive
        at the book as it is now."""
        kernel = self._kernel
        broker = kernel.broker
        try:
            while (due := broker.next_arrival_ns()) is not None and due < ts_ns:
                self._replay_now = due
                kernel.advance(due)
                kernel.check_equity(due)
        except Exception as exc:
            log.exception("replay step failed")
            self._emit(EngineFailed(where="market", message=str(exc), ts_ns=ts_ns))
        self._replay_now = ts_ns

    def on_market(self, events: Sequence[MarketEvent]) -> None:
        """``MarketDataSink``: events the source has already applied to its books."""
        kernel = self._kernel
        now = self._now()
        try:
            if self._event_clock:
                for ev in events:
                    self._on_market_event(ev)
                    kernel.on_market(ev)
                kernel.advance(now)
                if self._strategy_hosts:
                    self._run_strategies()
                self._flush_denials()
                self._periodic(now)
            else:
                for ev in events:
                    self._event_t0 = time.perf_counter_ns()
                    self._on_market_event(ev)
                    self._from_market = True
                    try:
                        kernel.on_market(ev)
                    finally:
                        self._from_market = False
                    if self._strategy_hosts:
                        self._run_strategies()
                kernel.advance(now)
                self._flush_denials()
            self._publish_snapshot()
        except Exception as exc:
            log.exception("market step failed")
            self._emit(EngineFailed(where="market", message=str(exc), ts_ns=now))

    def on_health(self, change: HealthChange) -> None:
        """``MarketDataSink``: the feed's health changed; the next snapshot says so."""
        if change.health is self._feed_health and change.reason == self._feed_health_reason:
            return
        level = logging.INFO if change.health is FeedHealth.LIVE else logging.WARNING
        log.log(level, "market data feed %s: %s", change.health.value, change.reason)
        self._feed_health = change.health
        self._feed_health_reason = change.reason
        self._publish_snapshot(force=True)

    async def _lag_probe(self) -> None:
        lags = self._counters.lags_ms
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(_LAG_PROBE_S)
            lags.append(max(0.0, (time.perf_counter() - t0 - _LAG_PROBE_S) * 1000.0))

    def _periodic(self, now: int) -> None:
        if self._store is not None:  # after publishing: no fill waits for a checkpoint
            self._store.checkpoint_if_due()
        if self._backlog and time.monotonic() - self._last_probe >= _PROBE_EVERY_S:
            self._flush_backlog()
        if now - self._last_risk_ns >= _RISK_EVERY_NS:
            self._last_risk_ns = now
            self._kernel.check_equity(now)
        if now - self._last_stats_ns >= _STATS_EVERY_NS:
            self._last_stats_ns = now
            self._refresh_stats(now)
        if now - self._last_equity_ns >= _EQUITY_HISTORY_EVERY_NS:
            self._last_equity_ns = now
            self._persist("checkpoint", lambda s: s.checkpoint())
            acct = self._portfolio.account_view(self._marks())
            self._persist(
                "account snapshot",
                lambda s: s.record_account_snapshot(
                    now, acct.cash, acct.equity, acct.realised_pnl, acct.unrealised_pnl, acct.fees
                ),
            )

    def _refresh_stats(self, now: int) -> None:
        c = self._counters
        c.window_updates.append((now, c.book_updates))
        first_ns, first_count = c.window_updates[0]
        span = (now - first_ns) / _NS
        c.updates_per_s = (c.book_updates - first_count) / span if span > 0 else 0.0
        if c.lags_ms:
            ordered = sorted(c.lags_ms)
            c.lag_p50 = ordered[len(ordered) // 2]
            c.lag_p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            c.lag_max = ordered[-1]

    def _on_market_event(self, ev: MarketEvent) -> None:
        if isinstance(ev, LevelUpdate):
            self._counters.book_updates += 1
            self._kernel.last_book_ns[ev.symbol] = ev.ts_ns
        else:
            self._record_trade(ev)

    def _record_trade(self, ev: TradeTick) -> None:
        self._counters.trades += 1
        inst = self.instruments[ev.symbol]
        self._trades[ev.symbol].append(
            TradeView(
                symbol=ev.symbol,
                price=inst.ticks_to_price(ev.price_ticks),
                qty=inst.lots_to_qty(ev.size_lots),
                aggressor=ev.aggressor,
                trade_id=ev.trade_id,
                ts_ns=ev.ts_ns,
            )
        )
        self._trades_cache.pop(ev.symbol, None)
        if self._replay is None:  # a replay venue's candles are its recorded bars
            self._candles[ev.symbol].add_trade(ev.price_ticks, ev.size_lots, ev.ts_ns)
