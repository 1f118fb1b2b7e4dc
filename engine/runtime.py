"""The engine thread: one asyncio loop that owns all trading state.

Other threads talk to it only through ``submit`` (commands in, a ``Future`` of the settling event
out), ``subscribe`` (events, called on the engine thread) and ``snapshot`` (the latest immutable
view). Everything else here runs on the engine thread, so no locks guard trading state.

Order of work for every change: mutate state -> write it to SQLite -> publish the snapshot ->
tell subscribers -> resolve the caller's future. A reader therefore never sees an event whose
effects are not yet durable or not yet in ``snapshot()``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine.candles import CandleSeries
from engine.config import EngineConfig
from engine.matching import (
    BrokerCancelled,
    BrokerConfig,
    BrokerFill,
    BrokerRejected,
    BrokerRested,
    BrokerResult,
    FeeSchedule,
    PaperBroker,
)
from engine.messages import (
    AllCancelled,
    CancelAll,
    CancelOrder,
    CancelRejected,
    EngineFailed,
    HaltResetRefused,
    OrderAccepted,
    OrderCancelled,
    OrderDenied,
    OrderFilled,
    OrderRejected,
    PanicClose,
    PanicCompleted,
    ResetHalt,
    RiskLimitsChanged,
    RiskLimitsRejected,
    SetFeedPaused,
    StartStrategy,
    StopStrategy,
    StrategyRejected,
    StrategyStarted,
    StrategyStopped,
    SubmitOrder,
    TradingStateChanged,
    UpdateRiskLimits,
)
from engine.model.fill import Fill
from engine.model.instrument import DEFAULT_INSTRUMENTS, Instrument
from engine.model.market import LevelUpdate, TradeTick
from engine.model.orders import Order, OrderSide, OrderStatus, OrderType, OrderView
from engine.persistence import StorageError, Store
from engine.portfolio import Portfolio, Position
from engine.risk import LimitError, RiskContext, RiskEngine, TradingStateChange
from engine.snapshot import (
    EngineSnapshot,
    EngineStats,
    RiskView,
    TradeView,
    frozen_map,
)
from engine.strategy.base import CancelResult, SubmitResult
from engine.strategy_host import StrategyHost
from engine.validation import Invalid, validate_order
from engine.venues.replay import BarReplayMarket
from engine.venues.sim import SimMarket, calibrate, default_params

log = logging.getLogger(__name__)

_NS = 1_000_000_000
_MARKET_STEP_S = 0.005
_LAG_PROBE_S = 0.02
_RISK_EVERY_NS = 100_000_000
_STATS_EVERY_NS = 500_000_000
_EQUITY_HISTORY_EVERY_NS = 30 * _NS
_PANIC_MAX_ATTEMPTS = 5
_PANIC_ATTEMPT_TIMEOUT_S = 2.0

Listener = Callable[[Any], None]


class EngineNotRunning(RuntimeError):
    """A command was sent to an engine that is not (or no longer) running."""


@dataclass(slots=True)
class _Counters:
    book_updates: int = 0
    trades: int = 0
    window_updates: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=64))
    lags_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1500))
    lag_p50: float = 0.0
    lag_p99: float = 0.0
    lag_max: float = 0.0
    updates_per_s: float = 0.0


class Engine:
    """The trading engine. ``start()`` returns once it is ready; ``stop()`` joins the thread."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.instruments: dict[str, Instrument] = {
            s: DEFAULT_INSTRUMENTS[s] for s in self.config.symbols
        }
        bars = self.config.replay_bars
        if self.config.venue == "replay" and bars is not None:
            # The recorded data's price grid, as the backtester's instrument has it.
            inst = self.instruments[bars.symbol]
            self.instruments[bars.symbol] = Instrument(
                inst.symbol,
                inst.base,
                inst.quote,
                bars.tick_size,
                inst.lot_size,
                inst.min_notional,
            )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._snapshot: EngineSnapshot | None = None
        self._listeners: list[Listener] = []
        self._snapshot_listeners: list[Callable[[], None]] = []
        self._listeners_lock = threading.Lock()
        self._running = False
        # Engine-thread state (built in _setup, touched only on the engine thread).
        self._store: Store | None = None
        self._sim: SimMarket | BarReplayMarket | None = None
        # Replay venue (config.venue == "replay"): recorded bars under a simulated clock.
        self._replay: BarReplayMarket | None = None
        self._replay_now = 0
        self.replay_finished = threading.Event()
        self._broker: PaperBroker | None = None
        self._risk: RiskEngine = RiskEngine()
        self._portfolio = Portfolio.new(self.config.paper_cash, self.config.symbols)
        self._orders: dict[str, Order] = {}
        # Views of open orders are refreshed only for orders that changed since the last read.
        self._dirty_orders: set[str] = set()
        self._view_dict: dict[str, OrderView] = {}
        self._order_views: Mapping[str, OrderView] = frozen_map({})
        self._recent_orders: deque[OrderView] = deque(maxlen=200)
        self._fills: deque[Fill] = deque(maxlen=500)
        self._fills_cache: tuple[Fill, ...] = ()
        self._trades: dict[str, deque[TradeView]] = {}
        self._trades_cache: dict[str, tuple[TradeView, ...]] = {}
        self._candles: dict[str, CandleSeries] = {}
        self._last_book_ns: dict[str, int] = {}
        self._futures: dict[str, concurrent.futures.Future[Any]] = {}
        self._order_seq = 0
        self._fill_seq = 0
        self._counters = _Counters()
        self._storage_ok = True
        self._storage_error = ""
        self._feed_paused = False
        self._panic_task: asyncio.Task[None] | None = None
        self._version = 0
        self._started_ns = 0
        self._last_snapshot_ns = 0
        self._last_risk_ns = 0
        self._last_stats_ns = 0
        self._last_equity_ns = 0
        self._book_view_cache: dict[str, Any] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._event_t0 = 0
        self.fill_latency_ns: deque[int] = deque(maxlen=10_000)
        self._audit_log: deque[Mapping[str, str]] = deque(maxlen=200)
        self._audit_cache: tuple[Mapping[str, str], ...] = ()
        self._risk_day = ""
        self._strategy_hosts: dict[str, StrategyHost] = {}
        self._strategy_seq = 0

    # ------------------------------------------------------------------ public, any thread

    def start(self, timeout: float = 30.0) -> Engine:
        """Start the engine thread and wait until it is ready (or raise why it could not start)."""
        if self._thread is not None:
            raise RuntimeError("engine already started")
        interval = self.config.gil_switch_interval_s
        if interval is not None and interval < sys.getswitchinterval():
            sys.setswitchinterval(interval)
        self._thread = threading.Thread(target=self._thread_main, name="tradedeck-engine")
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"engine did not start within {timeout} s")
        if self._startup_error is not None:
            self._thread.join(timeout)
            raise self._startup_error
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop cleanly: tasks cancelled, database flushed and closed, thread joined."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError("engine thread did not stop")
        self._thread = None

    @property
    def running(self) -> bool:
        return self._running

    def submit(self, command: Any) -> concurrent.futures.Future[Any]:
        """Send a command (thread-safe). The future resolves with the event that settled it."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        loop = self._loop
        if not self._running or loop is None:
            fut.set_exception(EngineNotRunning("the engine is not running"))
            return fut
        try:
            loop.call_soon_threadsafe(self._dispatch, command, fut)
        except RuntimeError:
            fut.set_exception(EngineNotRunning("the engine is stopping"))
        return fut

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(event)`` on the engine thread for every event; returns an unsubscribe."""
        with self._listeners_lock:
            self._listeners = [*self._listeners, callback]

        def unsubscribe() -> None:
            with self._listeners_lock:
                self._listeners = [cb for cb in self._listeners if cb is not callback]

        return unsubscribe

    def on_snapshot(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` on the engine thread whenever a new snapshot is published.

        Meant for coalescing bridges: set a flag, wake the reader; never do work in it.
        """
        with self._listeners_lock:
            self._snapshot_listeners = [*self._snapshot_listeners, callback]

        def unsubscribe() -> None:
            with self._listeners_lock:
                self._snapshot_listeners = [
                    cb for cb in self._snapshot_listeners if cb is not callback
                ]

        return unsubscribe

    def snapshot(self) -> EngineSnapshot:
        snap = self._snapshot
        if snap is None:
            raise EngineNotRunning("the engine has not started")
        return snap

    # ------------------------------------------------------------------ thread and loop

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            if not self._ready.is_set():
                self._startup_error = exc
                self._ready.set()
            else:
                log.exception("engine thread crashed")
        finally:
            self._running = False

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            self._setup()
        except BaseException as exc:
            self._startup_error = exc
            if self._store is not None:
                self._store.close()
            self._ready.set()
            return
        self._running = True
        self._publish_snapshot(force=True)
        self._tasks = [
            asyncio.create_task(
                self._replay_loop() if self._replay is not None else self._market_loop(),
                name="market",
            ),
            asyncio.create_task(self._lag_probe(), name="lag-probe"),
        ]
        self._ready.set()
        log.info("engine started: venue=%s symbols=%s", self.config.venue, self.config.symbols)
        try:
            await self._stopping.wait()
        finally:
            self._running = False
            await self._shutdown()

    async def _shutdown(self) -> None:
        for host in list(self._strategy_hosts.values()):
            self._end_strategy(host, "engine stopped")
        tasks = [*self._tasks]
        if self._panic_task is not None:
            tasks.append(self._panic_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for fut in self._futures.values():
            if not fut.done():
                fut.set_exception(EngineNotRunning("the engine stopped"))
        self._futures.clear()
        if self._store is not None:
            try:
                self._store.save_account(
                    self._portfolio.cash, self._portfolio.initial_cash, self._portfolio.currency
                )
            except StorageError:
                log.exception("final account save failed")
            self._store.close()
            self._store = None
        self._publish_snapshot(force=True)
        log.info("engine stopped")

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
        self._order_seq = restored.last_order_seq
        self._fill_seq = restored.last_fill_seq
        self._fills.extend(restored.recent_fills)
        self._fills_cache = tuple(self._fills)
        self._recent_orders.extend(restored.recent_orders)

        if cfg.venue == "replay":
            self._setup_replay_venue(restored)
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
        fees = FeeSchedule(maker=cfg.maker_fee_bps / 10000, taker=cfg.taker_fee_bps / 10000)
        latency_ns = int(cfg.latency_ms * 1_000_000)
        self._broker = PaperBroker(
            sim.books,
            BrokerConfig(fees=fees, latency_ns=latency_ns, consume_liquidity=True),
            self._next_fill_id,
        )
        for sym in cfg.symbols:
            series = CandleSeries(self.instruments[sym], cfg.candle_seconds)
            series.seed(sim.history(sym, cfg.candle_seconds, 300))
            self._candles[sym] = series
            self._trades[sym] = deque(maxlen=200)
            self._trades_cache[sym] = ()
            self._last_book_ns[sym] = now

        self._finish_setup(restored, now)

    def _finish_setup(self, restored: Any, now: int) -> None:
        assert self._store is not None
        assert self._broker is not None
        for view in restored.open_orders:
            order = _order_from_view(view)
            self._orders[order.order_id] = order
            self._dirty_orders.add(order.order_id)
            self._broker.restore(order)
            if not order.status.is_open:  # a market order cut off by the restart
                self._orders.pop(order.order_id)
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
        fees = FeeSchedule(maker=cfg.maker_fee_bps / 10000, taker=cfg.taker_fee_bps / 10000)
        self._broker = PaperBroker(
            market.books,
            BrokerConfig(
                fees=fees, latency_ns=int(cfg.latency_ms * 1_000_000), consume_liquidity=False
            ),
            self._next_fill_id,
        )
        interval_s = max(1, int(bars.interval_ms) // 1000)
        self._candles[inst.symbol] = CandleSeries(inst, interval_s)
        self._trades[inst.symbol] = deque(maxlen=200)
        self._trades_cache[inst.symbol] = ()
        self._last_book_ns[inst.symbol] = now
        self._feed_paused = True
        self._finish_setup(restored, now)

    def _restore_risk(self, now: int) -> None:
        """Limits, trading state and the day's baseline come back from SQLite: a restart
        neither lifts a halt nor resets the day."""
        assert self._store is not None
        limits = self._store.load_risk_limits()
        record = self._store.load_risk_state()
        if record is not None:
            self._risk = RiskEngine.restore(
                limits,
                record.state,
                record.reason,
                trading_day=record.trading_day,
                start_of_day_equity=record.start_of_day_equity,
            )
            self._portfolio.start_of_day_equity = record.start_of_day_equity
        else:
            self._risk = RiskEngine.restore(limits, "ACTIVE", "")
            self._portfolio.start_of_day_equity = self._equity()
        self._risk_day = self._risk.current_day or ""
        self._check_equity(now)
        if record is None:
            self._save_risk_state(now)

    # ------------------------------------------------------------------ loops

    async def _replay_loop(self) -> None:
        """The market loop on recorded bars: one price point per step, as fast as it goes.

        Same sequence as ``engine.venues.replay.ReplaySession.step`` (which copies this
        engine's order of work), then closed bars go to running strategies.
        """
        market, broker = self._replay, self._broker
        assert market is not None
        assert broker is not None
        bars = market.bars
        series = self._candles[market.symbol]
        inst = market.instrument
        while True:
            if self._feed_paused:
                await asyncio.sleep(_MARKET_STEP_S)
                continue
            t = market.next_time()
            if t is None:
                self._publish_snapshot(force=True)
                self.replay_finished.set()
                return
            try:
                while (due := broker.next_arrival_ns()) is not None and due < t:
                    self._replay_now = due
                    result = broker.advance(due)
                    if result.events or result.market:
                        self._handle_broker(result)
                    self._check_equity(due)
                self._replay_now = t
                events = market.step_until(t)
                for book in market.books.values():
                    self._last_book_ns[book.symbol] = book.ts_ns
                for ev in events:
                    self._on_market_event(ev)
                    result = broker.on_market(ev)
                    if result.events or result.market:
                        self._handle_broker(result, from_market=True)
                result = broker.advance(t)
                if result.events or result.market:
                    self._handle_broker(result)
                self._check_equity(t)
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
                self._periodic(t)
                self._publish_snapshot()
            except Exception as exc:
                log.exception("replay step failed")
                self._emit(EngineFailed(where="market", message=str(exc), ts_ns=t))
            await asyncio.sleep(0)

    async def _market_loop(self) -> None:
        sim, broker = self._sim, self._broker
        assert isinstance(sim, SimMarket)
        assert broker is not None
        while True:
            await asyncio.sleep(_MARKET_STEP_S)
            now = self._now()
            try:
                if not self._feed_paused:
                    events = sim.step_until(now)
                    for ev in events:
                        self._event_t0 = time.perf_counter_ns()
                        self._on_market_event(ev)
                        result = broker.on_market(ev)
                        if result.events or result.market:
                            self._handle_broker(result, from_market=True)
                        if self._strategy_hosts:
                            self._run_strategies()
                result = broker.advance(now)
                if result.events or result.market:
                    self._handle_broker(result)
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
        if now - self._last_risk_ns >= _RISK_EVERY_NS:
            self._last_risk_ns = now
            self._check_equity(now)
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

    def _on_market_event(self, ev: LevelUpdate | TradeTick) -> None:
        if isinstance(ev, LevelUpdate):
            self._counters.book_updates += 1
            self._last_book_ns[ev.symbol] = ev.ts_ns
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

    # ------------------------------------------------------------------ commands

    def _dispatch(self, command: Any, fut: concurrent.futures.Future[Any]) -> None:
        if fut.done():
            return
        try:
            if isinstance(command, SubmitOrder):
                self._submit_order(command, fut)
            elif isinstance(command, CancelOrder):
                self._cancel_order(command, fut)
            elif isinstance(command, CancelAll):
                self._cancel_all(command, fut)
            elif isinstance(command, UpdateRiskLimits):
                self._update_limits(command, fut)
            elif isinstance(command, PanicClose):
                self._start_panic(command, fut)
            elif isinstance(command, ResetHalt):
                self._reset_halt(command, fut)
            elif isinstance(command, StartStrategy):
                self._start_strategy(command, fut)
            elif isinstance(command, StopStrategy):
                self._stop_strategy(command, fut)
            elif isinstance(command, SetFeedPaused):
                self._feed_paused = command.paused
                log.warning("market data feed %s", "paused" if command.paused else "resumed")
                self._finish(fut, None)
            else:
                raise TypeError(f"unknown command {type(command).__name__}")
        except Exception as exc:
            log.exception("command %r failed", command)
            if not fut.done():
                fut.set_exception(exc)

    def _submit_order(self, cmd: SubmitOrder, fut: concurrent.futures.Future[Any]) -> None:
        now = self._now()
        book = self._sim.books.get(cmd.symbol) if self._sim else None
        mid = book.mid() if book is not None else None
        checked = validate_order(cmd, self.instruments, mid)
        if isinstance(checked, Invalid):
            log.info("order refused: %s", checked.reason)
            event = checked.denied(cmd, now)
            self._emit(event)
            self._finish(fut, event)
            return
        order = checked.new_order(cmd, self._next_order_id(), now)
        self._place(order, fut, now, command=cmd)

    def _place(
        self,
        order: Order,
        fut: concurrent.futures.Future[Any] | None,
        now: int,
        *,
        command: SubmitOrder | None = None,
        skip_throttle: bool = False,
    ) -> OrderView | None:
        """Risk-check, persist and send one order; returns its view when it was accepted."""
        assert self._broker is not None
        denial = self._risk.check_order(order, self._risk_context(now))
        if denial is not None and not (skip_throttle and denial.limit == "max_orders_per_second"):
            order.transition(OrderStatus.DENIED, now, denial.reason)
            view = order.view()
            self._persist(
                "order", lambda s: s.record_order_event(view, "denied", denial.reason, now)
            )
            self._recent_orders.append(view)
            log.info("order %s denied: %s", order.order_id, denial.reason)
            event = OrderDenied(
                order_id=order.order_id,
                client_id=order.client_id,
                symbol=order.symbol,
                reason=denial.reason,
                limit=denial.limit,
                value=denial.value,
                command=command,
                ts_ns=now,
            )
            self._publish_snapshot(force=True)
            self._emit(event)
            if fut is not None:
                self._finish(fut, event)
            return None
        order.transition(OrderStatus.ACCEPTED, now)
        self._risk.record_submitted(now)
        self._orders[order.order_id] = order
        self._dirty_orders.add(order.order_id)
        view = order.view()
        self._persist("order", lambda s: s.record_order_event(view, "accepted", "", now))
        accepted = OrderAccepted(order=view, ts_ns=now)
        self._publish_snapshot(force=True)
        self._emit(accepted)
        if fut is not None:
            self._futures[order.order_id] = fut
        result = self._broker.submit(order, now)
        self._handle_broker(result)
        if self.config.latency_ms > 0 and order.order_id in self._orders:
            assert self._loop is not None
            self._loop.call_later(
                float(self.config.latency_ms) / 1000.0 + 0.0005, self._advance_broker
            )
        return view

    def _advance_broker(self) -> None:
        if self._broker is None:
            return
        result = self._broker.advance(self._now())
        if result.events or result.market:
            self._handle_broker(result)

    def _cancel_order(self, cmd: CancelOrder, fut: concurrent.futures.Future[Any]) -> None:
        now = self._now()
        event = self._cancel_one(cmd.order_id, "cancelled by user", now)
        if event is None:
            refused = CancelRejected(
                order_id=cmd.order_id, reason=f"no open order {cmd.order_id!r}", ts_ns=now
            )
            self._emit(refused)
            self._finish(fut, refused)
            return
        self._finish(fut, event)

    def _cancel_one(self, order_id: str, reason: str, now: int) -> OrderCancelled | None:
        assert self._broker is not None
        if order_id not in self._orders:
            return None
        order = self._broker.cancel(order_id, now)
        if order is None:
            return None
        if order.status is not OrderStatus.CANCELLED:
            order.transition(OrderStatus.CANCELLED, now, reason)
        order.reason = reason
        self._orders.pop(order_id, None)
        self._dirty_orders.add(order_id)
        view = order.view()
        self._persist("order", lambda s: s.record_order_event(view, "cancelled", reason, now))
        self._recent_orders.append(view)
        event = OrderCancelled(order=view, reason=reason, ts_ns=now)
        self._publish_snapshot(force=True)
        self._emit(event)
        pending = self._futures.pop(order_id, None)
        if pending is not None:
            self._finish(pending, event)
        return event

    def _cancel_all(self, cmd: CancelAll, fut: concurrent.futures.Future[Any]) -> None:
        now = self._now()
        ids = [
            oid for oid, o in self._orders.items() if cmd.symbol is None or o.symbol == cmd.symbol
        ]
        done = tuple(oid for oid in ids if self._cancel_one(oid, "cancel all", now) is not None)
        event = AllCancelled(order_ids=done, symbol=cmd.symbol, ts_ns=now)
        self._emit(event)
        self._finish(fut, event)

    # ------------------------------------------------------------------ broker results

    def _handle_broker(self, result: BrokerResult, *, from_market: bool = False) -> None:
        for bev in result.events:
            self._dirty_orders.add(bev.order.order_id)
        for mev in result.market:
            if isinstance(mev, TradeTick):
                self._record_trade(mev)
            else:
                self._counters.book_updates += 1
        for ev in result.events:
            if isinstance(ev, BrokerFill):
                self._on_fill(ev.order, ev.fill)
                if from_market:
                    # Book update received -> fill matched, persisted and published.
                    self.fill_latency_ns.append(time.perf_counter_ns() - self._event_t0)
            elif isinstance(ev, BrokerRested):
                pending = self._futures.pop(ev.order.order_id, None)
                if pending is not None:
                    self._finish(pending, OrderAccepted(order=ev.order.view(), ts_ns=self._now()))
            elif isinstance(ev, BrokerCancelled):
                self._on_closed(ev.order, "cancelled", ev.reason)
            elif isinstance(ev, BrokerRejected):
                self._on_closed(ev.order, "rejected", ev.reason)

    def _on_fill(self, order: Order, fill: Fill) -> None:
        self._portfolio.apply_fill(fill)
        position = self._portfolio.position(fill.symbol)
        view = order.view()
        cash = self._portfolio.cash
        self._persist(
            "fill",
            lambda s: s.record_fill(fill, view, _copy_position(position), cash, fill.ts_event),
        )
        self._fills.append(fill)
        self._fills_cache = tuple(self._fills)
        self._dirty_orders.add(order.order_id)
        if not order.status.is_open:
            self._orders.pop(order.order_id, None)
            self._recent_orders.append(view)
        event = OrderFilled(order=view, fill=fill, ts_ns=fill.ts_event)
        self._publish_snapshot(force=True)
        self._emit(event)
        if not order.status.is_open:
            pending = self._futures.pop(order.order_id, None)
            if pending is not None:
                self._finish(pending, event)
        self._check_equity(fill.ts_event)

    def _on_closed(self, order: Order, kind: str, reason: str) -> None:
        now = self._now()
        self._orders.pop(order.order_id, None)
        self._dirty_orders.add(order.order_id)
        view = order.view()
        self._persist("order", lambda s: s.record_order_event(view, kind, reason, now))
        self._recent_orders.append(view)
        event: OrderCancelled | OrderRejected
        if kind == "cancelled":
            event = OrderCancelled(order=view, reason=reason, ts_ns=now)
        else:
            event = OrderRejected(order=view, reason=reason, ts_ns=now)
        log.info("order %s %s: %s", order.order_id, kind, reason)
        self._publish_snapshot(force=True)
        self._emit(event)
        pending = self._futures.pop(order.order_id, None)
        if pending is not None:
            self._finish(pending, event)

    # ------------------------------------------------------------------ risk

    def _risk_context(
        self, now: int, marks: Mapping[str, Decimal | None] | None = None
    ) -> RiskContext:
        marks = self._marks() if marks is None else marks  # mids computed once per context
        return RiskContext(
            equity=self._portfolio.equity(marks),
            start_of_day_equity=self._portfolio.start_of_day_equity,
            positions={s: p.qty for s, p in self._portfolio.positions.items()},
            marks=marks,
            open_orders=tuple(self._open_order_views().values()),
            last_book_ns=dict(self._last_book_ns),
            now_ns=now,
            instruments=self.instruments,
        )

    def _check_equity(self, now: int) -> None:
        """Roll the trading day and apply the daily-loss rule (called on marks and fills)."""
        day_before = self._risk.current_day
        change = self._risk.on_equity(self._risk_context(now))
        sod = self._risk.start_of_day_equity
        day_after = self._risk.current_day or ""
        if day_after != self._risk_day or (
            sod is not None and sod != self._portfolio.start_of_day_equity
        ):
            if sod is not None:
                self._portfolio.start_of_day_equity = sod
            new_day = day_before is not None and day_after != day_before
            self._risk_day = day_after
            self._save_risk_state(now)
            if new_day:
                log.info("new trading day %s, start-of-day equity %s", day_after, sod)
                if self._risk.state_name == "HALTED" and self._risk.reason.startswith("daily loss"):
                    lifted = self._risk.reset_halt(True)
                    if not isinstance(lifted, str):
                        self._apply_state_change(
                            TradingStateChange(
                                old_state=lifted.old_state,
                                new_state=lifted.new_state,
                                reason=f"new trading day {day_after}",
                            ),
                            now,
                        )
        if change is not None:
            self._apply_state_change(change, now)

    def _apply_state_change(self, change: TradingStateChange, now: int) -> None:
        self._save_risk_state(now)
        self._audit(
            now,
            "engine",
            "state",
            "trading_state",
            change.old_state,
            change.new_state,
            change.reason,
        )
        log.warning("trading state %s -> %s: %s", change.old_state, change.new_state, change.reason)
        event = TradingStateChanged(state=change.new_state, reason=change.reason, ts_ns=now)
        self._publish_snapshot(force=True)
        self._emit(event)

    def _save_risk_state(self, now: int) -> None:
        state, reason = self._risk.state_name, self._risk.reason
        day, sod = self._risk_day, self._portfolio.start_of_day_equity
        self._persist("risk state", lambda s: s.save_risk_state(state, reason, day, sod, now))

    def _update_limits(self, cmd: UpdateRiskLimits, fut: concurrent.futures.Future[Any]) -> None:
        now = self._now()
        outcome = self._risk.update_limits(cmd.changes())
        if isinstance(outcome, LimitError):
            rejected = RiskLimitsRejected(
                reason=outcome.reason, field=outcome.field, value=outcome.value, ts_ns=now
            )
            log.info("risk limits refused: %s", outcome.reason)
            self._audit(
                now, cmd.actor, "refused", outcome.field, None, outcome.value, outcome.reason
            )
            self._emit(rejected)
            self._finish(fut, rejected)
            return
        old, new = outcome
        old_s, new_s = old.to_strings(), new.to_strings()
        self._persist("risk limits", lambda s: s.save_risk_limits(new_s))
        for name in new_s:
            if old_s.get(name) != new_s[name]:
                self._audit(
                    now, cmd.actor, "limit", name, old_s.get(name), new_s[name], "limit changed"
                )
        changed = RiskLimitsChanged(
            old=frozen_map(old.as_dict()), new=frozen_map(new.as_dict()), actor=cmd.actor, ts_ns=now
        )
        self._publish_snapshot(force=True)
        self._emit(changed)
        self._finish(fut, changed)

    def _reset_halt(self, cmd: ResetHalt, fut: concurrent.futures.Future[Any]) -> None:
        now = self._now()
        outcome = self._risk.reset_halt(cmd.confirm)
        if isinstance(outcome, str):
            refused = HaltResetRefused(reason=outcome, ts_ns=now)
            self._emit(refused)
            self._finish(fut, refused)
            return
        self._audit(
            now,
            cmd.actor,
            "reset_halt",
            "trading_state",
            outcome.old_state,
            outcome.new_state,
            outcome.reason,
        )
        self._apply_state_change(outcome, now)
        self._finish(
            fut, TradingStateChanged(state=outcome.new_state, reason=outcome.reason, ts_ns=now)
        )

    # ------------------------------------------------------------------ panic close

    def _start_panic(self, cmd: PanicClose, fut: concurrent.futures.Future[Any]) -> None:
        if self._panic_task is not None and not self._panic_task.done():
            # One panic at a time; a second press waits for the same report.
            self._panic_task.add_done_callback(lambda t: None)
        assert self._loop is not None
        self._panic_task = self._loop.create_task(self._panic(cmd, fut))

    async def _panic(self, cmd: PanicClose, fut: concurrent.futures.Future[Any]) -> None:
        t0 = time.perf_counter()
        now = self._now()
        lines: list[str] = []
        change = self._risk.halt(f"panic close by {cmd.actor}")
        if change is not None:
            self._apply_state_change(change, now)
        realised_before = self._portfolio.realised_pnl()
        fees_before = self._portfolio.fees()
        fill_seq_before = self._fill_seq
        cancelled = 0
        for oid in list(self._orders):
            if self._cancel_one(oid, "panic close", now) is not None:
                cancelled += 1
        lines.append(f"cancelled {cancelled} open orders")
        to_close = {s for s, p in self._portfolio.positions.items() if p.qty}
        attempts = 0
        while attempts < _PANIC_MAX_ATTEMPTS:
            open_positions = {s: p.qty for s, p in self._portfolio.positions.items() if p.qty}
            if not open_positions:
                break
            attempts += 1
            sent: list[str] = []
            now = self._now()
            for sym, qty in open_positions.items():
                order = Order(
                    order_id=self._next_order_id(),
                    client_id=None,
                    symbol=sym,
                    side=OrderSide.SELL if qty > 0 else OrderSide.BUY,
                    type=OrderType.MARKET,
                    qty=abs(qty),
                    price=None,
                    reduce_only=True,
                    source="panic",
                    ts_created=now,
                    ts_updated=now,
                )
                view = self._place(order, None, now, skip_throttle=True)
                if view is None:
                    lines.append(f"attempt {attempts}: {sym} close order denied: {order.reason}")
                else:
                    sent.append(order.order_id)
                    lines.append(
                        f"attempt {attempts}: {order.side} {abs(qty)} {sym} ({order.order_id})"
                    )
            deadline = time.perf_counter() + _PANIC_ATTEMPT_TIMEOUT_S
            while any(oid in self._orders for oid in sent) and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
                self._advance_broker()
            for oid in sent:
                if oid in self._orders:
                    self._cancel_one(oid, "panic attempt timed out", self._now())
            for sym in open_positions:
                left = self._portfolio.positions[sym].qty
                if left:
                    lines.append(f"attempt {attempts}: {sym} still {left} after fills; retrying")
                    log.warning(
                        "panic close: %s still %s open after attempt %d", sym, left, attempts
                    )
            if any(self._portfolio.positions[s].qty for s in open_positions):
                await asyncio.sleep(0.01 * attempts)
        remaining = {s: p.qty for s, p in self._portfolio.positions.items() if p.qty}
        new_fills = [f for f in self._fills if _fill_no(f.fill_id) > fill_seq_before]
        slippage = sum((f.slippage for f in new_fills), Decimal(0))
        duration_ms = (time.perf_counter() - t0) * 1000.0
        report = PanicCompleted(
            flat=not remaining,
            orders_cancelled=cancelled,
            positions_closed=len(to_close) - len(remaining),
            realised_pnl=self._portfolio.realised_pnl() - realised_before,
            slippage=slippage,
            fees=self._portfolio.fees() - fees_before,
            attempts=attempts,
            duration_ms=duration_ms,
            remaining=frozen_map(remaining),
            log=tuple(lines),
            ts_ns=self._now(),
        )
        for line in lines:
            log.warning("panic close: %s", line)
        log.warning(
            "panic close %s in %.1f ms: %d orders cancelled, %d positions closed",
            "flat" if report.flat else "NOT FLAT",
            duration_ms,
            cancelled,
            report.positions_closed,
        )
        self._audit(
            report.ts_ns,
            cmd.actor,
            "panic_close",
            None,
            None,
            None,
            f"flat={report.flat} cancelled={cancelled} closed={report.positions_closed} "
            f"in {duration_ms:.1f} ms",
        )
        self._publish_snapshot(force=True)
        self._emit(report)
        self._finish(fut, report)

    # ------------------------------------------------------------------ helpers

    def _audit(
        self,
        ts_ns: int,
        actor: str,
        action: str,
        field_name: str | None,
        old: str | None,
        new: str | None,
        reason: str,
    ) -> None:
        """Persist one risk audit entry and keep it for the snapshot's audit log."""
        self._persist(
            "risk audit",
            lambda s: s.record_risk_audit(ts_ns, actor, action, field_name, old, new, reason),
        )
        entry = {
            "ts_ns": str(ts_ns),
            "actor": actor,
            "action": action,
            "field": field_name or "",
            "old": old or "",
            "new": new or "",
            "reason": reason,
        }
        self._audit_log.append(frozen_map(entry))
        self._audit_cache = tuple(self._audit_log)

    def _persist(self, what: str, write: Callable[[Store], None]) -> None:
        """Write to SQLite; a failure halts trading and is reported, never swallowed."""
        if self._store is None:
            return
        try:
            write(self._store)
        except StorageError as exc:
            self._storage_failed(what, exc)

    def _storage_failed(self, what: str, exc: Exception) -> None:
        message = f"could not write {what} to the database: {exc}"
        log.error(message)
        first = self._storage_ok
        self._storage_ok = False
        self._storage_error = message
        if first:
            change = self._risk.halt("storage failure: " + str(exc))
            if change is not None:
                self._emit(
                    TradingStateChanged(
                        state=change.new_state, reason=change.reason, ts_ns=self._now()
                    )
                )
        self._emit(EngineFailed(where="storage", message=message, ts_ns=self._now()))

    def _finish(self, fut: concurrent.futures.Future[Any], event: Any) -> None:
        if not fut.done():
            fut.set_result(event)

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

    # ------------------------------------------------------------------ strategies

    def _start_strategy(self, cmd: StartStrategy, fut: concurrent.futures.Future[Any]) -> None:
        from engine.strategy import ParamError, make_strategy
        from engine.strategy.base import params_mapping

        now = self._now()
        reason = ""
        host: StrategyHost | None = None
        if cmd.symbol not in self._candles:
            reason = f"unknown symbol {cmd.symbol!r}"
        elif any(h.name == cmd.name for h in self._strategy_hosts.values()):
            reason = f"strategy {cmd.name!r} is already running"
        else:
            try:
                strategy = make_strategy(cmd.name, params_mapping(cmd.params))
            except ParamError as exc:
                reason = str(exc)
            else:
                self._strategy_seq += 1
                sid = f"S-{self._strategy_seq:04d}"
                host = StrategyHost(
                    self,
                    sid,
                    strategy,
                    self.instruments[cmd.symbol],
                    self._candles[cmd.symbol],
                    cmd.params,
                )
        if host is None:
            rejected = StrategyRejected(name=cmd.name, reason=reason, ts_ns=now)
            self._emit(rejected)
            self._finish(fut, rejected)
            return
        self._strategy_hosts[host.strategy_id] = host
        try:
            host.start()
        except Exception as exc:
            log.exception("strategy %s failed to start", cmd.name)
            self._strategy_hosts.pop(host.strategy_id, None)
            host.running = False
            rejected = StrategyRejected(name=cmd.name, reason=f"failed: {exc}", ts_ns=now)
            self._emit(rejected)
            self._finish(fut, rejected)
            return
        log.info("strategy %s (%s) started on %s", cmd.name, host.strategy_id, cmd.symbol)
        started = StrategyStarted(
            strategy_id=host.strategy_id,
            name=cmd.name,
            symbol=cmd.symbol,
            params=frozen_map(dict(cmd.params)),
            ts_ns=now,
        )
        self._emit(started)
        self._finish(fut, started)

    def _stop_strategy(self, cmd: StopStrategy, fut: concurrent.futures.Future[Any]) -> None:
        key = cmd.name_or_id
        host = self._strategy_hosts.get(key) or next(
            (h for h in self._strategy_hosts.values() if h.name == key), None
        )
        if host is None:
            rejected = StrategyRejected(
                name=key, reason=f"no running strategy {key!r}", ts_ns=self._now()
            )
            self._emit(rejected)
            self._finish(fut, rejected)
            return
        self._finish(fut, self._end_strategy(host, "stopped by user"))

    def _end_strategy(self, host: StrategyHost, reason: str) -> StrategyStopped:
        self._strategy_hosts.pop(host.strategy_id, None)
        try:
            host.stop()
        except Exception:
            log.exception("strategy %s failed in on_stop", host.strategy_id)
        log.info("strategy %s stopped: %s", host.strategy_id, reason)
        event = StrategyStopped(
            strategy_id=host.strategy_id, name=host.name, reason=reason, ts_ns=self._now()
        )
        self._emit(event)
        return event

    def _run_strategies(self) -> None:
        for host in list(self._strategy_hosts.values()):
            try:
                host.drain()
            except Exception as exc:
                log.exception("strategy %s failed on a bar", host.strategy_id)
                self._end_strategy(host, f"failed: {exc}")

    # The StrategyHost's view of the engine (engine thread only).

    def strategy_now_ns(self) -> int:
        return self._now()

    def _now(self) -> int:
        """Wall clock for the sim venue; the replay clock (event time) for a replay venue."""
        return self._replay_now if self._replay is not None else time.time_ns()

    def strategy_fees(self) -> FeeSchedule:
        cfg = self.config
        return FeeSchedule(maker=cfg.maker_fee_bps / 10000, taker=cfg.taker_fee_bps / 10000)

    def strategy_submit(self, cmd: SubmitOrder) -> SubmitResult:
        """The manual order path; returns the settling event (``OrderAccepted`` if pending)."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        seq = self._order_seq
        self._submit_order(cmd, fut)
        if fut.done():
            result: SubmitResult = fut.result()
            return result
        order = self._orders.get(f"O-{seq + 1:06d}") if self._order_seq == seq + 1 else None
        if order is None:  # pragma: no cover - _submit_order always settles or keeps the order
            raise RuntimeError("strategy order vanished without an event")
        self._futures.pop(order.order_id, None)
        return OrderAccepted(order=order.view(), ts_ns=order.ts_created)

    def strategy_cancel(self, cmd: CancelOrder, reason: str) -> CancelResult:
        now = self._now()
        event = self._cancel_one(cmd.order_id, reason, now)
        if event is None:
            refused = CancelRejected(
                order_id=cmd.order_id, reason=f"no open order {cmd.order_id!r}", ts_ns=now
            )
            self._emit(refused)
            return refused
        return event

    def strategy_position(self, symbol: str) -> Decimal:
        return self._portfolio.position(symbol).qty

    def strategy_cash(self) -> Decimal:
        return self._portfolio.cash

    def strategy_best(self, symbol: str, *, bid: bool) -> Decimal | None:
        assert self._sim is not None
        book = self._sim.books[symbol]
        top = book.best_bid() if bid else book.best_ask()
        return None if top is None else self.instruments[symbol].ticks_to_price(top[0])

    def strategy_open_orders(self) -> list[OrderView]:
        return [o.view() for o in self._orders.values()]

    def _open_order_views(self) -> Mapping[str, OrderView]:
        if self._dirty_orders:
            for oid in self._dirty_orders:
                order = self._orders.get(oid)
                if order is None:
                    self._view_dict.pop(oid, None)
                else:
                    self._view_dict[oid] = order.view()
            self._dirty_orders.clear()
            self._order_views = frozen_map(self._view_dict)
        return self._order_views

    def _next_order_id(self) -> str:
        self._order_seq += 1
        return f"O-{self._order_seq:06d}"

    def _next_fill_id(self) -> str:
        self._fill_seq += 1
        return f"F-{self._fill_seq:06d}"

    def _marks(self) -> dict[str, Decimal | None]:
        assert self._sim is not None
        return {s: b.mid() for s, b in self._sim.books.items()}

    def _equity(self) -> Decimal:
        return self._portfolio.equity(self._marks())

    def _publish_snapshot(self, force: bool = False) -> None:
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
        assert self._sim is not None
        self._version += 1
        books = {}
        depth = self.config.book_depth
        for sym, book in self._sim.books.items():
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
        ctx = self._risk_context(now, marks)
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
            orders=self._open_order_views(),
            recent_orders=tuple(self._recent_orders),
            fills=self._fills_cache,
            account=self._portfolio.account_view(marks),
            risk=RiskView(
                state=self._risk.state_name,
                reason=self._risk.reason,
                limits=frozen_map(self._risk.limits.as_dict()),
                utilisation=frozen_map(self._risk.utilisation(ctx)),
                audit=self._audit_cache,
                orders_last_second=self._risk.orders_last_second(now),
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
                feed_ok=not self._feed_paused,
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


def _fill_no(fill_id: str) -> int:
    try:
        return int(fill_id.rsplit("-", 1)[-1])
    except ValueError:
        return 0


def _copy_position(p: Position) -> Position:
    return Position(p.symbol, p.qty, p.cost_basis, p.realised_pnl, p.fees)


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


def marks_of(books: Mapping[str, Any]) -> dict[str, Decimal | None]:
    return {s: b.mid() for s, b in books.items()}
