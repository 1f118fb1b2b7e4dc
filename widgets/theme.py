"""Look of the market views: one dark palette, pyqtgraph options, Decimal-to-text at grid precision.

The stylesheet (app side) styles the chrome; these constants colour what the views paint
themselves (ladder bars, tape prices, candles), so every view agrees on what "bid" looks like.
Formatting lives here too because every view shows prices at the instrument's tick precision and
quantities at its lot precision, and none should invent its own rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsItem

from engine.model.instrument import Instrument

# ---------------------------------------------------------------- palette (hex, for QSS and pg)
BACKGROUND = "#14161a"
PANEL = "#1b1e23"
FOREGROUND = "#c9ccd2"
MUTED = "#7d838d"
GRID = "#2a2e35"

BID = "#26a69a"  # buys, bids, up candles
ASK = "#ef5350"  # sells, asks, down candles
MID = "#e0b341"  # mid line, spread text
BID_BAR = "#1d4a45"  # size bars behind bid rows (opaque: cheaper than alpha blending)
ASK_BAR = "#55272a"
BID_FILL = (38, 166, 154, 70)  # depth chart fills (RGBA)
ASK_FILL = (239, 83, 80, 70)
OWN_ORDER_BG = "#4a3d12"  # our resting orders in the ladder
OWN_ORDER_FG = "#f0c541"
OWN_FILL_BG = "#23344d"  # our fills in the tape
SPREAD_BG = "#202329"


@lru_cache(maxsize=64)
def qcolor(spec: str | tuple[int, ...]) -> QColor:
    """Cached QColor: views ask for the same handful of colours thousands of times a second."""
    if isinstance(spec, tuple):
        return QColor(*spec)
    return QColor(spec)


_configured = False


def apply_pyqtgraph_theme() -> None:
    """Set pyqtgraph's global options once, before the first plot widget is built."""
    global _configured
    if _configured:
        return
    import pyqtgraph as pg

    pg.setConfigOptions(background=BACKGROUND, foreground=FOREGROUND, antialias=False)
    _configured = True


# ---------------------------------------------------------------- number formats
@lru_cache(maxsize=256)
def cache_axes(plot: Any) -> None:
    """Render each axis into a pixmap cache: axes then repaint only when their range changes,
    not on every frame the plot area redraws (text drawing dominated the GUI thread)."""
    for axis in plot.axes.values():
        axis["item"].setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def decimals_of(step: Decimal) -> int:
    """Places after the point of a grid step: 0.01 -> 2, 0.00001 -> 5, 1 -> 0, 10 -> 0."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


@dataclass(frozen=True, slots=True)
class Formats:
    """Text for prices and sizes of one instrument: grid precision, thousands separated (as the
    tables do), exact Decimal formatting with no floats."""

    price_places: int
    qty_places: int

    @classmethod
    def of(cls, instrument: Instrument | None) -> Formats:
        if instrument is None:
            return _FALLBACK
        return _formats(instrument.tick_size, instrument.lot_size)

    def price(self, value: Decimal) -> str:
        return f"{value:,.{self.price_places}f}"

    def qty(self, value: Decimal) -> str:
        return f"{value:,.{self.qty_places}f}"

    def mid(self, value: Decimal) -> str:
        """A mid may sit half a tick off the grid: show one more place only when it does."""
        text = f"{value:,.{self.price_places + 1}f}"
        return text[:-1].rstrip(".") if text.endswith("0") else text


@lru_cache(maxsize=64)
def _formats(tick: Decimal, lot: Decimal) -> Formats:
    return Formats(decimals_of(tick), decimals_of(lot))


_FALLBACK = Formats(2, 4)


def utc_time_ms(ts_ns: int) -> str:
    """``HH:MM:SS.mmm`` in UTC without building a datetime (the tape formats hundreds per frame)."""
    seconds, millis = divmod(ts_ns // 1_000_000, 1000)
    hours, rest = divmod(seconds % 86_400, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"
