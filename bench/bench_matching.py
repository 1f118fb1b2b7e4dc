"""Paper broker latency: from a market event to the fill it causes, and market-order submit to fill.

Timed on a realistic book (20 levels a side, BTC grid) with a few other resting orders of ours, so
the broker's per-event lookups are not measured on an empty state. Only the broker call is timed;
setting up each round (resting a fresh order, refilling consumed depth) is not.
"""

from __future__ import annotations

import itertools
import statistics
import time

from engine.book import OrderBook
from engine.matching import BrokerConfig, BrokerFill, PaperBroker
from engine.model.instrument import DEFAULT_INSTRUMENTS
from engine.model.market import BookSide, LevelUpdate, TradeTick
from engine.model.orders import Order, OrderSide, OrderStatus, OrderType

INST = DEFAULT_INSTRUMENTS["BTC/USDT"]
SYM = INST.symbol
MID = 6_500_000  # 65,000.00 in ticks
LEVELS = [(i, 100 + 7 * i) for i in range(1, 21)]
ROUNDS = 5_000


def _book() -> OrderBook:
    book = OrderBook(INST)
    book.apply_snapshot(
        [(MID - i, size) for i, size in LEVELS], [(MID + i, size) for i, size in LEVELS], seq=1
    )
    return book


def _order(n: int, side: OrderSide, lots: int, price_ticks: int | None) -> Order:
    order = Order(
        order_id=f"B{n}",
        client_id=None,
        symbol=SYM,
        side=side,
        type=OrderType.MARKET if price_ticks is None else OrderType.LIMIT,
        qty=INST.lots_to_qty(lots),
        price=None if price_ticks is None else INST.ticks_to_price(price_ticks),
    )
    order.transition(OrderStatus.ACCEPTED, 0)
    return order


def _broker(book: OrderBook) -> PaperBroker:
    ids = itertools.count(1)
    return PaperBroker({SYM: book}, BrokerConfig(), lambda: f"F{next(ids)}")


def _percentiles(samples_ns: list[int]) -> tuple[float, float]:
    q = statistics.quantiles(samples_ns, n=100, method="inclusive")
    return q[49] / 1000.0, q[98] / 1000.0


def trade_to_fill(rounds: int = ROUNDS) -> list[int]:
    """on_market(TradeTick) that fills a resting bid: ns from the call to the fill in hand."""
    book = _book()
    broker = _broker(book)
    ids = itertools.count(1)
    for k in range(1, 6):  # other resting orders of ours, away from the action
        broker.submit(_order(next(ids), OrderSide.BUY, 10, MID - 10 - k), 0)
        broker.submit(_order(next(ids), OrderSide.SELL, 10, MID + 10 + k), 0)
    price = MID - 1
    samples: list[int] = []
    for i in range(rounds):
        order = _order(next(ids), OrderSide.BUY, 20, price)
        broker.submit(order, i)
        ahead = broker.queue_ahead(order.order_id)
        if ahead is None:
            raise RuntimeError("the bench order did not rest")
        tick = TradeTick(SYM, price, ahead + 20, OrderSide.SELL, i + 1, i)
        t0 = time.perf_counter_ns()
        result = broker.on_market(tick)
        samples.append(time.perf_counter_ns() - t0)
        if not isinstance(result.events[-1], BrokerFill):
            raise RuntimeError(f"expected a fill, got {result.events}")
    return samples


def quiet_update(rounds: int = ROUNDS) -> list[int]:
    """on_market(LevelUpdate) at a level where we rest (queue bookkeeping, no fill)."""
    book = _book()
    broker = _broker(book)
    price = MID - 1
    broker.submit(_order(1, OrderSide.BUY, 20, price), 0)
    base = book.size_at(BookSide.BID, price)
    samples: list[int] = []
    for i in range(rounds):
        update = LevelUpdate(SYM, BookSide.BID, price, base + i % 7, book.seq + 1, i)
        book.apply_update(update)
        t0 = time.perf_counter_ns()
        broker.on_market(update)
        samples.append(time.perf_counter_ns() - t0)
    return samples


def market_submit_to_fill(rounds: int = ROUNDS, walk_levels: int = 3) -> list[int]:
    """submit(market order) walking ``walk_levels`` levels, consuming them (embedded market)."""
    book = _book()
    broker = _broker(book)
    lots = sum(size for _, size in LEVELS[: walk_levels - 1]) + 1
    samples: list[int] = []
    for i in range(rounds):
        order = _order(i, OrderSide.BUY, lots, None)
        t0 = time.perf_counter_ns()
        result = broker.submit(order, i)
        samples.append(time.perf_counter_ns() - t0)
        fill = result.events[0]
        if not isinstance(fill, BrokerFill) or fill.fill.levels != walk_levels:
            raise RuntimeError(f"expected a {walk_levels}-level fill, got {result.events}")
        for off, size in LEVELS[:walk_levels]:  # the market refills what we took
            book.set_level(BookSide.ASK, MID + off, size)
    return samples


def run() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name, samples in (
        ("trade tick -> resting fill", trade_to_fill()),
        ("level update at our price (no fill)", quiet_update()),
        ("market order submit -> fill (3 levels)", market_submit_to_fill()),
    ):
        p50, p99 = _percentiles(samples)
        rows.append({"name": f"{name} p50", "value": round(p50, 2), "unit": "us", "target": ""})
        rows.append(
            {"name": f"{name} p99", "value": round(p99, 2), "unit": "us", "target": "<= 1000"}
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<48} {row['value']:>10} {row['unit']:<3} target {row['target']}")
