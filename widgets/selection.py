"""The one shared "current symbol" of the market views and the order ticket.

A tiny QObject instead of each view holding its own combo box: the ladder, depth chart, tape,
candles and ticket all follow one selection, and the ladder can hand a clicked price to the ticket
without knowing the ticket exists.
"""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import QObject, Signal


class SymbolSelection(QObject):
    """Current symbol (``changed`` fires only on a real change) and ladder price clicks."""

    changed = Signal(str)
    # (side "buy"/"sell", Decimal price): emitted by the ladder, consumed by the order ticket.
    price_clicked = Signal(str, object)

    def __init__(self, symbol: str = "", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._symbol = symbol

    @property
    def symbol(self) -> str:
        return self._symbol

    def set_symbol(self, symbol: str) -> None:
        if symbol == self._symbol:
            return
        self._symbol = symbol
        self.changed.emit(symbol)

    def click_price(self, side: str, price: Decimal) -> None:
        """Convenience for emitters: announce that ``price`` was picked for ``side``."""
        self.price_clicked.emit(str(side), price)
