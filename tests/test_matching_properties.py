"""Property tests of the paper broker: random books, random orders, random market flow.

The market flow imitates the embedded simulator: an aggressive flow walks one side of the book
and emits each trade before the level update that reflects it; levels appear and disappear on
either side without ever crossing the public book.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.book import OrderBook
from engine.matching import (
    BrokerConfig,
    BrokerFill,
    BrokerResult,
    FeeSchedule,
    PaperBroker,
)
from engine.model.fill import Fill, Liquidity
from engine.model.instrument import Instrument
from engine.model.market import BookSide, LevelUpdate, MarketEvent, TradeTick
from engine.model.money import fee_amount
from engine.model.orders import Order, OrderSide, OrderStatus, OrderType, TimeInForce
from engine.portfolio import Portfolio

INST = Instrument("ABC/USDT", "ABC", "USDT", Decimal("0.01"), Decimal("0.1"), Decimal("1"))
SYM = INST.symbol
UNIT = INST.tick_size * INST.lot_size
MID = 10_000
FEES = FeeSchedule(maker=Decimal("0.0002"), taker=Decimal("0.00075"))

sides = st.sampled_from([OrderSide.BUY, OrderSide.SELL])
book_sides = st.sampled_from([BookSide.BID, BookSide.ASK])


def _side_levels(sign: int) -> st.SearchStrategy[list[tuple[int, int]]]:
    return st.dictionaries(st.integers(1, 12), st.integers(1, 12), min_size=1, max_size=8).map(
        lambda d: [(MID + sign * off, size) for off, size in d.items()]
    )


books = st.tuples(_side_levels(-1), _side_levels(1))


@dataclass(frozen=True)
class Market:
    side: OrderSide
    lots: int


@dataclass(frozen=True)
class Limit:
    side: OrderSide
    offset: int  # ticks from our own side's best price, positive = more aggressive
    lots: int
    tif: TimeInForce
    post_only: bool


@dataclass(frozen=True)
class Flow:
    aggressor: OrderSide
    lots: int


@dataclass(frozen=True)
class Level:
    side: BookSide
    offset: int  # ticks away from the other side's best price (never crosses the public book)
    size: int


@dataclass(frozen=True)
class Cancel:
    index: int


@dataclass(frozen=True)
class Advance:
    dt_ns: int


Action = Market | Limit | Flow | Level | Cancel | Advance

book_actions = st.one_of(
    st.builds(Market, sides, st.integers(1, 60)),
    st.builds(
        Limit,
        sides,
        st.integers(-4, 3),
        st.integers(1, 30),
        st.sampled_from([TimeInForce.GTC, TimeInForce.IOC]),
        st.booleans(),
    ),
    st.builds(Flow, sides, st.integers(1, 40)),
    st.builds(Flow, sides, st.integers(1, 40)),  # twice: flow is what fills resting orders
    st.builds(Level, book_sides, st.integers(1, 8), st.integers(0, 20)),
    st.builds(Cancel, st.integers(0, 40)),
)
timed_actions = st.one_of(book_actions, st.builds(Advance, st.integers(0, 3_000)))


@dataclass
class Run:
    """One broker on one book, driven by a list of actions; records everything it produced."""

    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]
    consume: bool
    latency_ns: int
    book: OrderBook = field(init=False)
    broker: PaperBroker = field(init=False)
    now: int = 0
    orders: list[Order] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    market: list[MarketEvent] = field(default_factory=list)
    trade_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1_000_000))

    def __post_init__(self) -> None:
        self.book = OrderBook(INST)
        self.book.apply_snapshot(self.bids, self.asks, seq=1)
        fill_ids = itertools.count(1)
        config = BrokerConfig(fees=FEES, latency_ns=self.latency_ns, consume_liquidity=self.consume)
        self.broker = PaperBroker({SYM: self.book}, config, lambda: f"F{next(fill_ids)}")

    def record(self, result: BrokerResult) -> None:
        self.fills.extend(ev.fill for ev in result.events if isinstance(ev, BrokerFill))
        self.market.extend(result.market)

    def submit(
        self,
        side: OrderSide,
        lots: int,
        price_ticks: int | None,
        tif: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
    ) -> None:
        order = Order(
            order_id=f"O{len(self.orders) + 1}",
            client_id=None,
            symbol=SYM,
            side=side,
            type=OrderType.MARKET if price_ticks is None else OrderType.LIMIT,
            qty=INST.lots_to_qty(lots),
            price=None if price_ticks is None else INST.ticks_to_price(price_ticks),
            tif=tif,
            post_only=post_only,
        )
        order.transition(OrderStatus.ACCEPTED, self.now)
        self.orders.append(order)
        self.record(self.broker.submit(order, self.now))

    def market_event(self, ev: MarketEvent) -> None:
        if isinstance(ev, LevelUpdate):
            self.book.apply_update(ev)
        self.record(self.broker.on_market(ev))

    def step(self, action: Action) -> None:
        self.now += 1
        book = self.book
        if isinstance(action, Market):
            self.submit(action.side, action.lots, None)
        elif isinstance(action, Limit):
            side = action.side
            ref = book.best_bid() if side is OrderSide.BUY else book.best_ask()
            price = max(1, (ref[0] if ref else MID) + action.offset * side.sign)
            self.submit(side, action.lots, price, action.tif, action.post_only)
        elif isinstance(action, Flow):
            # Someone else's market order walks the book: trade first, then the level update.
            aggressor = action.aggressor
            passive = BookSide.ASK if aggressor is OrderSide.BUY else BookSide.BID
            for price, size in book.walk(aggressor, action.lots):
                tid = next(self.trade_ids)
                self.market_event(TradeTick(SYM, price, size, aggressor, tid, self.now))
                left = book.size_at(passive, price) - size
                self.market_event(LevelUpdate(SYM, passive, price, left, book.seq + 1, self.now))
        elif isinstance(action, Level):
            if action.side is BookSide.BID:
                ask = book.best_ask()
                price = (ask[0] if ask else MID + 1) - action.offset
            else:
                bid = book.best_bid()
                price = (bid[0] if bid else MID - 1) + action.offset
            ev = LevelUpdate(SYM, action.side, price, action.size, book.seq + 1, self.now)
            self.market_event(ev)
        elif isinstance(action, Cancel):
            if self.orders:
                self.broker.cancel(self.orders[action.index % len(self.orders)].order_id, self.now)
        else:
            self.now += action.dt_ns
            self.record(self.broker.advance(self.now))


def check_orders(run: Run) -> None:
    """filled + remaining == qty, fills add up, and open/closed agree with the broker."""
    open_ids = {o.order_id for o in run.broker.open_orders()}
    for order in run.orders:
        mine = [f for f in run.fills if f.order_id == order.order_id]
        assert order.filled_qty + order.remaining_qty == order.qty
        assert 0 <= order.filled_qty <= order.qty
        assert order.filled_qty == sum((f.qty for f in mine), Decimal(0))
        assert order.filled_notional == sum((f.notional for f in mine), Decimal(0))
        assert order.fees == sum((f.fee for f in mine), Decimal(0))
        assert (order.status is OrderStatus.FILLED) == (order.filled_qty == order.qty)
        assert order.status.is_open == (order.order_id in open_ids)
        for f in mine:
            assert abs(f.notional / f.qty - f.price) <= Decimal("0.5e-8")
            assert f.fee == fee_amount(f.notional, FEES.rate(f.liquidity))
            if f.liquidity is Liquidity.MAKER:
                assert f.price == order.price  # makers trade at their own limit


@settings(max_examples=200, deadline=None)
@given(
    book=books,
    consume=st.booleans(),
    steps=st.lists(book_actions, min_size=10, max_size=40),
)
def test_random_flow_keeps_every_invariant(
    book: tuple[list[tuple[int, int]], list[tuple[int, int]]],
    consume: bool,
    steps: list[Action],
) -> None:
    run = Run(book[0], book[1], consume=consume, latency_ns=0)
    portfolio = Portfolio.new(Decimal(1_000_000), [SYM])
    for action in steps:
        before = {s: run.book.top(s, 1000) for s in (BookSide.BID, BookSide.ASK)}
        n_fills = len(run.fills)
        run.step(action)
        if isinstance(action, Market | Limit):
            taker = [f for f in run.fills[n_fills:] if f.liquidity is Liquidity.TAKER]
            assert len(taker) <= 1
            for f in taker:
                check_taker_fill(f, before, run, consume)
            if not consume:
                assert before == {s: run.book.top(s, 1000) for s in before}
        for f in run.fills[n_fills:]:
            portfolio.apply_fill(f)
        check_orders(run)
        assert not run.book.is_crossed()
    marks = {SYM: run.book.mid()}
    pnl = portfolio.realised_pnl() + portfolio.unrealised_pnl(marks) - portfolio.fees()
    assert portfolio.equity(marks) - portfolio.initial_cash == pnl


def check_taker_fill(
    f: Fill, before: dict[BookSide, list[tuple[int, int]]], run: Run, consume: bool
) -> None:
    """The fill consumed the best ``levels`` levels: exact notional, VWAP within their prices."""
    levels = before[BookSide.ASK if f.side is OrderSide.BUY else BookSide.BID]
    lots = INST.qty_to_lots(f.qty)
    consumed = levels[: f.levels]
    assert consumed, "a taker fill needs liquidity"
    full = consumed[:-1]
    assert lots <= sum(size for _, size in levels)  # never more than the book shows
    assert sum(s for _, s in full) < lots <= sum(s for _, s in consumed)
    last_price = consumed[-1][0]
    units = sum(p * s for p, s in full) + last_price * (lots - sum(s for _, s in full))
    assert f.notional == UNIT * units
    prices = [INST.ticks_to_price(p) for p, _ in consumed]
    assert min(prices) <= f.price <= max(prices)
    assert f.fee == fee_amount(f.notional, FEES.taker)
    if consume:
        opposite = BookSide.ASK if f.side is OrderSide.BUY else BookSide.BID
        after = dict(run.book.top(opposite, 1000))
        for price, _ in full:
            assert after.get(price, 0) == 0
        taken_last = lots - sum(s for _, s in full)
        assert after.get(last_price, 0) == consumed[-1][1] - taken_last


@settings(max_examples=60, deadline=None)
@given(
    book=books,
    consume=st.booleans(),
    latency=st.sampled_from([0, 500, 2_000]),
    steps=st.lists(timed_actions, min_size=10, max_size=40),
)
def test_same_inputs_give_identical_fills(
    book: tuple[list[tuple[int, int]], list[tuple[int, int]]],
    consume: bool,
    latency: int,
    steps: list[Action],
) -> None:
    runs = [Run(book[0], book[1], consume=consume, latency_ns=latency) for _ in range(2)]
    for run in runs:
        for action in steps:
            run.step(action)
        run.record(run.broker.advance(run.now + latency))
        check_orders(run)
    first, second = runs
    assert first.fills == second.fills
    assert first.market == second.market
    assert [o.view() for o in first.orders] == [o.view() for o in second.orders]
    assert first.book.top(BookSide.BID, 100) == second.book.top(BookSide.BID, 100)
    assert first.book.top(BookSide.ASK, 100) == second.book.top(BookSide.ASK, 100)
