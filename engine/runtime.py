"""The engine thread: one asyncio loop that drives the trading kernel and owns all its state.

Other threads talk to it only through ``submit`` (commands in, a ``Future`` of the settling event
out), ``subscribe`` (events, called on the engine thread) and ``snapshot`` (the latest immutable
view). Everything else here runs on the engine thread, so no locks guard trading state.

The order path itself is the kernel's (``engine.core``), the same one the backtester and the
replay session drive; this module adds the thread, the command queue, the market loops, the
journal (SQLite) and publication. Order of work for every change: the kernel mutates state ->
the journal writes it to SQLite -> the snapshot is published -> subscribers are told -> the
caller's future resolves. A reader therefore never sees an event whose effects are not yet
durable or not yet in ``snapshot()``.

Invariants kept here
--------------------
- Nothing is published as done unless it is committed. A failed write halts trading (and
  cancels every resting order: nothing trades that cannot be recorded); the write and every
  later one wait, in order, in a backlog that a probe retries every second; their events are
  published only once written, and callers get ``NotPersisted`` at once. ``ResetHalt`` is
  refused while the backlog is not empty.
- Control before flow: ``PanicClose``, ``CancelAll`` and ``ResetHalt`` go to a priority lane
  that is drained before any queued order. Risk denials are journaled in batches (one
  transaction per drain) and do not force a snapshot.
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
from typing import Any, Final

from engine.candles import CandleSeries
from engine.config import EngineConfig
from engine.core import Kernel, KernelSink
from engine.matching import BrokerConfig, FeeSchedule
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
from engine.model.market import LevelUpdate, MarketEvent, TradeTick
from engine.model.orders import Order, OrderSide, OrderType, OrderView
from engine.persistence import StorageError, Store
from engine.portfolio import Portfolio, Position
from engine.risk import LimitError, RiskEngine, TradingStateChange
from engine.snapshot import (
    EngineSnapshot,
    EngineStats,
    RiskView,
    TradeView,
    frozen_map,
)
from engine.strategy_host import StrategyHost
from engine.venues.replay import BarReplayMarket
from engine.venues.sim import SimMarket, calibrate, default_params

log = logging.getLogger(__name__)

_NS = 1_000_000_000
_MARKET_STEP_S = 0.005
_LAG_PROBE_S = 0.02
_RISK_EVERY_NS = 100_000_000
_STATS_EVERY_NS = 500_000_000
_EQUITY_HISTORY_EVERY_NS = 30 * _NS
_PROBE_EVERY_S = 1.0
_PANIC_MAX_ATTEMPTS = 5
_PANIC_ATTEMPT_TIMEOUT_S = 2.0
_FLOW_BATCH: Final = 64  # queued orders handled per loop turn (market data runs in between)
_DENIAL_BATCH: Final = 256
_CONTROL: Final = (PanicClose, CancelAll, ResetHalt)

Listener = Callable[[Any], None]
_Write = Callable[[Store], None]
_Publish = Callable[[], None]


class EngineNotRunning(RuntimeError):
    """A command was sent to an engine that is not (or no longer) running."""


class NotPersisted(RuntimeError):
    """The command's effect happened in memory but could not be written to the database.

    Its event was not published; ``event`` is it. Trading is halted until a probe write
    succeeds (the backlog is then written and published in order) and the halt is reset.
    """

    def __init__(self, event: Any, message: str) -> None:
        super().__init__(message)
        self.event = event


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
        cfg = self.config
        self._fees = FeeSchedule(maker=cfg.maker_fee_bps / 10000, taker=cfg.taker_fee_bps / 10000)
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
        # The command queue: a priority lane for control, a lane for the order flow.
        self._queue_lock = threading.Lock()
        self._control: deque[tuple[Any, concurrent.futures.Future[Any]]] = deque()
        self._flow: deque[tuple[Any, concurrent.futures.Future[Any]]] = deque()
        self._drain_scheduled = False
        self._handlers: dict[type, Callable[[Any, concurrent.futures.Future[Any]], None]] = {
            SubmitOrder: self._submit_order,
            CancelOrder: self._cancel_order,
            CancelAll: self._cancel_all,
            UpdateRiskLimits: self._update_limits,
            PanicClose: self._start_panic,
            ResetHalt: self._reset_halt,
            StartStrategy: self._start_strategy,
            StopStrategy: self._stop_strategy,
            SetFeedPaused: self._set_feed_paused,
        }
        # Engine-thread state (built in _setup, touched only on the engine thread).
        self._store: Store | None = None
        self._sim: SimMarket | BarReplayMarket | None = None
        # Replay venue (config.venue == "replay"): recorded bars under a simulated clock.
        self._replay: BarReplayMarket | None = None
        self._replay_now = 0
        self.replay_finished = threading.Event()
        self._portfolio = Portfolio.new(self.config.paper_cash, self.config.symbols)
        self._kernel_obj: Kernel | None = None
        self._journal = _Journal(self)
        self._recent_orders: deque[OrderView] = deque(maxlen=200)
        self._fills: deque[Fill] = deque(maxlen=500)
        self._fills_cache: tuple[Fill, ...] = ()
        self._trades: dict[str, deque[TradeView]] = {}
        self._trades_cache: dict[str, tuple[TradeView, ...]] = {}
        self._candles: dict[str, CandleSeries] = {}
        self._futures: dict[str, concurrent.futures.Future[Any]] = {}
        self._placing: concurrent.futures.Future[Any] | None = None  # the command being placed
        self._counters = _Counters()
        self._storage_ok = True
        self._storage_error = ""
        # Writes that failed (and every write after them), in order, with what to publish once
        # each is committed.
        self._backlog: deque[tuple[str, _Write, _Publish | None]] = deque()
        self._last_probe = 0.0
        self._denials: list[tuple[OrderView, str, int, OrderDenied]] = []
        self._denial_futures: dict[int, concurrent.futures.Future[Any]] = {}
        self._feed_paused = False
        self._from_market = False
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
        self._strategy_hosts: dict[str, StrategyHost] = {}
        self._strategy_seq = 0

    @property
    def _kernel(self) -> Kernel:
        kernel = self._kernel_obj
        if kernel is None:
            raise EngineNotRunning("the engine has not started")
        return kernel

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
        """Send a command (thread-safe). The future resolves with the event that settled it.

        ``PanicClose``, ``CancelAll`` and ``ResetHalt`` overtake queued orders.
        """
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        loop = self._loop
        if not self._running or loop is None:
            fut.set_exception(EngineNotRunning("the engine is not running"))
            return fut
        lane = self._control if isinstance(command, _CONTROL) else self._flow
        with self._queue_lock:
            lane.append((command, fut))
            schedule = not self._drain_scheduled
            self._drain_scheduled = True
        if schedule:
            try:
                loop.call_soon_threadsafe(self._drain)
            except RuntimeError:
                with self._queue_lock:
                    self._drain_scheduled = False
                    with contextlib.suppress(ValueError):
                        lane.remove((command, fut))
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
        self._flush_denials()
        with self._queue_lock:
            queued = [*self._control, *self._flow]
            self._control.clear()
            self._flow.clear()
        for _, fut in queued:
            if not fut.done():
                fut.set_exception(EngineNotRunning("the engine stopped"))
        for fut in self._futures.values():
            if not fut.done():
                fut.set_exception(EngineNotRunning("the engine stopped"))
        self._futures.clear()
        if self._store is not None:
            if self._backlog:
                self._flush_backlog()
            if not self._backlog:
                try:
                    self._store.save_account(
                        self._portfolio.cash, self._portfolio.initial_cash, self._portfolio.currency
                    )
                except StorageError:
                    log.exception("final account save failed")
            else:
                log.error("engine stopped with %d writes not persisted", len(self._backlog))
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

    # ------------------------------------------------------------------ loops

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

    # ------------------------------------------------------------------ the command queue

    def _drain(self) -> None:
        """Run queued commands: every control command first, then at most ``_FLOW_BATCH``
        orders, then yield to the loop (market data, timers, a panic) and come back."""
        processed = 0
        more = False
        while True:
            with self._queue_lock:
                if self._control:
                    item, control = self._control.popleft(), True
                elif self._flow and processed < _FLOW_BATCH:
                    item, control = self._flow.popleft(), False
                    processed += 1
                else:
                    more = bool(self._flow)
                    if not more:
                        self._drain_scheduled = False
                    break
            self._dispatch(*item)
            if control:
                more = True  # let what the control command started (a panic) run first
                break
        self._flush_denials()
        if more and self._loop is not None:
            self._loop.call_soon(self._drain)

    def _dispatch(self, command: Any, fut: concurrent.futures.Future[Any]) -> None:
        if fut.done():
            return
        handler = self._handlers.get(type(command))
        try:
            if handler is None:
                raise TypeError(f"unknown command {type(command).__name__}")
            handler(command, fut)
        except Exception as exc:
            log.exception("command %r failed", command)
            if not fut.done():
                fut.set_exception(exc)

    def _set_feed_paused(self, cmd: SetFeedPaused, fut: concurrent.futures.Future[Any]) -> None:
        self._feed_paused = cmd.paused
        log.warning("market data feed %s", "paused" if cmd.paused else "resumed")
        self._finish(fut, None, durable=False)

    # ------------------------------------------------------------------ orders

    def _submit_order(self, cmd: SubmitOrder, fut: concurrent.futures.Future[Any]) -> None:
        outer, self._placing = self._placing, fut
        try:
            result = self._kernel.submit(cmd, self._now())
        finally:
            self._placing = outer
        if isinstance(result, OrderDenied) and result.order_id:
            return  # a risk denial: resolved when its batch is written
        if isinstance(result, OrderAccepted) and result.order.order_id in self._futures:
            self._schedule_advance(result.order.order_id)
            return  # working: resolved when it rests, fills or closes
        self._finish(fut, result, durable=not isinstance(result, OrderDenied))

    def _schedule_advance(self, order_id: str) -> None:
        if self.config.latency_ms > 0 and order_id in self._kernel.orders:
            assert self._loop is not None
            self._loop.call_later(
                float(self.config.latency_ms) / 1000.0 + 0.0005, self._advance_broker
            )

    def _advance_broker(self) -> None:
        kernel = self._kernel_obj
        if kernel is None:
            return
        kernel.advance(self._now())
        self._flush_denials()

    def _cancel_order(self, cmd: CancelOrder, fut: concurrent.futures.Future[Any]) -> None:
        now = self._now()
        event = self._kernel.cancel(cmd.order_id, "cancelled by user", now)
        if event is None:
            refused = CancelRejected(
                order_id=cmd.order_id, reason=f"no open order {cmd.order_id!r}", ts_ns=now
            )
            self._emit(refused)
            self._finish(fut, refused, durable=False)
            return
        self._finish(fut, event)

    def _cancel_all(self, cmd: CancelAll, fut: concurrent.futures.Future[Any]) -> None:
        now = self._now()
        done = tuple(self._kernel.cancel_all(cmd.symbol, "cancel all", now))
        event = AllCancelled(order_ids=done, symbol=cmd.symbol, ts_ns=now)
        self._emit(event)
        self._finish(fut, event)

    # ------------------------------------------------------------------ risk desk

    def _save_risk_state(self, now: int) -> None:
        risk = self._kernel.risk
        state, reason = risk.state_name, risk.reason
        day, sod = risk.current_day or "", self._portfolio.start_of_day_equity
        self._persist("risk state", lambda s: s.save_risk_state(state, reason, day, sod, now))

    def _update_limits(self, cmd: UpdateRiskLimits, fut: concurrent.futures.Future[Any]) -> None:
        now = self._now()
        outcome = self._kernel.risk.update_limits(cmd.changes())
        if isinstance(outcome, LimitError):
            rejected = RiskLimitsRejected(
                reason=outcome.reason, field=outcome.field, value=outcome.value, ts_ns=now
            )
            log.info("risk limits refused: %s", outcome.reason)
            self._audit(
                now, cmd.actor, "refused", outcome.field, None, outcome.value, outcome.reason
            )
            self._emit(rejected)
            self._finish(fut, rejected, durable=False)
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
        if self._backlog:
            self._flush_backlog()  # the probe: a reset needs a database that takes writes
        if self._backlog:
            refused = HaltResetRefused(
                reason=f"reset refused: the database cannot be written ({self._storage_error})",
                ts_ns=now,
            )
            self._emit(refused)
            self._finish(fut, refused, durable=False)
            return
        old = self._kernel.risk.state_name
        outcome = self._kernel.reset_halt(cmd.confirm is True, now)
        if isinstance(outcome, str):
            refused = HaltResetRefused(reason=outcome, ts_ns=now)
            self._emit(refused)
            self._finish(fut, refused, durable=False)
            return
        self._audit(
            now, cmd.actor, "reset_halt", "trading_state", old, outcome.new_state, outcome.reason
        )
        self._finish(
            fut, TradingStateChanged(state=outcome.new_state, reason=outcome.reason, ts_ns=now)
        )

    # ------------------------------------------------------------------ panic close

    def _start_panic(self, cmd: PanicClose, fut: concurrent.futures.Future[Any]) -> None:
        """Halt and cancel now, ahead of any queued order; flatten in a task."""
        t0 = time.perf_counter()
        kernel = self._kernel
        now = self._now()
        before = len(kernel.orders)
        kernel.cancel_all(None, "panic close", now)
        kernel.halt(f"panic close by {cmd.actor}", now)
        cancelled = before - len(kernel.orders)
        assert self._loop is not None
        self._panic_task = self._loop.create_task(self._panic(cmd, fut, cancelled, t0))

    async def _panic(
        self, cmd: PanicClose, fut: concurrent.futures.Future[Any], cancelled: int, t0: float
    ) -> None:
        kernel = self._kernel
        portfolio = self._portfolio
        lines: list[str] = [f"cancelled {cancelled} open orders"]
        realised_before = portfolio.realised_pnl()
        fees_before = portfolio.fees()
        fill_seq_before = kernel.fill_seq
        to_close = {s for s, p in portfolio.positions.items() if p.qty}
        attempts = 0
        while attempts < _PANIC_MAX_ATTEMPTS:
            open_positions = {s: p.qty for s, p in portfolio.positions.items() if p.qty}
            if not open_positions:
                break
            attempts += 1
            sent: list[str] = []
            now = self._now()
            for sym, qty in open_positions.items():
                order = Order(
                    order_id=kernel.next_order_id(),
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
                result = kernel.place(order, now, skip_throttle=True)
                if isinstance(result, OrderDenied):
                    lines.append(f"attempt {attempts}: {sym} close order denied: {order.reason}")
                else:
                    sent.append(order.order_id)
                    lines.append(
                        f"attempt {attempts}: {order.side} {abs(qty)} {sym} ({order.order_id})"
                    )
            self._flush_denials()
            deadline = time.perf_counter() + _PANIC_ATTEMPT_TIMEOUT_S
            while any(oid in kernel.orders for oid in sent) and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
                self._advance_broker()
            for oid in sent:
                if oid in kernel.orders:
                    kernel.cancel(oid, "panic attempt timed out", self._now())
            for sym in open_positions:
                left = portfolio.positions[sym].qty
                if left:
                    lines.append(f"attempt {attempts}: {sym} still {left} after fills; retrying")
                    log.warning(
                        "panic close: %s still %s open after attempt %d", sym, left, attempts
                    )
            if any(portfolio.positions[s].qty for s in open_positions):
                await asyncio.sleep(0.01 * attempts)
        remaining = {s: p.qty for s, p in portfolio.positions.items() if p.qty}
        new_fills = [f for f in self._fills if _fill_no(f.fill_id) > fill_seq_before]
        slippage = sum((f.slippage for f in new_fills), Decimal(0))
        duration_ms = (time.perf_counter() - t0) * 1000.0
        report = PanicCompleted(
            flat=not remaining,
            orders_cancelled=cancelled,
            positions_closed=len(to_close) - len(remaining),
            realised_pnl=portfolio.realised_pnl() - realised_before,
            slippage=slippage,
            fees=portfolio.fees() - fees_before,
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

    # ------------------------------------------------------------------ journal

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

    def _persist(self, what: str, write: _Write) -> None:
        """Write to SQLite; a failure halts trading and is reported, never swallowed."""
        self._commit(what, write, None)

    def _commit(self, what: str, write: _Write, publish: _Publish | None) -> bool:
        """Write, then publish. While the database fails, the write and its publication wait
        in the backlog, in order (``False``); nothing of it is published until it is written."""
        store = self._store
        if store is None:
            if publish is not None:
                publish()
            return True
        if not self._backlog:
            try:
                write(store)
            except StorageError as exc:
                self._backlog.append((what, write, publish))
                self._storage_failed(what, exc)
                return False
            if publish is not None:
                publish()
            return True
        self._backlog.append((what, write, publish))
        return False

    def _flush_backlog(self) -> None:
        """The probe: retry the backlog in order; publish what gets written."""
        store = self._store
        self._last_probe = time.monotonic()
        if store is None:
            return
        while self._backlog:
            what, write, publish = self._backlog[0]
            try:
                write(store)
            except StorageError as exc:
                self._storage_error = f"could not write {what} to the database: {exc}"
                return
            self._backlog.popleft()
            if publish is not None:
                publish()
        if not self._storage_ok:
            log.warning("database writable again: backlog written")
            self._storage_ok = True
            self._storage_error = ""
            self._publish_snapshot(force=True)

    def _storage_failed(self, what: str, exc: Exception) -> None:
        message = f"could not write {what} to the database: {exc}"
        log.error(message)
        first = self._storage_ok
        self._storage_ok = False
        self._storage_error = message
        self._last_probe = time.monotonic()
        if first:
            now = self._now()
            kernel = self._kernel_obj
            if kernel is not None:
                # Nothing may trade that cannot be recorded: no new risk, no resting orders.
                kernel.halt("storage failure: " + str(exc), now)
                kernel.cancel_all(None, "storage failure: the order cannot be recorded", now)
            # The snapshot says so (storage_ok False, HALTED) before any caller hears back.
            self._publish_snapshot(force=True)
            for fut in list(self._futures.values()):
                self._finish(fut, None)
            self._futures.clear()
        self._emit(EngineFailed(where="storage", message=message, ts_ns=self._now()))

    def _flush_denials(self) -> None:
        """Journal the risk denials of this loop turn in one transaction, then publish them."""
        batch = self._denials
        if not batch:
            return
        self._denials = []
        futures = self._denial_futures
        self._denial_futures = {}
        rows = [(view, "denied", reason, ts) for view, reason, ts, _ in batch]

        def publish() -> None:
            for i, (view, _, _, event) in enumerate(batch):
                self._recent_orders.append(view)
                self._emit(event)
                fut = futures.get(i)
                if fut is not None:
                    self._finish(fut, event)

        what = f"{len(rows)} denied orders"
        if not self._commit(what, lambda s: s.record_order_events(rows), publish):
            for i, (_, _, _, event) in enumerate(batch):
                fut = futures.get(i)
                if fut is not None:
                    self._finish(fut, event)

    def _finish(
        self, fut: concurrent.futures.Future[Any], event: Any, *, durable: bool = True
    ) -> None:
        """Resolve a caller's future; while writes are failing, a durable outcome becomes
        ``NotPersisted`` (its event is not published until the probe writes it)."""
        if fut.done():
            return
        if durable and self._backlog:
            fut.set_exception(
                NotPersisted(event, f"not persisted: {self._storage_error}; trading is halted")
            )
            return
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

        now = self._now()
        reason = ""
        host: StrategyHost | None = None
        if cmd.symbol not in self._candles:
            reason = f"unknown symbol {cmd.symbol!r}"
        elif any(h.name == cmd.name for h in self._strategy_hosts.values()):
            reason = f"strategy {cmd.name!r} is already running"
        else:
            try:
                strategy = make_strategy(cmd.name, dict(cmd.params))
            except ParamError as exc:
                reason = str(exc)
            else:
                self._strategy_seq += 1
                sid = f"S-{self._strategy_seq:04d}"
                host = StrategyHost(
                    self._kernel,
                    sid,
                    strategy,
                    self.instruments[cmd.symbol],
                    self._candles[cmd.symbol],
                    cmd.params,
                    fees=self._fees,
                )
        if host is None:
            rejected = StrategyRejected(name=cmd.name, reason=reason, ts_ns=now)
            self._emit(rejected)
            self._finish(fut, rejected, durable=False)
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
            self._finish(fut, rejected, durable=False)
            return
        self._flush_denials()
        log.info("strategy %s (%s) started on %s", cmd.name, host.strategy_id, cmd.symbol)
        started = StrategyStarted(
            strategy_id=host.strategy_id,
            name=cmd.name,
            symbol=cmd.symbol,
            params=frozen_map(dict(cmd.params)),
            ts_ns=now,
        )
        self._emit(started)
        self._finish(fut, started, durable=False)

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
            self._finish(fut, rejected, durable=False)
            return
        self._finish(fut, self._end_strategy(host, "stopped by user"), durable=False)

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

    def _now(self) -> int:
        """Wall clock for the sim venue; the replay clock (event time) for a replay venue."""
        return self._replay_now if self._replay is not None else time.time_ns()

    # ------------------------------------------------------------------ snapshots

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


class _Journal(KernelSink):
    """The live shell's sink: each kernel change is written to SQLite, then published (the
    snapshot, subscribers and strategies, the caller's future), in that order."""

    __slots__ = ("_e",)

    def __init__(self, engine: Engine) -> None:
        self._e = engine

    def order_denied(self, order: Order | None, event: OrderDenied) -> None:
        e = self._e
        if order is None:  # malformed: never became an order, nothing to journal
            log.info("order refused: %s", event.reason)
            e._emit(event)
            return
        log.info("order %s denied: %s", order.order_id, event.reason)
        fut, e._placing = e._placing, None
        if fut is not None:
            e._denial_futures[len(e._denials)] = fut
        e._denials.append((order.view(), event.reason, event.ts_ns, event))
        if len(e._denials) >= _DENIAL_BATCH:
            e._flush_denials()

    def order_accepted(self, order: Order, event: OrderAccepted) -> None:
        e = self._e
        fut, e._placing = e._placing, None
        if fut is not None:
            e._futures[order.order_id] = fut
        view, now = event.order, event.ts_ns

        def publish() -> None:
            e._publish_snapshot(force=True)
            e._emit(event)

        e._commit("order", lambda s: s.record_order_event(view, "accepted", "", now), publish)

    def order_rested(self, order: Order) -> None:
        e = self._e
        pending = e._futures.pop(order.order_id, None)
        if pending is not None:
            e._finish(pending, OrderAccepted(order=order.view(), ts_ns=e._now()))

    def order_filled(self, order: Order, fill: Fill, event: OrderFilled) -> None:
        e = self._e
        position = _copy_position(e._portfolio.position(fill.symbol))
        cash = e._portfolio.cash
        view = event.order
        done = not order.status.is_open
        pending = e._futures.pop(order.order_id, None) if done else None

        def publish() -> None:
            e._fills.append(fill)
            e._fills_cache = tuple(e._fills)
            if done:
                e._recent_orders.append(view)
            e._publish_snapshot(force=True)
            e._emit(event)
            if pending is not None:
                e._finish(pending, event)

        committed = e._commit(
            "fill",
            lambda s: s.record_fill(fill, view, position, cash, fill.ts_event),
            publish,
        )
        if not committed and pending is not None:
            e._finish(pending, event)
        if committed and e._from_market:
            # Book update received -> fill matched, persisted and published.
            e.fill_latency_ns.append(time.perf_counter_ns() - e._event_t0)

    def order_closed(self, order: Order, event: OrderCancelled | OrderRejected) -> None:
        e = self._e
        kind = "cancelled" if isinstance(event, OrderCancelled) else "rejected"
        view, reason, now = event.order, event.reason, event.ts_ns
        log.info("order %s %s: %s", order.order_id, kind, reason)
        pending = e._futures.pop(order.order_id, None)

        def publish() -> None:
            e._recent_orders.append(view)
            e._publish_snapshot(force=True)
            e._emit(event)
            if pending is not None:
                e._finish(pending, event)

        if (
            not e._commit("order", lambda s: s.record_order_event(view, kind, reason, now), publish)
            and pending is not None
        ):
            e._finish(pending, event)

    def order_amended(self, order: Order, reason: str) -> None:
        view, now = order.view(), order.ts_updated
        self._e._persist("order", lambda s: s.record_order_event(view, "amended", reason, now))

    def market_events(self, events: list[MarketEvent]) -> None:
        e = self._e
        for mev in events:
            if isinstance(mev, TradeTick):
                e._record_trade(mev)
            else:
                e._counters.book_updates += 1

    def state_changed(self, change: TradingStateChange, event: TradingStateChanged) -> None:
        e = self._e
        now = event.ts_ns
        e._save_risk_state(now)
        e._audit(
            now,
            "engine",
            "state",
            "trading_state",
            change.old_state,
            change.new_state,
            change.reason,
        )
        log.warning(
            "trading state %s -> %s: %s (%d resting orders cancelled)",
            change.old_state,
            change.new_state,
            change.reason,
            event.orders_cancelled,
        )

        def publish() -> None:
            e._publish_snapshot(force=True)
            e._emit(event)

        e._commit("trading state", lambda s: None, publish)

    def risk_day(self, day: str, start_of_day_equity: Decimal | None) -> None:
        e = self._e
        log.info("trading day %s, start-of-day equity %s", day, start_of_day_equity)
        e._save_risk_state(e._now())


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
