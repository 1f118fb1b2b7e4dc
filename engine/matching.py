"""The paper broker: the one matching model behind the embedded market, paper trading on live
feeds and the backtester, so a strategy gets the same fills in all three.

Each rule below closes a way paper trading usually flatters the trader:

- Decision and arrival differ. ``submit`` records the mid (the decision price); the order reaches
  the book ``latency_ns`` later and matches the book as it is then. Slippage is measured against the
  decision mid, so latency shows up as cost.
- Takers walk the visible depth level by level; what is not displayed is not filled. With
  ``consume_liquidity`` (the embedded market) the lots taken leave the book and our trades are
  returned as market events for the tape and candles; on a live feed the book is left alone.
- A resting limit order joins the back of the queue: the size displayed at its price on arrival is
  ahead of it. Only trades at its price beyond that queue fill it; cancels at the level move it up
  pro rata (rounded against us); a trade through its price, or the other side reaching it, fills it.
- Our resting orders are invisible: they are never added to the book, nobody else sees them, and
  the displayed depth never includes them.

``on_market`` is called after the event has been applied to the book (as ``SimMarket.step_until``
and the live feed do), so it reasons from the events and its own memory of level sizes, not from
the book, which may already hold later events of the same batch.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from engine.book import OrderBook
from engine.model.fill import Fill, Liquidity
from engine.model.market import BookSide, LevelUpdate, MarketEvent, TradeTick
from engine.model.money import ZERO, fee_amount
from engine.model.orders import Order, OrderSide, OrderStatus, OrderType, TimeInForce

PRICE_QUANTUM = Decimal("1e-8")  # display precision of a fill's VWAP; notional stays exact
_ALL = 1 << 62  # "every lot": walk a whole side of the book
_ECHO_MEMORY = 4096  # own trade ticks remembered so an echo through on_market is ignored


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Fee rates as fractions of notional (0.001 = 10 bps)."""

    maker: Decimal = Decimal("0.001")
    taker: Decimal = Decimal("0.001")

    def __post_init__(self) -> None:
        for name in ("maker", "taker"):
            rate = getattr(self, name)
            if not isinstance(rate, Decimal) or not rate.is_finite() or not 0 <= rate < 1:
                raise ValueError(f"{name} fee rate must be a Decimal in [0, 1), got {rate!r}")

    def rate(self, liquidity: Liquidity) -> Decimal:
        return self.maker if liquidity is Liquidity.MAKER else self.taker


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    fees: FeeSchedule = field(default_factory=FeeSchedule)
    latency_ns: int = 0
    consume_liquidity: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.fees, FeeSchedule):
            raise ValueError(f"fees must be a FeeSchedule, got {self.fees!r}")
        if isinstance(self.latency_ns, bool) or not isinstance(self.latency_ns, int):
            raise ValueError(f"latency_ns must be an int, got {self.latency_ns!r}")
        if self.latency_ns < 0:
            raise ValueError(f"latency_ns must be >= 0, got {self.latency_ns}")


@dataclass(frozen=True, slots=True)
class BrokerFill:
    """``fill`` has already been applied to ``order`` (the live object: view it when publishing)."""

    order: Order
    fill: Fill


@dataclass(frozen=True, slots=True)
class BrokerRested:
    """A limit order now rests on the book (``PaperBroker.queue_ahead`` gives its position)."""

    order: Order


@dataclass(frozen=True, slots=True)
class BrokerCancelled:
    """The remainder of an accepted order was cancelled by the broker (IOC, depth exhausted)."""

    order: Order
    reason: str


@dataclass(frozen=True, slots=True)
class BrokerRejected:
    """The broker refused an accepted order on arrival (post-only that would take, bad grid)."""

    order: Order
    reason: str


BrokerEvent = BrokerFill | BrokerRested | BrokerCancelled | BrokerRejected

# ``fill_cap(order, pending)``: the most ``order`` may fill right now (``None``: no cap), given
# the signed base quantity ``pending`` of this call's fills on its symbol that the caller has not
# applied to its position yet. The kernel uses it so a reduce-only order (and, while trading is
# halted, every order) never opens or flips a position, however fills are batched.
FillCap = Callable[[Order, Decimal], Decimal | None]


@dataclass(frozen=True, slots=True)
class BrokerResult:
    """What one broker call did: order events, and the market events our own trades caused."""

    events: list[BrokerEvent] = field(default_factory=list)
    market: list[MarketEvent] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class _Working:
    """An order the broker holds: pending (latency not elapsed) or resting on the book."""

    order: Order
    book: OrderBook
    side: OrderSide
    lots: int  # remaining
    limit: int | None  # price ticks; None for market orders
    mid: Decimal | None  # at decision time
    arrive_ns: int
    queue_ahead: int = 0
    resting: bool = False


@dataclass(slots=True, eq=False)
class _Level:
    """Our resting orders at one price (FIFO) and the public size we believe is displayed there."""

    price: int
    expected: int
    orders: list[_Working] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class _Side:
    """Our resting orders of one side of one symbol.

    ``crossing`` remembers the size of each opposite-side level that reaches our best price, so a
    level seen once (and on a live feed, not consumed) is not filled against twice.
    """

    side: OrderSide
    levels: dict[int, _Level] = field(default_factory=dict)
    best: int | None = None
    crossing: dict[int, int] = field(default_factory=dict)

    def reaches(self, price: int) -> bool:
        """Does a counter-side price (a trade, an opposite level) reach our best order?"""
        best = self.best
        if best is None:
            return False
        return price <= best if self.side is OrderSide.BUY else price >= best

    def reached(self, price: int) -> list[int]:
        """Our level prices a counter-side price reaches, best (first to fill) first."""
        if self.side is OrderSide.BUY:
            return sorted((p for p in self.levels if p >= price), reverse=True)
        return sorted(p for p in self.levels if p <= price)

    def refresh(self) -> None:
        if not self.levels:
            self.best = None
            self.crossing.clear()
            return
        self.best = max(self.levels) if self.side is OrderSide.BUY else min(self.levels)
        stale = [p for p in self.crossing if not self.reaches(p)]
        for p in stale:
            del self.crossing[p]


def _book_side(side: OrderSide) -> BookSide:
    """The book side an order of ``side`` rests on."""
    return BookSide.BID if side is OrderSide.BUY else BookSide.ASK


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


class PaperBroker:
    """Matches orders against shared ``OrderBook``s; runs on the engine thread only."""

    def __init__(
        self,
        books: Mapping[str, OrderBook],
        config: BrokerConfig,
        next_fill_id: Callable[[], str],
        fill_cap: FillCap | None = None,
    ) -> None:
        self._books = books
        self._fill_cap = fill_cap
        self._config = config
        self._consume = config.consume_liquidity
        self._next_fill_id = next_fill_id
        self._open: dict[str, _Working] = {}
        self._pending: list[tuple[int, int, _Working]] = []
        self._arrivals = itertools.count()
        self._trade_ids = itertools.count(1)
        self._sides: dict[tuple[str, OrderSide], _Side] = {}
        self._own_ticks: set[TradeTick] = set()
        self._own_tick_order: deque[TradeTick] = deque()

    # ------------------------------------------------------------------ commands

    def submit(self, order: Order, now_ns: int) -> BrokerResult:
        """Take an ACCEPTED order: note the decision mid, match at once if latency is 0."""
        if order.status is not OrderStatus.ACCEPTED:
            raise ValueError(f"order {order.order_id} is {order.status}, expected accepted")
        if order.order_id in self._open:
            raise ValueError(f"order {order.order_id} is already working")
        out = BrokerResult()
        book = self._books.get(order.symbol)
        if book is None:
            self._reject(order, now_ns, f"no book for {order.symbol}", out)
            return out
        inst = book.instrument
        lots = inst.qty_to_lots(order.qty)
        if lots <= 0 or inst.lots_to_qty(lots) != order.qty or order.filled_qty:
            self._reject(order, now_ns, f"quantity {order.qty} is not on the lot grid", out)
            return out
        limit: int | None = None
        if order.type is OrderType.LIMIT:
            price = order.price
            if price is None or price <= 0 or not inst.is_on_tick(price):
                self._reject(order, now_ns, f"limit price {price} is not on the tick grid", out)
                return out
            limit = inst.price_to_ticks(price)
        latency = self._config.latency_ns
        w = _Working(order, book, order.side, lots, limit, book.mid(), now_ns + latency)
        self._open[order.order_id] = w
        if latency:
            heapq.heappush(self._pending, (w.arrive_ns, next(self._arrivals), w))
        else:
            self._arrive(w, now_ns, out)
        return out

    def cancel(self, order_id: str, now_ns: int) -> Order | None:
        """Cancel a pending or resting order at once; ``None`` if the broker does not hold it."""
        w = self._open.pop(order_id, None)
        if w is None:
            return None
        if w.resting:
            self._unrest(w)
        w.order.transition(OrderStatus.CANCELLED, now_ns, "cancelled")
        return w.order

    def advance(self, now_ns: int) -> BrokerResult:
        """Orders whose latency has elapsed reach the book and match the book as it is now."""
        out = BrokerResult()
        pending = self._pending
        while pending and pending[0][0] <= now_ns:
            w = heapq.heappop(pending)[2]
            if self._open.get(w.order.order_id) is w and not w.resting:
                self._arrive(w, now_ns, out)
        return out

    def next_arrival_ns(self) -> int | None:
        """When the next pending order reaches the book (a backtest clock steps to it)."""
        pending = self._pending
        while pending and self._open.get(pending[0][2].order.order_id) is not pending[0][2]:
            heapq.heappop(pending)
        return pending[0][0] if pending else None

    def restore(self, order: Order, queue_ahead_lots: int | None = None) -> None:
        """Put a resting limit order back after a restart (at the back of the queue by default).

        Its decision mid is unknown, so its fills carry ``mid_at_decision=None`` and no slippage.
        A market or IOC order (one caught between submit and arrival by a crash) must not trade
        minutes later at a price nobody chose: it is cancelled instead, so check ``order.status``.
        """
        if order.status not in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
            raise ValueError(f"order {order.order_id} is {order.status}, cannot rest")
        if order.type is not OrderType.LIMIT or order.price is None or order.tif is TimeInForce.IOC:
            reason = "engine restarted before the order reached the book"
            order.transition(OrderStatus.CANCELLED, order.ts_updated, reason)
            return
        if order.order_id in self._open:
            raise ValueError(f"order {order.order_id} is already working")
        book = self._books.get(order.symbol)
        if book is None:
            raise ValueError(f"order {order.order_id}: no book for {order.symbol}")
        inst = book.instrument
        lots = inst.qty_to_lots(order.remaining_qty)
        if lots <= 0:
            raise ValueError(f"order {order.order_id}: nothing left to rest")
        limit = inst.price_to_ticks(order.price)
        w = _Working(order, book, order.side, lots, limit, None, order.ts_updated)
        self._open[order.order_id] = w
        if queue_ahead_lots is None:
            queue_ahead_lots = book.size_at(_book_side(order.side), limit)
        self._rest(w, max(0, queue_ahead_lots))

    # ------------------------------------------------------------------ queries

    def open_orders(self) -> list[Order]:
        """Pending and resting orders, in submission order."""
        return [w.order for w in self._open.values()]

    def queue_ahead(self, order_id: str) -> int | None:
        """Lots displayed ahead of a resting order; ``None`` if it is not resting."""
        w = self._open.get(order_id)
        if w is None or not w.resting:
            return None
        return w.queue_ahead

    # ------------------------------------------------------------------ market data

    def on_market(self, ev: MarketEvent) -> BrokerResult:
        """Advance queues and fill resting orders with one event already applied to its book."""
        out = BrokerResult()
        if isinstance(ev, TradeTick):
            if ev in self._own_ticks:
                return out  # our own trade fed back: it was accounted for when we made it
            side = self._sides.get((ev.symbol, ev.aggressor.opposite))
            if side is not None and side.reaches(ev.price_ticks):
                self._on_trade(side, ev, out)
            return out
        # An update of the bid side concerns our buys' queues and reaches our sells.
        ours = OrderSide.BUY if ev.side is BookSide.BID else OrderSide.SELL
        same = self._sides.get((ev.symbol, ours))
        if same is not None:
            level = same.levels.get(ev.price_ticks)
            if level is not None:
                self._on_own_level(level, ev.size_lots)
        other = self._sides.get((ev.symbol, ours.opposite))
        if other is not None and other.reaches(ev.price_ticks):
            self._on_crossing_level(other, ev, out)
        return out

    def _on_trade(self, side: _Side, ev: TradeTick, out: BrokerResult) -> None:
        price, ts = ev.price_ticks, ev.ts_ns
        for level_price in side.reached(price):
            level = side.levels[level_price]
            if level_price != price:
                # A trade beyond our price: every order at our level traded before it.
                for w in list(level.orders):
                    self._fill_maker(w, w.lots, level_price, ts, out)
                continue
            # The queue ahead is consumed first, then our orders in arrival order.
            pool = ev.size_lots
            consumed = 0
            for w in list(level.orders):
                ahead = w.queue_ahead - consumed
                if ahead > 0:
                    eat = min(pool, ahead)
                    pool -= eat
                    consumed += eat
                if not pool:
                    break
                take = min(pool, w.lots)
                pool -= take
                self._fill_maker(w, take, level_price, ts, out)
            for w in level.orders:
                w.queue_ahead = max(0, w.queue_ahead - consumed)
            # The LevelUpdate that follows will show this trade; it is not a cancel.
            level.expected = max(0, level.expected - ev.size_lots)

    @staticmethod
    def _on_own_level(level: _Level, size: int) -> None:
        """Size at our price changed: a decrease not explained by trades is cancels."""
        before = level.expected
        if size < before:
            decrease = before - size
            for w in level.orders:
                # Cancels are spread over the queue pro rata; rounding keeps us further back.
                w.queue_ahead = min(size, w.queue_ahead - decrease * w.queue_ahead // before)
        level.expected = size

    def _on_crossing_level(self, side: _Side, ev: LevelUpdate, out: BrokerResult) -> None:
        """The other side moved to or through our price: new size there trades with us."""
        price, size, ts = ev.price_ticks, ev.size_lots, ev.ts_ns
        available = size - side.crossing.get(price, 0)
        taken = 0
        if available > 0:
            for level_price in side.reached(price):
                level = side.levels[level_price]
                at_level = 0
                for w in list(level.orders):
                    take = self._fill_maker(w, min(available - taken, w.lots), level_price, ts, out)
                    taken += take
                    at_level += take
                    if taken == available:
                        break
                if self._consume and at_level:
                    tick = TradeTick(
                        ev.symbol, level_price, at_level, side.side.opposite, self._trade_id(), ts
                    )
                    self._remember(tick)
                    out.market.append(tick)
                if taken == available:
                    break
            if self._consume:
                book = self._books[ev.symbol]
                left = max(0, book.size_at(ev.side, price) - taken)
                self._write_level(book, ev.side, price, left, taken, ts, out)
        remaining = size - taken if self._consume else size
        if remaining > 0 and side.reaches(price):
            side.crossing[price] = remaining
        else:
            side.crossing.pop(price, None)

    # ------------------------------------------------------------------ matching

    def _arrive(self, w: _Working, now_ns: int, out: BrokerResult) -> None:
        """The order reaches the book: take what crosses, then rest or cancel the rest."""
        order, book = w.order, w.book
        if order.post_only and self._would_take(w):
            del self._open[order.order_id]
            self._reject(order, now_ns, "post-only order would take liquidity", out)
            return
        capped = self._cap_lots(w, out)
        if capped is not None and capped < w.lots:
            if capped:
                taken = book.walk(w.side, capped, w.limit)
                if taken:
                    self._fill_taker(w, taken, now_ns, out)
            del self._open[order.order_id]  # capped below its size: the rest cannot fill
            self._cancel_capped(w, now_ns, out)
            return
        taken = book.walk(w.side, w.lots, w.limit)
        if taken:
            self._fill_taker(w, taken, now_ns, out)
        if not w.lots:
            del self._open[order.order_id]
            return
        if order.type is OrderType.MARKET or order.tif is TimeInForce.IOC:
            del self._open[order.order_id]
            self._cancel_rest(w, now_ns, out)
            return
        assert w.limit is not None
        self._rest(w, book.size_at(_book_side(w.side), w.limit))
        out.events.append(BrokerRested(order))

    def _would_take(self, w: _Working) -> bool:
        if w.limit is None:
            return True
        if w.side is OrderSide.BUY:
            ask = w.book.best_ask()
            return ask is not None and ask[0] <= w.limit
        bid = w.book.best_bid()
        return bid is not None and bid[0] >= w.limit

    def _cancel_rest(self, w: _Working, now_ns: int, out: BrokerResult) -> None:
        order = w.order
        filled, qty = _fmt(order.filled_qty), _fmt(order.qty)
        if order.type is OrderType.LIMIT:
            reason = f"IOC remainder cancelled: filled {filled} of {qty}"
        elif order.filled_qty:
            reason = f"book depth exhausted: filled {filled} of {qty}"
        else:
            empty = "asks" if w.side is OrderSide.BUY else "bids"
            reason = f"no liquidity: no {empty} in the book, filled 0 of {qty}"
        order.transition(OrderStatus.CANCELLED, now_ns, reason)
        out.events.append(BrokerCancelled(order, reason))

    def _reject(self, order: Order, now_ns: int, reason: str, out: BrokerResult) -> None:
        order.transition(OrderStatus.REJECTED, now_ns, reason)
        out.events.append(BrokerRejected(order, reason))

    def _fill_taker(
        self, w: _Working, taken: list[tuple[int, int]], now_ns: int, out: BrokerResult
    ) -> None:
        """One fill at VWAP over the levels walked; consume them if this is our own market."""
        lots = sum(size for _, size in taken)
        units = sum(price * size for price, size in taken)
        self._fill(w, lots, units, len(taken), Liquidity.TAKER, now_ns, out)
        if not self._consume:
            return
        book = w.book
        opposite = _book_side(w.side.opposite)
        for price, size in taken:
            tick = TradeTick(book.symbol, price, size, w.side, self._trade_id(), now_ns)
            self._remember(tick)
            out.market.append(tick)
            left = book.size_at(opposite, price) - size
            self._write_level(book, opposite, price, left, size, now_ns, out)

    def _fill_maker(
        self, w: _Working, lots: int, price: int, now_ns: int, out: BrokerResult
    ) -> int:
        """Fill a resting order (at most its cap); returns the lots filled."""
        capped = self._cap_lots(w, out)
        if capped is not None and capped < lots:
            if capped:
                self._fill(w, capped, price * capped, 1, Liquidity.MAKER, now_ns, out)
            if w.lots and self._open.get(w.order.order_id) is w:
                del self._open[w.order.order_id]
                self._unrest(w)
                self._cancel_capped(w, now_ns, out)
            return capped
        self._fill(w, lots, price * lots, 1, Liquidity.MAKER, now_ns, out)
        return lots

    def _cap_lots(self, w: _Working, out: BrokerResult) -> int | None:
        cap = self._fill_cap
        if cap is None:
            return None
        symbol = w.order.symbol
        pending = ZERO
        for ev in out.events:
            if isinstance(ev, BrokerFill) and ev.fill.symbol == symbol:
                pending += ev.fill.qty * ev.fill.side.sign
        qty = cap(w.order, pending)
        if qty is None:
            return None
        return max(0, w.book.instrument.qty_to_lots(qty))

    def _cancel_capped(self, w: _Working, now_ns: int, out: BrokerResult) -> None:
        order = w.order
        reason = (
            f"reduce-only: position closed, remainder {_fmt(order.remaining_qty)} cancelled"
            if order.reduce_only
            else f"trading halted: remainder {_fmt(order.remaining_qty)} would add risk"
        )
        order.transition(OrderStatus.CANCELLED, now_ns, reason)
        out.events.append(BrokerCancelled(order, reason))

    def shrink(self, order_id: str, qty: Decimal, now_ns: int) -> Order | None:
        """Cut a working order's remainder to ``qty`` (> 0, less than it has); ``None`` if the
        broker does not hold it. Its queue position is kept."""
        w = self._open.get(order_id)
        if w is None:
            return None
        lots = w.book.instrument.qty_to_lots(qty)
        if not 0 < lots < w.lots:
            raise ValueError(f"order {order_id}: cannot shrink {w.lots} lots to {lots}")
        order = w.order
        order.qty = order.filled_qty + w.book.instrument.lots_to_qty(lots)
        order.ts_updated = now_ns
        w.lots = lots
        return order

    def _fill(
        self,
        w: _Working,
        lots: int,
        units: int,
        levels: int,
        liquidity: Liquidity,
        now_ns: int,
        out: BrokerResult,
    ) -> None:
        """Build the Fill (``units`` = sum of price ticks x lots), apply it, retire a done order."""
        order = w.order
        inst = w.book.instrument
        qty = inst.lots_to_qty(lots)
        notional = inst.tick_size * inst.lot_size * units
        fee = fee_amount(notional, self._config.fees.rate(liquidity))
        mid = w.mid
        slippage = ZERO if mid is None else (notional - mid * qty) * w.side.sign
        fill = Fill(
            fill_id=self._next_fill_id(),
            order_id=order.order_id,
            symbol=order.symbol,
            side=w.side,
            qty=qty,
            price=(notional / qty).quantize(PRICE_QUANTUM),
            notional=notional,
            fee=fee,
            fee_asset=inst.quote,
            liquidity=liquidity,
            mid_at_decision=mid,
            slippage=slippage,
            levels=levels,
            ts_event=now_ns,
            ts_init=now_ns,
        )
        order.apply_fill(qty, notional, fee, now_ns)
        w.lots -= lots
        out.events.append(BrokerFill(order, fill))
        if not w.lots and w.resting:
            del self._open[order.order_id]
            self._unrest(w)

    # ------------------------------------------------------------------ bookkeeping

    def _side(self, symbol: str, side: OrderSide) -> _Side:
        s = self._sides.get((symbol, side))
        if s is None:
            s = self._sides[(symbol, side)] = _Side(side)
        return s

    def _rest(self, w: _Working, queue_ahead: int) -> None:
        assert w.limit is not None
        w.resting = True
        w.queue_ahead = queue_ahead
        side = self._side(w.book.symbol, w.side)
        level = side.levels.get(w.limit)
        if level is None:
            size = w.book.size_at(_book_side(w.side), w.limit)
            level = side.levels[w.limit] = _Level(w.limit, size)
        level.orders.append(w)
        side.refresh()
        # Opposite levels already reaching us (a live book we did not consume) are known, not new.
        reach = _book_side(w.side.opposite)
        for price in [p for p in side.crossing if w.book.size_at(reach, p) == 0]:
            del side.crossing[price]
        for price, size in w.book.walk(w.side, _ALL, w.limit):
            side.crossing[price] = size

    def _unrest(self, w: _Working) -> None:
        assert w.limit is not None
        w.resting = False
        side = self._sides[(w.book.symbol, w.side)]
        level = side.levels[w.limit]
        level.orders.remove(w)
        if not level.orders:
            del side.levels[w.limit]
            side.refresh()

    def _write_level(
        self,
        book: OrderBook,
        book_side: BookSide,
        price: int,
        size: int,
        consumed: int,
        now_ns: int,
        out: BrokerResult,
    ) -> None:
        """Remove lots we traded from the shared book and publish the level change."""
        book.set_level(book_side, price, size)
        book.seq += 1
        book.ts_ns = max(book.ts_ns, now_ns)
        out.market.append(LevelUpdate(book.symbol, book_side, price, size, book.seq, now_ns))
        # Our own resting orders at that level: the lots we took were ahead of them.
        ours = OrderSide.BUY if book_side is BookSide.BID else OrderSide.SELL
        same = self._sides.get((book.symbol, ours))
        if same is not None:
            level = same.levels.get(price)
            if level is not None:
                for w in level.orders:
                    w.queue_ahead = max(0, min(size, w.queue_ahead - consumed))
                level.expected = size
        other = self._sides.get((book.symbol, ours.opposite))
        if other is not None and price in other.crossing:
            if size:
                other.crossing[price] = size
            else:
                del other.crossing[price]

    def _trade_id(self) -> int:
        return next(self._trade_ids)

    def _remember(self, tick: TradeTick) -> None:
        self._own_ticks.add(tick)
        self._own_tick_order.append(tick)
        if len(self._own_tick_order) > _ECHO_MEMORY:
            self._own_ticks.discard(self._own_tick_order.popleft())
