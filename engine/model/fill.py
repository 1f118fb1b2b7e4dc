"""Fills: one matching event of one order, with what it really cost."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from engine.model.orders import OrderSide


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill:
    """A fill at VWAP ``price`` over ``levels`` book levels.

    ``notional`` is the exact sum of price x size over the consumed levels (``price`` is that
    divided by ``qty`` and rounded, for display). ``slippage`` is the signed cost against the mid
    at decision time, in quote currency: positive means worse than mid.
    """

    fill_id: str
    order_id: str
    symbol: str
    side: OrderSide
    qty: Decimal
    price: Decimal
    notional: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: Liquidity
    mid_at_decision: Decimal | None
    slippage: Decimal
    levels: int
    ts_event: int
    ts_init: int

    @property
    def slippage_bps(self) -> Decimal:
        if not self.notional:
            return Decimal(0)
        return (self.slippage / self.notional * 10000).quantize(Decimal("0.01"))
