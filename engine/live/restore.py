"""Startup: the account, open orders and the trading state come back from SQLite; the venue
and the kernel are built over them."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.candles import CandleSeries
from engine.config import replay_path
from engine.core import Kernel
from engine.live.state import (
    EngineState,
)
from engine.matching import BrokerConfig
from engine.model.orders import Order, OrderView
from engine.persistence import Store
from engine.risk import RiskEngine
from engine.snapshot import (
    frozen_map,
)
from engine.venues.replay import BarReplayMarket, CaptureReplayMarket
from engine.venues.sim import SimMarket, calibrate, default_params

log = logging.getLogger(__name__)


class RestoreMixin(EngineState):
    """Startup: the account, open orders and the trading state come back from SQLite; the venue"""

    def _setup(self) -> None:
        cfg = self.config
        self._store = Store.open(cfg.data_dir, lock=cfg.lock_data_dir)
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
        capture = replay_path(cfg.venue)
        if capture is not None:
            self._setup_capture_venue(restored, capture)
            return
        params = None
        if cfg.market_data_dir is not None:
            try:
                params = calibrate(cfg.market_data_dir, self.instruments)
            except Exception:
                log.warning("simulator calibration failed; using built-in defaults", exc_info=True)
        if params is None:
            params = default_params(self.instruments)
        sim = self._sim = SimMarket(
            self.instruments, cfg.seed, now, rate_multiplier=cfg.sim_rate, params=params
        )
        self._build_kernel(sim.books, restored, consume=True)
        for sym in cfg.symbols:
            series = CandleSeries(self.instruments[sym], cfg.candle_seconds)
            series.seed(sim.history(sym, cfg.candle_seconds, 300))
            self._candles[sym] = series
            self._trades[sym] = deque(maxlen=200)
            self._trades_cache[sym] = ()
            self._kernel.last_book_ns[sym] = now

        self._finish_setup(restored, now)

    def _build_kernel(self, books: Mapping[str, Any], restored: Any, *, consume: bool) -> None:
        cfg = self.config
        self._kernel_obj = Kernel(
            instruments=self.instruments,
            books=books,
            broker=BrokerConfig(
                fees=self._fees,
                latency_ns=int(cfg.latency_ms * 1_000_000),
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
        self._sim = self._replay = market
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

    def _setup_capture_venue(self, restored: Any, path: Path) -> None:
        """Recorded L2 captures as the venue: the book rebuilt by Binance's snapshot +
        update-id procedure (``CaptureReplayMarket``), played at ``config.replay_speed``; the
        clock is the messages' receive time, candles are built from the recorded trades."""
        cfg = self.config
        symbol = cfg.symbols[0]
        inst = self.instruments[symbol]
        market = self._capture = CaptureReplayMarket([path], inst)
        first = market.next_time()
        now = self._replay_now = first if first is not None else 0
        self._started_ns = now
        self._build_kernel(market.books, restored, consume=False)
        self._candles[symbol] = CandleSeries(inst, cfg.candle_seconds)
        self._trades[symbol] = deque(maxlen=200)
        self._trades_cache[symbol] = ()
        self._kernel.last_book_ns[symbol] = now
        self._finish_setup(restored, now)

    def _restore_risk(self, now: int) -> None:
        """Limits, trading state and the day's baseline come back from SQLite: a restart
        neither lifts a halt nor resets the day."""
        assert self._store is not None
        kernel = self._kernel
        limits = self._store.load_risk_limits()
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
