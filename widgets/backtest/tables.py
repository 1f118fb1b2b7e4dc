"""The metrics and trades tables of the backtest tab.

Metrics: one row per metric, one value column per run shown (the selected run first, then the
other checked runs), so runs compare side by side. Rows are declared once (key, label, format);
a metric the engine adds later still shows, after the declared ones, in a generic format. The
raw JSON value of each cell is kept under ``UserRole`` (what the test compares with the file).

Trades: the run's round trips (closed, then still open), declared with the house ``Column``s
and printed at the run's own tick and lot precision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from engine.model.instrument import Instrument
from widgets.backtest.run_result import BacktestRun, utc_minute
from widgets.table_model import (
    LEFT,
    RIGHT,
    Column,
    fmt_decimal,
    fmt_money,
    fmt_price,
    fmt_qty,
    fmt_signed_money,
    money_color,
    sign_color,
)

ModelIndex = QModelIndex | QPersistentModelIndex
NA = "n/a"


# ---------------------------------------------------------------- metric formats


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def fmt_pct(value: Any) -> str:
    f = _num(value)
    return NA if f is None else f"{f * 100:,.2f}%"


def fmt_ratio(value: Any) -> str:
    f = _num(value)
    return NA if f is None else f"{f:,.2f}"


def fmt_days(value: Any) -> str:
    f = _num(value)
    return NA if f is None else f"{f:,.1f} d"


def fmt_times(value: Any) -> str:
    f = _num(value)
    return NA if f is None else f"{f:,.1f} x"


def fmt_count(value: Any) -> str:
    return NA if value is None else f"{int(value):,}"


def fmt_amount(value: Any) -> str:
    """Money to the cent, from the exact JSON number."""
    if value is None:
        return NA
    return fmt_decimal(value if isinstance(value, Decimal) else Decimal(str(value)), 2)


def fmt_exact(value: Any) -> str:
    """Quantities as written (exact), e.g. a position of 0.16185."""
    if value is None:
        return NA
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    return format(d.normalize(), "f") if d else "0"


def fmt_utc_ms(value: Any) -> str:
    return NA if value is None else utc_minute(int(value)) + " UTC"


def fmt_generic(value: Any) -> str:
    if value is None:
        return NA
    if isinstance(value, Decimal | float):
        return f"{float(value):,.6g}"
    return str(value)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    key: str
    label: str
    fmt: Callable[[Any], str]
    tooltip: str = ""
    signed: bool = False  # colour green/red by sign


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("total_return", "Total return", fmt_pct, "final equity / initial cash - 1", True),
    MetricSpec("cagr", "CAGR", fmt_pct, "compound annual growth rate", True),
    MetricSpec("volatility", "Volatility (ann.)", fmt_pct, "annualised SD of bar returns"),
    MetricSpec("sharpe", "Sharpe", fmt_ratio, "annualised, risk-free rate 0", True),
    MetricSpec("sortino", "Sortino", fmt_ratio, "annualised, downside deviation", True),
    MetricSpec("calmar", "Calmar", fmt_ratio, "CAGR / |max drawdown|", True),
    MetricSpec("max_drawdown", "Max drawdown", fmt_pct, "worst fall from a peak", True),
    MetricSpec("max_drawdown_duration", "Max drawdown duration", fmt_days, "peak to recovery"),
    MetricSpec("win_rate", "Win rate", fmt_pct, "share of closed trades with pnl > 0"),
    MetricSpec("profit_factor", "Profit factor", fmt_ratio, "gross wins / gross losses"),
    MetricSpec("average_trade", "Average trade", fmt_amount, "mean pnl per closed trade", True),
    MetricSpec("exposure", "Exposure", fmt_pct, "share of bars with a position"),
    MetricSpec("turnover", "Turnover", fmt_times, "traded notional / mean equity"),
    MetricSpec("fees_paid", "Fees paid", fmt_amount),
    MetricSpec("slippage_paid", "Slippage paid", fmt_amount, "vs the mid at decision time"),
    MetricSpec("number_of_trades", "Trades", fmt_count, "closed round trips"),
    MetricSpec("number_of_fills", "Fills", fmt_count),
    MetricSpec("orders_denied", "Orders denied by risk", fmt_count),
    MetricSpec("initial_cash", "Initial cash", fmt_amount),
    MetricSpec("final_equity", "Final equity", fmt_amount, "cash + position at the last close"),
    MetricSpec("final_cash", "Final cash", fmt_amount),
    MetricSpec("final_position", "Final position", fmt_exact, "left open, marked not closed"),
    MetricSpec("years", "Years", fmt_ratio),
    MetricSpec("periods_per_year", "Bars per year", fmt_generic),
    MetricSpec("max_drawdown_peak_ms", "Max drawdown peak", fmt_utc_ms),
    MetricSpec("max_drawdown_trough_ms", "Max drawdown trough", fmt_utc_ms),
)
SPECS = {s.key: s for s in METRICS}


def spec_for(key: str) -> MetricSpec:
    spec = SPECS.get(key)
    if spec is not None:
        return spec
    fmt = fmt_utc_ms if key.endswith("_ms") else fmt_generic
    return MetricSpec(key, key.replace("_", " ").capitalize(), fmt)


class MetricsModel(QAbstractTableModel):
    """Rows: metrics. Columns: "Metric", then one per run (``set_runs``)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runs: list[BacktestRun] = []
        self._specs: list[MetricSpec] = []
        self._texts: list[list[str]] = []  # [row][run]

    # ------------------------------------------------------------ public API

    @property
    def runs(self) -> list[BacktestRun]:
        return list(self._runs)

    def set_runs(self, runs: Sequence[BacktestRun]) -> None:
        self.beginResetModel()
        self._runs = list(runs)
        keys: list[str] = [s.key for s in METRICS if any(s.key in r.metrics for r in runs)]
        for r in runs:
            keys += [k for k in r.metrics if k not in SPECS and k not in keys]
        self._specs = [spec_for(k) for k in keys]
        self._texts = [
            [s.fmt(r.metrics.get(s.key)) if s.key in r.metrics else "" for r in self._runs]
            for s in self._specs
        ]
        self.endResetModel()

    def keys(self) -> list[str]:
        return [s.key for s in self._specs]

    def row_of(self, key: str) -> int:
        return self.keys().index(key)

    def value(self, key: str, run: int = 0) -> Any:
        """The metric as it is in the run's JSON (exact)."""
        return self._runs[run].metrics.get(key)

    def text(self, key: str, run: int = 0) -> str:
        return self._texts[self.row_of(key)][run]

    # ------------------------------------------------------------ Qt interface

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._specs)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else 1 + len(self._runs)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        if row >= len(self._specs) or col > len(self._runs):
            return None
        spec = self._specs[row]
        if col == 0:
            if role == Qt.ItemDataRole.DisplayRole:
                return spec.label
            if role == Qt.ItemDataRole.ToolTipRole:
                return spec.tooltip or spec.key
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return int(LEFT.value)
            if role == Qt.ItemDataRole.UserRole:
                return spec.key
            return None
        run = self._runs[col - 1]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._texts[row][col - 1]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(RIGHT.value)
        if role == Qt.ItemDataRole.UserRole:
            return run.metrics.get(spec.key)
        if role == Qt.ItemDataRole.ForegroundRole and spec.signed:
            f = _num(run.metrics.get(spec.key))
            return sign_color(f)
        return None

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section <= len(self._runs):
            return None
        if section == 0:
            return "Metric" if role == Qt.ItemDataRole.DisplayRole else None
        run = self._runs[section - 1]
        if role == Qt.ItemDataRole.DisplayRole:
            return run.short_label
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{run.label}\n{run.period}"
        if role == Qt.ItemDataRole.ForegroundRole:
            return QColor(run.color)
        return None


# ---------------------------------------------------------------- trades


@dataclass(frozen=True, slots=True)
class TradeRow:
    """A round trip as the table shows it (``symbol`` picks the tick/lot precision)."""

    number: int
    symbol: str
    side: str
    status: str  # "closed" / "open"
    qty: Decimal
    entry_time_ms: int
    entry_price: Decimal
    exit_time_ms: int | None
    exit_price: Decimal | None
    pnl: Decimal
    fees: Decimal
    return_pct: Decimal


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _opt_dec(value: Any) -> Decimal | None:
    return None if value is None else _dec(value)


def trade_rows(run: BacktestRun) -> list[TradeRow]:
    rows: list[TradeRow] = []
    for status, trades in (("closed", run.trades), ("open", run.open_trades)):
        for t in trades:
            rows.append(
                TradeRow(
                    number=len(rows) + 1,
                    symbol=run.symbol,
                    side=str(t.get("side", "")),
                    status=status,
                    qty=_dec(t["qty"]),
                    entry_time_ms=int(t["entry_time_ms"]),
                    entry_price=_dec(t["entry_price"]),
                    exit_time_ms=None if t.get("exit_time_ms") is None else int(t["exit_time_ms"]),
                    exit_price=_opt_dec(t.get("exit_price")),
                    pnl=_dec(t["pnl"]),
                    fees=_dec(t["fees"]),
                    return_pct=_dec(t.get("return_pct", 0)),
                )
            )
    return rows


def _fmt_ms(value: Any, _instrument: Instrument | None = None) -> str:
    return utc_minute(value)


def _fmt_pct(value: Any, _instrument: Instrument | None = None) -> str:
    return fmt_decimal(value, 2, sign=True) if value is not None else ""


def _side_color(value: object, _row: object = None) -> QColor | None:
    return sign_color(1 if value == "long" else -1 if value == "short" else 0)


TRADE_COLUMNS: tuple[Column, ...] = (
    Column("#", lambda t: t.number),
    Column("Side", lambda t: t.side, align=LEFT, color=_side_color),
    Column("Status", lambda t: t.status, align=LEFT),
    Column("Entry (UTC)", lambda t: t.entry_time_ms, _fmt_ms, LEFT),
    Column("Entry price", lambda t: t.entry_price, fmt_price),
    Column("Exit (UTC)", lambda t: t.exit_time_ms, _fmt_ms, LEFT),
    Column("Exit price", lambda t: t.exit_price, fmt_price),
    Column("Qty", lambda t: t.qty, fmt_qty),
    Column("PnL", lambda t: t.pnl, fmt_signed_money, color=money_color, tooltip="net of fees"),
    Column("Fees", lambda t: t.fees, fmt_money),
    Column("Return %", lambda t: t.return_pct, _fmt_pct, color=sign_color),
)


class TradesModel(QAbstractTableModel):
    """The selected run's trades, declared by ``TRADE_COLUMNS``; cells are formatted when
    painted. A run's trades never change, so there is nothing to diff, and formatting only the
    rows in view keeps a 10k-trade run as quick to show as a 10-trade one."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.columns = TRADE_COLUMNS
        self._rows: list[TradeRow] = []
        self._instrument: Instrument | None = None

    def set_rows(self, rows: Sequence[TradeRow], instrument: Instrument | None) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self._instrument = instrument
        self.endResetModel()

    def clear(self) -> None:
        self.set_rows((), None)

    def row_object(self, row: int) -> TradeRow:
        return self._rows[row]

    def text(self, row: int, column: int) -> str:
        col = self.columns[column]
        return col.fmt(col.getter(self._rows[row]), self._instrument)

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        col = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(index.row(), index.column())
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(col.align.value)
        if role == Qt.ItemDataRole.ForegroundRole and col.color is not None:
            row = self._rows[index.row()]
            return col.color(col.getter(row), row)
        if role == Qt.ItemDataRole.UserRole:
            return col.getter(self._rows[index.row()])
        return None

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section].header
        if role == Qt.ItemDataRole.ToolTipRole and self.columns[section].tooltip:
            return self.columns[section].tooltip
        return None
