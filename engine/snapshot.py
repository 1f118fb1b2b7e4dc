"""Immutable views of engine state, published for other threads to read.

The engine builds a new ``EngineSnapshot`` after every command and at most every few
milliseconds while market data flows; readers (the UI bridge, scripts) just take the latest
reference. Nothing here is ever mutated after construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import TypeVar

from engine.model.fill import Fill
from engine.model.instrument import Instrument
from engine.model.orders import OrderSide, OrderView

Level = tuple[Decimal, Decimal]  # (price, qty)

_EMPTY: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class BookView:
    """Top levels of one book, best first on each side."""

    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    seq: int
    ts_ns: int

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0][0] + self.asks[0][0]) / 2

    @property
    def spread(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return self.asks[0][0] - self.bids[0][0]

    def estimate(self, side: OrderSide | str, qty: Decimal) -> FillEstimate:
        """What a market order of ``qty`` would cost walking the visible levels (no fees)."""
        levels = self.asks if OrderSide(side) is OrderSide.BUY else self.bids
        left = qty
        notional = Decimal(0)
        worst: Decimal | None = None
        for price, size in levels:
            if left <= 0:
                break
            take = min(left, size)
            notional += take * price
            left -= take
            worst = price
        filled = qty - left
        mid = self.mid
        vwap = (notional / filled) if filled else None
        slippage = None
        if vwap is not None and mid is not None:
            sign = 1 if OrderSide(side) is OrderSide.BUY else -1
            slippage = (vwap - mid) * filled * sign
        return FillEstimate(
            filled_qty=filled,
            unfilled_qty=left,
            notional=notional,
            vwap=vwap,
            worst_price=worst,
            mid=mid,
            slippage=slippage,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FillEstimate:
    filled_qty: Decimal
    unfilled_qty: Decimal
    notional: Decimal
    vwap: Decimal | None
    worst_price: Decimal | None
    mid: Decimal | None
    slippage: Decimal | None

    @property
    def slippage_bps(self) -> Decimal | None:
        if self.slippage is None or not self.notional:
            return None
        return (self.slippage / self.notional * 10000).quantize(Decimal("0.01"))


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeView:
    symbol: str
    price: Decimal
    qty: Decimal
    aggressor: OrderSide
    trade_id: int
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CandleView:
    """OHLCV bar built from trades; ``ts_open_ns`` is the bar's start, UTC."""

    ts_open_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionView:
    symbol: str
    qty: Decimal
    avg_price: Decimal | None
    cost_basis: Decimal
    mark: Decimal | None
    unrealised_pnl: Decimal
    realised_pnl: Decimal
    fees: Decimal

    @property
    def notional(self) -> Decimal:
        return self.qty * self.mark if self.mark is not None else self.cost_basis


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountView:
    currency: str
    initial_cash: Decimal
    cash: Decimal
    equity: Decimal
    realised_pnl: Decimal
    unrealised_pnl: Decimal
    fees: Decimal
    gross_exposure: Decimal
    net_exposure: Decimal
    start_of_day_equity: Decimal

    @property
    def pnl_today(self) -> Decimal:
        return self.equity - self.start_of_day_equity

    @property
    def leverage(self) -> Decimal:
        if self.equity <= 0:
            return Decimal(0) if not self.gross_exposure else Decimal("Infinity")
        return self.gross_exposure / self.equity


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskView:
    state: str = "ACTIVE"
    reason: str = ""
    limits: Mapping[str, Decimal | int] = field(default_factory=lambda: MappingProxyType({}))
    utilisation: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    audit: tuple[Mapping[str, str], ...] = ()
    orders_last_second: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineStats:
    venue: str
    running: bool
    book_updates: int
    trades: int
    updates_per_s: float
    loop_lag_ms_p50: float
    loop_lag_ms_p99: float
    loop_lag_ms_max: float
    storage_ok: bool
    storage_error: str
    feed_ok: bool
    uptime_s: float
    # The market-data feed's health as its source reports it (``engine.venues.base.FeedHealth``
    # values: live / stale / reconnecting / resyncing) and why it last changed.
    feed_health: str = "live"
    feed_health_reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineSnapshot:
    ts_ns: int
    venue: str
    symbols: tuple[str, ...]
    instruments: Mapping[str, Instrument]
    books: Mapping[str, BookView]
    trades: Mapping[str, tuple[TradeView, ...]]
    candles: Mapping[str, tuple[CandleView, ...]]
    candle_seconds: int
    positions: Mapping[str, PositionView]
    orders: Mapping[str, OrderView]
    recent_orders: tuple[OrderView, ...]
    fills: tuple[Fill, ...]
    account: AccountView
    risk: RiskView
    stats: EngineStats
    version: int


K = TypeVar("K")
V = TypeVar("V")


def frozen_map(items: Mapping[K, V]) -> Mapping[K, V]:
    """A read-only mapping over a private copy."""
    return MappingProxyType(dict(items))
