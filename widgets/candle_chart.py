"""Candle chart of the selected symbol: candles, volume bars below, our fills as triangles.

Drawing cost stays flat however long the history: closed bars are recorded once into
``QPicture``s, one per chunk of ``CHUNK_BARS`` bar-widths of time, and replayed; only the forming
(last) bar is drawn afresh each frame. A bar closing invalidates just its own chunk; the window
sliding at the front drops whole chunks. X is the bar's open time in epoch seconds, shown by
pyqtgraph's ``DateAxisItem`` in UTC; a bar occupies ``[open, open + bar_seconds)`` so a fill's
marker at its own timestamp lands inside its bar. Buys are green up-triangles, sells red
down-triangles, at (fill time, fill price).

The view follows the newest bar while its right edge shows the newest bar; once the user pans
back in time it stays put. The y range fits the visible bars.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QRectF, Slot
from PySide6.QtGui import QPainter, QPicture
from PySide6.QtWidgets import QVBoxLayout, QWidget

from engine.model.fill import Fill
from engine.snapshot import CandleView, EngineSnapshot
from widgets import theme
from widgets.chart_model import BarChange, BarSeries, fill_markers
from widgets.selection import SymbolSelection

CHUNK_BARS = 128
VISIBLE_BARS = 120


class BarsItem(pg.GraphicsObject):  # type: ignore[misc]
    """Bars of a ``BarSeries`` drawn from cached chunk pictures plus the live last bar."""

    def __init__(self, series: BarSeries) -> None:
        super().__init__()
        self.series = series
        self._pictures: dict[int, QPicture] = {}
        self._keys: list[int] = []  # chunks that hold closed bars
        self._bounds = QRectF()
        self.chunks_built = 0  # pictures recorded since creation (tests read them)
        self.bars_recorded = 0  # bars drawn into those pictures
        self._pens = {c: pg.mkPen(c, width=1) for c in (theme.BID, theme.ASK)}
        self._brushes = {c: pg.mkBrush(c) for c in (theme.BID, theme.ASK)}

    # ------------------------------------------------------------ subclass hooks
    def draw_bars(self, painter: QPainter, lo: int, hi: int) -> None:
        raise NotImplementedError

    def y_range(self, lo: int, hi: int) -> tuple[float, float]:
        raise NotImplementedError

    # ------------------------------------------------------------ cache maintenance
    def _chunk_span(self) -> float:
        return float(CHUNK_BARS * self.series.bar_seconds)

    def set_series(self, series: BarSeries) -> None:
        self.series = series
        self.refresh(BarChange(count=len(series), reset=True))

    def refresh(self, change: BarChange) -> None:
        """Forget the pictures ``change`` made stale; the next paint re-records them lazily."""
        if not change.changed:
            return
        n = len(self.series)
        span = self._chunk_span()
        times = self.series.time
        if change.reset or n == 0:
            self._pictures.clear()
        else:
            if change.dropped:  # the first chunk still holds dropped bars; older ones are gone
                first = math.floor(times[0] / span)
                for key in [k for k in self._pictures if k <= first]:
                    del self._pictures[key]
            lo, hi = min(change.first_changed, n - 1), n - 1  # closed bars rewritten or closed
            if lo < hi:
                for key in range(
                    math.floor(times[lo] / span), math.floor(times[hi - 1] / span) + 1
                ):
                    self._pictures.pop(key, None)
        if change.reset or change.dropped or change.appended or not self._keys:
            closed = times[: max(n - 1, 0)]
            self._keys = np.unique(np.floor(closed / span)).astype(np.int64).tolist()
        self._update_bounds()
        self.update()

    def _update_bounds(self) -> None:
        n = len(self.series)
        if n == 0:
            bounds = QRectF()
        else:
            times = self.series.time
            y0, y1 = self.y_range(0, n)
            x0, x1 = float(times[0]), float(times[-1]) + self.series.bar_seconds
            bounds = QRectF(x0, y0, x1 - x0, max(y1 - y0, 1e-12))
        if bounds != self._bounds:
            self.prepareGeometryChange()
            self._bounds = bounds
            self.informViewBoundsChanged()

    def _picture(self, key: int) -> QPicture:
        picture = self._pictures.get(key)
        if picture is None:
            span = self._chunk_span()
            times = self.series.time
            lo = int(np.searchsorted(times, key * span, side="left"))
            hi = int(np.searchsorted(times, (key + 1) * span, side="left"))
            hi = min(hi, len(self.series) - 1)  # the last bar is live, never cached
            picture = QPicture()
            painter = QPainter(picture)
            if lo < hi:
                self.draw_bars(painter, lo, hi)
                self.bars_recorded += hi - lo
            painter.end()
            self._pictures[key] = picture
            self.chunks_built += 1
        return picture

    # ------------------------------------------------------------ QGraphicsItem / pyqtgraph
    def boundingRect(self) -> QRectF:
        return QRectF(self._bounds)

    def paint(self, painter: QPainter, *args: Any) -> None:
        n = len(self.series)
        if n == 0:
            return
        for key in self._keys:
            painter.drawPicture(0, 0, self._picture(key))
        self.draw_bars(painter, n - 1, n)

    def dataBounds(
        self, ax: int, frac: float = 1.0, orthoRange: tuple[float, float] | None = None
    ) -> tuple[float | None, float | None]:
        n = len(self.series)
        if n == 0:
            return (None, None)
        if ax == 0:
            return (
                float(self.series.time[0]),
                float(self.series.time[-1]) + self.series.bar_seconds,
            )
        lo, hi = (0, n) if orthoRange is None else self.series.index_range(*orthoRange)
        if lo >= hi:
            return (None, None)
        return self.y_range(lo, hi)

    # ------------------------------------------------------------ helpers for subclasses
    def _colour_groups(self, lo: int, hi: int) -> list[tuple[str, np.ndarray]]:
        up = self.series.close[lo:hi] >= self.series.open[lo:hi]
        return [(theme.BID, np.nonzero(up)[0] + lo), (theme.ASK, np.nonzero(~up)[0] + lo)]


class CandleItem(BarsItem):
    """OHLC candles: wick from low to high, body from open to close."""

    def draw_bars(self, painter: QPainter, lo: int, hi: int) -> None:
        s = self.series
        width = s.bar_seconds
        half = width * 0.35
        time, open_, high, low, close = s.time, s.open, s.high, s.low, s.close
        for colour, idx in self._colour_groups(lo, hi):
            if not len(idx):
                continue
            painter.setPen(self._pens[colour])
            painter.setBrush(self._brushes[colour])
            centres = time[idx] + width / 2
            painter.drawLines(
                [
                    QLineF(x, lo_, x, hi_)
                    for x, lo_, hi_ in zip(centres, low[idx], high[idx], strict=True)
                ]
            )
            bottoms = np.minimum(open_[idx], close[idx])
            heights = np.abs(close[idx] - open_[idx])
            painter.drawRects(
                [
                    QRectF(x - half, b, 2 * half, h)
                    for x, b, h in zip(centres, bottoms, heights, strict=True)
                ]
            )

    def y_range(self, lo: int, hi: int) -> tuple[float, float]:
        return float(self.series.low[lo:hi].min()), float(self.series.high[lo:hi].max())


class VolumeItem(BarsItem):
    """Volume bars from zero, coloured like their candle."""

    def draw_bars(self, painter: QPainter, lo: int, hi: int) -> None:
        s = self.series
        width = s.bar_seconds
        time, volume = s.time, s.volume
        for colour, idx in self._colour_groups(lo, hi):
            if not len(idx):
                continue
            painter.setPen(self._pens[colour])
            painter.setBrush(self._brushes[colour])
            painter.drawRects(
                [
                    QRectF(t + width * 0.15, 0.0, width * 0.7, v)
                    for t, v in zip(time[idx], volume[idx], strict=True)
                ]
            )

    def y_range(self, lo: int, hi: int) -> tuple[float, float]:
        return 0.0, float(self.series.volume[lo:hi].max())


FORMING_BAR_REDRAW_S = 0.2


class CandleChartWidget(QWidget):
    """Candles + volume of ``selection.symbol`` from ``snap.candles``; fills from ``snap.fills``."""

    def __init__(self, selection: SymbolSelection, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        theme.apply_pyqtgraph_theme()
        self.selection = selection
        self.series = BarSeries()
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.price_plot = self.graphics.addPlot(row=0, col=0)
        self.volume_plot = self.graphics.addPlot(
            row=1, col=0, axisItems={"bottom": pg.DateAxisItem(orientation="bottom", utcOffset=0)}
        )
        self.graphics.ci.layout.setRowStretchFactor(0, 4)
        self.graphics.ci.layout.setRowStretchFactor(1, 1)
        self.volume_plot.setXLink(self.price_plot)
        theme.cache_axes(self.price_plot)
        theme.cache_axes(self.volume_plot)
        for plot in (self.price_plot, self.volume_plot):
            plot.showGrid(x=True, y=True, alpha=0.12)
            plot.hideButtons()
            plot.setMenuEnabled(False)
            plot.showAxis("right")
            plot.hideAxis("left")
            plot.setMouseEnabled(x=True, y=False)
            # y ranges move with hysteresis (_fit_y), not on every tick of the forming bar:
            # re-ranging re-renders the axes, which dominated the GUI thread under load.
            plot.getViewBox().disableAutoRange()
        self.price_plot.hideAxis("bottom")
        self.price_plot.getViewBox().sigXRangeChanged.connect(self._on_x_range)
        self.price_plot.getAxis("right").setWidth(70)
        self.volume_plot.getAxis("right").setWidth(70)

        self.candle_item = CandleItem(self.series)
        self.volume_item = VolumeItem(self.series)
        # Outlined so a marker stays visible on a candle of its own colour.
        self.fill_item = pg.ScatterPlotItem(size=12, pxMode=True, pen=pg.mkPen(theme.FOREGROUND))
        self.fill_item.setZValue(10)
        self.price_plot.addItem(self.candle_item)
        self.price_plot.addItem(self.fill_item)
        self.volume_plot.addItem(self.volume_item)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

        self._snap: EngineSnapshot | None = None
        self._symbol: str | None = None
        self._candles: tuple[CandleView, ...] | None = None
        self._drawn_at = -1.0
        self.redraw_interval_s = FORMING_BAR_REDRAW_S
        self._fills: tuple[Fill, ...] | None = None
        self._end = 0.0  # right edge (close time) of the newest bar
        self.updates = 0  # snapshots that changed the series
        self._up_brush = pg.mkBrush(theme.BID)
        self._down_brush = pg.mkBrush(theme.ASK)
        selection.changed.connect(self._on_symbol_changed)

    @Slot(object)
    def apply_snapshot(self, snap: EngineSnapshot) -> None:
        self._snap = snap
        symbol = self.selection.symbol or (snap.symbols[0] if snap.symbols else "")
        new_symbol = symbol != self._symbol
        self._symbol = symbol
        candles = snap.candles.get(symbol, ())
        now = time.monotonic()
        # The forming bar is redrawn at most 5 times a second; a new bar or symbol at once.
        throttled = (
            not new_symbol
            and self._candles is not None
            and candles is not self._candles
            and len(candles) == len(self._candles)
            and now - self._drawn_at < self.redraw_interval_s
        )
        if (new_symbol or candles is not self._candles) and not throttled:
            self._drawn_at = now
            self._candles = candles
            if new_symbol:
                self.series.bar_seconds = snap.candle_seconds
                change = self.series.reset(candles)
            else:
                change = self.series.update(candles, snap.candle_seconds)
            if change.changed:
                self.updates += 1
                self.candle_item.refresh(change)
                self.volume_item.refresh(change)
                self._follow(change)
                self._fit_y(force=new_symbol or change.reset)
        if new_symbol or snap.fills is not self._fills:
            self._fills = snap.fills
            markers = fill_markers(snap.fills, symbol)
            self.fill_item.setData(
                x=markers.time,
                y=markers.price,
                symbol=["t1" if b else "t" for b in markers.is_buy],
                brush=[self._up_brush if b else self._down_brush for b in markers.is_buy],
            )

    def _follow(self, change: BarChange) -> None:
        n = len(self.series)
        if n == 0:
            return
        width = self.series.bar_seconds
        end = float(self.series.time[-1]) + width
        box = self.price_plot.getViewBox()
        if change.reset:
            box.setXRange(end - VISIBLE_BARS * width, end + 2 * width, padding=0)
        elif change.appended:
            x0, x1 = box.viewRange()[0]
            if x1 >= self._end - width:  # the newest bar was in view: keep it there
                shift = end - self._end
                box.setXRange(x0 + shift, x1 + shift, padding=0)
        self._end = end

    @Slot(object, object)
    def _on_x_range(self, _box: object, _range: object) -> None:
        self._fit_y()  # panning back in time refits the price and volume axes

    def _fit_y(self, *, force: bool = False) -> None:
        """Fit both y axes to the bars in view, moving only when the bars leave the range or
        fill well under half of it."""
        if len(self.series) == 0:
            return
        (x0, x1), (py0, py1) = self.price_plot.getViewBox().viewRange()
        i0, i1 = self.series.index_range(x0 - self.series.bar_seconds, x1)
        if i1 <= i0:
            return
        low = float(self.series.low[i0:i1].min())
        high = float(self.series.high[i0:i1].max())
        span = max(high - low, abs(high) * 1e-6, 1e-12)
        if force or low < py0 or high > py1 or span < 0.5 * (py1 - py0):
            pad = span * 0.08
            self.price_plot.getViewBox().setYRange(low - pad, high + pad, padding=0)
        vol = float(self.series.volume[i0:i1].max())
        (_vx, (_vy0, vy1)) = self.volume_plot.getViewBox().viewRange()
        if vol > 0 and (force or vol > vy1 or vol < 0.5 * vy1):
            self.volume_plot.getViewBox().setYRange(0.0, vol * 1.15, padding=0)

    @Slot(str)
    def _on_symbol_changed(self, _symbol: str) -> None:
        self._symbol = None
        if self._snap is not None:
            self.apply_snapshot(self._snap)
