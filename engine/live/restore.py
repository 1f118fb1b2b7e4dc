"""Startup: the account, open orders and the trading state come back from SQLite; the venue
and the kernel are built over them."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from typing import Any

from engine.candles import CandleSeries
from engine.config import ConfigError
from engine.core import Kernel
from engine.live.state import (
    _MARKET_STEP_S,
    EngineState,
)
from engine.matching import BrokerConfig
from engine.model.orders import Order, OrderView
from engine.persistence import Store
from engine.risk import RiskEngine
from engine.snapshot import (
    frozen_map,
)
from engine.venues.base import CandleHistory, MarketDataSource, RecordedSource, SourceRequest
from engine.venues.registry import VENUES
from engine.venues.replay import BarReplayMarket

log = logging.getLogger(__name__)


class RestoreMixin(EngineState):
    """Startup: the account, open orders and the trading state come back from SQLite; the venue"""

    def _setup(self) -> None:
        cfg = self.config
        self._store = Store.open(cfg.journal.data_dir, lock=cfg.journal.lock_data_dir)
        restored = self._store.load_state()
        now = self._now()
        self._started_ns = now
        if restored.cash is not None:
            self._portfolio.cash = restored.cash
            self._portfolio.initial_cash = restored.initial_cash
            for sym, pos in restored.positions.items():
                self._portfolio.positions[sym] = pos
        else:
            self._store.save_account(
                self._portfolio.cash, self._portfolio.initial_cash, self._portfolio.currency
            )
        self._fills.extend(restored.recent_fills)
        self._fills_cache = tuple(self._fills)
        self._recent_orders.extend(restored.recent_orders)

        if cfg.venue == "replay":
            self._setup_replay_venue(restored)
            return
        source = self._open_source(now)
        if isinstance(source, RecordedSource):
            # A recording: its messages' receive times are the clock, from its first one.
            self._event_clock = True
            now = self._replay_now = source.start_ns
            self._started_ns = now
        self._build_kernel(
            source.books, restored, consume=bool(getattr(source, "consume_liquidity", False))
        )
        history = source if isinstance(source, CandleHistory) else None
        for sym in cfg.symbols:
            series = CandleSeries(self.instruments[sym], cfg.candle_seconds)
            if history is not None:
                series.seed(history.history(sym, cfg.candle_seconds, 300))
            self._candles[sym] = series
            self._trades[sym] = deque(maxlen=200)
            self._trades_cache[sym] = ()
            self._kernel.last_book_ns[sym] = now

        self._finish_setup(restored, now)

    def _open_source(self, now: int) -> MarketDataSource:
        """The venue's market-data source, from the registry; its instruments become ours."""
        cfg = self.config
        info, arg = VENUES.parse(cfg.venue, require_argument=False)
        if info.open is None:
            raise ConfigError(f"venue {cfg.venue!r} has no market-data source")
        source = info.open(
            SourceRequest(
                symbols=cfg.symbols,
                argument=arg,
                now_ns=now,
                seed=cfg.seed,
                sim_rate=cfg.sim_rate,
                market_data_dir=cfg.market_data_dir,
                replay_speed=cfg.replay_speed,
                step_s=_MARKET_STEP_S,
            )
        )
        missing = [s for s in cfg.symbols if s not in source.instruments]
        if missing:
            raise ConfigError(
                f"venue {cfg.venue!r} does not list {', '.join(missing)} "
                f"(it lists: {', '.join(source.instruments)})"
            )
        self.instruments.clear()
        self.instruments.update({s: source.instruments[s] for s in cfg.symbols})
        self._source = source
        self._feed_health = source.health
        return source

    def _build_kernel(self, books: Mapping[str, Any], restored: Any, *, consume: bool) -> None:
        cfg = self.config
        self._kernel_obj = Kernel(
            instruments=self.instruments,
            books=books,
            broker=BrokerConfig(
                fees=self._fees,
                latency_ns=cfg.broker.latency_ns,
                consume_liquidity=consume,
            ),
            risk=RiskEngine(),
            portfolio=self._portfolio,
            clock=self._now,
            sink=self._journal,
            order_seq=restored.last_order_seq,
            fill_seq=restored.last_fill_seq,
        )

    def _finish_setup(self, restored: Any, now: int) -> None:
        assert self._store is not None
        kernel = self._kernel
        for view in restored.open_orders:
            order = _order_from_view(view)
            kernel.orders[order.order_id] = order
            kernel.touch(order.order_id)
            kernel.broker.restore(order)
            if not order.status.is_open:  # a market order cut off by the restart
                kernel.orders.pop(order.order_id)
                view_closed = order.view()
                self._store.record_order_event(view_closed, "cancelled", order.reason, now)
                self._recent_orders.append(view_closed)

        self._restore_risk(now)
        self._audit_log.extend(frozen_map(e) for e in self._store.risk_audit(200))
        self._audit_cache = tuple(self._audit_log)
        self._last_equity_ns = now

    def _setup_replay_venue(self, restored: Any) -> None:
        """Recorded bars as the venue (``BarReplayMarket``), the clock at the first bar.

        Candles are the recorded bars themselves, closed at the next bar's open as the paper
        replay and the backtester (``fill="next_open"``) close them. The feed starts paused so
        strategies can be started first; ``SetFeedPaused(paused=False)`` runs it to the end.
        """
        from engine.backtest.slippage import parse_slippage

        cfg = self.config
        bars = cfg.replay_bars
        assert bars is not None
        inst = self.instruments[bars.symbol]
        market = BarReplayMarket(bars, inst, parse_slippage(cfg.replay_slippage))
        self._replay = market
        now = self._replay_now = int(bars.time_ms[0]) * 1_000_000 if len(bars) else 0
        self._started_ns = now
        self._build_kernel(market.books, restored, consume=False)
        interval_s = max(1, int(bars.interval_ms) // 1000)
        self._candles[inst.symbol] = CandleSeries(inst, interval_s)
        self._trades[inst.symbol] = deque(maxlen=200)
        self._trades_cache[inst.symbol] = ()
        self._kernel.last_book_ns[inst.symbol] = now
        self._feed_paused = True
        self._finish_setup(restored, now)

    def _restore_risk(self, now: int) -> None:
        """Limits, trading state and the day's baseline come back from SQLite: a restart
        neither lifts a halt nor resets the day."""
        assert self._store is not None
        kernel = self._kernel
        # The database's limits win; the config's are where a new account starts.
        limits = {**self.config.risk.limits.to_strings(), **self._store.load_risk_limits()}
        record = self._store.load_risk_state()
        if record is not None:
            kernel.set_risk(
                RiskEngine.restore(
                    limits,
                    record.state,
                    record.reason,
                    trading_day=record.trading_day,
                    start_of_day_equity=record.start_of_day_equity,
                )
            )
            self._portfolio.start_of_day_equity = record.start_of_day_equity
        else:
            kernel.set_risk(RiskEngine.restore(limits, "ACTIVE", ""))
            self._portfolio.start_of_day_equity = kernel.equity()
        kernel.check_equity(now)
        if record is None:
            self._save_risk_state(now)


def _order_from_view(v: OrderView) -> Order:
    return Order(
        order_id=v.order_id,
        client_id=v.client_id,
        symbol=v.symbol,
        side=v.side,
        type=v.type,
        qty=v.qty,
        price=v.price,
        tif=v.tif,
        post_only=v.post_only,
        reduce_only=v.reduce_only,
        source=v.source,
        status=v.status,
        filled_qty=v.filled_qty,
        filled_notional=v.filled_notional,
        fees=v.fees,
        reason=v.reason,
        ts_created=v.ts_created,
        ts_updated=v.ts_updated,
    )
