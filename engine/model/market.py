"""Market data as it flows inside the engine: integer ticks and lots, immutable.

Hot paths (book diffs at hundreds of thousands per second) stay in ints; the ``*View`` types in
``engine.snapshot`` turn them into ``Decimal`` for the UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from engine.model.orders import OrderSide


class BookSide(StrEnum):
    BID = "bid"
    ASK = "ask"


@dataclass(frozen=True, slots=True)
class LevelUpdate:
    """Absolute new size of one price level (``size_lots == 0`` removes the level)."""

    symbol: str
    side: BookSide
    price_ticks: int
    size_lots: int
    seq: int
    ts_ns: int


@dataclass(frozen=True, slots=True)
class TradeTick:
    """A public trade; ``aggressor`` is the side of the market order that caused it."""

    symbol: str
    price_ticks: int
    size_lots: int
    aggressor: OrderSide
    trade_id: int
    ts_ns: int


MarketEvent = LevelUpdate | TradeTick
