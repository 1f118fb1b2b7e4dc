"""The order ticket: the manual override. It says why an order is wrong before it is sent.

The ticket runs the engine's own shape validation (``engine.validation.validate_order``) on what is
typed, so its reasons are the engine's reasons; the engine still refuses independently. Before
sending it shows what a market order of that size would cost against the current book
(``BookView.estimate``): VWAP, worst level, slippage and notional. Money is typed as text and
parsed to ``Decimal``; there are no float spin boxes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import Enum

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.messages import (
    OrderAccepted,
    OrderCancelled,
    OrderDenied,
    OrderFilled,
    OrderRejected,
    SubmitOrder,
)
from engine.model.instrument import Instrument
from engine.model.money import parse_decimal
from engine.model.orders import OrderSide, OrderType
from engine.snapshot import BookView, EngineSnapshot, FillEstimate, PositionView
from engine.validation import Invalid, validate_order
from widgets.command_client import CommandClient
from widgets.selection import SymbolSelection
from widgets.table_model import (
    NEGATIVE,
    NEUTRAL_TEXT,
    POSITIVE,
    fmt_decimal,
    fmt_money,
    fmt_price,
    fmt_qty,
    places,
)

WARNING = "#ffa726"


class Level(Enum):
    """How a ticket message is shown: errors block sending, warnings and hints do not."""

    HINT = "hint"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Check:
    """The ticket's verdict on what is typed: the command to send (if valid) and what to say."""

    command: SubmitOrder | None
    level: Level
    message: str
    estimate: FillEstimate | None = None
    notional: Decimal | None = None

    @property
    def ok(self) -> bool:
        return self.command is not None


_COLOR = {Level.HINT: NEUTRAL_TEXT.name(), Level.WARNING: WARNING, Level.ERROR: NEGATIVE.name()}


def _side_of(text: str) -> OrderSide | None:
    """Accept order sides and, from a ladder, book sides (a bid click buys, an ask click sells)."""
    value = str(text).strip().lower()
    if value in ("buy", "bid", "b"):
        return OrderSide.BUY
    if value in ("sell", "ask", "s"):
        return OrderSide.SELL
    return None


class OrderTicket(QWidget):
    """Manual order entry bound to the shared symbol selection; sends through ``client``."""

    # Emitted with the engine's answer (event or exception) after each send, for whoever logs it.
    answered = Signal(object)

    def __init__(
        self,
        selection: SymbolSelection,
        client: CommandClient,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._selection = selection
        self._client = client
        self._instruments: Mapping[str, Instrument] = {}
        self._symbols: tuple[str, ...] = ()
        self._book: BookView | None = None
        self._books: Mapping[str, BookView] = {}
        self._positions: Mapping[str, PositionView] = {}
        self.check: Check = Check(None, Level.HINT, "enter a quantity")
        self.last_command: SubmitOrder | None = None

        # -- inputs
        self.symbol_combo = QComboBox(self)
        self.symbol_combo.setObjectName("ticket_symbol")
        self.buy_button = QPushButton("Buy", self)
        self.sell_button = QPushButton("Sell", self)
        for button, name, color in (
            (self.buy_button, "ticket_buy", POSITIVE),
            (self.sell_button, "ticket_sell", NEGATIVE),
        ):
            button.setObjectName(name)
            button.setCheckable(True)
            button.setStyleSheet(
                f"QPushButton:checked {{ background: {color.name()}; color: white; "
                "font-weight: bold; }"
            )
        self.buy_button.setChecked(True)
        self.buy_button.setToolTip("Buy (Ctrl+B)")
        self.sell_button.setToolTip("Sell (Ctrl+S)")
        self._side_group = QButtonGroup(self)
        self._side_group.setExclusive(True)
        self._side_group.addButton(self.buy_button)
        self._side_group.addButton(self.sell_button)

        self.type_combo = QComboBox(self)
        self.type_combo.setObjectName("ticket_type")
        self.type_combo.addItem("Market", OrderType.MARKET.value)
        self.type_combo.addItem("Limit", OrderType.LIMIT.value)
        self.qty_edit = QLineEdit(self)
        self.qty_edit.setObjectName("ticket_qty")
        self.qty_edit.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.price_edit = QLineEdit(self)
        self.price_edit.setObjectName("ticket_price")
        self.price_edit.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.ioc_check = QCheckBox("IOC", self)
        self.ioc_check.setToolTip("Immediate or cancel: what does not fill at once is cancelled")
        self.post_only_check = QCheckBox("Post-only", self)
        self.post_only_check.setToolTip("Only rest on the book; rejected if it would take")
        self.reduce_only_check = QCheckBox("Reduce-only", self)
        self.reduce_only_check.setToolTip("May only shrink the position, never grow or flip it")

        # -- estimate and messages
        self.vwap_label = QLabel("", self)
        self.worst_label = QLabel("", self)
        self.slippage_label = QLabel("", self)
        self.notional_label = QLabel("", self)
        self.reason_label = QLabel("", self)
        self.reason_label.setObjectName("ticket_reason")
        self.reason_label.setWordWrap(True)
        self.answer_label = QLabel("", self)
        self.answer_label.setObjectName("ticket_answer")
        self.answer_label.setWordWrap(True)
        self.answer_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.send_button = QPushButton("Send", self)
        self.send_button.setObjectName("ticket_send")
        self.send_button.setToolTip("Send the order (Return); Esc clears the ticket")

        self._build_layout()
        self._connect()
        self._on_type_changed()
        self.revalidate()

    # -------------------------------------------------------- construction

    def _build_layout(self) -> None:
        sides = QHBoxLayout()
        sides.setSpacing(2)
        sides.addWidget(self.buy_button)
        sides.addWidget(self.sell_button)
        flags = QHBoxLayout()
        flags.addWidget(self.ioc_check)
        flags.addWidget(self.post_only_check)
        flags.addWidget(self.reduce_only_check)
        flags.addStretch(1)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Symbol", self.symbol_combo)
        form.addRow("Side", sides)
        form.addRow("Type", self.type_combo)
        form.addRow("Quantity", self.qty_edit)
        form.addRow("Price", self.price_edit)
        form.addRow("", flags)

        line = QFrame(self)
        line.setFrameShape(QFrame.Shape.HLine)
        estimate = QFormLayout()
        estimate.addRow("Est. VWAP", self.vwap_label)
        estimate.addRow("Worst price", self.worst_label)
        estimate.addRow("Slippage", self.slippage_label)
        estimate.addRow("Notional", self.notional_label)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(form)
        layout.addWidget(line)
        layout.addLayout(estimate)
        layout.addWidget(self.reason_label)
        layout.addWidget(self.send_button)
        layout.addWidget(self.answer_label)
        layout.addStretch(1)

    def _connect(self) -> None:
        self.symbol_combo.currentTextChanged.connect(self._on_combo_symbol)
        self._selection.changed.connect(self._on_selection_changed)
        self._selection.price_clicked.connect(self.fill_from_price)
        self._side_group.buttonToggled.connect(self._on_side_toggled)
        self.type_combo.currentIndexChanged.connect(self._on_type_changed)
        self.qty_edit.textChanged.connect(self.revalidate)
        self.price_edit.textChanged.connect(self.revalidate)
        self.ioc_check.toggled.connect(self._on_ioc)
        self.post_only_check.toggled.connect(self._on_post_only)
        self.reduce_only_check.toggled.connect(self.revalidate)
        self.send_button.clicked.connect(self.send)

        context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        self._shortcuts = []
        for keys, slot in (
            (QKeySequence("Ctrl+B"), lambda: self.set_side(OrderSide.BUY)),
            (QKeySequence("Ctrl+S"), lambda: self.set_side(OrderSide.SELL)),
            (QKeySequence(Qt.Key.Key_Return), self.send),
            (QKeySequence(Qt.Key.Key_Enter), self.send),
            (QKeySequence(Qt.Key.Key_Escape), self.clear),
        ):
            shortcut = QShortcut(keys, self)
            shortcut.setContext(context)
            shortcut.activated.connect(slot)
            self._shortcuts.append(shortcut)

    # -------------------------------------------------------- state accessors

    @property
    def side(self) -> OrderSide:
        return OrderSide.SELL if self.sell_button.isChecked() else OrderSide.BUY

    @property
    def order_type(self) -> OrderType:
        return OrderType(self.type_combo.currentData())

    @property
    def symbol(self) -> str:
        return self._selection.symbol or self.symbol_combo.currentText()

    def set_side(self, side: OrderSide | str) -> None:
        parsed = _side_of(str(side))
        if parsed is None:
            return
        (self.buy_button if parsed is OrderSide.BUY else self.sell_button).setChecked(True)

    def set_order_type(self, order_type: OrderType | str) -> None:
        index = self.type_combo.findData(OrderType(str(order_type).lower()).value)
        self.type_combo.setCurrentIndex(index)

    # -------------------------------------------------------- snapshot

    @Slot(object)
    def apply_snapshot(self, snap: EngineSnapshot) -> None:
        self._instruments = snap.instruments
        self._positions = snap.positions
        self._books = snap.books
        if snap.symbols != self._symbols:
            self._set_symbols(snap.symbols)
        book = snap.books.get(self.symbol)
        if book is self._book:
            return
        self._book = book
        self.revalidate()

    def _set_symbols(self, symbols: tuple[str, ...]) -> None:
        self._symbols = symbols
        current = self._selection.symbol
        self.symbol_combo.blockSignals(True)
        self.symbol_combo.clear()
        self.symbol_combo.addItems(list(symbols))
        if current in symbols:
            self.symbol_combo.setCurrentText(current)
        self.symbol_combo.blockSignals(False)
        if current not in symbols and symbols:
            # Nothing selected yet (or a symbol the engine no longer trades): take the first.
            self._selection.set_symbol(symbols[0])
            self.symbol_combo.setCurrentText(symbols[0])

    # -------------------------------------------------------- reactions

    @Slot(str)
    def _on_combo_symbol(self, symbol: str) -> None:
        if symbol:
            self._selection.set_symbol(symbol)

    @Slot(str)
    def _on_selection_changed(self, symbol: str) -> None:
        if self.symbol_combo.currentText() != symbol and self.symbol_combo.findText(symbol) >= 0:
            self.symbol_combo.setCurrentText(symbol)
        self._book = self._books.get(symbol)
        self.revalidate()

    @Slot(object, bool)
    def _on_side_toggled(self, _button: object, checked: bool) -> None:
        if checked:
            self.revalidate()

    @Slot()
    def _on_type_changed(self, *_args: object) -> None:
        limit = self.order_type is OrderType.LIMIT
        self.price_edit.setEnabled(limit)
        self.price_edit.setPlaceholderText("limit price" if limit else "market")
        # Market orders take what is there now: they are IOC by nature and can never be post-only.
        self.ioc_check.setEnabled(limit)
        self.post_only_check.setEnabled(limit)
        if not limit:
            self.ioc_check.setChecked(False)
            self.post_only_check.setChecked(False)
        self.revalidate()

    @Slot(bool)
    def _on_ioc(self, checked: bool) -> None:
        if checked:
            self.post_only_check.setChecked(False)  # resting-only and fill-now exclude each other
        self.revalidate()

    @Slot(bool)
    def _on_post_only(self, checked: bool) -> None:
        if checked:
            self.ioc_check.setChecked(False)
        self.revalidate()

    @Slot(str, object)
    def fill_from_price(self, side: str, price: object) -> None:
        """A ladder click: take its side and price and switch to a limit order."""
        value = parse_decimal(price)
        if value is None:
            return
        self.set_side(side)
        self.set_order_type(OrderType.LIMIT)
        instrument = self._instruments.get(self.symbol)
        text = format(value, f".{places(instrument.tick_size)}f") if instrument else str(value)
        self.price_edit.setText(text)
        self.qty_edit.setFocus()
        self.qty_edit.selectAll()

    # -------------------------------------------------------- validation

    @Slot()
    def revalidate(self, *_args: object) -> None:
        self.check = self._evaluate()
        self._show_check(self.check)

    def _evaluate(self) -> Check:
        symbol = self.symbol
        instrument = self._instruments.get(symbol)
        side = self.side
        otype = self.order_type
        qty_text = self.qty_edit.text().strip()
        price_text = self.price_edit.text().strip() if otype is OrderType.LIMIT else ""
        book = self._book if self._book is not None and self._book.symbol == symbol else None

        if not self._instruments:
            return Check(None, Level.HINT, "waiting for market data")
        if instrument is None:
            unknown = SubmitOrder(symbol=symbol, side=side.value, type=otype.value, qty=qty_text)
            return _refusal(validate_order(unknown, self._instruments, None))
        if not qty_text:
            return Check(None, Level.HINT, f"enter a quantity (lot {instrument.lot_size})")

        qty = parse_decimal(qty_text)
        price = parse_decimal(price_text) if price_text else None
        command = SubmitOrder(
            symbol=symbol,
            side=side.value,
            type=otype.value,
            qty=qty if qty is not None else qty_text,
            price=(price if price is not None else price_text) if price_text else None,
            tif="ioc" if (otype is OrderType.LIMIT and self.ioc_check.isChecked()) else "gtc",
            post_only=otype is OrderType.LIMIT and self.post_only_check.isChecked(),
            reduce_only=self.reduce_only_check.isChecked(),
        )
        if otype is OrderType.LIMIT and not price_text:
            return Check(None, Level.HINT, f"enter a limit price (tick {instrument.tick_size})")
        mid = book.mid if book is not None else None
        verdict = validate_order(command, self._instruments, mid)
        if isinstance(verdict, Invalid) or qty is None:
            return _refusal(verdict)

        estimate = _estimate(book, side, qty, price)
        notional: Decimal | None
        if price is not None:
            notional = qty * price
        else:
            notional = estimate.notional if estimate is not None and estimate.filled_qty else None

        if otype is OrderType.MARKET:
            if book is None or mid is None:
                why = f"no prices for {symbol} yet; cannot send a market order"
                return Check(None, Level.ERROR, why)
            if estimate is None or not estimate.filled_qty:
                why = f"nothing to take: the {side.opposite.value} side of the book is empty"
                return Check(None, Level.ERROR, why)

        warnings = self._warnings(instrument, side, otype, qty, price, book, estimate, command)
        if warnings:
            return Check(command, Level.WARNING, "; ".join(warnings), estimate, notional)
        hint = self._hint(instrument, command, price, book, estimate)
        return Check(command, Level.HINT, hint, estimate, notional)

    def _warnings(
        self,
        instrument: Instrument,
        side: OrderSide,
        otype: OrderType,
        qty: Decimal,
        price: Decimal | None,
        book: BookView | None,
        estimate: FillEstimate | None,
        command: SubmitOrder,
    ) -> list[str]:
        out: list[str] = []
        # A limit order's unfilled rest simply rests; only a market order runs out of book.
        if otype is OrderType.MARKET and estimate is not None and estimate.unfilled_qty > 0:
            out.append(
                f"depth insufficient: only {fmt_qty(estimate.filled_qty, instrument)} of "
                f"{fmt_qty(qty, instrument)} visible in the book"
            )
        if command.post_only and _crosses(side, price, book):
            out.append("post-only would cross the book and be rejected")
        if command.reduce_only:
            position = self._positions.get(instrument.symbol)
            held = position.qty if position is not None else Decimal(0)
            if held == 0 or (held > 0) == (side is OrderSide.BUY):
                out.append("reduce-only: there is no position this order would reduce")
            elif qty > abs(held):
                out.append(f"reduce-only: larger than the position ({abs(held)})")
        return out

    @staticmethod
    def _hint(
        instrument: Instrument,
        command: SubmitOrder,
        price: Decimal | None,
        book: BookView | None,
        estimate: FillEstimate | None,
    ) -> str:
        if command.type == OrderType.MARKET:
            return "market order: takes liquidity now"
        if book is None:
            return "limit order (no book yet)"
        if estimate is None or not estimate.filled_qty:
            return "limit order: rests on the book (maker)"
        now = fmt_qty(estimate.filled_qty, instrument)
        if not estimate.unfilled_qty:
            return f"marketable limit: all {now} fills now, up to the limit"
        rest = fmt_qty(estimate.unfilled_qty, instrument)
        after = "is cancelled (IOC)" if command.tif == "ioc" else f"rests at {price}"
        return f"marketable limit: {now} fills now, the other {rest} {after}"

    def _show_check(self, check: Check) -> None:
        instrument = self._instruments.get(self.symbol)
        est = check.estimate
        if est is not None and est.filled_qty:
            self.vwap_label.setText(fmt_vwap(est.vwap, instrument))
            self.worst_label.setText(fmt_price(est.worst_price, instrument))
            quote = instrument.quote if instrument is not None else ""
            bps = est.slippage_bps
            self.slippage_label.setText(
                f"{fmt_decimal(bps, 2)} bps · {fmt_money(est.slippage)} {quote}".strip()
                if bps is not None
                else ""
            )
        else:
            for label in (self.vwap_label, self.worst_label, self.slippage_label):
                label.setText("–")
        if check.notional is not None:
            quote = instrument.quote if instrument is not None else ""
            self.notional_label.setText(f"{fmt_money(check.notional)} {quote}".strip())
        else:
            self.notional_label.setText("–")

        self.reason_label.setText(check.message)
        self.reason_label.setStyleSheet(f"color: {_COLOR[check.level]};")
        self.send_button.setEnabled(check.ok)
        side = self.side
        if check.command is not None and instrument is not None:
            what = "MKT" if self.order_type is OrderType.MARKET else self.price_edit.text().strip()
            self.send_button.setText(
                f"{side.value.capitalize()} {self.qty_edit.text().strip()} "
                f"{instrument.base} @ {what}"
            )
        else:
            self.send_button.setText("Send")
        color = POSITIVE if side is OrderSide.BUY else NEGATIVE
        self.send_button.setStyleSheet(
            f"QPushButton:enabled {{ background: {color.name()}; color: white; "
            "font-weight: bold; }"
        )

    # -------------------------------------------------------- actions

    @Slot()
    def send(self) -> bool:
        """Send the ticket's order if it is valid; returns whether a command went out."""
        self.revalidate()
        command = self.check.command
        if command is None:
            return False
        self.last_command = command
        self._say(f"sending {command.side} {command.qty} {command.symbol}…", NEUTRAL_TEXT.name())
        self._client.send(command, self._on_answer)
        return True

    @Slot()
    def clear(self) -> None:
        """Esc: empty the inputs and messages (side, type and symbol stay)."""
        self.qty_edit.clear()
        self.price_edit.clear()
        self.ioc_check.setChecked(False)
        self.post_only_check.setChecked(False)
        self.reduce_only_check.setChecked(False)
        self.answer_label.clear()
        self.revalidate()

    def _on_answer(self, result: object) -> None:
        text, color = describe_answer(result, self._instruments)
        self._say(text, color)
        self.answered.emit(result)

    def _say(self, text: str, color: str) -> None:
        self.answer_label.setText(text)
        self.answer_label.setStyleSheet(f"color: {color};")


def _refusal(verdict: object) -> Check:
    reason = verdict.reason if isinstance(verdict, Invalid) else "invalid order"
    return Check(None, Level.ERROR, reason)


def _estimate(
    book: BookView | None, side: OrderSide, qty: Decimal, limit: Decimal | None
) -> FillEstimate | None:
    """``BookView.estimate`` over the levels the order can reach (all of them for a market order).

    A passive limit order takes nothing now, so it has no estimate.
    """
    if book is None:
        return None
    if limit is None:
        return book.estimate(side, qty)
    if side is OrderSide.BUY:
        reach = replace(book, asks=tuple(lv for lv in book.asks if lv[0] <= limit))
    else:
        reach = replace(book, bids=tuple(lv for lv in book.bids if lv[0] >= limit))
    if not (reach.asks if side is OrderSide.BUY else reach.bids):
        return None
    return reach.estimate(side, qty)


def _crosses(side: OrderSide, price: Decimal | None, book: BookView | None) -> bool:
    if price is None or book is None:
        return False
    if side is OrderSide.BUY:
        return book.best_ask is not None and price >= book.best_ask
    return book.best_bid is not None and price <= book.best_bid


def fmt_vwap(vwap: Decimal | None, instrument: Instrument | None) -> str:
    """An average price often sits between ticks: one digit finer than the tick, when needed."""
    if vwap is None or instrument is None:
        return fmt_price(vwap, instrument)
    text = fmt_decimal(vwap, places(instrument.tick_size) + 1)
    return text[:-1] if text.endswith("0") else text


def describe_answer(result: object, instruments: Mapping[str, Instrument]) -> tuple[str, str]:
    """The engine's answer to a submit, in words, with the colour to show it in."""
    red, green = NEGATIVE.name(), POSITIVE.name()
    if isinstance(result, OrderDenied):
        return f"Denied: {result.reason}", red
    if isinstance(result, OrderRejected):
        return f"Rejected {result.order.order_id}: {result.reason}", red
    if isinstance(result, OrderFilled):
        order = result.order
        inst = instruments.get(order.symbol)
        base = inst.base if inst is not None else ""
        quote = inst.quote if inst is not None else ""
        avg = fmt_vwap(order.avg_fill_price, inst)
        what = "Filled" if not order.is_open else "Partially filled"
        return (
            f"{what} {order.order_id}: {fmt_qty(order.filled_qty, inst)} {base} @ {avg}"
            f" · fee {fmt_decimal(order.fees, 4)} {quote}"
            f" · slippage {fmt_decimal(result.fill.slippage_bps, 2)} bps",
            green,
        )
    if isinstance(result, OrderAccepted):
        order = result.order
        inst = instruments.get(order.symbol)
        return (
            f"Accepted {order.order_id}: resting {fmt_qty(order.remaining_qty, inst)}"
            f" @ {fmt_price(order.price, inst)}",
            green,
        )
    if isinstance(result, OrderCancelled):
        order = result.order
        inst = instruments.get(order.symbol)
        if order.filled_qty:
            avg = fmt_vwap(order.avg_fill_price, inst)
            return (
                f"Partially filled {order.order_id}: {fmt_qty(order.filled_qty, inst)} @ {avg};"
                f" rest cancelled: {result.reason}",
                WARNING,
            )
        return f"Cancelled {order.order_id}: {result.reason}", WARNING
    if isinstance(result, BaseException):
        return f"Error: {result}", red
    return str(result), NEUTRAL_TEXT.name()
