"""Open positions with marks and PnL, one row per symbol, updated in place from snapshots."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QVBoxLayout, QWidget

from engine.snapshot import EngineSnapshot, PositionView
from widgets.table_model import (
    LEFT,
    Column,
    SnapshotTableModel,
    fmt_money,
    fmt_price,
    fmt_qty,
    fmt_signed_money,
    money_color,
    sign_color,
)

POSITION_COLUMNS: tuple[Column, ...] = (
    Column("Symbol", lambda p: p.symbol, align=LEFT),
    Column("Qty", lambda p: p.qty, fmt_qty, color=sign_color),
    Column("Avg", lambda p: p.avg_price, fmt_price),
    Column("Mark", lambda p: p.mark, fmt_price),
    Column("uPnL", lambda p: p.unrealised_pnl, fmt_signed_money, color=money_color),
    Column("rPnL", lambda p: p.realised_pnl, fmt_signed_money, color=money_color),
    Column("Fees", lambda p: p.fees, fmt_money),
)


def make_table(model: SnapshotTableModel, parent: QWidget | None = None) -> QTableView:
    """A read-only, row-selecting table in the house look, shared by the table docks."""
    table = QTableView(parent)
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(22)
    header = table.horizontalHeader()
    # Tables live in wide bottom docks: share the width instead of one huge last column.
    header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    header.setMinimumSectionSize(60)
    return table


class PositionsView(QWidget):
    """Positions table; rows are keyed by symbol so PnL ticks never reset the selection."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = SnapshotTableModel(POSITION_COLUMNS, key=lambda p: p.symbol, parent=self)
        self.table = make_table(self.model, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        self._last: Mapping[str, PositionView] | None = None

    @Slot(object)
    def apply_snapshot(self, snap: EngineSnapshot) -> None:
        if snap.positions is self._last:
            return
        self._last = snap.positions
        rows = [snap.positions[s] for s in sorted(snap.positions)]
        self.model.set_rows(rows, snap.instruments)
