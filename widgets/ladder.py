"""Order book ladder: asks above, bids below, the spread in between, our resting orders marked.

The layout is fixed at ``2 * depth + 1`` rows (``depth`` ask rows, the spread row, ``depth`` bid
rows), so a new book only changes cell contents: the model emits one ``dataChanged`` over the rows
that changed and resets only when the depth changes. Asks fill upwards from the spread row (best
ask just above it), bids downwards (best bid just below it); missing levels leave blank rows at the
far ends.

Clicking a level picks its price for the order ticket through ``SymbolSelection.price_clicked``:
an ask row emits ``("buy", price)`` (lift that offer), a bid row ``("sell", price)`` (hit that
bid). The spread row and blank rows do nothing.

Our open limit orders (``snap.orders``) show in the "Mine" column at their price. A price with no
public size (our order improves the book, or the paper broker keeps it off the public book) is
merged in as a row with a blank size, so the order stays visible; orders beyond the visible depth
are not shown. Sizes and cumulative sizes are the public book only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    Qt,
    Slot,
)
from PySide6.QtGui import QFontDatabase, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from engine.model.instrument import Instrument
from engine.model.orders import OrderSide, OrderView
from engine.snapshot import BookView, EngineSnapshot, Level
from widgets import theme
from widgets.selection import SymbolSelection
from widgets.theme import Formats

ZERO = Decimal(0)
DEFAULT_DEPTH = 20

# Custom roles: the delegate reads the bar length and side, the widget the clicked row's price.
BAR_ROLE = Qt.ItemDataRole.UserRole + 1
KIND_ROLE = Qt.ItemDataRole.UserRole + 2
PRICE_ROLE = Qt.ItemDataRole.UserRole + 3

_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_CENTER = Qt.AlignmentFlag.AlignCenter
_Index = QModelIndex | QPersistentModelIndex


RECENTRE_AFTER_S = 10.0


class RowKind(StrEnum):
    ASK = "ask"
    BID = "bid"
    SPREAD = "spread"
    EMPTY = "empty"


class LadderRow(NamedTuple):
    """Everything one row shows; equal rows mean an unchanged row (no signal, no formatting)."""

    kind: RowKind
    price: Decimal | None
    size: Decimal
    cumulative: Decimal
    own: Decimal
    size_frac: float
    cum_frac: float


_TEXT_FIELDS = 5  # kind, price, size, cumulative, own: what a row's texts are made of
_EMPTY_ROW = LadderRow(RowKind.EMPTY, None, ZERO, ZERO, ZERO, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class LadderColumn:
    """One column, declared once: header, text of a row, alignment, optional bar length."""

    header: str
    text: Callable[[LadderRow, Formats], str]
    alignment: Qt.AlignmentFlag
    bar: Callable[[LadderRow], float] | None = None


COLUMNS: tuple[LadderColumn, ...] = (
    LadderColumn("Mine", lambda r, f: f.qty(r.own) if r.own else "", _RIGHT),
    LadderColumn("Price", lambda r, f: f.price(r.price) if r.price is not None else "", _RIGHT),
    LadderColumn(
        "Size", lambda r, f: f.qty(r.size) if r.size else "", _RIGHT, lambda r: r.size_frac
    ),
    LadderColumn(
        "Total",
        lambda r, f: f.qty(r.cumulative) if r.cumulative else "",
        _RIGHT,
        lambda r: r.cum_frac,
    ),
)
MINE_COL, PRICE_COL, SIZE_COL, TOTAL_COL = range(4)
_BLANK_CELLS = ("",) * len(COLUMNS)


def own_levels(
    orders: Mapping[str, OrderView], symbol: str
) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    """Remaining quantity of our open limit orders per price: (buys, sells)."""
    buys: dict[Decimal, Decimal] = {}
    sells: dict[Decimal, Decimal] = {}
    for order in orders.values():
        if order.symbol != symbol or order.price is None or not order.is_open:
            continue
        target = buys if order.side == OrderSide.BUY else sells
        target[order.price] = target.get(order.price, ZERO) + order.remaining_qty
    return buys, sells


def _side(
    levels: tuple[Level, ...], own: Mapping[Decimal, Decimal], depth: int, *, bids: bool
) -> list[tuple[Decimal, Decimal, Decimal, Decimal]]:
    """Best-first (price, size, cumulative, own) for one side, our order prices merged in."""
    top: list[Level] = list(levels[:depth])
    if own:
        shown = {price for price, _ in top}
        extra = [(price, ZERO) for price in own if price not in shown]
        if extra:
            top = sorted(top + extra, key=lambda lv: lv[0], reverse=bids)[:depth]
    out = []
    cumulative = ZERO
    for price, size in top:
        cumulative += size
        out.append((price, size, cumulative, own.get(price, ZERO)))
    return out


class LadderModel(QAbstractTableModel):
    """Fixed-shape table of the top ``depth`` levels per side around a spread row."""

    def __init__(self, depth: int = DEFAULT_DEPTH, parent: Any = None) -> None:
        super().__init__(parent)
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._depth = depth
        self._rows: list[LadderRow] = [_EMPTY_ROW] * self.row_count()
        self._cells: list[tuple[str, ...]] = [_BLANK_CELLS] * self.row_count()
        self._inputs: tuple[object, ...] = ()
        self._formats = Formats.of(None)
        self.rebuilds = 0  # how often rows were recomputed (tests and the perf budget read it)
        self.rows_formatted = 0  # rows whose texts were redone: only the ones that changed

    # ------------------------------------------------------------ shape
    @property
    def depth(self) -> int:
        return self._depth

    @property
    def spread_row(self) -> int:
        return self._depth

    def row_count(self) -> int:
        return 2 * self._depth + 1

    def set_depth(self, depth: int) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if depth == self._depth:
            return
        self.beginResetModel()
        self._depth = depth
        self._rows = [_EMPTY_ROW] * self.row_count()
        self._cells = [_BLANK_CELLS] * self.row_count()
        self._inputs = ()
        self.endResetModel()

    def row_info(self, row: int) -> tuple[RowKind, Decimal | None]:
        r = self._rows[row]
        return r.kind, r.price

    # ------------------------------------------------------------ updates
    def update(
        self,
        book: BookView | None,
        instrument: Instrument | None,
        own_buys: Mapping[Decimal, Decimal],
        own_sells: Mapping[Decimal, Decimal],
    ) -> bool:
        """Show ``book``; returns False (and does nothing) when nothing visible changed."""
        bids = book.bids if book is not None else ()
        asks = book.asks if book is not None else ()
        inputs = (bids, asks, instrument, own_buys, own_sells)
        if inputs == self._inputs:
            return False
        self._inputs = inputs
        self.rebuilds += 1
        formats = Formats.of(instrument)
        force = formats != self._formats  # another grid: every text must be redone
        self._formats = formats
        rows = self._build(bids, asks, own_buys, own_sells)
        first = last = -1
        old_rows = self._rows
        cells = self._cells
        for i, row in enumerate(rows):
            old = old_rows[i]
            if not force and row == old:
                continue
            # Bar widths follow the book-wide maximum, so they move on every row at once; the
            # texts are redone only where what they show changed.
            if force or row[:_TEXT_FIELDS] != old[:_TEXT_FIELDS]:
                cells[i] = self._format_row(row)
                self.rows_formatted += 1
            if first < 0:
                first = i
            last = i
        self._rows = rows
        if first >= 0:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))
        return first >= 0

    def _build(
        self,
        bids: tuple[Level, ...],
        asks: tuple[Level, ...],
        own_buys: Mapping[Decimal, Decimal],
        own_sells: Mapping[Decimal, Decimal],
    ) -> list[LadderRow]:
        depth = self._depth
        ask_side = _side(asks, own_sells, depth, bids=False)
        bid_side = _side(bids, own_buys, depth, bids=True)
        max_size = max((s for _, s, _, _ in ask_side + bid_side), default=ZERO)
        max_cum = max(ask_side[-1][2] if ask_side else ZERO, bid_side[-1][2] if bid_side else ZERO)
        inv_size = 1.0 / float(max_size) if max_size else 0.0
        inv_cum = 1.0 / float(max_cum) if max_cum else 0.0

        rows = [_EMPTY_ROW] * (2 * depth + 1)
        for i, (price, size, cum, own) in enumerate(ask_side):
            rows[depth - 1 - i] = LadderRow(
                RowKind.ASK, price, size, cum, own, float(size) * inv_size, float(cum) * inv_cum
            )
        for i, (price, size, cum, own) in enumerate(bid_side):
            rows[depth + 1 + i] = LadderRow(
                RowKind.BID, price, size, cum, own, float(size) * inv_size, float(cum) * inv_cum
            )
        if bids and asks:
            best_bid, best_ask = bids[0][0], asks[0][0]
            mid = (best_bid + best_ask) / 2
            rows[depth] = LadderRow(RowKind.SPREAD, mid, best_ask - best_bid, ZERO, ZERO, 0.0, 0.0)
        else:
            rows[depth] = LadderRow(RowKind.SPREAD, None, ZERO, ZERO, ZERO, 0.0, 0.0)
        return rows

    def _format_row(self, row: LadderRow) -> tuple[str, ...]:
        fmt = self._formats
        if row.kind is RowKind.EMPTY:
            return _BLANK_CELLS
        if row.kind is RowKind.SPREAD:
            if row.price is None:
                return ("no spread (one side empty)", "", "", "")
            bps = row.size / row.price * 10000 if row.price else ZERO
            text = f"spread {fmt.price(row.size)} ({bps:.2f} bp)   mid {fmt.mid(row.price)}"
            return (text, "", "", "")
        return tuple(col.text(row, fmt) for col in COLUMNS)

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
        row_i = index.row()
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cells[row_i][col]
        row = self._rows[row_i]
        kind = row.kind
        if role == BAR_ROLE:
            bar = COLUMNS[col].bar
            return bar(row) if bar is not None and kind in (RowKind.ASK, RowKind.BID) else None
        if role == Qt.ItemDataRole.ForegroundRole:
            if kind is RowKind.SPREAD:
                return theme.qcolor(theme.MID)
            if col == PRICE_COL:
                return theme.qcolor(theme.ASK if kind is RowKind.ASK else theme.BID)
            if col == MINE_COL and row.own:
                return theme.qcolor(theme.OWN_ORDER_FG)
            return None
        if role == Qt.ItemDataRole.BackgroundRole:
            if kind is RowKind.SPREAD:
                return theme.qcolor(theme.SPREAD_BG)
            if col == MINE_COL and row.own:
                return theme.qcolor(theme.OWN_ORDER_BG)
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _CENTER if kind is RowKind.SPREAD else COLUMNS[col].alignment
        if role == KIND_ROLE:
            return kind
        if role == PRICE_ROLE:
            return row.price
        return None


class LadderBarDelegate(QStyledItemDelegate):
    """Paints the size / cumulative bar behind the text, growing from the right edge."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        frac = index.data(BAR_ROLE)
        if frac:
            rect: QRect = option.rect
            width = max(1, round(rect.width() * min(frac, 1.0)))
            colour = theme.BID_BAR if index.data(KIND_ROLE) == RowKind.BID else theme.ASK_BAR
            painter.fillRect(
                QRect(rect.right() - width + 1, rect.top() + 1, width, rect.height() - 2),
                theme.qcolor(colour),
            )
        super().paint(painter, option, index)


class LadderWidget(QWidget):
    """The ladder of ``selection.symbol``; click a level to hand its price to the ticket."""

    ROW_HEIGHT = 18

    def __init__(
        self, selection: SymbolSelection, depth: int = DEFAULT_DEPTH, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.selection = selection
        self.model = LadderModel(depth, self)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.setItemDelegate(LadderBarDelegate(self.view))
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
        # Prices must never be cut: the price column sizes to its text, "Mine" stays narrow
        # (usually empty), size and total share the rest.
        header.setSectionResizeMode(PRICE_COL, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 52)
        self.view.horizontalHeader().setHighlightSections(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)

        self._snap: EngineSnapshot | None = None
        self._key: tuple[object, ...] = ()
        self._own_symbol = ""
        self._own_orders: Mapping[str, OrderView] | None = None
        self._own: tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]] = ({}, {})
        self._centred = False
        # The ladder keeps the spread centred, except for a while after the trader scrolls.
        self._user_scrolled_at = -1e9
        self.view.verticalScrollBar().actionTriggered.connect(self._on_user_scroll)
        self.skipped = 0  # frames that cost one tuple comparison only

        self._span_spread_row()
        self.view.clicked.connect(self._on_clicked)
        selection.changed.connect(self._on_symbol_changed)

    # ------------------------------------------------------------ public
    def set_depth(self, depth: int) -> None:
        self.model.set_depth(depth)
        self._span_spread_row()
        self._key = ()
        self._centred = False
        if self._snap is not None:
            self.apply_snapshot(self._snap)

    def current_symbol(self, snap: EngineSnapshot | None = None) -> str:
        """The selection, or the snapshot's first symbol while nothing is selected."""
        if self.selection.symbol:
            return self.selection.symbol
        snap = snap or self._snap
        return snap.symbols[0] if snap is not None and snap.symbols else ""

    @Slot(object)
    def apply_snapshot(self, snap: EngineSnapshot) -> None:
        self._snap = snap
        symbol = self.current_symbol(snap)
        book = snap.books.get(symbol)
        instrument = snap.instruments.get(symbol)
        key = (symbol, book, snap.orders, instrument)
        if len(self._key) == len(key) and all(a is b for a, b in zip(key, self._key, strict=True)):
            self.skipped += 1  # same objects: nothing can have changed
            return
        self._key = key
        if symbol != self._own_symbol or snap.orders is not self._own_orders:
            self._own_symbol, self._own_orders = symbol, snap.orders
            self._own = own_levels(snap.orders, symbol)
        self.model.update(book, instrument, *self._own)
        recently_scrolled = time.monotonic() - self._user_scrolled_at < RECENTRE_AFTER_S
        if book is not None and (book.bids or book.asks) and not recently_scrolled:
            self._centred = True
            self.view.scrollTo(
                self.model.index(self.model.spread_row, PRICE_COL),
                QAbstractItemView.ScrollHint.PositionAtCenter,
            )

    # ------------------------------------------------------------ internals
    @Slot(int)
    def _on_user_scroll(self, _action: int) -> None:
        self._user_scrolled_at = time.monotonic()

    def _span_spread_row(self) -> None:
        self.view.clearSpans()
        self.view.setSpan(self.model.spread_row, 0, 1, len(COLUMNS))

    @Slot(QModelIndex)
    def _on_clicked(self, index: QModelIndex) -> None:
        kind, price = self.model.row_info(index.row())
        if price is None:
            return
        if kind is RowKind.ASK:
            self.selection.price_clicked.emit(str(OrderSide.BUY), price)
        elif kind is RowKind.BID:
            self.selection.price_clicked.emit(str(OrderSide.SELL), price)

    @Slot(str)
    def _on_symbol_changed(self, _symbol: str) -> None:
        self._key = ()
        self._own_orders = None
        self._centred = False
        if self._snap is not None:
            self.apply_snapshot(self._snap)
