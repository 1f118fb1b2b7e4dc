"""The paper broker against real order books: exact VWAP walks, queue position, latency, fees."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from engine.book import OrderBook
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
from engine.model.fill import Fill, Liquidity
from engine.model.instrument import Instrument
from engine.model.market import BookSide, LevelUpdate, MarketEvent, TradeTick
from engine.model.orders import Order, OrderSide, OrderStatus, OrderType, TimeInForce

# tick 0.01, lot 0.1: 10001 ticks = 100.01, 3 lots = 0.3
INST = Instrument("ABC/USDT", "ABC", "USDT", Decimal("0.01"), Decimal("0.1"), Decimal("1"))
SYM = INST.symbol
BUY, SELL = OrderSide.BUY, OrderSide.SELL
BID, ASK = BookSide.BID, BookSide.ASK
D = Decimal


def make_book(
    bids: list[tuple[int, int]] | None = None, asks: list[tuple[int, int]] | None = None
) -> OrderBook:
    book = OrderBook(INST)
    book.apply_snapshot(
        bids if bids is not None else [(9999, 10), (9998, 20)],
        asks if asks is not None else [(10001, 3), (10002, 5), (10005, 10)],
        seq=100,
        ts_ns=0,
    )
    return book


def make_broker(
    book: OrderBook,
    *,
    latency_ns: int = 0,
    consume: bool = True,
    fees: FeeSchedule | None = None,
) -> PaperBroker:
    counter = itertools.count(1)
    config = BrokerConfig(
        fees=fees or FeeSchedule(), latency_ns=latency_ns, consume_liquidity=consume
    )
    return PaperBroker({SYM: book}, config, lambda: f"F{next(counter)}")


_order_ids = itertools.count(1)


def make_order(
    side: OrderSide,
    qty: str,
    price: str | None = None,
    *,
    tif: TimeInForce = TimeInForce.GTC,
    post_only: bool = False,
) -> Order:
    order = Order(
        order_id=f"O{next(_order_ids)}",
        client_id=None,
        symbol=SYM,
        side=side,
        type=OrderType.MARKET if price is None else OrderType.LIMIT,
        qty=D(qty),
        price=None if price is None else D(price),
        tif=tif,
        post_only=post_only,
    )
    order.transition(OrderStatus.ACCEPTED, 0)
    return order


def level(book: OrderBook, side: BookSide, price: int, size: int, ts: int = 1) -> LevelUpdate:
    return LevelUpdate(SYM, side, price, size, book.seq + 1, ts)


def feed(book: OrderBook, broker: PaperBroker, ev: MarketEvent) -> BrokerResult:
    """What the sim and the live feed do: apply the event to the book, then tell the broker."""
    if isinstance(ev, LevelUpdate):
        book.apply_update(ev)
    return broker.on_market(ev)


def fills(result: BrokerResult) -> list[Fill]:
    return [ev.fill for ev in result.events if isinstance(ev, BrokerFill)]


# ---------------------------------------------------------------- taker walks


def test_market_buy_walks_levels_at_exact_vwap() -> None:
    book = make_book()
    broker = make_broker(book)
    order = make_order(BUY, "0.7")
    result = broker.submit(order, now_ns=5)
    [fill] = fills(result)
    # 0.3 @ 100.01 + 0.4 @ 100.02 = 30.003 + 40.008
    assert fill.notional == D("70.011")
    assert fill.qty == D("0.7")
    assert fill.price == D("100.01571429")  # 70.011 / 0.7 = 100.0157142857...
    assert fill.levels == 2
    assert fill.liquidity is Liquidity.TAKER
    assert fill.fee == D("0.0700110000")
    assert fill.fee_asset == "USDT"
    assert fill.mid_at_decision == D("100.00")
    assert fill.slippage == D("0.011")  # 70.011 - 100.00 * 0.7
    assert (fill.fill_id, fill.ts_event, fill.ts_init) == ("F1", 5, 5)
    assert order.status is OrderStatus.FILLED
    assert order.filled_notional == D("70.011")
    assert broker.open_orders() == []


def test_market_sell_slippage_is_positive_cost() -> None:
    book = make_book()
    broker = make_broker(book)
    [fill] = fills(broker.submit(make_order(SELL, "1.5"), 0))
    # 1.0 @ 99.99 + 0.5 @ 99.98 = 99.99 + 49.99 = 149.98; mid 100.00 -> cost 150 - 149.98
    assert fill.notional == D("149.98")
    assert fill.price == D("99.98666667")
    assert fill.slippage == D("0.02")
    assert fill.levels == 2


def test_consumed_liquidity_leaves_the_book_and_is_published() -> None:
    book = make_book()
    broker = make_broker(book)
    result = broker.submit(make_order(BUY, "0.7"), now_ns=7)
    assert book.best_ask() == (10002, 1)
    assert book.seq == 102
    assert result.market == [
        TradeTick(SYM, 10001, 3, BUY, 1, 7),
        LevelUpdate(SYM, ASK, 10001, 0, 101, 7),
        TradeTick(SYM, 10002, 4, BUY, 2, 7),
        LevelUpdate(SYM, ASK, 10002, 1, 102, 7),
    ]
    # Our own trades fed back (a runtime that routes everything through on_market) change nothing.
    for ev in result.market:
        if isinstance(ev, TradeTick):
            assert broker.on_market(ev).events == []


def test_paper_on_live_feed_does_not_touch_the_book() -> None:
    book = make_book()
    broker = make_broker(book, consume=False)
    result = broker.submit(make_order(BUY, "0.7"), 0)
    [fill] = fills(result)
    assert fill.notional == D("70.011")
    assert result.market == []
    assert book.best_ask() == (10001, 3)
    assert book.seq == 100


def test_depth_exhausted_fills_what_exists_and_cancels_the_rest() -> None:
    book = make_book(asks=[(10001, 3)])
    broker = make_broker(book)
    order = make_order(BUY, "0.5")
    result = broker.submit(order, 0)
    fill, cancelled = result.events
    assert isinstance(fill, BrokerFill)
    assert fill.fill.qty == D("0.3")
    assert isinstance(cancelled, BrokerCancelled)
    assert cancelled.reason == "book depth exhausted: filled 0.3 of 0.5"
    assert order.status is OrderStatus.CANCELLED
    assert (order.filled_qty, order.remaining_qty) == (D("0.3"), D("0.2"))
    assert book.best_ask() is None


def test_market_order_into_an_empty_side_is_cancelled_not_rejected() -> None:
    book = make_book(asks=[])
    broker = make_broker(book)
    order = make_order(BUY, "0.5")
    [event] = broker.submit(order, 0).events
    assert isinstance(event, BrokerCancelled)
    assert "no asks" in event.reason
    assert order.status is OrderStatus.CANCELLED
    assert order.filled_qty == 0


def test_crossing_limit_takes_up_to_its_price_then_rests() -> None:
    book = make_book()
    broker = make_broker(book)
    order = make_order(BUY, "1.0", "100.02")
    result = broker.submit(order, 0)
    fill, rested = result.events
    assert isinstance(fill, BrokerFill)
    assert isinstance(rested, BrokerRested)
    # 0.3 @ 100.01 + 0.5 @ 100.02 = 80.013 over 0.8
    assert fill.fill.notional == D("80.013")
    assert fill.fill.price == D("100.01625")
    assert fill.fill.levels == 2
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.remaining_qty == D("0.2")
    assert broker.open_orders() == [order]
    assert broker.queue_ahead(order.order_id) == 0  # nobody bids 100.02
    assert book.best_ask() == (10005, 10)


def test_ioc_limit_cancels_what_does_not_cross() -> None:
    book = make_book()
    broker = make_broker(book)
    order = make_order(BUY, "1.0", "100.01", tif=TimeInForce.IOC)
    result = broker.submit(order, 0)
    fill, cancelled = result.events
    assert isinstance(fill, BrokerFill)
    assert fill.fill.qty == D("0.3")
    assert isinstance(cancelled, BrokerCancelled)
    assert cancelled.reason == "IOC remainder cancelled: filled 0.3 of 1"
    assert order.status is OrderStatus.CANCELLED
    assert broker.open_orders() == []


def test_ioc_limit_that_does_not_cross_is_cancelled_unfilled() -> None:
    book = make_book()
    broker = make_broker(book)
    order = make_order(BUY, "1.0", "99.99", tif=TimeInForce.IOC)
    [cancelled] = broker.submit(order, 0).events
    assert isinstance(cancelled, BrokerCancelled)
    assert order.filled_qty == 0
    assert book.size_at(BID, 9999) == 10


def test_post_only_that_would_cross_is_rejected() -> None:
    book = make_book()
    broker = make_broker(book)
    order = make_order(BUY, "0.1", "100.01", post_only=True)
    [rejected] = broker.submit(order, 0).events
    assert isinstance(rejected, BrokerRejected)
    assert rejected.reason == "post-only order would take liquidity"
    assert order.status is OrderStatus.REJECTED
    assert book.best_ask() == (10001, 3)
    passive = make_order(BUY, "0.1", "100.00", post_only=True)
    [rested] = broker.submit(passive, 0).events
    assert isinstance(rested, BrokerRested)


def test_off_grid_quantity_is_rejected() -> None:
    broker = make_broker(make_book())
    order = make_order(BUY, "0.15")
    [rejected] = broker.submit(order, 0).events
    assert isinstance(rejected, BrokerRejected)
    assert order.status is OrderStatus.REJECTED


def test_submit_refuses_an_order_that_was_not_accepted() -> None:
    broker = make_broker(make_book())
    order = make_order(BUY, "0.1")
    order.transition(OrderStatus.CANCELLED, 0)
    with pytest.raises(ValueError, match="expected accepted"):
        broker.submit(order, 0)


# ---------------------------------------------------------------- resting orders


def test_resting_bid_fills_only_after_the_queue_ahead_trades() -> None:
    book = make_book(bids=[(9999, 5), (9998, 20)])
    fees = FeeSchedule(maker=D("0.0002"), taker=D("0.0007"))
    broker = make_broker(book, fees=fees)
    order = make_order(BUY, "0.6", "99.99")
    [rested] = broker.submit(order, 0).events
    assert isinstance(rested, BrokerRested)
    assert broker.queue_ahead(order.order_id) == 5

    assert feed(book, broker, TradeTick(SYM, 9999, 3, SELL, 1, 10)).events == []
    assert broker.queue_ahead(order.order_id) == 2  # 2 lots still ahead
    assert feed(book, broker, level(book, BID, 9999, 2, 10)).events == []
    assert broker.queue_ahead(order.order_id) == 2  # the trade explained the drop: no cancel
    assert feed(book, broker, TradeTick(SYM, 9999, 2, SELL, 2, 11)).events == []
    assert feed(book, broker, level(book, BID, 9999, 0, 11)).events == []
    assert broker.queue_ahead(order.order_id) == 0

    feed(book, broker, level(book, BID, 9999, 6, 12))  # new bids join behind us
    [first] = fills(feed(book, broker, TradeTick(SYM, 9999, 4, SELL, 3, 13)))
    assert (first.qty, first.price, first.liquidity) == (D("0.4"), D("99.99"), Liquidity.MAKER)
    assert first.notional == D("39.996")
    assert first.fee == D("0.0079992000")  # maker rate, not taker
    assert first.ts_event == 13
    assert first.slippage == D("-0.004")  # bought below the 100.00 decision mid
    assert order.status is OrderStatus.PARTIALLY_FILLED
    feed(book, broker, level(book, BID, 9999, 2, 13))
    [second] = fills(feed(book, broker, TradeTick(SYM, 9999, 5, SELL, 4, 14)))
    assert second.qty == D("0.2")  # only what was left, not the whole trade
    assert order.view().status is OrderStatus.FILLED
    assert broker.open_orders() == []
    assert broker.queue_ahead(order.order_id) is None


def test_trades_on_the_other_side_or_other_prices_do_not_fill() -> None:
    book = make_book(bids=[(9999, 5)])
    broker = make_broker(book)
    order = make_order(BUY, "0.6", "99.99")
    broker.submit(order, 0)
    assert feed(book, broker, TradeTick(SYM, 10001, 50, BUY, 1, 1)).events == []
    assert feed(book, broker, TradeTick(SYM, 10000, 50, SELL, 2, 1)).events == []
    assert broker.queue_ahead(order.order_id) == 5


def test_cancels_ahead_advance_the_queue_pro_rata() -> None:
    book = make_book(bids=[(9999, 10)])
    broker = make_broker(book)
    order = make_order(BUY, "0.1", "99.99")
    broker.submit(order, 0)
    assert broker.queue_ahead(order.order_id) == 10
    feed(book, broker, level(book, BID, 9999, 20))  # 10 lots join behind us
    assert broker.queue_ahead(order.order_id) == 10
    feed(book, broker, level(book, BID, 9999, 13))  # 7 cancelled somewhere in the queue
    assert broker.queue_ahead(order.order_id) == 7  # 10 - floor(7 * 10 / 20)
    # A trade and the level update that reflects it count once, not twice.
    feed(book, broker, TradeTick(SYM, 9999, 2, SELL, 1, 2))
    assert broker.queue_ahead(order.order_id) == 5
    feed(book, broker, level(book, BID, 9999, 11))
    assert broker.queue_ahead(order.order_id) == 5
    feed(book, broker, level(book, BID, 9999, 0))  # everyone left: we are first
    assert broker.queue_ahead(order.order_id) == 0


def test_trade_through_our_price_fills_us_completely() -> None:
    book = make_book(bids=[(9999, 50), (9998, 20)])
    broker = make_broker(book)
    order = make_order(BUY, "0.8", "99.99")
    broker.submit(order, 0)
    [fill] = fills(feed(book, broker, TradeTick(SYM, 9998, 1, SELL, 1, 3)))
    assert (fill.qty, fill.price, fill.liquidity) == (D("0.8"), D("99.99"), Liquidity.MAKER)
    assert order.status is OrderStatus.FILLED


def test_asks_moving_through_our_bid_fill_us_at_our_price() -> None:
    book = make_book(bids=[(9990, 10)])
    broker = make_broker(book)
    order = make_order(BUY, "1.0", "99.99")
    broker.submit(order, 0)
    result = feed(book, broker, level(book, ASK, 9999, 4, ts=20))
    [fill] = fills(result)
    assert (fill.qty, fill.price, fill.liquidity) == (D("0.4"), D("99.99"), Liquidity.MAKER)
    # The embedded market: the incoming sell traded with us, its lots are gone.
    assert book.size_at(ASK, 9999) == 0
    assert result.market == [
        TradeTick(SYM, 9999, 4, SELL, 1, 20),
        LevelUpdate(SYM, ASK, 9999, 0, 102, 20),
    ]
    [rest] = fills(feed(book, broker, level(book, ASK, 9998, 20, ts=21)))
    assert (rest.qty, rest.price) == (D("0.6"), D("99.99"))
    assert order.status is OrderStatus.FILLED
    assert book.size_at(ASK, 9998) == 14


def test_crossing_level_on_a_live_feed_is_counted_once() -> None:
    book = make_book(bids=[(9990, 10)])
    broker = make_broker(book, consume=False)
    order = make_order(BUY, "1.0", "99.99")
    broker.submit(order, 0)
    [fill] = fills(feed(book, broker, level(book, ASK, 9999, 4)))
    assert fill.qty == D("0.4")
    assert book.size_at(ASK, 9999) == 4  # the live book is not ours to change
    assert fills(feed(book, broker, level(book, ASK, 9999, 3))) == []  # a cancel: nothing new
    [more] = fills(feed(book, broker, level(book, ASK, 9999, 5)))
    assert more.qty == D("0.2")  # only the 2 lots that arrived
    assert order.filled_qty == D("0.6")


def test_limit_resting_after_a_partial_cross_on_a_live_feed_does_not_refill() -> None:
    book = make_book()
    broker = make_broker(book, consume=False)
    order = make_order(BUY, "1.0", "100.01")
    [taken] = fills(broker.submit(order, 0))
    assert taken.qty == D("0.3")
    # The 3 lots at 100.01 are still displayed; a refresh of them is not new liquidity.
    assert fills(feed(book, broker, level(book, ASK, 10001, 3))) == []
    [fresh] = fills(feed(book, broker, level(book, ASK, 10001, 4)))
    assert fresh.qty == D("0.1")


def test_two_own_orders_at_one_price_share_the_traded_volume() -> None:
    book = make_book(bids=[(9999, 2)])
    broker = make_broker(book)
    first = make_order(BUY, "0.3", "99.99")
    second = make_order(BUY, "0.3", "99.99")
    broker.submit(first, 0)
    broker.submit(second, 0)
    # 2 public lots ahead of both; 4 traded: 2 to the queue, 2 to the first order, none left over.
    result = feed(book, broker, TradeTick(SYM, 9999, 4, SELL, 1, 1))
    assert [(f.order_id, f.qty) for f in fills(result)] == [(first.order_id, D("0.2"))]
    assert second.filled_qty == 0


def test_cancel_pending_and_resting_orders() -> None:
    book = make_book()
    broker = make_broker(book, latency_ns=1000)
    pending = make_order(BUY, "0.1")
    broker.submit(pending, 0)
    assert broker.cancel(pending.order_id, 10) is pending
    assert pending.status is OrderStatus.CANCELLED
    assert broker.advance(5000).events == []  # it never reaches the book

    resting = make_order(BUY, "0.1", "99.99")
    broker.submit(resting, 0)
    broker.advance(1000)
    assert broker.queue_ahead(resting.order_id) == 10
    assert broker.cancel(resting.order_id, 2000) is resting
    assert feed(book, broker, TradeTick(SYM, 9998, 1, SELL, 1, 2001)).events == []
    assert broker.cancel("nope", 0) is None
    assert broker.open_orders() == []


def test_restore_puts_an_order_back_in_the_queue() -> None:
    book = make_book()
    broker = make_broker(book)
    order = make_order(BUY, "0.5", "99.99")
    order.apply_fill(D("0.2"), D("19.998"), D(0), 0)
    broker.restore(order, queue_ahead_lots=1)
    assert broker.queue_ahead(order.order_id) == 1
    [fill] = fills(feed(book, broker, TradeTick(SYM, 9999, 10, SELL, 1, 1)))
    assert fill.qty == D("0.3")
    assert fill.mid_at_decision is None
    assert fill.slippage == 0
    assert order.status is OrderStatus.FILLED


# ---------------------------------------------------------------- latency


def test_order_reaches_the_book_only_after_latency_and_pays_for_the_move() -> None:
    book = make_book()
    broker = make_broker(book, latency_ns=1_000_000)
    order = make_order(BUY, "0.3")
    assert broker.submit(order, 0).events == []
    assert broker.next_arrival_ns() == 1_000_000
    # The market moves up while the order travels.
    book.apply_update(level(book, ASK, 10001, 0))
    book.apply_update(level(book, BID, 10000, 5))
    assert broker.advance(999_999).events == []
    assert order.filled_qty == 0
    [fill] = fills(broker.advance(1_000_000))
    assert fill.ts_event == 1_000_000
    assert fill.price == D("100.02")
    assert fill.mid_at_decision == D("100.00")  # the mid when we decided, not on arrival
    assert fill.slippage == D("0.006")  # (100.02 - 100.00) * 0.3
    assert broker.next_arrival_ns() is None


def test_pending_limit_is_not_filled_by_trades_before_it_arrives() -> None:
    book = make_book(bids=[(9999, 1)])
    broker = make_broker(book, latency_ns=500)
    order = make_order(BUY, "0.2", "99.99")
    broker.submit(order, 0)
    assert broker.queue_ahead(order.order_id) is None
    assert feed(book, broker, TradeTick(SYM, 9998, 50, SELL, 1, 100)).events == []
    [rested] = broker.advance(500).events
    assert isinstance(rested, BrokerRested)
    assert order.filled_qty == 0


# ---------------------------------------------------------------- config


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="latency"):
        BrokerConfig(latency_ns=-1)
    with pytest.raises(ValueError, match="taker"):
        FeeSchedule(taker=D("-0.001"))


def test_restore_cancels_an_order_that_cannot_rest() -> None:
    broker = make_broker(make_book())
    order = make_order(BUY, "0.5")
    broker.restore(order)
    assert order.status is OrderStatus.CANCELLED
    assert "restarted" in order.reason
    assert broker.open_orders() == []
    with pytest.raises(ValueError, match="cannot rest"):
        broker.restore(order)


def test_maker_and_taker_fills_pay_their_own_rates() -> None:
    book = make_book(bids=[(9990, 10)])
    fees = FeeSchedule(maker=D("0.0001"), taker=D("0.0005"))
    broker = make_broker(book, fees=fees)
    [taker] = fills(broker.submit(make_order(BUY, "0.3"), 0))
    assert taker.liquidity is Liquidity.TAKER
    assert taker.fee == D("0.0150015000")  # 30.003 * 0.0005
    broker.submit(make_order(SELL, "0.2", "100.05"), 0)
    [maker] = fills(feed(book, broker, TradeTick(SYM, 10005, 12, BUY, 1, 1)))
    assert maker.liquidity is Liquidity.MAKER
    assert maker.fee == D("0.0020010000")  # 20.01 * 0.0001
