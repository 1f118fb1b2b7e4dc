"""The order ticket says why before sending, estimates from the book, shows the engine's answer."""

from __future__ import annotations

import dataclasses
import threading
from decimal import Decimal
from typing import Any

import pytest
from kit import RecordingSubmit
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from snapshots import book_view, make_fill, make_snapshot, order_view, position_view

from engine.messages import OrderDenied, OrderFilled, SubmitOrder
from engine.model.orders import OrderSide, OrderStatus, OrderType
from widgets.command_client import CommandClient
from widgets.order_ticket import Level, OrderTicket
from widgets.selection import SymbolSelection
from widgets.table_model import NEGATIVE, POSITIVE

D = Decimal




@pytest.fixture
def submit() -> RecordingSubmit:
    return RecordingSubmit()


@pytest.fixture
def selection() -> SymbolSelection:
    return SymbolSelection()


@pytest.fixture
def ticket(qtbot: Any, selection: SymbolSelection, submit: RecordingSubmit) -> OrderTicket:
    client = CommandClient(submit)
    widget = OrderTicket(selection, client)
    client.setParent(widget)
    qtbot.addWidget(widget)
    widget.apply_snapshot(make_snapshot())
    return widget


def type_order(ticket: OrderTicket, qty: str, price: str | None = None, side: str = "buy") -> None:
    ticket.set_side(side)
    ticket.set_order_type(OrderType.LIMIT if price is not None else OrderType.MARKET)
    ticket.qty_edit.setText(qty)
    if price is not None:
        ticket.price_edit.setText(price)


def test_first_snapshot_selects_the_first_symbol(
    ticket: OrderTicket, selection: SymbolSelection
) -> None:
    assert selection.symbol == "BTC/USDT"
    assert ticket.symbol_combo.currentText() == "BTC/USDT"
    assert ticket.symbol_combo.count() == 5
    assert not ticket.send_button.isEnabled()  # nothing typed yet
    assert "enter a quantity" in ticket.reason_label.text()


@pytest.mark.parametrize(
    ("qty", "price", "reason"),
    [
        ("abc", None, "quantity 'abc' is not a number"),
        ("0", None, "quantity must be positive"),
        ("-1", None, "quantity must be positive"),
        ("0.000001", None, "is below the lot size 0.00001"),
        ("0.000015", None, "is not a multiple of the lot size 0.00001"),
        # 0.00008 BTC at mid 60000.05 is 4.80 USDT, the minimum is 5
        ("0.00008", None, "order value 4.80 USDT is below the minimum notional 5 USDT"),
        ("0.00008", "60000.00", "order value 4.80 USDT is below the minimum notional 5 USDT"),
        ("0.01", "60000.005", "price 60000.005 is not on the tick size 0.01"),
        ("0.01", "6e4x", "price '6e4x' is not a number"),
        ("0.01", "-5", "price must be positive"),
    ],
)
def test_ticket_refuses_and_says_why(
    ticket: OrderTicket, submit: RecordingSubmit, qty: str, price: str | None, reason: str
) -> None:
    type_order(ticket, qty, price)
    assert reason in ticket.reason_label.text()
    assert ticket.check.level is Level.ERROR
    assert NEGATIVE.name() in ticket.reason_label.styleSheet()
    assert not ticket.send_button.isEnabled()
    assert ticket.send() is False
    assert submit.commands == []


def test_unknown_symbol_is_refused(ticket: OrderTicket, selection: SymbolSelection) -> None:
    type_order(ticket, "1")
    selection.set_symbol("DOGE/USDT")
    assert "unknown symbol 'DOGE/USDT'" in ticket.reason_label.text()
    assert not ticket.send_button.isEnabled()


def test_market_order_without_a_book_is_refused(
    qtbot: Any, selection: SymbolSelection, submit: RecordingSubmit
) -> None:
    ticket = OrderTicket(selection, CommandClient(submit))
    qtbot.addWidget(ticket)
    ticket.apply_snapshot(make_snapshot(books={}))
    type_order(ticket, "0.01")
    assert "no prices for BTC/USDT" in ticket.reason_label.text()
    assert not ticket.send_button.isEnabled()


def test_estimate_equals_book_estimate(ticket: OrderTicket) -> None:
    book = book_view("BTC/USDT")
    # 0.05 BTC walks three ask levels: 0.03 @ 60000.10, 0.01 @ 60000.20, 0.01 of 0.04 @ 60000.30
    # = 1800.003 + 600.002 + 600.003 = 3000.008 USDT, VWAP 60000.16, 0.11 above the mid
    type_order(ticket, "0.05")
    expected = book.estimate(OrderSide.BUY, D("0.05"))
    assert ticket.check.estimate == expected
    assert expected.notional == D("3000.008")
    assert expected.worst_price == D("60000.30")
    assert ticket.check.ok
    assert ticket.send_button.isEnabled()
    assert ticket.vwap_label.text() == "60,000.16"
    assert ticket.worst_label.text() == "60,000.30"
    assert ticket.notional_label.text() == "3,000.01 USDT"
    # 0.11 * 0.05 = 0.0055 USDT = 0.0183 bps of 3000.008
    assert ticket.slippage_label.text() == "0.02 bps · 0.01 USDT"

    type_order(ticket, "0.04")  # (1800.003 + 600.002) / 0.04 = 60000.125: between ticks
    assert ticket.vwap_label.text() == "60,000.125"

    # Selling the same size walks the bids instead.
    ticket.set_side("sell")
    assert ticket.check.estimate == book.estimate(OrderSide.SELL, D("0.04"))


def test_depth_insufficient_is_a_warning_not_a_refusal(ticket: OrderTicket) -> None:
    type_order(ticket, "100")  # the 20 visible levels hold far less
    assert ticket.check.level is Level.WARNING
    assert "depth insufficient" in ticket.reason_label.text()
    assert ticket.send_button.isEnabled()


def test_reduce_only_without_a_position_warns(ticket: OrderTicket) -> None:
    type_order(ticket, "0.01")
    ticket.reduce_only_check.setChecked(True)
    assert "no position this order would reduce" in ticket.reason_label.text()
    snap = make_snapshot(positions={"BTC/USDT": position_view("BTC/USDT", "0.02")})
    ticket.apply_snapshot(snap)
    ticket.set_side("sell")
    assert ticket.check.level is Level.HINT


def test_send_submits_the_exact_order_and_shows_the_denial(
    qtbot: Any, ticket: OrderTicket, submit: RecordingSubmit
) -> None:
    type_order(ticket, "0.05", "59999.50", side="buy")
    ticket.post_only_check.setChecked(True)
    qtbot.mouseClick(ticket.send_button, Qt.MouseButton.LeftButton)
    expected = SubmitOrder(
        symbol="BTC/USDT",
        side="buy",
        type="limit",
        qty=D("0.05"),
        price=D("59999.50"),
        tif="gtc",
        post_only=True,
        reduce_only=False,
    )
    assert submit.commands == [expected]
    denial = OrderDenied(
        order_id="O-000001",
        client_id=None,
        symbol="BTC/USDT",
        reason="max open orders 5 reached",
        limit="max_open_orders",
        value="5",
        command=expected,
        ts_ns=1,
    )
    # The engine answers on its own thread; the ticket shows it on the GUI thread.
    worker = threading.Thread(target=submit.futures[0].set_result, args=(denial,))
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: "max open orders 5 reached" in ticket.answer_label.text())
    assert ticket.answer_label.text() == "Denied: max open orders 5 reached"
    assert NEGATIVE.name() in ticket.answer_label.styleSheet()


def test_fill_answer_is_summarised_in_green(
    qtbot: Any, ticket: OrderTicket, submit: RecordingSubmit
) -> None:
    type_order(ticket, "0.01", side="sell")
    ticket.reduce_only_check.setChecked(False)
    assert ticket.send() is True
    assert submit.commands[0] == SubmitOrder(
        symbol="BTC/USDT", side="sell", type="market", qty=D("0.01"), price=None
    )
    fill = make_fill("F-000001", order_id="O-000007", side="sell", qty="0.01", price="60000.00")
    order = order_view(
        "O-000007",
        side="sell",
        qty="0.01",
        price=None,
        type="market",
        status=OrderStatus.FILLED,
        filled_qty="0.01",
        avg_fill_price="60000.00",
        fees=fill.fee,
    )
    submit.futures[0].set_result(OrderFilled(order=order, fill=fill, ts_ns=1))
    qtbot.waitUntil(lambda: ticket.answer_label.text().startswith("Filled"))
    text = ticket.answer_label.text()
    assert "Filled O-000007: 0.01000 BTC @ 60,000.00 ·" in text
    assert "fee 0.6000 USDT" in text
    assert POSITIVE.name() in ticket.answer_label.styleSheet()


def test_price_click_fills_side_price_and_switches_to_limit(
    ticket: OrderTicket, selection: SymbolSelection
) -> None:
    assert (ticket.side, ticket.order_type) == (OrderSide.BUY, OrderType.MARKET)
    assert not ticket.price_edit.isEnabled()
    selection.price_clicked.emit("sell", D("60000.00"))
    assert (ticket.side, ticket.order_type) == (OrderSide.SELL, OrderType.LIMIT)
    assert ticket.price_edit.isEnabled()
    assert ticket.price_edit.text() == "60000.00"
    selection.price_clicked.emit("buy", D("60000.1"))
    assert ticket.side is OrderSide.BUY
    assert ticket.price_edit.text() == "60000.10"  # shown at tick precision


def test_market_orders_cannot_be_post_only_or_ioc(ticket: OrderTicket) -> None:
    ticket.set_order_type(OrderType.LIMIT)
    ticket.post_only_check.setChecked(True)
    ticket.ioc_check.setChecked(True)
    assert not ticket.post_only_check.isChecked()  # the two exclude each other
    ticket.set_order_type(OrderType.MARKET)
    assert not ticket.ioc_check.isChecked()
    assert not ticket.ioc_check.isEnabled()
    assert not ticket.post_only_check.isEnabled()


def test_keyboard_shortcuts(qtbot: Any, ticket: OrderTicket, submit: RecordingSubmit) -> None:
    ticket.show()
    qtbot.waitExposed(ticket)
    ticket.activateWindow()
    ticket.qty_edit.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is ticket.qty_edit)

    qtbot.keyClicks(ticket.qty_edit, "0.01")
    sides = []
    for key in (Qt.Key.Key_S, Qt.Key.Key_B):
        qtbot.keyClick(ticket.qty_edit, key, Qt.KeyboardModifier.ControlModifier)
        sides.append(ticket.side)
    assert sides == [OrderSide.SELL, OrderSide.BUY]
    qtbot.keyClick(ticket.qty_edit, Qt.Key.Key_Return)
    assert [c.qty for c in submit.commands] == [D("0.01")]
    assert ticket.qty_edit.text() == "0.01"  # the values stay for a repeat

    qtbot.keyClick(ticket.qty_edit, Qt.Key.Key_Escape)
    assert ticket.qty_edit.text() == ""
    assert not ticket.send_button.isEnabled()
    qtbot.keyClick(ticket.qty_edit, Qt.Key.Key_Return)  # invalid now: nothing is sent
    assert len(submit.commands) == 1


def test_new_book_updates_the_estimate(ticket: OrderTicket) -> None:
    type_order(ticket, "0.01")
    before = ticket.check.estimate
    thin = book_view("BTC/USDT", bids=[("59990.00", "1")], asks=[("60010.00", "0.005")], seq=2)
    snap = make_snapshot()
    ticket.apply_snapshot(dataclasses.replace(snap, books={**snap.books, "BTC/USDT": thin}))
    assert ticket.check.estimate == thin.estimate(OrderSide.BUY, D("0.01"))
    assert ticket.check.estimate != before
    assert "depth insufficient" in ticket.reason_label.text()


def test_limit_order_estimate_stops_at_the_limit(ticket: OrderTicket) -> None:
    book = book_view("BTC/USDT")
    # Buy 0.05 limit 60000.20: only 0.03 @ .10 and 0.01 @ .20 are reachable, 0.01 rests.
    type_order(ticket, "0.05", "60000.20")
    reachable = dataclasses.replace(book, asks=book.asks[:2])
    assert ticket.check.estimate == reachable.estimate(OrderSide.BUY, D("0.05"))
    assert ticket.check.estimate is not None
    assert ticket.check.estimate.filled_qty == D("0.04")
    assert ticket.check.level is Level.HINT  # a resting remainder is not a warning
    assert "0.04000 fills now, the other 0.01000 rests at 60000.20" in ticket.reason_label.text()
    assert ticket.notional_label.text() == "3,000.01 USDT"  # qty x limit price
    ticket.ioc_check.setChecked(True)
    assert "is cancelled (IOC)" in ticket.reason_label.text()

    # A passive bid takes nothing now: no VWAP to show.
    type_order(ticket, "0.05", "59000.00")
    assert ticket.check.estimate is None
    assert ticket.vwap_label.text() == "–"
    assert "rests on the book" in ticket.reason_label.text()
    assert ticket.send_button.isEnabled()

    # Post-only that would cross is flagged before the venue rejects it.
    type_order(ticket, "0.01", "60000.10")
    ticket.post_only_check.setChecked(True)
    assert "post-only would cross" in ticket.reason_label.text()
