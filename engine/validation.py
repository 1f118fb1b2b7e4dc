"""Shape validation of an order request: is this a well-formed order for this instrument?

Runs before the risk limits. Anything a person could type wrong (text for a number, zero, a
size off the lot grid, an unknown symbol) is caught here and comes back as a reason in words;
the engine turns it into ``OrderDenied``. The order ticket runs the same function to say why
before sending.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from engine.messages import OrderDenied, SubmitOrder
from engine.model.instrument import Instrument
from engine.model.money import parse_decimal
from engine.model.orders import Order, OrderSide, OrderType, TimeInForce


@dataclass(frozen=True, slots=True)
class ValidOrder:
    """A request that passed shape checks, with typed fields."""

    instrument: Instrument
    side: OrderSide
    type: OrderType
    qty: Decimal
    price: Decimal | None
    tif: TimeInForce

    def new_order(self, cmd: SubmitOrder, order_id: str, now_ns: int) -> Order:
        """The engine's order for this request (state NEW). Live, backtest and replay all build
        orders here, so an order means the same thing on every path."""
        return Order(
            order_id=order_id,
            client_id=cmd.client_id,
            symbol=self.instrument.symbol,
            side=self.side,
            type=self.type,
            qty=self.qty,
            price=self.price,
            tif=self.tif,
            post_only=bool(cmd.post_only),
            reduce_only=bool(cmd.reduce_only),
            source=cmd.source,
            ts_created=now_ns,
            ts_updated=now_ns,
        )


@dataclass(frozen=True, slots=True)
class Invalid:
    field: str
    value: str
    reason: str

    def denied(self, cmd: SubmitOrder, now_ns: int) -> OrderDenied:
        """The refusal event for a malformed request (it never became an order: no id)."""
        return OrderDenied(
            order_id="",
            client_id=cmd.client_id,
            symbol=str(cmd.symbol),
            reason=self.reason,
            limit=self.field,
            value=self.value,
            command=cmd,
            ts_ns=now_ns,
        )


def _fmt(value: object) -> str:
    return "" if value is None else str(value)


def validate_order(
    cmd: SubmitOrder,
    instruments: Mapping[str, Instrument],
    mid: Decimal | None,
) -> ValidOrder | Invalid:
    """Check one request; ``mid`` prices market orders for the min-notional rule."""
    inst = instruments.get(cmd.symbol) if isinstance(cmd.symbol, str) else None
    if inst is None:
        known = ", ".join(sorted(instruments))
        return Invalid(
            "symbol", _fmt(cmd.symbol), f"unknown symbol {cmd.symbol!r} (known: {known})"
        )
    try:
        side = OrderSide(str(cmd.side).lower())
    except ValueError:
        return Invalid("side", _fmt(cmd.side), f"side must be 'buy' or 'sell', not {cmd.side!r}")
    try:
        otype = OrderType(str(cmd.type).lower())
    except ValueError:
        return Invalid(
            "type", _fmt(cmd.type), f"type must be 'market' or 'limit', not {cmd.type!r}"
        )
    try:
        tif = TimeInForce(str(cmd.tif).lower())
    except ValueError:
        return Invalid(
            "tif", _fmt(cmd.tif), f"time in force must be 'gtc' or 'ioc', not {cmd.tif!r}"
        )

    qty = parse_decimal(cmd.qty)
    if qty is None:
        return Invalid("qty", _fmt(cmd.qty), f"quantity {cmd.qty!r} is not a number")
    if qty <= 0:
        return Invalid("qty", _fmt(qty), f"quantity must be positive, got {qty}")
    if qty < inst.lot_size:
        return Invalid("qty", _fmt(qty), f"quantity {qty} is below the lot size {inst.lot_size}")
    if not inst.is_on_lot(qty):
        return Invalid(
            "qty", _fmt(qty), f"quantity {qty} is not a multiple of the lot size {inst.lot_size}"
        )

    price: Decimal | None = None
    if otype is OrderType.LIMIT:
        if cmd.price is None or cmd.price == "":
            return Invalid("price", "", "a limit order needs a price")
        price = parse_decimal(cmd.price)
        if price is None:
            return Invalid("price", _fmt(cmd.price), f"price {cmd.price!r} is not a number")
        if price <= 0:
            return Invalid("price", _fmt(price), f"price must be positive, got {price}")
        if not inst.is_on_tick(price):
            return Invalid(
                "price", _fmt(price), f"price {price} is not on the tick size {inst.tick_size}"
            )
    else:
        if cmd.price not in (None, ""):
            return Invalid("price", _fmt(cmd.price), "a market order takes no price")
        if cmd.post_only:
            return Invalid("post_only", "true", "a market order cannot be post-only")

    reference = price if price is not None else mid
    if reference is not None and qty * reference < inst.min_notional:
        notional = (qty * reference).quantize(Decimal("0.01"))
        return Invalid(
            "qty",
            _fmt(qty),
            f"order value {notional} {inst.quote} is below the minimum notional "
            f"{inst.min_notional} {inst.quote}",
        )
    return ValidOrder(inst, side, otype, qty, price, tif)
