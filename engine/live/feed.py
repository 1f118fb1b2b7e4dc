"""The market loops: the venue's events into the kernel, the periodic work, stats and the tape."""

from __future__ import annotations

import asyncio
import logging
import time
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
from engine.venues.sim import SimMarket

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

    async def _capture_loop(self) -> None:
        """The market loop on recorded L2 captures, at ``replay_speed`` times the recorded pace
        (0: as fast as it goes); each message at its receive time, through the kernel."""
        market = self._capture
        assert market is not None
        kernel = self._kernel
        broker = kernel.broker
        speed = self.config.replay_speed
        base: tuple[int, float] | None = None  # (replay time, wall time) the pace counts from
        while True:
            if self._feed_paused:
                base = None
                await asyncio.sleep(_MARKET_STEP_S)
                continue
            t = market.next_time()
            if t is None:
                self._flush_denials()
                self._publish_snapshot(force=True)
                self.replay_finished.set()
                return
            if speed > 0:
                if base is None:
                    base = (t, time.monotonic())
                delay = (t - base[0]) / _NS / speed - (time.monotonic() - base[1])
                await asyncio.sleep(max(0.0, min(delay, 1.0)))
                if delay > 1.0:
                    continue  # a long quiet stretch: stay responsive to commands
            else:
                await asyncio.sleep(0)
            try:
                while (due := broker.next_arrival_ns()) is not None and due < t:
                    self._replay_now = due
                    kernel.advance(due)
                    kernel.check_equity(due)
                self._replay_now = t
                events = market.step_until(t)
                for ev in events:
                    self._on_market_event(ev)
                    kernel.on_market(ev)
                kernel.advance(t)
                if self._strategy_hosts:
                    self._run_strategies()
                self._flush_denials()
                self._periodic(t)
                self._publish_snapshot()
            except Exception as exc:
                log.exception("capture replay step failed")
                self._emit(EngineFailed(where="market", message=str(exc), ts_ns=t))

    async def _market_loop(self) -> None:
        sim = self._sim
        assert isinstance(sim, SimMarket)
        kernel = self._kernel
        while True:
            await asyncio.sleep(_MARKET_STEP_S)
            now = self._now()
            try:
                if not self._feed_paused:
                    events = sim.step_until(now)
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
                self._periodic(now)
                self._publish_snapshot()
            except Exception as exc:
                log.exception("market loop step failed")
                self._emit(EngineFailed(where="market", message=str(exc), ts_ns=now))

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
