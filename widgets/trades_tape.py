"""Trades tape of the selected symbol: newest trade on top, price coloured by aggressor.

New trades are *inserted* at the top (``rowsInserted``) and the oldest rows dropped at the bottom,
so the view keeps its state and only new rows are formatted; the model resets only when the
symbol or the instrument grid changes or the new tuple no longer contains our newest row.
The engine's tuple may come oldest first (as it is appended) or newest first; both are accepted.

Our fills are highlighted. Matching is by time: a trade is ours when a fill of the same symbol
has ``ts_event == trade.ts_ns`` and either the same price, or spans several levels, or was a
maker fill (the fill's price is then a VWAP or our limit, not the printed trade price).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Slot
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QVBoxLayout, QWidget

from engine.model.fill import Fill, Liquidity
from engine.model.instrument import Instrument
from engine.model.orders import OrderSide
from engine.snapshot import EngineSnapshot, TradeView
from widgets import theme
from widgets.selection import SymbolSelection
from widgets.theme import Formats

DEFAULT_ROWS = 200
OURS_ROLE = Qt.ItemDataRole.UserRole + 1  # bool: the row is one of our fills
TRADE_ROLE = Qt.ItemDataRole.UserRole + 2  # the TradeView itself

_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class TapeColumn:
    header: str
    text: Callable[[TradeView, Formats], str]
    alignment: Qt.AlignmentFlag


COLUMNS: tuple[TapeColumn, ...] = (
    TapeColumn("Time (UTC)", lambda t, f: theme.utc_time_ms(t.ts_ns), _RIGHT),
    TapeColumn("Price", lambda t, f: f.price(t.price), _RIGHT),
    TapeColumn("Size", lambda t, f: f.qty(t.qty), _RIGHT),
)
TIME_COL, PRICE_COL, SIZE_COL = range(3)


class _Row(NamedTuple):
    trade: TradeView
    cells: tuple[str, ...]
    ours: bool


class FillMatcher:
    """Which trades are our fills; built once per fills tuple."""

    def __init__(self, fills: Sequence[Fill], symbol: str) -> None:
        self._by_ts: dict[int, list[Fill]] = {}
        for fill in fills:
            if fill.symbol == symbol:
                self._by_ts.setdefault(fill.ts_event, []).append(fill)

    def __call__(self, trade: TradeView) -> bool:
        candidates = self._by_ts.get(trade.ts_ns)
        if not candidates:
            return False
        return any(
            f.price == trade.price or f.levels > 1 or f.liquidity == Liquidity.MAKER
            for f in candidates
        )


def newest_first(trades: Sequence[TradeView], limit: int) -> list[TradeView]:
    """At most ``limit`` trades, newest first, whichever order the engine keeps them in."""
    if not trades:
        return []
    first, last = trades[0], trades[-1]
    if (first.ts_ns, first.trade_id) > (last.ts_ns, last.trade_id):
        return list(trades[:limit])
    return list(trades[-limit:])[::-1]


class TradesTapeModel(QAbstractTableModel):
    """Recent trades of one symbol, newest first, at most ``max_rows``."""

    def __init__(self, max_rows: int = DEFAULT_ROWS, parent: Any = None) -> None:
        super().__init__(parent)
        self.max_rows = max_rows
        self._rows: list[_Row] = []
        self._formats = Formats.of(None)
        self._symbol = ""
        self._fills: Sequence[Fill] | None = None
        self._is_ours = FillMatcher((), "")
        self._bold = QFont()
        self._bold.setBold(True)
        self.resets = 0  # full rebuilds
        self.inserted = 0  # rows inserted at the top since creation

    # ------------------------------------------------------------ updates
    def update(
        self,
        symbol: str,
        trades: Sequence[TradeView],
        fills: Sequence[Fill],
        instrument: Instrument | None,
    ) -> None:
        formats = Formats.of(instrument)
        fills_changed = fills is not self._fills or symbol != self._symbol
        if fills_changed:
            self._fills = fills
            self._is_ours = FillMatcher(fills, symbol)
        newest = newest_first(trades, self.max_rows)
        if symbol != self._symbol or formats != self._formats:
            self._symbol, self._formats = symbol, formats
            self._reset(newest)
            return
        k = self._new_count(newest)
        if k is None:
            self._reset(newest)
            return
        if fills_changed:
            self._reflag()
        if k:
            self.beginInsertRows(QModelIndex(), 0, k - 1)
            self._rows[0:0] = [self._row(t) for t in newest[:k]]
            self.endInsertRows()
            self.inserted += k
        extra = len(self._rows) - len(newest)
        if extra > 0:
            self.beginRemoveRows(QModelIndex(), len(newest), len(self._rows) - 1)
            del self._rows[len(newest) :]
            self.endRemoveRows()

    def _new_count(self, newest: list[TradeView]) -> int | None:
        """How many trades precede our newest row in ``newest``; None if it is not there."""
        if not self._rows:
            return None if newest else 0
        head = self._rows[0].trade
        for i, trade in enumerate(newest):
            if trade is head or trade == head:
                # Older rows must continue below, else the history was rewritten: reset.
                return i if len(newest) - i <= len(self._rows) else None
        return None

    def _reset(self, newest: list[TradeView]) -> None:
        self.beginResetModel()
        self._rows = [self._row(t) for t in newest]
        self.endResetModel()
        self.resets += 1

    def _row(self, trade: TradeView) -> _Row:
        fmt = self._formats
        return _Row(trade, tuple(c.text(trade, fmt) for c in COLUMNS), self._is_ours(trade))

    def _reflag(self) -> None:
        first = last = -1
        for i, row in enumerate(self._rows):
            ours = self._is_ours(row.trade)
            if ours != row.ours:
                self._rows[i] = row._replace(ours=ours)
                first = i if first < 0 else first
                last = i
        if first >= 0:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))

    def trade_at(self, row: int) -> TradeView:
        return self._rows[row].trade

    # ------------------------------------------------------------ Qt model interface
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section].header
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        return Qt.ItemFlag.ItemIsEnabled

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return row.cells[col]
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == PRICE_COL:
                buy = row.trade.aggressor == OrderSide.BUY
                return theme.qcolor(theme.BID if buy else theme.ASK)
            return theme.qcolor(theme.MUTED) if col == TIME_COL and not row.ours else None
        if role == Qt.ItemDataRole.BackgroundRole:
            return theme.qcolor(theme.OWN_FILL_BG) if row.ours else None
        if role == Qt.ItemDataRole.FontRole:
            return self._bold if row.ours else None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return COLUMNS[col].alignment
        if role == OURS_ROLE:
            return row.ours
        if role == TRADE_ROLE:
            return row.trade
        if role == Qt.ItemDataRole.ToolTipRole and row.ours:
            return "our fill"
        return None


class TradesTapeWidget(QWidget):
    """The tape of ``selection.symbol``."""

    ROW_HEIGHT = 18

    def __init__(
        self,
        selection: SymbolSelection,
        max_rows: int = DEFAULT_ROWS,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.selection = selection
        self.model = TradesTapeModel(max_rows, self)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.view.setShowGrid(False)
        self.view.setWordWrap(False)
        vheader = self.view.verticalHeader()
        vheader.hide()
        vheader.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vheader.setDefaultSectionSize(self.ROW_HEIGHT)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        # The time column sizes to "HH:MM:SS.mmm" once (fixed-width text), never truncated.
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(0, self.view.fontMetrics().horizontalAdvance("00:00:00.000  ") + 24)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self._snap: EngineSnapshot | None = None
        self._key: tuple[object, ...] = ()
        self.skipped = 0
        selection.changed.connect(self._on_symbol_changed)

    @Slot(object)
    def apply_snapshot(self, snap: EngineSnapshot) -> None:
        self._snap = snap
        symbol = self.selection.symbol or (snap.symbols[0] if snap.symbols else "")
        trades = snap.trades.get(symbol, ())
        instrument = snap.instruments.get(symbol)
        key = (symbol, trades, snap.fills, instrument)
        if len(key) == len(self._key) and all(a is b for a, b in zip(key, self._key, strict=True)):
            self.skipped += 1
            return
        self._key = key
        self.model.update(symbol, trades, snap.fills, instrument)

    @Slot(str)
    def _on_symbol_changed(self, _symbol: str) -> None:
        self._key = ()
        if self._snap is not None:
            self.apply_snapshot(self._snap)
