"""Instruments: what may be traded and on which grid (tick, lot, min notional).

Prices and quantities cross the API as ``Decimal``; hot paths (the order book, the simulator)
work in integer ticks and lots, and the instrument converts between the two exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation


@dataclass(frozen=True, slots=True)
class Instrument:
    """A spot pair quoted in ``quote`` (USDT); grid sizes are exchange-style exact decimals."""

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_notional: Decimal

    def ticks_to_price(self, ticks: int) -> Decimal:
        return self.tick_size * ticks

    def lots_to_qty(self, lots: int) -> Decimal:
        return self.lot_size * lots

    def price_to_ticks(self, price: Decimal) -> int:
        """Nearest tick (exact when ``price`` is on the grid)."""
        return int((price / self.tick_size).to_integral_value())

    def qty_to_lots(self, qty: Decimal) -> int:
        """Lots rounded down: a quantity never grows by conversion."""
        return int((qty / self.lot_size).to_integral_value(rounding="ROUND_FLOOR"))

    def is_on_tick(self, price: Decimal) -> bool:
        try:
            return (price % self.tick_size) == 0
        except InvalidOperation:
            return False

    def is_on_lot(self, qty: Decimal) -> bool:
        try:
            return (qty % self.lot_size) == 0
        except InvalidOperation:
            return False


def _pair(symbol: str, tick: str, lot: str, min_notional: str) -> Instrument:
    base, quote = symbol.split("/")
    return Instrument(symbol, base, quote, Decimal(tick), Decimal(lot), Decimal(min_notional))


# Binance spot grid sizes (exchangeInfo PRICE_FILTER / LOT_SIZE / NOTIONAL) for the embedded market.
DEFAULT_INSTRUMENTS: dict[str, Instrument] = {
    i.symbol: i
    for i in (
        _pair("BTC/USDT", "0.01", "0.00001", "5"),
        _pair("ETH/USDT", "0.01", "0.0001", "5"),
        _pair("SOL/USDT", "0.01", "0.001", "5"),
        _pair("BNB/USDT", "0.01", "0.001", "5"),
        _pair("XRP/USDT", "0.0001", "0.1", "5"),
        _pair("ADA/USDT", "0.0001", "0.1", "5"),
        _pair("DOGE/USDT", "0.00001", "1", "1"),
        _pair("LTC/USDT", "0.01", "0.001", "5"),
        _pair("LINK/USDT", "0.01", "0.01", "5"),
        _pair("TRX/USDT", "0.0001", "0.1", "5"),
        _pair("DOT/USDT", "0.001", "0.01", "5"),
        _pair("AVAX/USDT", "0.01", "0.01", "5"),
        _pair("BCH/USDT", "0.1", "0.001", "5"),
    )
}
