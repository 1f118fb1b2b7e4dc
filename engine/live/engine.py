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
from typing import Any

from engine.candles import CandleSeries
from engine.config import EngineConfig
from engine.core import Kernel
from engine.live.commands import CommandsMixin
from engine.live.errors import EngineNotRunning
from engine.live.feed import FeedMixin
from engine.live.journal import Journal, JournalMixin
from engine.live.orders import OrdersMixin
from engine.live.panic import PanicMixin
from engine.live.publisher import PublisherMixin
from engine.live.restore import RestoreMixin
from engine.live.risk_desk import RiskDeskMixin
from engine.live.state import (
    _CONTROL,
    Listener,
    _Counters,
    _Publish,
    _Write,
)
from engine.live.strategies import StrategiesMixin
from engine.matching import FeeSchedule
from engine.messages import (
    CancelAll,
    CancelOrder,
    OrderDenied,
    PanicClose,
    ResetHalt,
    SetFeedPaused,
    StartStrategy,
    StopStrategy,
    SubmitOrder,
    UpdateRiskLimits,
)
from engine.model.fill import Fill
from engine.model.instrument import DEFAULT_INSTRUMENTS, Instrument
from engine.model.orders import OrderView
from engine.persistence import StorageError, Store
from engine.portfolio import Portfolio
from engine.snapshot import (
    EngineSnapshot,
    TradeView,
)
from engine.strategy_host import StrategyHost
from engine.venues.base import FeedHealth, MarketDataSource
from engine.venues.replay import BarReplayMarket

log = logging.getLogger(__name__)


class Engine(
    CommandsMixin,
    OrdersMixin,
    RiskDeskMixin,
    PanicMixin,
    StrategiesMixin,
    FeedMixin,
    RestoreMixin,
    JournalMixin,
    PublisherMixin,
):
    """The trading engine. ``start()`` returns once it is ready; ``stop()`` joins the thread."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        # The instruments come from the venue's market-data source when it opens (``_setup``);
        # recorded bars (a test venue) carry their own price grid.
        self.instruments: dict[str, Instrument] = {}
        bars = self.config.replay_bars
        if self.config.venue == "replay" and bars is not None:
            # The recorded data's price grid, as the backtester's instrument has it.
            inst = DEFAULT_INSTRUMENTS[bars.symbol]
            self.instruments[bars.symbol] = Instrument(
                inst.symbol,
                inst.base,
                inst.quote,
                bars.tick_size,
                inst.lot_size,
                inst.min_notional,
            )
        cfg = self.config
        self._fees: FeeSchedule = cfg.broker.fees  # fractions of notional (engine.config)
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
        # The venue's market-data source (from ``engine.venues.registry.VENUES``); the engine
        # is the sink it pushes into. ``_event_clock``: a recording, whose events are the clock.
        self._source: MarketDataSource | None = None
        self._feed_task: asyncio.Task[None] | None = None
        self._event_clock = False
        self._feed_health = FeedHealth.LIVE
        self._feed_health_reason = ""
        # Replay venue (config.venue == "replay"): recorded bars under a simulated clock.
        self._replay: BarReplayMarket | None = None
        self._replay_now = 0
        self.replay_finished = threading.Event()
        self._portfolio = Portfolio.new(cfg.broker.paper_cash, cfg.symbols)
        self._kernel_obj: Kernel | None = None
        self._journal = Journal(self)
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
        self._tasks = [asyncio.create_task(self._lag_probe(), name="lag-probe")]
        if self._replay is not None:
            self._tasks.append(asyncio.create_task(self._replay_loop(), name="market"))
        else:
            if not self._event_clock:
                self._tasks.append(asyncio.create_task(self._clock_loop(), name="clock"))
            if not self._feed_paused:
                self._start_feed()
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
        if self._feed_task is not None:
            tasks.append(self._feed_task)
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

    def _now(self) -> int:
        """Wall clock for the sim venue; the replay clock (event time) for a replay venue."""
        if self._replay is not None or self._event_clock:
            return self._replay_now
        return time.time_ns()
