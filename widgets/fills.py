"""Fills, newest first, with what each one really cost (fee, liquidity, slippage vs mid)."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QVBoxLayout, QWidget

from engine.model.fill import Fill
from engine.snapshot import EngineSnapshot
from widgets.positions import make_table
from widgets.table_model import (
    LEFT,
    NEGATIVE,
    POSITIVE,
    Column,
    SnapshotTableModel,
    fmt_decimal,
    fmt_price,
    fmt_qty,
    fmt_time_ns,
    side_color,
)


def _fmt_fee(value: Decimal, _instrument: object = None) -> str:
    # Fees are tiny on small fills; cents would read 0.00, so show up to 8 places, trimmed.
    return fmt_decimal(value, 8).rstrip("0").rstrip(".") if value else "0"


def _fmt_bps(value: Decimal | None, _instrument: object = None) -> str:
    return fmt_decimal(value, 2, sign=True)


def _slippage_color(value: object, _row: object = None) -> QColor | None:
    # Positive slippage is a cost (worse than mid) -> red; negative is price improvement.
    if not isinstance(value, Decimal) or not value:
        return None
    return NEGATIVE if value > 0 else POSITIVE


FILL_COLUMNS: tuple[Column, ...] = (
    Column("Time (UTC)", lambda f: f.ts_event, fmt_time_ns, align=LEFT),
    Column("Symbol", lambda f: f.symbol, align=LEFT),
    Column("Side", lambda f: f.side.value, align=LEFT, color=side_color),
    Column("Qty", lambda f: f.qty, fmt_qty),
    Column("Price", lambda f: f.price, fmt_price),
    Column("Fee", lambda f: f.fee, _fmt_fee),
    Column("Liq.", lambda f: f.liquidity.value, align=LEFT),
    Column(
        "Slip (bps)",
        lambda f: f.slippage_bps,
        _fmt_bps,
        color=_slippage_color,
        tooltip="Cost against the mid at decision time; positive = worse than mid",
    ),
)


class FillsView(QWidget):
    """Recent fills from the snapshot (which already caps how many it carries)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = SnapshotTableModel(FILL_COLUMNS, key=lambda f: f.fill_id, parent=self)
        self.table = make_table(self.model, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        self._last: tuple[Fill, ...] | None = None

    @Slot(object)
    def apply_snapshot(self, snap: EngineSnapshot) -> None:
        if snap.fills is self._last:
            return
        self._last = snap.fills
        rows = sorted(snap.fills, key=lambda f: (f.ts_event, f.fill_id), reverse=True)
        self.model.set_rows(rows, snap.instruments)
