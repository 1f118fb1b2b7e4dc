"""The paper broker on the embedded market: the two share books, so they must agree."""

from __future__ import annotations

import itertools
import random
from decimal import Decimal

from engine.matching import BrokerConfig, BrokerFill, PaperBroker
from engine.model.fill import Fill, Liquidity
from engine.model.instrument import DEFAULT_INSTRUMENTS
from engine.model.orders import Order, OrderSide, OrderStatus, OrderType
from engine.portfolio import Portfolio
from engine.venues.sim import SimMarket

INSTRUMENTS = {s: DEFAULT_INSTRUMENTS[s] for s in ("BTC/USDT", "ETH/USDT")}
STEP_NS = 20_000_000


def trade_on_sim(seed: int, steps: int = 1500) -> tuple[list[Fill], list[Order], Portfolio]:
    sim = SimMarket(INSTRUMENTS, seed, 0)
    fill_ids = itertools.count(1)
    broker = PaperBroker(sim.books, BrokerConfig(latency_ns=STEP_NS), lambda: f"F{next(fill_ids)}")
    portfolio = Portfolio.new(Decimal(100_000), INSTRUMENTS)
    rng = random.Random(seed)
    fills: list[Fill] = []
    orders: list[Order] = []
    now = 0
    for _ in range(steps):
        now += STEP_NS
        results = [broker.on_market(ev) for ev in sim.step_until(now)]
        results.append(broker.advance(now))
        if rng.random() < 0.2:
            symbol = rng.choice(sorted(INSTRUMENTS))
            inst, book = INSTRUMENTS[symbol], sim.books[symbol]
            side = rng.choice([OrderSide.BUY, OrderSide.SELL])
            best = book.best_bid() if side is OrderSide.BUY else book.best_ask()
            assert best is not None
            market = rng.random() < 0.3
            order = Order(
                order_id=f"O{len(orders)}",
                client_id=None,
                symbol=symbol,
                side=side,
                type=OrderType.MARKET if market else OrderType.LIMIT,
                qty=inst.lots_to_qty(rng.randint(1, 200)),
                price=None
                if market
                else inst.ticks_to_price(best[0] + side.sign * rng.randint(-20, 2)),
            )
            order.transition(OrderStatus.ACCEPTED, now)
            orders.append(order)
            results.append(broker.submit(order, now))
        for result in results:
            for ev in result.events:
                if isinstance(ev, BrokerFill):
                    fills.append(ev.fill)
                    portfolio.apply_fill(ev.fill)
        for book in sim.books.values():
            assert not book.is_crossed()  # our consumption never leaves the shared book crossed
    marks = {s: b.mid() for s, b in sim.books.items()}
    pnl = portfolio.realised_pnl() + portfolio.unrealised_pnl(marks) - portfolio.fees()
    assert portfolio.equity(marks) - portfolio.initial_cash == pnl
    return fills, orders, portfolio


def test_paper_trading_on_the_embedded_market_is_consistent_and_repeatable() -> None:
    fills, orders, _ = trade_on_sim(seed=11)
    kinds = {f.liquidity for f in fills}
    assert kinds == {Liquidity.MAKER, Liquidity.TAKER}  # resting orders do get filled
    for order in orders:
        mine = [f for f in fills if f.order_id == order.order_id]
        assert order.filled_qty == sum((f.qty for f in mine), Decimal(0))
        assert order.filled_qty + order.remaining_qty == order.qty
    again, _, _ = trade_on_sim(seed=11)
    assert again == fills
