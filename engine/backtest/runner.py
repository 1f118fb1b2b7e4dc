"""The event-driven bar backtester: strategy -> kernel (risk gate, paper broker, portfolio).

Clock and events
----------------
Each bar is four price points on a simulated clock: open at the bar's open time, then low and
high (in that order if the bar closed up, else high then low) at a third and two thirds of the
bar, then the close 1 ns before the bar ends. At each point the book becomes the slippage model's
synthetic book around that price (``engine.backtest.slippage``), and a move from the previous
point prints one trade, which is how resting limit orders fill (a print of size 0 fills only
orders strictly beyond its price - "through" - a print of unbounded size also those at it -
"touch"). Orders reach the book ``latency`` after they are sent, matched by the broker against
the book at that moment. ``engine.venues.replay`` turns bars into exactly these events for the
paper-trading path; ``tests/test_backtest_parity.py`` checks both give the same fills.

What makes it fast
------------------
Every order goes through the kernel (``engine.core``), the order path live trading and the
replay session use: validation, the risk gate, the paper broker, the portfolio, the day roll
with its daily-loss lift. What is skipped is the work on bars where nothing can happen: the
strategy lists the bars where it may act (``signal_bars``), resting orders can only fill on a
bar whose low/high reaches them (found with a vectorised search), and the daily-loss check
between events is vectorised too (equity only changes with price while the position is
constant). A bar is visited only if one of these says so, or the trading day rolls in it (at
its open, or inside a bar not aligned to the day); there the kernel rolls the day as it does
live. The equity curve is rebuilt afterwards from the fills, vectorised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

import numpy as np
import numpy.typing as npt

from engine.backtest.config import BacktestConfig
from engine.backtest.data import Bars, DataReport
from engine.backtest.slippage import Levels

# Bars on the clock live in a neutral module (the replay venue needs them too); re-exported.
from engine.bar_clock import NS_PER_MS as NS_PER_MS
from engine.bar_clock import PRINT_ALL as PRINT_ALL
from engine.bar_clock import bar_spans_ns as bar_spans_ns
from engine.book import OrderBook
from engine.core import Kernel, KernelContext, KernelSink
from engine.matching import BrokerConfig, FeeSchedule
from engine.messages import (
    CancelOrder,
    OrderCancelled,
    OrderDenied,
    OrderFilled,
    OrderRejected,
    SubmitOrder,
    TradingStateChanged,
)
from engine.model.fill import Fill
from engine.model.instrument import Instrument
from engine.model.market import BookSide, TradeTick
from engine.model.money import ZERO
from engine.model.orders import Order, OrderSide, OrderType, OrderView
from engine.portfolio import Portfolio
from engine.risk import RiskEngine, RiskLimits, TradingStateChange
from engine.strategy.base import CancelResult, Strategy, SubmitResult

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

NS_PER_DAY: Final = 86_400 * 1_000_000_000
_PROGRESS_STEPS: Final = 100


class Cancelled(Exception):
    """The run was stopped by ``should_stop``."""


@dataclass(frozen=True, slots=True)
class StateChange:
    ts_ns: int
    state: str
    reason: str


@dataclass(slots=True)
class RunRecord:
    """Everything a run produced, exact; ``engine.backtest.result`` turns it into metrics/JSON."""

    bars: Bars
    instrument: Instrument
    config: BacktestConfig
    strategy: dict[str, object]
    fills: list[Fill] = field(default_factory=list)
    fill_bars: list[int] = field(default_factory=list)  # bar index at which each fill happened
    denials: list[OrderDenied] = field(default_factory=list)
    rejections: list[OrderRejected] = field(default_factory=list)
    cancels: list[OrderCancelled] = field(default_factory=list)
    state_changes: list[StateChange] = field(default_factory=list)
    cash: Decimal = ZERO
    qty: Decimal = ZERO
    final_equity: Decimal = ZERO
    open_orders: list[OrderView] = field(default_factory=list)
    equity: F64 = field(default_factory=lambda: np.zeros(0))
    position: F64 = field(default_factory=lambda: np.zeros(0))
    report: DataReport | None = None
    points_visited: int = 0
    elapsed_s: float = 0.0


def day_index(time_ms: I64, day_start_hour: int) -> I64:
    out: I64 = (time_ms * NS_PER_MS - day_start_hour * 3_600_000_000_000) // NS_PER_DAY
    return out


class Backtest:
    """One run of one strategy over one bar series. Not reusable: build a new one per run."""

    def __init__(
        self,
        bars: Bars,
        strategy: Strategy,
        config: BacktestConfig | None = None,
        *,
        report: DataReport | None = None,
    ) -> None:
        if len(bars) == 0:
            raise ValueError("no bars to backtest")
        self.bars = bars
        self.strategy = strategy
        self.config = config = config or BacktestConfig()
        self.report = report
        inst = config.instrument(bars.symbol, bars.tick_size)
        self.instrument = inst
        self.symbol = inst.symbol
        self.instruments = {inst.symbol: inst}
        self.book = OrderBook(inst)
        self._fees = FeeSchedule(maker=config.maker_fee, taker=config.taker_fee)
        self.latency_ns = config.latency_ns(bars.interval_ms)
        limits = config.risk_limits()
        assert isinstance(limits, RiskLimits)
        self.portfolio = Portfolio.new(config.cash, [inst.symbol], currency=inst.quote)
        self.position_obj = self.portfolio.position(inst.symbol)
        self.model = config.slippage_model()
        self.model.prepare(bars, inst)
        self.print_size = 0 if config.limit_fill == "through" else PRINT_ALL
        self.record = RunRecord(
            bars=bars,
            instrument=inst,
            config=config,
            strategy=strategy.describe(),
            cash=config.cash,
            report=report,
        )
        self.now = int(bars.time_ms[0]) * NS_PER_MS
        self.j = 0
        self._marks: dict[str, Decimal | None] = {inst.symbol: None}
        self.kernel = Kernel(
            instruments=self.instruments,
            books={inst.symbol: self.book},
            broker=BrokerConfig(
                fees=self._fees, latency_ns=self.latency_ns, consume_liquidity=False
            ),
            risk=RiskEngine(limits, day_start_hour=config.day_start_hour),
            portfolio=self.portfolio,
            clock=self._clock,
            sink=_Recorder(self),
            marks=self._get_marks,
        )
        self.kernel.before_book_read = self._sync_book
        self.kernel.peek_best = self._peek_best
        self.broker = self.kernel.broker
        self.risk = self.kernel.risk
        self._orders = self.kernel.orders
        self._trade_seq = 0
        self._book_seq = 0
        self._bids: Levels = []  # levels written to the book
        self._asks: Levels = []
        self._want: tuple[Levels, Levels] = ([], [])  # levels of the current point
        self._book_dirty = False
        self._book_t = 0
        self._tick = inst.tick_size
        self._last_book = self.kernel.last_book_ns
        self._last_book[inst.symbol] = 0
        self._resting_dirty = True
        self._buy_max: int | None = None
        self._sell_min: int | None = None
        self._touch_cache: tuple[int, int] = (-1, -1)  # (from bar, next touching bar)
        # _loss_scan's float view of (start-of-day equity, limit, qty, cash), by identity
        self._scan_key: tuple[object, ...] = (None, None, None, None)
        self._scan_floats: tuple[float, float, float] = (0.0, 0.0, 0.0)
        # state after each fill, for the vectorised equity curve
        self._rec_bar: list[int] = []
        self._rec_cash: list[float] = []
        self._rec_qty: list[float] = []
        self.ctx = KernelContext(self.kernel, inst, self._fees)

    def _clock(self) -> int:
        return self.now

    def _get_marks(self) -> dict[str, Decimal | None]:
        return self._marks

    # ------------------------------------------------------------------ the run

    def run(
        self,
        progress: Callable[[float], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> RunRecord:
        t_start = time.perf_counter()
        bars = self.bars
        n = len(bars)
        strategy = self.strategy
        cfg = self.config
        strategy.on_start(self.ctx, bars)
        signals = strategy.signal_bars()
        sig: list[int] | None = None if signals is None else [int(x) for x in signals]
        next_open = cfg.fill == "next_open"
        lo_arr, hi_arr = bars.low, bars.high
        self._low, self._high = lo_arr, hi_arr
        days = day_index(bars.time_ms, cfg.day_start_hour)
        firsts = np.flatnonzero(np.diff(days, prepend=days[0] - 1) != 0).tolist()
        self._days = days
        self._spans = bar_spans_ns(bars)
        # A bar whose last point falls in the next trading day (a bar not aligned to the day)
        # rolls the day inside it: visit it whole, and the bar after it is no new day.
        close_ns = bars.time_ms * NS_PER_MS + self._spans - 1
        close_days = (close_ns - cfg.day_start_hour * 3_600_000_000_000) // NS_PER_DAY
        crossing = close_days != days
        self._crossing = crossing
        prev_close = np.concatenate(([days[0] - 1], close_days[:-1]))
        self._new_day_at_open = days != prev_close
        visit = np.flatnonzero((days != prev_close) | crossing).tolist()
        self._next_open = next_open
        self._unit = float(bars.tick_size)
        first_idx = np.asarray(firsts, dtype=np.int64)
        day_ids = days[first_idx]
        lows = np.minimum.reduceat(lo_arr, first_idx)
        highs = np.maximum.reduceat(hi_arr, first_idx)
        self._day_low = dict(zip(day_ids.tolist(), lows.tolist(), strict=True))
        self._day_high = dict(zip(day_ids.tolist(), highs.tolist(), strict=True))
        # Read per visited bar only (a few percent of the bars): no million-element lists.
        self._opens, self._closes = bars.open, bars.close

        si = 0  # pointer into sig (next signal not yet executed)
        di = 0  # pointer into visit (bars where the trading day rolls)
        j = 0
        step = max(1, n // _PROGRESS_STEPS)
        next_report = step
        visited = 0
        while j < n:
            if j >= next_report:
                if should_stop is not None and should_stop():
                    raise Cancelled(f"stopped at bar {j} of {n}")
                if progress is not None:
                    progress(j / n)
                next_report = (j // step + 1) * step
            # --- the next bar that needs a visit
            watch = strategy.watch
            pending = self.broker.next_arrival_ns() is not None
            if sig is not None:
                while si < len(sig) and (sig[si] + 1 if next_open else sig[si]) < j:
                    si += 1
            if pending or watch or sig is None:
                nxt = j
            else:
                nxt = n
                if si < len(sig):
                    nxt = sig[si] + 1 if next_open else sig[si]
            while di < len(visit) and visit[di] < j:
                di += 1
            if di < len(visit) and visit[di] < nxt:
                nxt = visit[di]
            if self._orders and nxt > j:
                nxt = min(nxt, self._next_touch(j))
            if nxt > j and self.position_obj.qty:
                flagged = self._loss_scan(j, nxt)
                if flagged is not None:
                    nxt = flagged
            if nxt >= n:
                break
            j = nxt
            # --- visit bar j
            due = sig is not None and si < len(sig) and sig[si] == (j - 1 if next_open else j)
            decide_open = next_open and j >= 1 and (watch or sig is None or due)
            decide_close = (not next_open) and (watch or sig is None or due)
            visited += self._visit(j, decide_open, decide_close)
            j += 1
        if progress is not None:
            progress(1.0)
        self.j = n - 1
        strategy.on_stop(self.ctx)
        return self._finish(visited, time.perf_counter() - t_start)

    def _visit(self, j: int, decide_open: bool, decide_close: bool) -> int:
        """Process bar ``j``'s points that matter; returns how many were processed.

        The risk engine sees the equity at the first point of each trading day (its day roll)
        and after every fill, as live; in between it only matters if the daily loss limit could
        be reached, and on such bars every point is checked.
        """
        self.j = j
        strategy = self.strategy
        broker = self.broker
        t0 = int(self.bars.time_ms[j]) * NS_PER_MS
        span = int(self._spans[j])
        o, c = int(self._opens[j]), int(self._closes[j])
        prev = int(self._closes[j - 1]) if j else None
        first = bool(self._new_day_at_open[j])
        # A bar in which the day rolls between points: check the equity at every point.
        risky = bool(self._crossing[j]) or self._loss_at(j)
        full = (
            broker.next_arrival_ns() is not None
            or risky
            or (bool(self._orders) and self._touches(j))
        )
        count = 0
        pos = self.position_obj
        held = pos.qty
        if self._next_open or full or first:
            self._point(t0, o, prev, check_equity=first or risky)
            count += 1
            if decide_open:
                strategy.on_bar(self.ctx, j - 1)
            prev = o
            # The day rolled (a new baseline) or a fill changed the position: look again.
            if not risky and (first or pos.qty != held):
                risky, held = self._loss_at(j), pos.qty
            full = (
                full
                or risky
                or broker.next_arrival_ns() is not None
                or (bool(self._orders) and self._touches(j))
            )
        if full:
            # A fill inside the bar changes what the rest of the bar can lose: look again.
            if not risky and pos.qty != held:
                risky, held = self._loss_at(j), pos.qty
            lo, hi = int(self._low[j]), int(self._high[j])
            x1, x2 = (lo, hi) if c >= o else (hi, lo)
            self._point(t0 + span // 3, x1, prev, check_equity=risky)
            if not risky and pos.qty != held:
                risky, held = self._loss_at(j), pos.qty
            self._point(t0 + 2 * span // 3, x2, x1, check_equity=risky)
            prev = x2
            count += 2
        if not risky and pos.qty != held:
            risky = self._loss_at(j)
        if full or decide_close:
            self._point(t0 + span - 1, c, prev if full else None, check_equity=risky)
            count += 1
            if decide_close:
                strategy.on_bar(self.ctx, j)
        return count

    def _point(self, t: int, p: int, prev: int | None, *, check_equity: bool) -> None:
        """One price point: arrivals before it, the new book, the print, arrivals at it.

        The book itself is written lazily (``_sync_book``) the first time something reads it:
        most points only need the mid, which comes from the model's levels directly.
        """
        broker = self.broker
        kernel = self.kernel
        pending = broker.next_arrival_ns() is not None
        if pending:  # orders arriving before this point meet the book of the last one
            self._sync_book()
            while (due := broker.next_arrival_ns()) is not None and due < t:
                self.now = due
                kernel.handle(broker.advance(due))
        bids, asks = self.model.book_at(p, self.j)
        self._want = (bids, asks)
        self._book_dirty = True
        self._book_t = t
        self.now = t
        sym = self.symbol
        self._marks[sym] = self._tick * (bids[0][0] + asks[0][0]) / 2 if bids and asks else None
        self._last_book[sym] = t
        if prev is not None and p != prev and self._orders:
            self._trade_seq += 1
            side = OrderSide.SELL if p < prev else OrderSide.BUY
            tick = TradeTick(sym, p, self.print_size, side, self._trade_seq, t)
            self._sync_book()
            kernel.handle(broker.on_market(tick))
        if pending:
            self._sync_book()
            kernel.handle(broker.advance(t))
        if check_equity:
            self._check_equity()

    def _peek_best(self, symbol: str, bid: bool) -> int | None:
        """The best price ``_sync_book`` would leave on one side, without writing the book
        (most looks - sizing a buy that cash cannot pay for - place no order)."""
        if not self._book_dirty:
            top = self.book.best_bid() if bid else self.book.best_ask()
            return None if top is None else top[0]
        levels = self._want[0] if bid else self._want[1]
        if len(levels) == 1:
            price, size = levels[0]
            return price if size > 0 else None
        live = [price for price, size in dict(levels).items() if size > 0]
        if not live:
            return None
        return max(live) if bid else min(live)

    def _sync_book(self) -> None:
        """Make the book exactly the wanted levels (what a snapshot does, level by level)."""
        if not self._book_dirty:
            return
        self._book_dirty = False
        book = self.book
        bids, asks = self._want
        if bids is not self._bids:
            old = dict(self._bids)
            for price, size in bids:
                if old.pop(price, None) != size:
                    book.set_level(BookSide.BID, price, size)
            for price in old:
                book.set_level(BookSide.BID, price, 0)
            self._bids = bids
        if asks is not self._asks:
            old = dict(self._asks)
            for price, size in asks:
                if old.pop(price, None) != size:
                    book.set_level(BookSide.ASK, price, size)
            for price in old:
                book.set_level(BookSide.ASK, price, 0)
            self._asks = asks
        self._book_seq += 1
        book.seq = self._book_seq
        book.ts_ns = self._book_t

    # ------------------------------------------------------------------ skipping logic

    def _refresh_resting(self) -> None:
        buys = [
            o.price
            for o in self._orders.values()
            if o.side is OrderSide.BUY and o.type is OrderType.LIMIT and o.price is not None
        ]
        sells = [
            o.price
            for o in self._orders.values()
            if o.side is OrderSide.SELL and o.type is OrderType.LIMIT and o.price is not None
        ]
        inst = self.instrument
        self._buy_max = inst.price_to_ticks(max(buys)) if buys else None
        self._sell_min = inst.price_to_ticks(min(sells)) if sells else None
        self._resting_dirty = False
        self._touch_cache = (-1, -1)

    def _touches(self, j: int) -> bool:
        if self._resting_dirty:
            self._refresh_resting()
        through = self.print_size == 0
        b, a = self._buy_max, self._sell_min
        lo, hi = int(self._low[j]), int(self._high[j])
        if b is not None and (lo < b if through else lo <= b):
            return True
        return a is not None and (hi > a if through else hi >= a)

    def _next_touch(self, j: int) -> int:
        """First bar >= j whose range reaches a resting limit order (n if none)."""
        if self._resting_dirty:
            self._refresh_resting()
        start_cached, found = self._touch_cache
        if start_cached != -1 and start_cached <= j <= found:
            return found
        n = len(self._low)
        b, a = self._buy_max, self._sell_min
        through = self.print_size == 0
        start, size = j, 256
        result = n
        while start < n:
            end = min(n, start + size)
            mask = np.zeros(end - start, dtype=bool)
            if b is not None:
                lo = self._low[start:end]
                mask |= (lo < b) if through else (lo <= b)
            if a is not None:
                hi = self._high[start:end]
                mask |= (hi > a) if through else (hi >= a)
            hit = np.flatnonzero(mask)
            if len(hit):
                result = start + int(hit[0])
                break
            start, size = end, size * 2
        self._touch_cache = (j, result)
        return result

    def _loss_limit(self) -> tuple[Decimal, Decimal] | None:
        sod = self.risk.start_of_day_equity
        if sod is None or sod <= 0:
            return None
        return sod, self.risk.limits.max_daily_loss_pct

    def _loss_scan(self, j: int, nxt: int) -> int | None:
        """First bar in [j, nxt) (one trading day) whose worst point may breach the daily loss
        limit with the current position (a superset: the visit then checks exactly)."""
        lim = self._loss_limit()
        if lim is None:
            return None
        sod, pct = lim
        qty_d, cash_d = self.position_obj.qty, self.portfolio.cash
        key = self._scan_key
        if key[0] is sod and key[1] is pct and key[2] is qty_d and key[3] is cash_d:
            qty, cash, threshold = self._scan_floats
        else:  # the account or the day changed: convert once, not at every bar looked at
            qty = float(qty_d)
            cash = float(cash_d)
            threshold = float(sod) * (1.0 - float(pct) / 100.0)
            threshold += abs(threshold) * 1e-9 + 1e-6
            self._scan_key = (sod, pct, qty_d, cash_d)
            self._scan_floats = (qty, cash, threshold)
        day = int(self._days[j])
        bound = self._day_low[day] if qty > 0 else self._day_high[day]
        if cash + qty * bound * self._unit > threshold:
            return None
        end = min(nxt, len(self._low))
        worst_px = self._low[j:end] if qty > 0 else self._high[j:end]
        worst = cash + qty * worst_px.astype(np.float64) * self._unit
        hit = np.flatnonzero(worst <= threshold)
        return j + int(hit[0]) if len(hit) else None

    def _loss_at(self, j: int) -> bool:
        if not self.position_obj.qty:
            return False
        return self._loss_scan(j, j + 1) is not None

    # ------------------------------------------------------------------ orders

    def _check_equity(self) -> None:
        self.kernel.check_equity(self.now, self._marks)

    def submit(self, cmd: SubmitOrder) -> SubmitResult:
        return self.kernel.submit(cmd, self.now)

    def cancel(self, cmd: CancelOrder) -> CancelResult:
        return self.ctx.cancel(cmd)

    # ------------------------------------------------------------------ results

    def _finish(self, visited: int, elapsed: float) -> RunRecord:
        rec = self.record
        bars = self.bars
        n = len(bars)
        idx = np.searchsorted(np.asarray(self._rec_bar, dtype=np.int64), np.arange(n), "right") - 1
        cash = np.concatenate(([float(self.config.cash)], np.asarray(self._rec_cash)))[idx + 1]
        qty = np.concatenate(([0.0], np.asarray(self._rec_qty)))[idx + 1]
        rec.equity = cash + qty * bars.floats("close")
        rec.position = qty
        rec.cash = self.portfolio.cash
        rec.qty = self.position_obj.qty
        last = bars.price(int(bars.close[-1]))
        rec.final_equity = rec.cash + rec.qty * last
        rec.open_orders = [o.view() for o in self._orders.values()]
        rec.points_visited = visited
        rec.elapsed_s = elapsed
        return rec


class _Recorder(KernelSink):
    """The backtester's sink: the run record, the equity-curve samples, strategy callbacks."""

    __slots__ = ("_bt",)

    def __init__(self, bt: Backtest) -> None:
        self._bt = bt

    def order_denied(self, order: Order | None, event: OrderDenied) -> None:
        self._bt.record.denials.append(event)

    def order_accepted(self, order: Order, event: object) -> None:
        self._bt._resting_dirty = True

    def order_amended(self, order: Order, reason: str) -> None:
        self._bt._resting_dirty = True

    def order_filled(self, order: Order, fill: Fill, event: OrderFilled) -> None:
        bt = self._bt
        rec = bt.record
        rec.fills.append(fill)
        rec.fill_bars.append(bt.j)
        bt._rec_bar.append(bt.j)
        bt._rec_cash.append(float(bt.portfolio.cash))
        bt._rec_qty.append(float(bt.position_obj.qty))
        if not order.status.is_open:
            bt._resting_dirty = True
        bt.strategy.on_fill(bt.ctx, fill)

    def order_closed(self, order: Order, event: OrderCancelled | OrderRejected) -> None:
        bt = self._bt
        bt._resting_dirty = True
        if isinstance(event, OrderCancelled):
            bt.record.cancels.append(event)
        else:
            bt.record.rejections.append(event)
        if order.order_id != bt.kernel.settling:
            bt.strategy.on_order(bt.ctx, event)

    def state_changed(self, change: TradingStateChange, event: TradingStateChanged) -> None:
        self._bt.record.state_changes.append(
            StateChange(event.ts_ns, change.new_state.value, change.reason)
        )
