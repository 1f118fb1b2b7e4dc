"""The trading kernel: the one order path and the trading state behind live, backtest and replay.

validate -> risk gate -> accept -> execution venue (the paper broker) -> portfolio -> sink.

One ``Kernel`` owns the open orders, the order and fill ids, the portfolio, the risk engine's
trading state and the broker; it reads time from a clock and reports every change to its sink
(``engine.core.sink``), which journals and publishes (live) or records (backtest). It is
synchronous: no asyncio, no threads, no Qt. The live shell (``engine.live``), the bar
backtester (``engine.backtest.runner``) and the replay session (``engine.venues.replay``) drive
it; they differ in where market data and time come from, not in what an order meets.

Rules that exist here once
--------------------------
- The trading day: at the first equity check of a new day the risk engine rolls its baseline,
  and a daily-loss halt is lifted (a halt for any other reason stays until a confirmed reset).
- No risk-increasing fill while HALTED or REDUCING: entering either state cancels resting
  orders that would add risk (the state event says how many); while not ACTIVE the broker is
  told to cap every fill at the position it closes.
- Reduce-only holds at fill time: a reduce-only order never fills beyond the position it
  reduces (the broker asks ``_fill_cap`` before each fill, counting fills of the same batch),
  and when the position shrinks its remainder shrinks with it or is cancelled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Final

from engine.book import OrderBook
from engine.core.sink import KernelSink
from engine.matching import (
    BrokerCancelled,
    BrokerConfig,
    BrokerFill,
    BrokerRejected,
    BrokerRested,
    BrokerResult,
    PaperBroker,
)
from engine.messages import (
    CancelRejected,
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
from engine.model.market import MarketEvent
from engine.model.money import ZERO
from engine.model.orders import Order, OrderStatus, OrderView
from engine.portfolio import Portfolio
from engine.risk import RiskContext, RiskEngine, TradingState, TradingStateChange
from engine.snapshot import frozen_map
from engine.validation import Invalid, validate_order

Clock = Callable[[], int]
Marks = Callable[[], Mapping[str, Decimal | None]]

SubmitResult = OrderAccepted | OrderDenied | OrderFilled | OrderRejected | OrderCancelled
CancelResult = OrderCancelled | CancelRejected

DAILY_LOSS_PREFIX: Final = "daily loss"
_EMPTY: Final[tuple[OrderView, ...]] = ()


def order_id_of(seq: int) -> str:
    return f"O-{seq:06d}"


def fill_id_of(seq: int) -> str:
    return f"F-{seq:06d}"


class Kernel:
    """The order path and trading state of one account. Engine thread only; not thread-safe."""

    def __init__(
        self,
        *,
        instruments: Mapping[str, Instrument],
        books: Mapping[str, OrderBook],
        broker: BrokerConfig,
        risk: RiskEngine,
        portfolio: Portfolio,
        clock: Clock,
        sink: KernelSink | None = None,
        marks: Marks | None = None,
        order_seq: int = 0,
        fill_seq: int = 0,
    ) -> None:
        self.instruments = instruments
        self.books = books
        self.risk = risk
        self.portfolio = portfolio
        self.clock = clock
        self.sink = sink or KernelSink()
        self._marks = marks
        self.order_seq = order_seq
        self.fill_seq = fill_seq
        self.broker = PaperBroker(books, broker, self.next_fill_id, fill_cap=self._fill_cap)
        self.orders: dict[str, Order] = {}
        self.last_book_ns: dict[str, int] = {}
        # The order whose event goes back to the caller as a return value (inside submit or
        # cancel): strategy routing skips it, as it gets the event as the result.
        self.settling: str | None = None
        # Called before anything reads or matches against the books (the backtester writes its
        # synthetic book lazily).
        self.before_book_read: Callable[[], None] | None = None
        # A driver writing its books lazily may tell a book's best price (ticks) without writing
        # it first: the same answer, for a strategy that only looks (``best``).
        self.peek_best: Callable[[str, bool], int | None] | None = None
        self._dirty: set[str] = set()
        self._views: dict[str, OrderView] = {}
        self._views_map: Mapping[str, OrderView] = frozen_map({})
        self._cap_all = not risk.state.allows_increase

    def set_risk(self, risk: RiskEngine) -> None:
        """Swap in a restored risk engine (limits, trading state and day from storage)."""
        self.risk = risk
        self._cap_all = not risk.state.allows_increase

    # ------------------------------------------------------------------ ids and reads

    def next_order_id(self) -> str:
        self.order_seq += 1
        return order_id_of(self.order_seq)

    def next_fill_id(self) -> str:
        self.fill_seq += 1
        return fill_id_of(self.fill_seq)

    def marks(self) -> Mapping[str, Decimal | None]:
        if self._marks is not None:
            return self._marks()
        return {s: b.mid() for s, b in self.books.items()}

    def equity(self) -> Decimal:
        return self.portfolio.equity(self.marks())

    def position(self, symbol: str) -> Decimal:
        return self.portfolio.position(symbol).qty

    def best(self, symbol: str, *, bid: bool) -> Decimal | None:
        """Best bid (or ask) price of ``symbol``'s book, ``None`` if that side is empty."""
        if self.peek_best is not None and symbol in self.books:
            ticks = self.peek_best(symbol, bid)
            return None if ticks is None else self.instruments[symbol].ticks_to_price(ticks)
        if self.before_book_read is not None:
            self.before_book_read()
        book = self.books[symbol]
        top = book.best_bid() if bid else book.best_ask()
        return None if top is None else self.instruments[symbol].ticks_to_price(top[0])

    def open_order_views(self) -> Mapping[str, OrderView]:
        """Views of the open orders, refreshed only for orders that changed since last read."""
        dirty = self._dirty
        if dirty:
            views, orders = self._views, self.orders
            for oid in dirty:
                order = orders.get(oid)
                if order is None:
                    views.pop(oid, None)
                else:
                    views[oid] = order.view()
            dirty.clear()
            self._views_map = frozen_map(views)
        return self._views_map

    def touch(self, order_id: str) -> None:
        """Mark an order changed (its view is rebuilt at the next read)."""
        self._dirty.add(order_id)

    def risk_context(
        self, now: int, marks: Mapping[str, Decimal | None] | None = None
    ) -> RiskContext:
        marks = self.marks() if marks is None else marks
        return RiskContext(
            equity=self.portfolio.equity(marks),
            start_of_day_equity=self.portfolio.start_of_day_equity,
            positions={s: p.qty for s, p in self.portfolio.positions.items()},
            marks=marks,
            open_orders=tuple(self.open_order_views().values()),
            last_book_ns=self.last_book_ns,
            now_ns=now,
            instruments=self.instruments,
        )

    # ------------------------------------------------------------------ the order path

    def submit(self, cmd: SubmitOrder, now: int | None = None) -> SubmitResult:
        """Validate, risk-check, accept and send one request; returns the settling event
        (``OrderAccepted`` while it works, else the denial, fill, cancel or rejection)."""
        now = self.clock() if now is None else now
        book = self.books.get(cmd.symbol) if isinstance(cmd.symbol, str) else None
        if book is not None and self.before_book_read is not None:
            self.before_book_read()
        mid = book.mid() if book is not None else None
        checked = validate_order(cmd, self.instruments, mid)
        if isinstance(checked, Invalid):
            denied = checked.denied(cmd, now)
            self.sink.order_denied(None, denied)
            return denied
        order = checked.new_order(cmd, self.next_order_id(), now)
        return self.place(order, now, command=cmd)

    def place(
        self,
        order: Order,
        now: int,
        *,
        command: SubmitOrder | None = None,
        skip_throttle: bool = False,
    ) -> SubmitResult:
        """Risk-check a NEW order, accept it and hand it to the broker."""
        denial = self.risk.check_order(order, self.risk_context(now))
        if denial is not None and not (skip_throttle and denial.limit == "max_orders_per_second"):
            order.transition(OrderStatus.DENIED, now, denial.reason)
            denied = OrderDenied(
                order_id=order.order_id,
                client_id=order.client_id,
                symbol=order.symbol,
                reason=denial.reason,
                limit=denial.limit,
                value=denial.value,
                command=command,
                ts_ns=now,
            )
            self.sink.order_denied(order, denied)
            return denied
        order.transition(OrderStatus.ACCEPTED, now)
        self.risk.record_submitted(now)
        self.orders[order.order_id] = order
        self._dirty.add(order.order_id)
        accepted = OrderAccepted(order=order.view(), ts_ns=now)
        self.sink.order_accepted(order, accepted)
        if self.before_book_read is not None:
            self.before_book_read()
        outer, self.settling = self.settling, order.order_id
        try:
            settled = self.handle(self.broker.submit(order, now), order)
        finally:
            self.settling = outer
        return settled if settled is not None else accepted

    def cancel(self, order_id: str, reason: str, now: int | None = None) -> OrderCancelled | None:
        """Cancel an open order; ``None`` if there is no such open order."""
        now = self.clock() if now is None else now
        if order_id not in self.orders:
            return None
        if self.before_book_read is not None:
            self.before_book_read()
        order = self.broker.cancel(order_id, now)
        if order is None:
            return None
        if order.status is not OrderStatus.CANCELLED:
            order.transition(OrderStatus.CANCELLED, now, reason)
        order.reason = reason
        outer, self.settling = self.settling, order_id
        try:
            event = self._close(order, reason, now, cancelled=True)
        finally:
            self.settling = outer
        assert isinstance(event, OrderCancelled)
        return event

    def cancel_all(self, symbol: str | None, reason: str, now: int | None = None) -> list[str]:
        now = self.clock() if now is None else now
        ids = [oid for oid, o in self.orders.items() if symbol is None or o.symbol == symbol]
        return [oid for oid in ids if self.cancel(oid, reason, now) is not None]

    # ------------------------------------------------------------------ market data

    def on_market(self, ev: MarketEvent) -> None:
        """One market event, already applied to its book, through the broker."""
        result = self.broker.on_market(ev)
        if result.events or result.market:
            self.handle(result)

    def advance(self, now: int) -> None:
        """Orders whose latency has elapsed reach the book."""
        result = self.broker.advance(now)
        if result.events or result.market:
            self.handle(result)

    def step_pending(self, until: int) -> None:
        """Stop the clock at every order arrival strictly before ``until`` (a simulated clock)."""
        broker = self.broker
        while (due := broker.next_arrival_ns()) is not None and due < until:
            self.advance(due)
            self.check_equity(due)

    # ------------------------------------------------------------------ broker results

    def handle(
        self, result: BrokerResult, submitted: Order | None = None
    ) -> OrderFilled | OrderCancelled | OrderRejected | None:
        """Apply broker events in order; returns the event that settled ``submitted``."""
        if result.market:
            self.sink.market_events(result.market)
        settled: OrderFilled | OrderCancelled | OrderRejected | None = None
        for ev in result.events:
            order = ev.order
            if isinstance(ev, BrokerFill):
                filled = self._filled(order, ev.fill)
                if order is submitted and not order.status.is_open:
                    settled = filled
            elif isinstance(ev, BrokerRested):
                self._dirty.add(order.order_id)
                self.sink.order_rested(order)
            elif isinstance(ev, BrokerCancelled | BrokerRejected):
                closed = self._close(
                    order, ev.reason, order.ts_updated, cancelled=isinstance(ev, BrokerCancelled)
                )
                if order is submitted:
                    settled = closed
        return settled

    def _filled(self, order: Order, fill: Fill) -> OrderFilled:
        self.portfolio.apply_fill(fill)
        self._dirty.add(order.order_id)
        if not order.status.is_open:
            self.orders.pop(order.order_id, None)
        event = OrderFilled(order=order.view(), fill=fill, ts_ns=fill.ts_event)
        self.sink.order_filled(order, fill, event)
        self._fit_orders(fill.symbol, fill.ts_event)
        self.check_equity(fill.ts_event)
        return event

    def _close(
        self, order: Order, reason: str, now: int, *, cancelled: bool
    ) -> OrderCancelled | OrderRejected:
        self.orders.pop(order.order_id, None)
        self._dirty.add(order.order_id)
        view = order.view()
        event: OrderCancelled | OrderRejected
        if cancelled:
            event = OrderCancelled(order=view, reason=reason, ts_ns=now)
        else:
            event = OrderRejected(order=view, reason=reason, ts_ns=now)
        self.sink.order_closed(order, event)
        return event

    # ------------------------------------------------------------------ fill-time rules

    def _fill_cap(self, order: Order, pending: Decimal) -> Decimal | None:
        """Most ``order`` may fill now: reduce-only orders (and every order while trading is
        not ACTIVE) only close the position, never open or flip it."""
        if not order.reduce_only and not self._cap_all:
            return None
        pos = self.portfolio.position(order.symbol).qty + pending
        if pos * order.side.sign >= 0:
            return ZERO
        return abs(pos)

    def _fit_orders(self, symbol: str, now: int) -> int:
        """Make open orders on ``symbol`` fit the position: reduce-only remainders shrink or
        are cancelled; while not ACTIVE, orders that would add risk are cancelled. Orders on
        the closing side count in submission order. Returns how many were cancelled."""
        pos = self.portfolio.position(symbol).qty
        room = abs(pos)
        sweep = not self.risk.state.allows_increase
        cancelled = 0
        for order in [o for o in self.orders.values() if o.symbol == symbol]:
            if not (order.reduce_only or sweep):
                continue
            closing = pos * order.side.sign < 0
            left = order.remaining_qty
            if closing and left <= room:
                room -= left
                continue
            if order.reduce_only and closing and room > 0:
                shrunk = self.broker.shrink(order.order_id, room, now)
                if shrunk is not None:
                    room = ZERO
                    self._dirty.add(order.order_id)
                    self.sink.order_amended(order, f"reduce-only: cut to the position {abs(pos)}")
                    continue
            reason = (
                "reduce-only: the position it reduced is closed"
                if order.reduce_only
                else f"trading {self.risk.state_name}: the order would add risk"
            )
            if self.cancel(order.order_id, reason, now) is not None:
                cancelled += 1
        return cancelled

    # ------------------------------------------------------------------ trading state

    def check_equity(self, now: int, marks: Mapping[str, Decimal | None] | None = None) -> None:
        """Roll the trading day (lifting a daily-loss halt) and apply the daily-loss rule."""
        risk = self.risk
        portfolio = self.portfolio
        marks = self.marks() if marks is None else marks
        ctx = RiskContext(
            equity=portfolio.equity(marks),
            start_of_day_equity=portfolio.start_of_day_equity,
            positions={},
            marks=marks,
            open_orders=_EMPTY,
            last_book_ns=self.last_book_ns,
            now_ns=now,
            instruments=self.instruments,
        )
        day_before = risk.current_day
        change = risk.on_equity(ctx)
        day_after = risk.current_day or ""
        sod = risk.start_of_day_equity
        if day_after != (day_before or "") or (
            sod is not None and sod != portfolio.start_of_day_equity
        ):
            if sod is not None:
                portfolio.start_of_day_equity = sod
            self.sink.risk_day(day_after, sod)
            if day_before is not None and day_after != day_before:
                self._lift_daily_loss_halt(day_after, now)
        if change is not None:
            self.state_changed(change, now)

    def _lift_daily_loss_halt(self, day: str, now: int) -> None:
        risk = self.risk
        if risk.state is not TradingState.HALTED or not risk.reason.startswith(DAILY_LOSS_PREFIX):
            return
        lifted = risk.reset_halt(True)
        if isinstance(lifted, str):
            return
        change = TradingStateChange(
            old_state=lifted.old_state, new_state=lifted.new_state, reason=f"new trading day {day}"
        )
        self.state_changed(change, now)

    def halt(self, reason: str, now: int | None = None) -> TradingStateChange | None:
        """Stop new risk (``None`` if already halted)."""
        change = self.risk.halt(reason)
        if change is not None:
            self.state_changed(change, self.clock() if now is None else now)
        return change

    def reset_halt(self, confirm: object, now: int | None = None) -> TradingStateChange | str:
        """HALTED -> ACTIVE if confirmed (``confirm is True``, checked by the risk engine) and
        allowed; else why not."""
        outcome = self.risk.reset_halt(confirm)
        if not isinstance(outcome, str):
            self.state_changed(outcome, self.clock() if now is None else now)
        return outcome

    def state_changed(self, change: TradingStateChange, now: int) -> None:
        """Apply a state change the risk engine made: entering HALTED or REDUCING cancels
        resting orders that would add risk; then report it."""
        self._cap_all = not self.risk.state.allows_increase
        cancelled = 0
        if self._cap_all:
            for symbol in sorted({o.symbol for o in self.orders.values()}):
                cancelled += self._fit_orders(symbol, now)
        event = TradingStateChanged(
            state=change.new_state, reason=change.reason, ts_ns=now, orders_cancelled=cancelled
        )
        self.sink.state_changed(change, event)
