"""Real ``EngineSnapshot``s built by hand, for widget tests (no engine thread, no mocks).

``make_snapshot()`` gives a complete, valid snapshot of the five default instruments: a 20-level
book per symbol on the instrument's grid, ten recent trades (oldest first, as the engine keeps
them), thirty one-minute candles, a flat account. Override any ``EngineSnapshot`` field by keyword;
plain dicts are frozen for you, and ``orders`` may be a list of ``OrderView``s.
``evolve(snap, ...)`` makes the next frame: mapping fields given as plain dicts (or ``orders`` as
a list) are *merged* into the old ones, so ``evolve(snap, books={"BTC/USDT": b})`` changes one
book; pass ``frozen_map({...})`` to replace a mapping wholesale. ``version`` goes up by one.

Level sizes follow a fixed pattern so cumulative sums are easy to assert on; see ``SPECS`` for the
best bid/ask, level step and size unit of each symbol.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from engine.model.fill import Fill, Liquidity
from engine.model.instrument import DEFAULT_INSTRUMENTS, Instrument
from engine.model.money import fee_amount
from engine.model.orders import OrderSide, OrderStatus, OrderType, OrderView, TimeInForce
from engine.snapshot import (
    AccountView,
    BookView,
    CandleView,
    EngineSnapshot,
    EngineStats,
    Level,
    PositionView,
    RiskView,
    TradeView,
    frozen_map,
)

D = Decimal
NumberLike = Decimal | str | int

# 2026-04-22 12:34:56.789 UTC: a snapshot "now" that is not on a minute boundary.
T0_NS = int(datetime(2026, 4, 22, 12, 34, 56, tzinfo=UTC).timestamp()) * 10**9 + 789_000_000
CANDLE_SECONDS = 60
# Level i (0 = best) of every default book has size_unit * SIZE_PATTERN[i % 10].
SIZE_PATTERN = (3, 1, 4, 1, 5, 9, 2, 6, 5, 8)


@dataclass(frozen=True, slots=True)
class BookSpec:
    best_bid: Decimal
    best_ask: Decimal
    step: Decimal  # price distance between levels
    size_unit: Decimal


SPECS: dict[str, BookSpec] = {
    "BTC/USDT": BookSpec(D("60000.00"), D("60000.10"), D("0.10"), D("0.01")),
    "ETH/USDT": BookSpec(D("3000.00"), D("3000.05"), D("0.05"), D("0.1")),
    "SOL/USDT": BookSpec(D("150.00"), D("150.02"), D("0.01"), D("1")),
    "BNB/USDT": BookSpec(D("600.00"), D("600.10"), D("0.10"), D("0.1")),
    "XRP/USDT": BookSpec(D("0.5000"), D("0.5001"), D("0.0001"), D("100")),
}


def _d(value: NumberLike) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


def _levels(levels: Iterable[tuple[NumberLike, NumberLike]]) -> tuple[Level, ...]:
    return tuple((_d(p), _d(q)) for p, q in levels)


def default_levels(symbol: str, side: str, n: int = 20) -> tuple[Level, ...]:
    """``n`` levels best first: prices step away from the best, sizes follow ``SIZE_PATTERN``."""
    spec = SPECS[symbol]
    sign = -1 if side == "bid" else 1
    best = spec.best_bid if side == "bid" else spec.best_ask
    return tuple(
        (best + sign * i * spec.step, spec.size_unit * SIZE_PATTERN[i % len(SIZE_PATTERN)])
        for i in range(n)
    )


def book_view(
    symbol: str = "BTC/USDT",
    *,
    bids: Iterable[tuple[NumberLike, NumberLike]] | None = None,
    asks: Iterable[tuple[NumberLike, NumberLike]] | None = None,
    levels: int = 20,
    seq: int = 1,
    ts_ns: int = T0_NS,
) -> BookView:
    """A book of ``symbol``: the default ladder, or exactly the ``bids``/``asks`` given."""
    return BookView(
        symbol=symbol,
        bids=_levels(bids) if bids is not None else default_levels(symbol, "bid", levels),
        asks=_levels(asks) if asks is not None else default_levels(symbol, "ask", levels),
        seq=seq,
        ts_ns=ts_ns,
    )


def trade_view(
    symbol: str = "BTC/USDT",
    price: NumberLike = "60000.10",
    qty: NumberLike = "0.01",
    aggressor: OrderSide | str = OrderSide.BUY,
    trade_id: int = 1,
    ts_ns: int = T0_NS,
) -> TradeView:
    return TradeView(
        symbol=symbol,
        price=_d(price),
        qty=_d(qty),
        aggressor=OrderSide(aggressor),
        trade_id=trade_id,
        ts_ns=ts_ns,
    )


def default_trades(symbol: str, n: int = 10, *, end_ns: int = T0_NS) -> tuple[TradeView, ...]:
    """``n`` trades oldest first, 250 ms apart, the last at ``end_ns``; buys lift the ask."""
    spec = SPECS[symbol]
    out = []
    for i in range(n):
        buy = i % 3 != 1
        out.append(
            trade_view(
                symbol,
                spec.best_ask if buy else spec.best_bid,
                spec.size_unit * (i % 4 + 1),
                OrderSide.BUY if buy else OrderSide.SELL,
                trade_id=i + 1,
                ts_ns=end_ns - (n - 1 - i) * 250_000_000,
            )
        )
    return tuple(out)


def candle_view(
    ts_open_ns: int,
    open: NumberLike,
    high: NumberLike,
    low: NumberLike,
    close: NumberLike,
    volume: NumberLike,
) -> CandleView:
    return CandleView(
        ts_open_ns=ts_open_ns,
        open=_d(open),
        high=_d(high),
        low=_d(low),
        close=_d(close),
        volume=_d(volume),
    )


def default_candles(
    symbol: str, n: int = 30, *, seconds: int = CANDLE_SECONDS, now_ns: int = T0_NS
) -> tuple[CandleView, ...]:
    """``n`` bars oldest first; the last one is the bar forming at ``now_ns``. Zig-zag closes."""
    spec = SPECS[symbol]
    step_ns = seconds * 10**9
    last_open = now_ns // step_ns * step_ns
    price = spec.best_bid
    out = []
    for i in range(n):
        move = spec.step * (i % 7 - 3)
        open_, close = price, price + move
        high = max(open_, close) + spec.step
        low = min(open_, close) - spec.step
        ts = last_open - (n - 1 - i) * step_ns
        out.append(candle_view(ts, open_, high, low, close, spec.size_unit * (i % 5 + 1)))
        price = close
    return tuple(out)


def order_view(
    order_id: str = "o-1",
    *,
    symbol: str = "BTC/USDT",
    side: OrderSide | str = OrderSide.BUY,
    qty: NumberLike = "0.05",
    price: NumberLike | None = "59999.00",
    type: OrderType | str = OrderType.LIMIT,
    status: OrderStatus | str = OrderStatus.ACCEPTED,
    filled_qty: NumberLike = "0",
    avg_fill_price: NumberLike | None = None,
    fees: NumberLike = "0",
    tif: TimeInForce | str = TimeInForce.GTC,
    client_id: str | None = None,
    source: str = "manual",
    reason: str = "",
    ts_created: int = T0_NS,
    ts_updated: int = T0_NS,
) -> OrderView:
    return OrderView(
        order_id=order_id,
        client_id=client_id,
        symbol=symbol,
        side=OrderSide(side),
        type=OrderType(type),
        qty=_d(qty),
        price=_d(price) if price is not None else None,
        tif=TimeInForce(tif),
        post_only=False,
        reduce_only=False,
        status=OrderStatus(status),
        filled_qty=_d(filled_qty),
        avg_fill_price=_d(avg_fill_price) if avg_fill_price is not None else None,
        fees=_d(fees),
        source=source,
        reason=reason,
        ts_created=ts_created,
        ts_updated=ts_updated,
    )


def make_fill(
    fill_id: str = "f-1",
    *,
    order_id: str = "o-1",
    symbol: str = "BTC/USDT",
    side: OrderSide | str = OrderSide.BUY,
    qty: NumberLike = "0.01",
    price: NumberLike = "60000.10",
    mid: NumberLike | None = "60000.05",
    liquidity: Liquidity | str = Liquidity.TAKER,
    levels: int = 1,
    fee_rate: NumberLike = "0.001",
    ts_event: int = T0_NS,
    ts_init: int | None = None,
) -> Fill:
    """A consistent fill: notional = qty * price, fee at ``fee_rate``, slippage against ``mid``."""
    side = OrderSide(side)
    qty_d, price_d = _d(qty), _d(price)
    notional = qty_d * price_d
    mid_d = _d(mid) if mid is not None else None
    slippage = (price_d - mid_d) * qty_d * side.sign if mid_d is not None else D(0)
    return Fill(
        fill_id=fill_id,
        order_id=order_id,
        symbol=symbol,
        side=side,
        qty=qty_d,
        price=price_d,
        notional=notional,
        fee=fee_amount(notional, _d(fee_rate)),
        fee_asset=DEFAULT_INSTRUMENTS[symbol].quote if symbol in DEFAULT_INSTRUMENTS else "USDT",
        liquidity=Liquidity(liquidity),
        mid_at_decision=mid_d,
        slippage=slippage,
        levels=levels,
        ts_event=ts_event,
        ts_init=ts_event if ts_init is None else ts_init,
    )


def position_view(
    symbol: str = "BTC/USDT",
    qty: NumberLike = "0.01",
    avg_price: NumberLike = "60000.10",
    mark: NumberLike | None = "60000.05",
) -> PositionView:
    qty_d, avg = _d(qty), _d(avg_price)
    mark_d = _d(mark) if mark is not None else None
    return PositionView(
        symbol=symbol,
        qty=qty_d,
        avg_price=avg,
        cost_basis=qty_d * avg,
        mark=mark_d,
        unrealised_pnl=(mark_d - avg) * qty_d if mark_d is not None else D(0),
        realised_pnl=D(0),
        fees=D(0),
    )


def account_view(cash: NumberLike = "10000", **overrides: Any) -> AccountView:
    """A flat account holding ``cash`` USDT; any field can be overridden."""
    cash_d = _d(cash)
    fields: dict[str, Any] = {
        "currency": "USDT",
        "initial_cash": cash_d,
        "cash": cash_d,
        "equity": cash_d,
        "realised_pnl": D(0),
        "unrealised_pnl": D(0),
        "fees": D(0),
        "gross_exposure": D(0),
        "net_exposure": D(0),
        "start_of_day_equity": cash_d,
    }
    fields.update(overrides)
    return AccountView(**fields)


def engine_stats(**overrides: Any) -> EngineStats:
    fields: dict[str, Any] = {
        "venue": "sim",
        "running": True,
        "book_updates": 0,
        "trades": 0,
        "updates_per_s": 0.0,
        "loop_lag_ms_p50": 0.1,
        "loop_lag_ms_p99": 0.5,
        "loop_lag_ms_max": 1.0,
        "storage_ok": True,
        "storage_error": "",
        "feed_ok": True,
        "uptime_s": 1.0,
    }
    fields.update(overrides)
    return EngineStats(**fields)


_MAPPING_FIELDS = ("instruments", "books", "trades", "candles", "positions", "orders")


def _freeze(name: str, value: Any) -> Any:
    if name == "orders" and isinstance(value, list | tuple):
        value = {o.order_id: o for o in value}
    if name in _MAPPING_FIELDS and isinstance(value, Mapping):
        return frozen_map(value)
    return value


def make_snapshot(**overrides: Any) -> EngineSnapshot:
    """A full, valid snapshot; keywords replace ``EngineSnapshot`` fields (unknown ones raise).

    ``symbols`` picks which of ``SPECS`` get default books, trades and candles.
    """
    symbols: tuple[str, ...] = tuple(overrides.pop("symbols", tuple(SPECS)))
    instruments: dict[str, Instrument] = {s: DEFAULT_INSTRUMENTS[s] for s in symbols}
    fields: dict[str, Any] = {
        "ts_ns": T0_NS,
        "venue": "sim",
        "symbols": symbols,
        "instruments": instruments,
        "books": {s: book_view(s) for s in symbols},
        "trades": {s: default_trades(s) for s in symbols},
        "candles": {s: default_candles(s) for s in symbols},
        "candle_seconds": CANDLE_SECONDS,
        "positions": {},
        "orders": {},
        "recent_orders": (),
        "fills": (),
        "account": account_view(),
        "risk": RiskView(),
        "stats": engine_stats(),
        "version": 1,
    }
    unknown = set(overrides) - set(fields)
    if unknown:
        raise TypeError(f"not EngineSnapshot fields: {sorted(unknown)}")
    fields.update(overrides)
    return EngineSnapshot(**{name: _freeze(name, value) for name, value in fields.items()})


def evolve(snap: EngineSnapshot, **changes: Any) -> EngineSnapshot:
    """Next frame: plain dicts merge into mapping fields, anything else replaces; version + 1."""
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "orders" and isinstance(value, list | tuple):
            value = {o.order_id: o for o in value}
        if name in _MAPPING_FIELDS and isinstance(value, dict):
            value = {**getattr(snap, name), **value}
        out[name] = _freeze(name, value)
    out.setdefault("version", snap.version + 1)
    return dataclasses.replace(snap, **out)
