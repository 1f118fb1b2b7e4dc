"""Shape validation of an order request: is this a well-formed order for this instrument?

Runs before the risk limits. Anything a person could type wrong (text for a number, zero, a
size off the lot grid, an unknown symbol) is caught here and comes back as a reason in words;
the engine turns it into ``OrderDenied``. The order ticket runs the same function to say why
before sending.

Every field is bounded: numbers go through ``parse_number`` (a huge exponent, a megabyte of
digits, NaN, ``True``, a list are refused in microseconds, before any grid arithmetic; numpy
scalars are read by value), text fields must be text of sane length, flags must be booleans, and
a reason quotes at most a few dozen characters of what it was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from typing import Final

from engine.messages import OrderDenied, SubmitOrder
from engine.model.instrument import Instrument
from engine.model.money import BadNumber, describe, parse_number
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
            client_id=cmd.client_id,  # checked: None or short text
            symbol=self.instrument.symbol,
            side=self.side,
            type=self.type,
            qty=self.qty,
            price=self.price,
            tif=self.tif,
            post_only=bool(cmd.post_only),  # checked: a boolean
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
            symbol=cmd.symbol if isinstance(cmd.symbol, str) else describe(cmd.symbol),
            reason=self.reason,
            limit=self.field,
            value=self.value,
            command=cmd,
            ts_ns=now_ns,
        )


MAX_TEXT_CHARS: Final = 64
"""Longest client id or source label accepted on an order."""

# A grid check (``qty % lot``) that the default 28 digits cannot do (a size near 1e30 over a tiny
# step) is redone at this precision, where every bounded number (below 1e30, at most 60 digits)
# over a grid step is exact.
_GRID_PRECISION: Final = 120


def _fmt(value: object) -> str:
    return "" if value is None else describe(value)


def _enum_text(value: object) -> str:
    """Lower-case text of a choice field (``side``, ``type``, ``tif``); ``""`` (never a valid
    choice) when it is not short text."""
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
        return ""
    return value.strip().lower()


def _on_grid(value: Decimal, step: Decimal) -> bool:
    try:
        return value % step == 0  # the common case, at the default precision
    except InvalidOperation:
        pass
    with localcontext() as ctx:
        ctx.prec = _GRID_PRECISION
        try:
            return value % step == 0
        except InvalidOperation:
            return False


def _is_blank(value: object) -> bool:
    """No price given: ``None`` or empty text (never ``==`` on arbitrary objects)."""
    return value is None or (isinstance(value, str) and not value.strip())


def _flag(value: object) -> bool | None:
    """A boolean flag as ``bool`` (numpy ``bool_`` too); ``None`` when it is not a boolean."""
    if isinstance(value, bool):
        return value
    if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):
        return bool(value)
    return None


def _number_reason(what: str, bad: BadNumber) -> str:
    return f"{what} {bad.why}"


def validate_order(
    cmd: SubmitOrder,
    instruments: Mapping[str, Instrument],
    mid: Decimal | None,
) -> ValidOrder | Invalid:
    """Check one request; ``mid`` prices market orders for the min-notional rule. Never raises,
    whatever the fields hold, and answers in microseconds."""
    inst = instruments.get(cmd.symbol) if isinstance(cmd.symbol, str) else None
    if inst is None:
        known = ", ".join(sorted(instruments))
        shown = _fmt(cmd.symbol)
        return Invalid("symbol", shown, f"unknown symbol {shown!r} (known: {known})")
    try:
        side = OrderSide(_enum_text(cmd.side))
    except ValueError:
        return Invalid(
            "side", _fmt(cmd.side), f"side must be 'buy' or 'sell', not {_fmt(cmd.side)!r}"
        )
    try:
        otype = OrderType(_enum_text(cmd.type))
    except ValueError:
        return Invalid(
            "type",
            _fmt(cmd.type),
            f"order type must be 'market' or 'limit', not {_fmt(cmd.type)!r}",
        )
    try:
        tif = TimeInForce(_enum_text(cmd.tif))
    except ValueError:
        return Invalid(
            "tif", _fmt(cmd.tif), f"time in force must be 'gtc' or 'ioc', not {_fmt(cmd.tif)!r}"
        )
    post_only, reduce_only = _flag(cmd.post_only), _flag(cmd.reduce_only)
    if post_only is None:
        return Invalid(
            "post_only",
            _fmt(cmd.post_only),
            f"post-only must be True or False, not {_fmt(cmd.post_only)!r}",
        )
    if reduce_only is None:
        return Invalid(
            "reduce_only",
            _fmt(cmd.reduce_only),
            f"reduce-only must be True or False, not {_fmt(cmd.reduce_only)!r}",
        )
    if cmd.client_id is not None and (
        not isinstance(cmd.client_id, str) or len(cmd.client_id) > MAX_TEXT_CHARS
    ):
        return Invalid(
            "client_id",
            _fmt(cmd.client_id),
            f"client order id must be text of at most {MAX_TEXT_CHARS} characters",
        )
    if not isinstance(cmd.source, str) or len(cmd.source) > MAX_TEXT_CHARS:
        return Invalid(
            "source",
            _fmt(cmd.source),
            f"order source must be text of at most {MAX_TEXT_CHARS} characters",
        )

    qty = parse_number(cmd.qty)
    if isinstance(qty, BadNumber):
        return Invalid("qty", qty.shown, _number_reason("quantity", qty))
    if qty <= 0:
        return Invalid("qty", _fmt(qty), f"quantity must be positive, got {qty}")
    if qty < inst.lot_size:
        return Invalid("qty", _fmt(qty), f"quantity {qty} is below the lot size {inst.lot_size}")
    if not _on_grid(qty, inst.lot_size):
        return Invalid(
            "qty", _fmt(qty), f"quantity {qty} is not a multiple of the lot size {inst.lot_size}"
        )

    price: Decimal | None = None
    if otype is OrderType.LIMIT:
        if _is_blank(cmd.price):
            return Invalid("price", "", "a limit order needs a price")
        parsed = parse_number(cmd.price)
        if isinstance(parsed, BadNumber):
            return Invalid("price", parsed.shown, _number_reason("price", parsed))
        price = parsed
        if price <= 0:
            return Invalid("price", _fmt(price), f"price must be positive, got {price}")
        if not _on_grid(price, inst.tick_size):
            return Invalid(
                "price", _fmt(price), f"price {price} is not on the tick size {inst.tick_size}"
            )
    else:
        if not _is_blank(cmd.price):
            return Invalid("price", _fmt(cmd.price), "a market order takes no price")
        if post_only:
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
