"""Open orders with cancel controls. Cancelling is a command to the engine, never a local edit:
the row disappears when a later snapshot no longer lists the order.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import QPoint, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QPushButton, QVBoxLayout, QWidget

from engine.messages import AllCancelled, CancelAll, CancelOrder, CancelRejected, OrderCancelled
from engine.model.orders import OrderView
from engine.snapshot import EngineSnapshot
from widgets.command_client import CommandClient
from widgets.positions import make_table
from widgets.table_model import (
    LEFT,
    NEGATIVE,
    Column,
    SnapshotTableModel,
    fmt_price,
    fmt_qty,
    fmt_text,
    fmt_time_ns,
    side_color,
)


def _enum_text(value: object, _instrument: object = None) -> str:
    text = fmt_text(value)
    return text.replace("_", " ")


ORDER_COLUMNS: tuple[Column, ...] = (
    Column("Id", lambda o: o.order_id, align=LEFT),
    Column("Time (UTC)", lambda o: o.ts_created, fmt_time_ns, align=LEFT),
    Column("Symbol", lambda o: o.symbol, align=LEFT),
    Column("Side", lambda o: o.side.value, align=LEFT, color=side_color),
    Column("Type", lambda o: o.type.value, align=LEFT),
    Column("Price", lambda o: o.price, fmt_price),
    Column("Qty", lambda o: o.qty, fmt_qty),
    Column("Filled", lambda o: o.filled_qty, fmt_qty),
    Column("Status", lambda o: o.status.value, _enum_text, align=LEFT),
)


class OrdersView(QWidget):
    """Open orders; Cancel (button, context menu, Delete key) and Cancel all go via ``client``."""

    def __init__(self, client: CommandClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._client = client
        self.model = SnapshotTableModel(ORDER_COLUMNS, key=lambda o: o.order_id, parent=self)
        self.table = make_table(self.model, self)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._show_menu)

        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Cancel the selected orders (Delete)")
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.cancel_all_button = QPushButton("Cancel all", self)
        self.cancel_all_button.setToolTip("Cancel every open order")
        self.cancel_all_button.clicked.connect(self.cancel_all)
        self.message = QLabel("", self)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # Delete / Backspace on the table cancels the selection.
        self.cancel_action = QAction("Cancel order", self.table)
        self.cancel_action.setShortcuts(
            [QKeySequence(Qt.Key.Key_Delete), QKeySequence(Qt.Key.Key_Backspace)]
        )
        self.cancel_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.cancel_action.triggered.connect(self.cancel_selected)
        self.table.addAction(self.cancel_action)
        self.cancel_all_action = QAction("Cancel all orders", self.table)
        self.cancel_all_action.triggered.connect(self.cancel_all)

        buttons = QHBoxLayout()
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.cancel_all_button)
        buttons.addWidget(self.message, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)

        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.model.modelReset.connect(self._update_buttons)
        self.model.rowsInserted.connect(self._update_buttons)
        self.model.rowsRemoved.connect(self._update_buttons)
        self._last: Mapping[str, OrderView] | None = None
        self._update_buttons()

    # -------------------------------------------------------- snapshot

    @Slot(object)
    def apply_snapshot(self, snap: EngineSnapshot) -> None:
        if snap.orders is self._last:
            return
        self._last = snap.orders
        rows = sorted(
            (o for o in snap.orders.values() if o.is_open),
            key=lambda o: (o.ts_created, o.order_id),
        )
        self.model.set_rows(rows, snap.instruments)

    # -------------------------------------------------------- commands

    def selected_order_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [str(self.model.row_key(r)) for r in rows]

    @Slot()
    def cancel_selected(self) -> None:
        for order_id in self.selected_order_ids():
            self._client.send(CancelOrder(order_id=order_id), self._on_answer)

    @Slot()
    def cancel_all(self) -> None:
        self._client.send(CancelAll(), self._on_answer)

    def _on_answer(self, result: object) -> None:
        if isinstance(result, CancelRejected):
            self._say(f"Cancel {result.order_id} refused: {result.reason}", error=True)
        elif isinstance(result, OrderCancelled):
            self._say(f"Cancelled {result.order.order_id}")
        elif isinstance(result, AllCancelled):
            self._say(f"Cancelled {len(result.order_ids)} order(s)")
        elif isinstance(result, BaseException):
            self._say(f"Cancel failed: {result}", error=True)
        else:
            self._say(type(result).__name__)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {NEGATIVE.name()};" if error else "")

    # -------------------------------------------------------- UI state

    @Slot()
    def _update_buttons(self, *_args: object) -> None:
        has_selection = self.table.selectionModel().hasSelection()
        self.cancel_button.setEnabled(has_selection)
        self.cancel_action.setEnabled(has_selection)
        has_rows = self.model.rowCount() > 0
        self.cancel_all_button.setEnabled(has_rows)
        self.cancel_all_action.setEnabled(has_rows)

    @Slot(QPoint)
    def _show_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if index.isValid() and not self.table.selectionModel().isRowSelected(index.row()):
            self.table.selectRow(index.row())
        menu = QMenu(self)
        menu.addAction(self.cancel_action)
        menu.addAction(self.cancel_all_action)
        menu.exec(self.table.viewport().mapToGlobal(pos))
