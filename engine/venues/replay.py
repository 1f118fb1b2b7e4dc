"""Replay venues: recorded bars or recorded websocket captures played back as market events,
and the paper-trading session that trades on them through the engine's live order path.

``BarReplayMarket`` is a venue in the ``SimMarket`` mould: it owns ``books`` and
``step_until(ts_ns)`` moves them forward and returns the market events of that time. Bars carry
no quotes, so each bar becomes four price points (open, low/high in the order the bar's
direction suggests, close): at each point the book is replaced by the slippage model's
synthetic book around that price (like a depth snapshot: no level events), and a move from the
previous point prints one ``TradeTick``. Resting orders therefore fill from prints only; a
print's size decides whether an order exactly at its price fills (``touch``: unbounded size) or
only those beyond it (``through``: size 0).

``CaptureReplayMarket`` does the same for Binance websocket captures (trades and L2 diffs):
the recorded book itself, with real level updates and trades.

``ReplaySession`` is paper trading on either venue through the kernel (``engine.core``), the
same order path the live engine and the backtester drive, under a simulated clock: every market
event goes to the broker after the venue applied it, pending orders are advanced, and the
kernel checks the equity (the day roll, the daily-loss halt and its lift) after every step and
every fill. ``tests/test_backtest_parity.py`` checks that it and the backtester (which skips
quiet bars) give identical fills, denials and trading-state changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from engine.backtest.data import Bars
from engine.backtest.slippage import SlippageModel
from engine.bar_clock import NS_PER_MS, PRINT_ALL, bar_spans_ns
from engine.book import OrderBook, SequenceGap
from engine.book_replay import DepthDiff, DepthSnapshot, ReplayStats, Trade, iter_messages
from engine.core import Kernel, KernelContext, KernelSink
from engine.core.kernel import CancelResult, SubmitResult
from engine.matching import BrokerConfig, FeeSchedule
from engine.messages import (
    CancelOrder,
    OrderAccepted,
    OrderCancelled,
    OrderDenied,
    OrderFilled,
    OrderRejected,
    SubmitOrder,
    TradingStateChanged,
)
from engine.model.fill import Fill
from engine.model.instrument import Instrument
from engine.model.market import BookSide, LevelUpdate, MarketEvent, TradeTick
from engine.model.orders import Order, OrderSide, OrderView
from engine.portfolio import Portfolio
from engine.risk import RiskEngine, RiskLimits, TradingStateChange
from engine.strategy.base import Strategy
from engine.strategy.stream import StreamingHost


@dataclass(frozen=True, slots=True)
class Point:
    """One price point of a bar: bar index, position in the bar (0 open .. 3 close)."""

    bar: int
    k: int
    ts_ns: int
    price: int


class BarReplayMarket:
    """Bars as a venue: ``books`` plus ``step_until`` (events applied before they are returned)."""

    def __init__(
        self,
        bars: Bars,
        instrument: Instrument,
        model: SlippageModel,
        *,
        limit_fill: str = "through",
    ) -> None:
        if limit_fill not in ("through", "touch"):
            raise ValueError(f"limit_fill must be through or touch, not {limit_fill!r}")
        self.bars = bars
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.model = model
        model.prepare(bars, instrument)
        self.books: dict[str, OrderBook] = {self.symbol: OrderBook(instrument)}
        self._spans = bar_spans_ns(bars)
        self._print_size = 0 if limit_fill == "through" else PRINT_ALL
        self._bar = 0
        self._k = 0
        self._prev: int | None = None
        self._trade_id = 0
        self._seq = 0
        self.last: Point | None = None

    def _point(self, j: int, k: int) -> Point:
        bars = self.bars
        t0 = int(bars.time_ms[j]) * NS_PER_MS
        span = int(self._spans[j])
        o, c = int(bars.open[j]), int(bars.close[j])
        if k == 0:
            return Point(j, 0, t0, o)
        if k == 3:
            return Point(j, 3, t0 + span - 1, c)
        lo, hi = int(bars.low[j]), int(bars.high[j])
        x1, x2 = (lo, hi) if c >= o else (hi, lo)
        return Point(j, k, t0 + span * k // 3, x1 if k == 1 else x2)

    def next_time(self) -> int | None:
        if self._bar >= len(self.bars):
            return None
        return self._point(self._bar, self._k).ts_ns

    def step_until(self, ts_ns: int) -> list[MarketEvent]:
        """Apply every point with time <= ``ts_ns``; returns their prints."""
        out: list[MarketEvent] = []
        book = self.books[self.symbol]
        while self._bar < len(self.bars):
            pt = self._point(self._bar, self._k)
            if pt.ts_ns > ts_ns:
                break
            bids, asks = self.model.book_at(pt.price, pt.bar)
            self._seq += 1
            book.apply_snapshot(bids, asks, self._seq, pt.ts_ns)
            if self._prev is not None and pt.price != self._prev:
                self._trade_id += 1
                side = OrderSide.SELL if pt.price < self._prev else OrderSide.BUY
                out.append(
                    TradeTick(
                        self.symbol, pt.price, self._print_size, side, self._trade_id, pt.ts_ns
                    )
                )
            self._prev = pt.price
            self.last = pt
            self._k += 1
            if self._k == 4:
                self._k = 0
                self._bar += 1
        return out


class CaptureReplayMarket:
    """Recorded Binance websocket captures (hftbacktest format) as a venue.

    The book is rebuilt as Binance documents it (REST snapshot, ``depth@100ms`` diffs chained
    by update id, stale diffs dropped, a gap unsynchronises the book until the next snapshot),
    each message at its local receive time (``ts_init``), which is the clock. A diff becomes
    one ``LevelUpdate`` per level, a trade a ``TradeTick``; the paper broker treats them as a
    live feed (it does not consume the recorded liquidity).
    """

    def __init__(self, paths: Sequence[Path], instrument: Instrument) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.book = OrderBook(instrument)
        self.books: dict[str, OrderBook] = {self.symbol: self.book}
        self.stats = ReplayStats()
        self._messages = list(iter_messages(list(paths), instrument, self.stats))
        self._i = 0
        self._clock = 0
        self._pending: deque[DepthDiff] = deque()
        self.synced = False
        self.last: Point | None = None
        self.gaps = 0

    def next_time(self) -> int | None:
        if self._i >= len(self._messages):
            return None
        return max(self._clock, self._messages[self._i].ts_init)

    def step_until(self, ts_ns: int) -> list[MarketEvent]:
        out: list[MarketEvent] = []
        while self._i < len(self._messages):
            msg = self._messages[self._i]
            t = max(self._clock, msg.ts_init)
            if t > ts_ns:
                break
            self._i += 1
            self._clock = t
            if isinstance(msg, DepthSnapshot):
                self.book.apply_snapshot(msg.bids, msg.asks, msg.last_update_id, t)
                self.synced = True
                while self._pending:
                    diff = self._pending.popleft()
                    self._apply(diff, t, out)
            elif isinstance(msg, DepthDiff):
                if self.synced:
                    self._apply(msg, t, out)
                else:
                    self._pending.append(msg)
            elif isinstance(msg, Trade):
                tk = msg.tick
                out.append(
                    TradeTick(tk.symbol, tk.price_ticks, tk.size_lots, tk.aggressor, tk.trade_id, t)
                )
            self.last = Point(-1, -1, t, 0)
        return out

    def _apply(self, diff: DepthDiff, t: int, out: list[MarketEvent]) -> None:
        try:
            applied = self.book.apply_diff(diff.bids, diff.asks, diff.first_seq, diff.last_seq, t)
        except SequenceGap:
            self.synced = False
            self.gaps += 1
            self._pending.append(diff)
            return
        if not applied:
            return
        sym, seq = self.symbol, diff.last_seq
        out.extend(LevelUpdate(sym, BookSide.BID, p, q, seq, t) for p, q in diff.bids)
        out.extend(LevelUpdate(sym, BookSide.ASK, p, q, seq, t) for p, q in diff.asks)


@dataclass(slots=True)
class SessionLog:
    fills: list[Fill] = field(default_factory=list)
    denials: list[OrderDenied] = field(default_factory=list)
    rejections: list[OrderRejected] = field(default_factory=list)
    cancels: list[OrderCancelled] = field(default_factory=list)
    states: list[tuple[int, str, str]] = field(default_factory=list)


class ReplayMarket(Protocol):
    """What ``ReplaySession`` needs from a venue (``BarReplayMarket``, ``CaptureReplayMarket``)."""

    instrument: Instrument
    symbol: str
    books: dict[str, OrderBook]

    @property
    def last(self) -> Point | None: ...

    def next_time(self) -> int | None: ...

    def step_until(self, ts_ns: int) -> list[MarketEvent]: ...


class _SessionSink(KernelSink):
    """The session's log plus its listeners (a runtime's subscribers)."""

    __slots__ = ("_s",)

    def __init__(self, session: ReplaySession) -> None:
        self._s = session

    def order_denied(self, order: Order | None, event: OrderDenied) -> None:
        self._s.log.denials.append(event)
        self._s.emit(event)

    def order_accepted(self, order: Order, event: OrderAccepted) -> None:
        self._s.emit(event)

    def order_filled(self, order: Order, fill: Fill, event: OrderFilled) -> None:
        self._s.log.fills.append(fill)
        self._s.emit(event)

    def order_closed(self, order: Order, event: OrderCancelled | OrderRejected) -> None:
        log = self._s.log
        if isinstance(event, OrderCancelled):
            log.cancels.append(event)
        else:
            log.rejections.append(event)
        self._s.emit(event)

    def state_changed(self, change: TradingStateChange, event: TradingStateChanged) -> None:
        self._s.log.states.append((event.ts_ns, change.new_state.value, change.reason))
        self._s.emit(event)


class ReplaySession:
    """Paper trading on a replay venue through the kernel (see the module docstring)."""

    def __init__(
        self,
        market: ReplayMarket,
        *,
        cash: Decimal,
        fees: FeeSchedule,
        latency_ns: int,
        limits: RiskLimits,
        day_start_hour: int = 0,
    ) -> None:
        self.market = market
        self.instrument = market.instrument
        self.instruments = {market.symbol: market.instrument}
        self.fees = fees
        self.portfolio = Portfolio.new(cash, [market.symbol], currency=market.instrument.quote)
        self.log = SessionLog()
        self.now = 0
        self.listeners: list[Callable[[object], None]] = []
        self.last_events: list[MarketEvent] = []
        self.kernel = Kernel(
            instruments=self.instruments,
            books=market.books,
            broker=BrokerConfig(fees=fees, latency_ns=latency_ns, consume_liquidity=False),
            risk=RiskEngine(limits, day_start_hour=day_start_hour),
            portfolio=self.portfolio,
            clock=self._clock,
            sink=_SessionSink(self),
        )
        self.broker = self.kernel.broker
        self.risk = self.kernel.risk
        self.orders = self.kernel.orders
        self.last_book_ns = self.kernel.last_book_ns

    def _clock(self) -> int:
        return self.now

    def context(self) -> KernelContext:
        """The strategy's view of this session."""
        return KernelContext(self.kernel, self.instrument, self.fees)

    # ------------------------------------------------------------------ market loop

    def step(self) -> Point | None:
        """Advance the clock to the venue's next event time and process it."""
        t = self.market.next_time()
        if t is None:
            return None
        kernel = self.kernel
        # The clock stops at every arrival before ``t`` (the runtime polls every few ms).
        broker = kernel.broker
        while (due := broker.next_arrival_ns()) is not None and due < t:
            self.now = due
            kernel.advance(due)
            kernel.check_equity(due)
        self.now = t
        events = self.market.step_until(t)
        self.last_events = events
        for book in self.market.books.values():
            self.last_book_ns[book.symbol] = book.ts_ns
        for ev in events:
            kernel.on_market(ev)
        kernel.advance(t)
        kernel.check_equity(t)
        return self.market.last

    # ------------------------------------------------------------------ commands

    def submit(self, cmd: SubmitOrder) -> SubmitResult:
        return self.kernel.submit(cmd, self.now)

    def cancel(self, cmd: CancelOrder) -> CancelResult:
        return self.context().cancel(cmd)

    def emit(self, event: object) -> None:
        for cb in self.listeners:
            cb(event)

    def marks(self) -> Mapping[str, Decimal | None]:
        return self.kernel.marks()

    def open_orders(self) -> list[OrderView]:
        return [o.view() for o in self.orders.values()]


def attach(session: ReplaySession, strategy: Strategy, ctx: KernelContext) -> None:
    """Deliver the session's events for ``strategy``'s orders to it, as a runtime subscriber."""

    def on_event(event: object) -> None:
        if isinstance(event, OrderFilled) and event.order.source == strategy.source:
            strategy.on_fill(ctx, event.fill)
        elif isinstance(event, OrderCancelled | OrderRejected) and (
            event.order.source == strategy.source
            and event.order.order_id != session.kernel.settling
        ):
            strategy.on_order(ctx, event)

    session.listeners.append(on_event)


def run_paper_replay(
    bars: Bars,
    strategy: Strategy,
    *,
    instrument: Instrument,
    model: SlippageModel,
    cash: Decimal,
    fees: FeeSchedule,
    limits: RiskLimits,
    fill: str = "next_open",
    limit_fill: str = "through",
    latency_ns: int = 0,
    day_start_hour: int = 0,
) -> ReplaySession:
    """Paper-trade ``strategy`` over ``bars`` bar by bar; returns the finished session.

    The strategy sees each bar once it has closed, prepared over the bars so far only
    (``StreamingHost``), and events reach it as the runtime's subscribers get them.
    """
    market = BarReplayMarket(bars, instrument, model, limit_fill=limit_fill)
    session = ReplaySession(
        market,
        cash=cash,
        fees=fees,
        latency_ns=latency_ns,
        limits=limits,
        day_start_hour=day_start_hour,
    )
    ctx = session.context()
    host = StreamingHost(strategy, bars.symbol, bars.tick_size, bars.interval_ms)

    attach(session, strategy, ctx)
    host.start(ctx)
    next_open = fill == "next_open"
    while True:
        pt = session.step()
        if pt is None:
            break
        if next_open and pt.k == 0 and pt.bar >= 1:
            host.push_from(ctx, bars, pt.bar - 1)
        elif not next_open and pt.k == 3:
            host.push_from(ctx, bars, pt.bar)
    strategy.on_stop(ctx)
    return session
