"""Exact domain types: instruments, orders, fills, market data."""

from engine.model.fill import Fill, Liquidity
from engine.model.instrument import DEFAULT_INSTRUMENTS, Instrument
from engine.model.market import BookSide, LevelUpdate, MarketEvent, TradeTick
from engine.model.money import MONEY_QUANTUM, fee_amount, money, parse_decimal
from engine.model.orders import (
    IllegalTransition,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderView,
    TimeInForce,
)

__all__ = [
    "DEFAULT_INSTRUMENTS",
    "MONEY_QUANTUM",
    "BookSide",
    "Fill",
    "IllegalTransition",
    "Instrument",
    "LevelUpdate",
    "Liquidity",
    "MarketEvent",
    "Order",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "OrderView",
    "TimeInForce",
    "TradeTick",
    "fee_amount",
    "money",
    "parse_decimal",
]
