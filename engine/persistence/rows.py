"""Domain objects <-> table rows. Decimals travel as ``str(Decimal)``, so they come back exact.

Never let SQLite do arithmetic on these columns (``SUM`` would go through float); sum in Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from engine.model.fill import Fill, Liquidity
from engine.model.orders import OrderSide, OrderStatus, OrderType, OrderView, TimeInForce
from engine.portfolio import Position

Row = dict[str, Any]

ORDER_COLUMNS = (
    "order_id",
    "client_id",
    "symbol",
    "side",
    "type",
    "qty",
    "price",
    "tif",
    "post_only",
    "reduce_only",
    "status",
    "filled_qty",
    "avg_fill_price",
    "fees",
    "source",
    "reason",
    "ts_created",
    "ts_updated",
    "filled_notional",
)
FILL_COLUMNS = (
    "fill_id",
    "order_id",
    "symbol",
    "side",
    "qty",
    "price",
    "notional",
    "fee",
    "fee_asset",
    "liquidity",
    "mid_at_decision",
    "slippage",
    "levels",
    "ts_event",
    "ts_init",
)
POSITION_COLUMNS = ("symbol", "qty", "cost_basis", "realised_pnl", "fees", "ts_updated")

OPEN_STATUSES = tuple(s.value for s in OrderStatus if s.is_open)


def upsert_sql(table: str, columns: tuple[str, ...], key: str) -> str:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` over named parameters (a row's own ``seq``
    is kept, so insertion order survives updates)."""
    names = ", ".join(columns)
    params = ", ".join(f":{c}" for c in columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    return (
        f"INSERT INTO {table} ({names}) VALUES ({params}) "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )


def insert_sql(table: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(columns)
    params = ", ".join(f":{c}" for c in columns)
    return f"INSERT INTO {table} ({names}) VALUES ({params})"


def dec_text(value: Decimal) -> str:
    if not isinstance(value, Decimal):
        raise TypeError(f"expected a Decimal, got {type(value).__name__} {value!r}")
    return str(value)


def opt_dec_text(value: Decimal | None) -> str | None:
    return None if value is None else dec_text(value)


def text_dec(text: str) -> Decimal:
    return Decimal(text)


def opt_text_dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def order_row(o: OrderView) -> Row:
    return {
        "order_id": o.order_id,
        "client_id": o.client_id,
        "symbol": o.symbol,
        "side": o.side.value,
        "type": o.type.value,
        "qty": dec_text(o.qty),
        "price": opt_dec_text(o.price),
        "tif": o.tif.value,
        "post_only": int(o.post_only),
        "reduce_only": int(o.reduce_only),
        "status": o.status.value,
        "filled_qty": dec_text(o.filled_qty),
        "avg_fill_price": opt_dec_text(o.avg_fill_price),
        "fees": dec_text(o.fees),
        "source": o.source,
        "reason": o.reason,
        "ts_created": o.ts_created,
        "ts_updated": o.ts_updated,
        "filled_notional": dec_text(o.filled_notional),
    }


def order_from_row(r: Mapping[str, Any]) -> OrderView:
    return OrderView(
        order_id=r["order_id"],
        client_id=r["client_id"],
        symbol=r["symbol"],
        side=OrderSide(r["side"]),
        type=OrderType(r["type"]),
        qty=text_dec(r["qty"]),
        price=opt_text_dec(r["price"]),
        tif=TimeInForce(r["tif"]),
        post_only=bool(r["post_only"]),
        reduce_only=bool(r["reduce_only"]),
        status=OrderStatus(r["status"]),
        filled_qty=text_dec(r["filled_qty"]),
        avg_fill_price=opt_text_dec(r["avg_fill_price"]),
        fees=text_dec(r["fees"]),
        source=r["source"],
        reason=r["reason"],
        ts_created=r["ts_created"],
        ts_updated=r["ts_updated"],
        filled_notional=text_dec(r["filled_notional"]),
    )


def fill_row(f: Fill) -> Row:
    return {
        "fill_id": f.fill_id,
        "order_id": f.order_id,
        "symbol": f.symbol,
        "side": f.side.value,
        "qty": dec_text(f.qty),
        "price": dec_text(f.price),
        "notional": dec_text(f.notional),
        "fee": dec_text(f.fee),
        "fee_asset": f.fee_asset,
        "liquidity": f.liquidity.value,
        "mid_at_decision": opt_dec_text(f.mid_at_decision),
        "slippage": dec_text(f.slippage),
        "levels": f.levels,
        "ts_event": f.ts_event,
        "ts_init": f.ts_init,
    }


def fill_from_row(r: Mapping[str, Any]) -> Fill:
    return Fill(
        fill_id=r["fill_id"],
        order_id=r["order_id"],
        symbol=r["symbol"],
        side=OrderSide(r["side"]),
        qty=text_dec(r["qty"]),
        price=text_dec(r["price"]),
        notional=text_dec(r["notional"]),
        fee=text_dec(r["fee"]),
        fee_asset=r["fee_asset"],
        liquidity=Liquidity(r["liquidity"]),
        mid_at_decision=opt_text_dec(r["mid_at_decision"]),
        slippage=text_dec(r["slippage"]),
        levels=r["levels"],
        ts_event=r["ts_event"],
        ts_init=r["ts_init"],
    )


def position_row(p: Position, ts_ns: int) -> Row:
    return {
        "symbol": p.symbol,
        "qty": dec_text(p.qty),
        "cost_basis": dec_text(p.cost_basis),
        "realised_pnl": dec_text(p.realised_pnl),
        "fees": dec_text(p.fees),
        "ts_updated": ts_ns,
    }


def position_from_row(r: Mapping[str, Any]) -> Position:
    return Position(
        symbol=r["symbol"],
        qty=text_dec(r["qty"]),
        cost_basis=text_dec(r["cost_basis"]),
        realised_pnl=text_dec(r["realised_pnl"]),
        fees=text_dec(r["fees"]),
    )


_TRAILING_DIGITS = re.compile(r"(\d+)$")


def max_seq(ids: Iterable[str]) -> int:
    """Largest numeric suffix among ids like ``O-000042`` (0 if none has one)."""
    best = 0
    for ident in ids:
        m = _TRAILING_DIGITS.search(ident)
        if m is not None:
            best = max(best, int(m.group(1)))
    return best
