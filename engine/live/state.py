"""The live shell's state: what every part of it reads (declared once, set in ``Engine``)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from engine.candles import CandleSeries
from engine.config import EngineConfig
from engine.core import Kernel, KernelSink
from engine.matching import FeeSchedule
from engine.messages import (
    CancelAll,
    OrderDenied,
    PanicClose,
    ResetHalt,
    StrategyStopped,
)
from engine.model.fill import Fill
from engine.model.instrument import Instrument
from engine.model.market import MarketEvent, TradeTick
from engine.model.orders import OrderView
from engine.persistence import Store
from engine.portfolio import Portfolio
from engine.snapshot import (
    EngineSnapshot,
    TradeView,
)
from engine.strategy_host import StrategyHost
from engine.venues.base import FeedHealth, MarketDataSource
from engine.venues.replay import BarReplayMarket

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


class EngineState:
    """Attributes of the engine shell, for the modules that each own one concept of it."""

    config: EngineConfig
    instruments: dict[str, Instrument]
    _fees: FeeSchedule
    _thread: threading.Thread | None
    _loop: asyncio.AbstractEventLoop | None
    _ready: threading.Event
    _startup_error: BaseException | None
    _stopping: asyncio.Event | None
    _snapshot: EngineSnapshot | None
    _listeners: list[Listener]
    _snapshot_listeners: list[Callable[[], None]]
    _listeners_lock: threading.Lock
    _running: bool
    _queue_lock: threading.Lock
    _control: deque[tuple[Any, concurrent.futures.Future[Any]]]
    _flow: deque[tuple[Any, concurrent.futures.Future[Any]]]
    _drain_scheduled: bool
    _handlers: dict[type, Callable[[Any, concurrent.futures.Future[Any]], None]]
    _store: Store | None
    _source: MarketDataSource | None
    _feed_task: asyncio.Task[None] | None
    _event_clock: bool
    _feed_health: FeedHealth
    _feed_health_reason: str
    _replay: BarReplayMarket | None
    _replay_now: int
    replay_finished: threading.Event
    _portfolio: Portfolio
    _kernel_obj: Kernel | None
    _journal: KernelSink
    _recent_orders: deque[OrderView]
    _fills: deque[Fill]
    _fills_cache: tuple[Fill, ...]
    _trades: dict[str, deque[TradeView]]
    _trades_cache: dict[str, tuple[TradeView, ...]]
    _candles: dict[str, CandleSeries]
    _futures: dict[str, concurrent.futures.Future[Any]]
    _placing: concurrent.futures.Future[Any] | None
    _counters: _Counters
    _storage_ok: bool
    _storage_error: str
    _backlog: deque[tuple[str, _Write, _Publish | None]]
    _last_probe: float
    _denials: list[tuple[OrderView, str, int, OrderDenied]]
    _denial_futures: dict[int, concurrent.futures.Future[Any]]
    _feed_paused: bool
    _from_market: bool
    _panic_task: asyncio.Task[None] | None
    _version: int
    _started_ns: int
    _last_snapshot_ns: int
    _last_risk_ns: int
    _last_stats_ns: int
    _last_equity_ns: int
    _book_view_cache: dict[str, Any]
    _tasks: list[asyncio.Task[None]]
    _event_t0: int
    fill_latency_ns: deque[int]
    _audit_log: deque[Mapping[str, str]]
    _audit_cache: tuple[Mapping[str, str], ...]
    _strategy_hosts: dict[str, StrategyHost]
    _strategy_seq: int

    # What one part of the shell calls on another (each defined once, in its module).

    @property
    def _kernel(self) -> Kernel:
        raise NotImplementedError

    def _now(self) -> int:
        raise NotImplementedError

    def snapshot(self) -> EngineSnapshot:
        raise NotImplementedError

    def _marks(self) -> Mapping[str, Decimal | None]:
        raise NotImplementedError

    def _emit(self, event: Any) -> None:
        raise NotImplementedError

    def _finish(
        self, fut: concurrent.futures.Future[Any], event: Any, *, durable: bool = True
    ) -> None:
        raise NotImplementedError

    def _persist(self, what: str, write: _Write) -> None:
        raise NotImplementedError

    def _commit(self, what: str, write: _Write, publish: _Publish | None) -> bool:
        raise NotImplementedError

    def _flush_backlog(self) -> None:
        raise NotImplementedError

    def _flush_denials(self) -> None:
        raise NotImplementedError

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
        raise NotImplementedError

    def _save_risk_state(self, now: int) -> None:
        raise NotImplementedError

    def _publish_snapshot(self, force: bool = False) -> None:
        raise NotImplementedError

    def _record_trade(self, ev: TradeTick) -> None:
        raise NotImplementedError

    def _on_market_event(self, ev: MarketEvent) -> None:
        raise NotImplementedError

    def _periodic(self, now: int) -> None:
        raise NotImplementedError

    def _advance_broker(self) -> None:
        raise NotImplementedError

    def _run_strategies(self) -> None:
        raise NotImplementedError

    def _start_feed(self) -> None:
        raise NotImplementedError

    def _stop_feed(self) -> None:
        raise NotImplementedError

    def _end_strategy(self, host: StrategyHost, reason: str) -> StrategyStopped:
        raise NotImplementedError
