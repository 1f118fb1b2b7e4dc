"""Cumulative depth chart of the selected book: bids green on the left, asks red on the right.

At a price ``x`` the bid curve shows how much could be sold at ``x`` or better (all bids >= x),
the ask curve how much could be bought (all asks <= x): stepped, filled to zero, with a dashed
line at the mid. Cumulative sums are exact Decimals turned into floats only for plotting.
"""

from __future__ import annotations

import time
from itertools import accumulate

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QVBoxLayout, QWidget

from engine.snapshot import BookView, EngineSnapshot, Level
from widgets import theme
from widgets.selection import SymbolSelection

_EMPTY = np.zeros(0)


def depth_xy(levels: tuple[Level, ...], *, bids: bool) -> tuple[np.ndarray, np.ndarray]:
    """Step edges (ascending, one more than levels) and cumulative size per step, for one side.

    Bids: the step ``(p[k+1], p[k]]`` holds the size of bids 0..k (sellable at that price or
    better); asks: ``[a[k], a[k+1])`` holds asks 0..k. The outermost level gets one average level
    spacing of width so the total visible depth is a step too, not a zero-width spike.
    """
    if not levels:
        return _EMPTY, _EMPTY
    n = len(levels)
    prices = np.fromiter((float(p) for p, _ in levels), dtype=np.float64, count=n)
    cumulative = np.fromiter(
        (float(c) for c in accumulate(q for _, q in levels)), dtype=np.float64, count=n
    )
    gap = abs(prices[-1] - prices[0]) / (n - 1) if n > 1 else 0.0
    if gap == 0.0:
        gap = max(abs(prices[0]) * 1e-4, 1e-9)
    if bids:  # best bid is the highest price: flip so x ascends
        edges = np.concatenate(([prices[-1] - gap], prices[::-1]))
        return edges, cumulative[::-1].copy()
    return np.concatenate((prices, [prices[-1] + gap])), cumulative


# Redrawing the filled curves and re-ranging costs the GUI thread far more than a table row;
# 10 redraws a second is smooth for a depth picture and leaves the frame budget to the ladder.
MIN_REDRAW_S = 0.1


class DepthChartWidget(QWidget):
    """Stepped cumulative depth of ``selection.symbol``; ``levels`` limits the levels per side."""

    def __init__(
        self, selection: SymbolSelection, levels: int | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        theme.apply_pyqtgraph_theme()
        self.selection = selection
        self.levels = levels  # (QWidget.depth() is the paint device's colour depth)
        self.plot = pg.PlotWidget(self)
        item = self.plot.getPlotItem()
        theme.cache_axes(item)
        item.showGrid(x=True, y=True, alpha=0.15)
        item.hideButtons()
        item.setMenuEnabled(False)
        item.showAxis("right")
        item.hideAxis("left")
        item.getViewBox().disableAutoRange()  # see _fit: ranges move with hysteresis
        item.setMouseEnabled(x=False, y=False)
        self.bid_curve = pg.PlotDataItem(
            stepMode="center",
            fillLevel=0,
            pen=pg.mkPen(theme.BID, width=1),
            brush=pg.mkBrush(theme.BID_FILL),
        )
        self.ask_curve = pg.PlotDataItem(
            stepMode="center",
            fillLevel=0,
            pen=pg.mkPen(theme.ASK, width=1),
            brush=pg.mkBrush(theme.ASK_FILL),
        )
        self.mid_line = pg.InfiniteLine(
            angle=90, movable=False, pen=pg.mkPen(theme.MID, style=Qt.PenStyle.DashLine)
        )
        self.mid_line.hide()
        for graphic in (self.bid_curve, self.ask_curve, self.mid_line):
            item.addItem(graphic)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)

        self._snap: EngineSnapshot | None = None
        self._symbol = ""
        self._book: BookView | None = None
        self._levels: tuple[tuple[Level, ...], tuple[Level, ...]] | None = None
        self._force_fit = True
        self._drawn_at = -1.0
        self.redraw_interval_s = MIN_REDRAW_S
        self.redraws = 0  # how often the curves were given new data
        selection.changed.connect(self._on_symbol_changed)

    @Slot(object)
    def apply_snapshot(self, snap: EngineSnapshot) -> None:
        self._snap = snap
        symbol = self.selection.symbol or (snap.symbols[0] if snap.symbols else "")
        book = snap.books.get(symbol)
        if symbol == self._symbol and book is self._book and self._levels is not None:
            return
        now = time.monotonic()
        if symbol == self._symbol and now - self._drawn_at < self.redraw_interval_s:
            return  # the next frame (<= 33 ms away) brings the latest book again
        self._drawn_at = now
        self._symbol, self._book = symbol, book
        n = self.levels
        bids = (book.bids if n is None else book.bids[:n]) if book is not None else ()
        asks = (book.asks if n is None else book.asks[:n]) if book is not None else ()
        if self._levels == (bids, asks):
            return  # a new view object of the same book
        self._levels = (bids, asks)
        self.redraws += 1
        bid_xy = depth_xy(bids, bids=True)
        ask_xy = depth_xy(asks, bids=False)
        self.bid_curve.setData(*bid_xy)
        self.ask_curve.setData(*ask_xy)
        self._fit(bid_xy, ask_xy)
        if bids and asks:
            self.mid_line.setValue(float((bids[0][0] + asks[0][0]) / 2))
            self.mid_line.show()
        else:
            self.mid_line.hide()

    def _fit(
        self, bid_xy: tuple[np.ndarray, np.ndarray], ask_xy: tuple[np.ndarray, np.ndarray]
    ) -> None:
        """Move the view only when the data leaves it or shrinks well inside it.

        Auto-ranging on every frame re-renders both axes at the book's update rate; with this
        hysteresis the axes stay still while the book breathes inside the visible window.
        """
        xs = [a for a in (bid_xy[0], ask_xy[0]) if len(a)]
        ys = [a for a in (bid_xy[1], ask_xy[1]) if len(a)]
        if not xs or not ys:
            return
        x0 = float(min(a[0] for a in xs))
        x1 = float(max(a[-1] for a in xs))
        y1 = float(max(a.max() for a in ys)) * 1.08
        view = self.plot.getPlotItem().getViewBox()
        (vx0, vx1), (_vy0, vy1) = view.viewRange()
        span, vspan = x1 - x0, vx1 - vx0
        x_stale = x0 < vx0 or x1 > vx1 or span < 0.7 * vspan or self._force_fit
        y_stale = y1 > vy1 or y1 < 0.6 * vy1 or self._force_fit
        if x_stale:
            pad = span * 0.04
            view.setXRange(x0 - pad, x1 + pad, padding=0)
        if y_stale:
            view.setYRange(0.0, y1, padding=0)
        self._force_fit = False

    @Slot(str)
    def _on_symbol_changed(self, _symbol: str) -> None:
        self._force_fit = True
        self._levels = None
        if self._snap is not None:
            self.apply_snapshot(self._snap)
