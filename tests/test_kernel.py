"""The kernel on its own: a hand-built book, a test clock, a recording sink.

The engine-level tests (``test_engine_invariants.py``) pin the invariants through the public
API; these pin the fill-time rules where a single market event fills several orders at once,
which the sim venue cannot be made to do on demand.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.book import OrderBook
from engine.core import Kernel, KernelContext, KernelSink
from engine.matching import BrokerConfig, FeeSchedule
from engine.messages import (
    OrderCancelled,
    OrderFilled,
    SubmitOrder,
    TradingStateChanged,
)
from engine.model.fill import Fill
from engine.model.instrument import Instrument
from engine.model.market import BookSide, TradeTick
from engine.model.orders import Order, OrderSide
from engine.portfolio import Portfolio
from engine.risk import RiskEngine, RiskLimits

INST = Instrument("BTC/USDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.001"), Decimal("0.5"))
SYM = INST.symbol
LIMITS = RiskLimits.from_strings(
    {
        "max_position_pct": "500",
        "max_gross_exposure_pct": "500",
        "max_leverage": "5",
        "max_orders_per_second": "50",
    }
)


class _Recorder(KernelSink):
    def __init__(self) -> None:
        self.events: list[Any] = []

    def order_filled(self, order: Order, fill: Fill, event: OrderFilled) -> None:
        self.events.append(event)

    def order_closed(self, order: Order, event: Any) -> None:
        self.events.append(event)

    def state_changed(self, change: Any, event: TradingStateChanged) -> None:
        self.events.append(event)


def _kernel() -> tuple[Kernel, OrderBook, _Recorder, list[int]]:
    book = OrderBook(INST)
    # 100.00 / 100.01, 5 lots a side
    book.set_level(BookSide.BID, 10000, 5000)
    book.set_level(BookSide.ASK, 10001, 5000)
    now = [1_700_000_000_000_000_000]
    sink = _Recorder()
    kernel = Kernel(
        instruments={SYM: INST},
        books={SYM: book},
        broker=BrokerConfig(fees=FeeSchedule(), latency_ns=0, consume_liquidity=False),
        risk=RiskEngine(LIMITS),
        portfolio=Portfolio.new(Decimal(10000), [SYM]),
        clock=lambda: now[0],
        sink=sink,
    )
    kernel.last_book_ns[SYM] = now[0]
    return kernel, book, sink, now


def _order(side: str, qty: str, price: str | None = None, **kw: Any) -> SubmitOrder:
    return SubmitOrder(
        symbol=SYM,
        side=side,
        type="market" if price is None else "limit",
        qty=Decimal(qty),
        price=None if price is None else Decimal(price),
        **kw,
    )


def test_reduce_only_filled_in_the_same_print_as_the_close_opens_nothing() -> None:
    kernel, _, sink, now = _kernel()
    assert isinstance(kernel.submit(_order("buy", "0.02")), OrderFilled)
    assert kernel.position(SYM) == Decimal("0.02")
    # the reduce-only first (it reduces), then a plain sell at a better price
    reduce_only = kernel.submit(_order("sell", "0.02", "101.00", reduce_only=True))
    plain = kernel.submit(_order("sell", "0.02", "100.99"))
    assert reduce_only.order.order_id in kernel.orders
    assert plain.order.order_id in kernel.orders
    # one print through 101.00 reaches both resting sells at once
    now[0] += 1
    kernel.on_market(TradeTick(SYM, 10101, 0, OrderSide.BUY, 1, now[0]))
    assert kernel.position(SYM) == 0  # the plain sell closed it; the reduce-only opened nothing
    fills = [e for e in sink.events if isinstance(e, OrderFilled)]
    assert [f.order.order_id for f in fills][-1] == plain.order.order_id
    closed = [e for e in sink.events if isinstance(e, OrderCancelled)]
    assert [c.order.order_id for c in closed] == [reduce_only.order.order_id]
    assert closed[0].order.filled_qty == 0
    assert not kernel.orders


def test_reduce_only_remainder_shrinks_with_the_position() -> None:
    kernel, _, _sink, _ = _kernel()
    kernel.submit(_order("buy", "0.02"))
    reduce_only = kernel.submit(_order("sell", "0.02", "101.00", reduce_only=True))
    oid = reduce_only.order.order_id
    kernel.submit(_order("sell", "0.015"))  # the position shrinks to 0.005
    assert kernel.position(SYM) == Decimal("0.005")
    assert kernel.orders[oid].remaining_qty == Decimal("0.005")
    assert kernel.broker.open_orders()[0].qty == Decimal("0.005")


def test_a_halt_cancels_orders_that_add_risk_and_caps_the_ones_that_stay() -> None:
    kernel, _, sink, now = _kernel()
    kernel.submit(_order("buy", "0.02"))
    adds = kernel.submit(_order("buy", "0.01", "99.00"))
    reduces = kernel.submit(_order("sell", "0.01", "101.00"))
    too_big = kernel.submit(_order("sell", "0.05", "102.00"))  # would flip to short
    kernel.halt("test halt", now[0])
    halt = [e for e in sink.events if isinstance(e, TradingStateChanged)]
    assert [(h.state, h.orders_cancelled) for h in halt] == [("HALTED", 2)]
    assert set(kernel.orders) == {reduces.order.order_id}
    cancelled = {e.order.order_id for e in sink.events if isinstance(e, OrderCancelled)}
    assert cancelled == {adds.order.order_id, too_big.order.order_id}


def test_the_daily_loss_halt_lifts_at_the_next_utc_day_only() -> None:
    kernel, book, sink, now = _kernel()
    ctx = KernelContext(kernel, INST, FeeSchedule())
    kernel.check_equity(now[0])
    assert isinstance(ctx.submit(_order("buy", "4")), OrderFilled)  # ~400 USDT long
    kernel.risk.update_limits({"max_daily_loss_pct": "0.05"})
    # the price falls 2 %: halted
    book.set_level(BookSide.BID, 10000, 0)
    book.set_level(BookSide.ASK, 10001, 0)
    book.set_level(BookSide.BID, 9800, 5000)
    book.set_level(BookSide.ASK, 9801, 5000)
    now[0] += 1_000_000_000
    kernel.check_equity(now[0])
    assert kernel.risk.state_name == "HALTED"
    # still the same day: stays halted
    now[0] += 3_600_000_000_000
    kernel.check_equity(now[0])
    assert kernel.risk.state_name == "HALTED"
    # the next UTC day: lifted, once
    day = 86_400_000_000_000
    now[0] = (now[0] // day + 1) * day
    kernel.check_equity(now[0])
    kernel.check_equity(now[0] + 1)
    states = [(e.state, e.reason) for e in sink.events if isinstance(e, TradingStateChanged)]
    assert states[0][0] == "HALTED"
    assert states[0][1].startswith("daily loss")
    assert states[1:] == [("ACTIVE", f"new trading day {kernel.risk.current_day}")]
    # a halt for any other reason is not lifted by the day roll
    kernel.halt("by hand", now[0])
    now[0] += day
    kernel.check_equity(now[0])
    assert kernel.risk.state_name == "HALTED"
    assert kernel.risk.reason == "by hand"
