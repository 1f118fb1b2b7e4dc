"""Charts of backtest results: equity over drawdown over price, x axes linked, UTC dates.

Equity and drawdown show every checked run, one colour per run, so runs compare by eye; the
price pane shows the selected run's market (closes) with its fills as markers (buys: green
up-triangles, sells: red down-triangles, at fill time and price). X is epoch seconds, drawn by
pyqtgraph's ``DateAxisItem`` in UTC. Curves keep every point (``xData``); pyqtgraph thins them
per pixel column for drawing (peak downsampling, clipped to the view), so a 435k-bar run pans
as smoothly as a short one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from widgets import theme
from widgets.backtest.run_result import BacktestRun

F64 = npt.NDArray[np.float64]
AXIS_WIDTH = 72


def _curve(plot: Any, color: str) -> pg.PlotDataItem:
    """A line on ``plot``, thinned per pixel for drawing. Added before any data is set:
    pyqtgraph looks for the item's view box as soon as clipped data changes."""
    item = pg.PlotDataItem(pen=pg.mkPen(color, width=1.4))
    plot.addItem(item)
    item.setDownsampling(auto=True, method="peak")
    item.setClipToView(True)
    return item


class ResultPlots(QWidget):
    """Equity (all shown runs), drawdown % (same runs), price + fills (selected run)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        theme.apply_pyqtgraph_theme()
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.equity_plot = self._plot(0, "Equity")
        self.drawdown_plot = self._plot(1, "Drawdown %")
        self.price_plot = self._plot(2, "Price")
        layout = self.graphics.ci.layout
        for row, stretch in ((0, 3), (1, 1), (2, 3)):
            layout.setRowStretchFactor(row, stretch)
        self.drawdown_plot.setXLink(self.equity_plot)
        self.price_plot.setXLink(self.equity_plot)
        self.legend = self.equity_plot.addLegend(offset=(8, 8), labelTextSize="8pt")

        self.price_curve = _curve(self.price_plot, theme.FOREGROUND)
        self.fill_markers = pg.ScatterPlotItem(size=10, pxMode=True, pen=pg.mkPen(theme.FOREGROUND))
        self.fill_markers.setZValue(10)
        self.price_plot.addItem(self.fill_markers)

        self._equity: dict[int, pg.PlotDataItem] = {}
        self._drawdown: dict[int, pg.PlotDataItem] = {}
        self._shown: list[int] = []
        self._up = pg.mkBrush(theme.BID)
        self._down = pg.mkBrush(theme.ASK)

        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.graphics)

    def _plot(self, row: int, title: str) -> Any:
        plot = self.graphics.addPlot(
            row=row,
            col=0,
            axisItems={"bottom": pg.DateAxisItem(orientation="bottom", utcOffset=0)},
        )
        plot.setLabel("left", title)
        plot.showGrid(x=True, y=True, alpha=0.12)
        plot.hideButtons()
        plot.setMenuEnabled(False)
        plot.getAxis("left").setWidth(AXIS_WIDTH)
        theme.cache_axes(plot)
        return plot

    # ------------------------------------------------------------ equity and drawdown

    def show_runs(self, runs: Sequence[BacktestRun]) -> None:
        """Overlay the equity and drawdown of ``runs`` (each in its own colour)."""
        wanted = [r.run_id for r in runs]
        if wanted == self._shown:
            return
        for run_id in [k for k in self._equity if k not in wanted]:
            self.equity_plot.removeItem(self._equity.pop(run_id))
            self.drawdown_plot.removeItem(self._drawdown.pop(run_id))
        self.legend.clear()
        for run in runs:
            eq = self._equity.get(run.run_id)
            if eq is None:
                eq = _curve(self.equity_plot, run.color)
                eq.setData(run.time_s, run.equity)
                dd = _curve(self.drawdown_plot, run.color)
                dd.setData(run.time_s, run.drawdown_pct)
                self._equity[run.run_id] = eq
                self._drawdown[run.run_id] = dd
            self.legend.addItem(eq, run.short_label)
        self._shown = wanted
        self.equity_plot.enableAutoRange()
        self.drawdown_plot.enableAutoRange(y=True)

    def equity_curves(self) -> list[pg.PlotDataItem]:
        """Curves on the equity plot now, in run order (tests and the legend read them)."""
        return [self._equity[k] for k in self._shown]

    def drawdown_curves(self) -> list[pg.PlotDataItem]:
        return [self._drawdown[k] for k in self._shown]

    # ------------------------------------------------------------ price and fills

    def show_price(
        self,
        run: BacktestRun | None,
        time_s: F64 | None = None,
        close: F64 | None = None,
        title: str = "",
    ) -> None:
        """The selected run's closes (if known) and its fills as buy/sell markers."""
        if time_s is not None and close is not None and len(time_s):
            self.price_curve.setData(time_s, close)
        else:
            self.price_curve.setData([], [])
        self.price_plot.setTitle(title, size="9pt", color=theme.MUTED)
        if run is None or not run.fills:
            self.fill_markers.setData([], [])
        else:
            fills = run.fills
            x = np.fromiter((int(f["time_ms"]) / 1000.0 for f in fills), np.float64, len(fills))
            y = np.fromiter((float(f["price"]) for f in fills), np.float64, len(fills))
            buys = [str(f.get("side")) == "buy" for f in fills]
            self.fill_markers.setData(
                x=x,
                y=y,
                symbol=["t1" if b else "t" for b in buys],
                brush=[self._up if b else self._down for b in buys],
            )
        self.price_plot.enableAutoRange()

    def fill_marker_count(self) -> int:
        data = self.fill_markers.getData()[0]
        return 0 if data is None else len(data)
