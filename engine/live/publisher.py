"""Publication: subscribers, the coalesced snapshot and the stats summary."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from engine.live.state import (
    _NS,
    EngineState,
)
from engine.snapshot import (
    EngineSnapshot,
    EngineStats,
    RiskView,
    frozen_map,
)
from engine.venues.base import FeedHealth

log = logging.getLogger(__name__)


class PublisherMixin(EngineState):
    """Publication: subscribers, the coalesced snapshot and the stats summary."""

    def _emit(self, event: Any) -> None:
        for cb in self._listeners:
            try:
                cb(event)
            except Exception:
                log.exception("event listener failed")
        if self._strategy_hosts:
            for host in list(self._strategy_hosts.values()):
                try:
                    host.on_event(event)
                except Exception as exc:
                    log.exception("strategy %s failed on %r", host.strategy_id, event)
                    self._end_strategy(host, f"failed: {exc}")

    def _marks(self) -> Mapping[str, Decimal | None]:
        return self._kernel.marks()

    def _publish_snapshot(self, force: bool = False) -> None:
        if self._kernel_obj is None:
            return
        now = self._now()
        if not force and now - self._last_snapshot_ns < _NS / self.config.snapshot_hz:
            return
        self._last_snapshot_ns = now
        self._snapshot = self._build_snapshot(now)
        for cb in self._snapshot_listeners:
            try:
                cb()
            except Exception:
                log.exception("snapshot listener failed")

    def _build_snapshot(self, now: int) -> EngineSnapshot:
        kernel = self._kernel
        risk = kernel.risk
        self._version += 1
        books = {}
        depth = self.config.book_depth
        for sym, book in kernel.books.items():
            cached = self._book_view_cache.get(sym)
            if cached is None or cached.seq != book.seq or cached.ts_ns != book.ts_ns:
                cached = book.view(depth)
                self._book_view_cache[sym] = cached
            books[sym] = cached
        marks = self._marks()
        trades = {}
        for sym, dq in self._trades.items():
            cached_trades = self._trades_cache.get(sym)
            if cached_trades is None:
                cached_trades = tuple(reversed(dq))
                self._trades_cache[sym] = cached_trades
            trades[sym] = cached_trades
        ctx = kernel.risk_context(now, marks)
        c = self._counters
        return EngineSnapshot(
            ts_ns=now,
            venue=self.config.venue,
            symbols=self.config.symbols,
            instruments=frozen_map(self.instruments),
            books=frozen_map(books),
            trades=frozen_map(trades),
            candles=frozen_map({s: series.view() for s, series in self._candles.items()}),
            candle_seconds=self.config.candle_seconds,
            positions=frozen_map(
                {s: p.view(marks.get(s)) for s, p in self._portfolio.positions.items()}
            ),
            orders=kernel.open_order_views(),
            recent_orders=tuple(self._recent_orders),
            fills=self._fills_cache,
            account=self._portfolio.account_view(marks),
            risk=RiskView(
                state=risk.state_name,
                reason=risk.reason,
                limits=frozen_map(risk.limits.as_dict()),
                utilisation=frozen_map(risk.utilisation(ctx)),
                audit=self._audit_cache,
                orders_last_second=risk.orders_last_second(now),
            ),
            stats=EngineStats(
                venue=self.config.venue,
                running=self._running,
                book_updates=c.book_updates,
                trades=c.trades,
                updates_per_s=c.updates_per_s,
                loop_lag_ms_p50=c.lag_p50,
                loop_lag_ms_p99=c.lag_p99,
                loop_lag_ms_max=c.lag_max,
                storage_ok=self._storage_ok,
                storage_error=self._storage_error,
                feed_ok=not self._feed_paused and self._feed_health is FeedHealth.LIVE,
                feed_health=self._feed_health.value,
                feed_health_reason="paused" if self._feed_paused else self._feed_health_reason,
                uptime_s=(now - self._started_ns) / _NS,
            ),
            version=self._version,
        )

    def stats_summary(self) -> dict[str, Any]:
        """Numbers for the headless summary; read from the latest snapshot."""
        snap = self.snapshot()
        lags = sorted(self._counters.lags_ms)

        def pct(p: float) -> float:
            if not lags:
                return 0.0
            return round(lags[min(len(lags) - 1, int(len(lags) * p))], 3)

        return {
            "venue": snap.venue,
            "symbols": list(snap.symbols),
            "uptime_s": round(snap.stats.uptime_s, 3),
            "book_updates": snap.stats.book_updates,
            "trades": snap.stats.trades,
            "book_updates_per_s": round(
                snap.stats.book_updates / max(snap.stats.uptime_s, 1e-9), 1
            ),
            "loop_lag_ms": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1.0)},
            "equity": str(snap.account.equity),
            "cash": str(snap.account.cash),
            "open_orders": len(snap.orders),
            "fills": len(snap.fills),
            "risk_state": snap.risk.state,
            "storage_ok": snap.stats.storage_ok,
        }
