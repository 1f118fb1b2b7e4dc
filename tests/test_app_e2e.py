"""The real main window over the real engine thread on the sim venue (pytest-qt, offscreen).

Books move, a market order sent from the ticket becomes a position, a resting order is cancelled
from the orders view, and closing the window stops the engine and leaves no thread behind.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from kit import WAIT_S
from PySide6.QtCore import QSettings, Qt
from pytestqt.qtbot import QtBot

from app.bridge import EngineBridge
from app.main_window import MainWindow
from engine import Engine, EngineConfig, OrderAccepted, SubmitOrder


@pytest.fixture
def running(tmp_path: Path, qtbot: QtBot) -> Iterator[tuple[Engine, MainWindow]]:
    threads_before = set(threading.enumerate())
    engine = Engine(EngineConfig(data_dir=tmp_path, seed=5, latency_ms=Decimal(0))).start()
    bridge = EngineBridge(engine)
    settings = QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)
    window = MainWindow(bridge, settings=settings)
    qtbot.addWidget(window)
    window.show()
    yield engine, window
    window.close()
    bridge.close()
    engine.stop()
    leaked = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
    assert leaked == []


def test_books_move_in_the_ladder(running: tuple[Engine, MainWindow], qtbot: QtBot) -> None:
    engine, window = running
    window.selection.set_symbol("BTC/USDT")
    model = window.ladder.model
    spread_row = model.spread_row
    qtbot.waitUntil(lambda: model.row_info(spread_row + 1)[1] is not None)
    first_bid = model.row_info(spread_row + 1)[1]
    seen = {first_bid}
    qtbot.waitUntil(
        lambda: seen.add(model.row_info(spread_row + 1)[1]) or len(seen) > 1
    )
    assert first_bid is not None
    # The ladder's best bid is the engine's best bid of some recent frame.
    assert engine.snapshot().books["BTC/USDT"].best_bid is not None


def test_market_order_from_ticket_makes_a_position(
    running: tuple[Engine, MainWindow], qtbot: QtBot
) -> None:
    engine, window = running
    window.selection.set_symbol("ETH/USDT")
    ticket = window.ticket
    qtbot.waitUntil(lambda: ticket.symbol == "ETH/USDT")
    ticket.set_order_type("market")
    ticket.set_side("buy")
    ticket.qty_edit.setText("0.05")
    qtbot.waitUntil(lambda: ticket.send_button.isEnabled())
    qtbot.mouseClick(ticket.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: engine.snapshot().positions["ETH/USDT"].qty == Decimal("0.05")
    )
    qtbot.waitUntil(lambda: "0.05" in _positions_text(window, "ETH/USDT"))


def test_cancel_from_orders_view(running: tuple[Engine, MainWindow], qtbot: QtBot) -> None:
    engine, window = running
    bid = engine.snapshot().books["SOL/USDT"].best_bid
    assert bid is not None
    accepted = engine.submit(
        SubmitOrder(
            symbol="SOL/USDT",
            side="buy",
            type="limit",
            qty=Decimal("1"),
            price=(bid * Decimal("0.98")).quantize(Decimal("0.01")),
        )
    ).result(WAIT_S)
    assert isinstance(accepted, OrderAccepted)
    view = window.orders
    qtbot.waitUntil(lambda: view.table.model().rowCount() == 1)
    view.table.selectRow(0)
    qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: engine.snapshot().orders == {})
    qtbot.waitUntil(lambda: view.table.model().rowCount() == 0)


def _positions_text(window: MainWindow, symbol: str) -> str:
    model = window.positions.table.model()
    for row in range(model.rowCount()):
        if model.index(row, 0).data() == symbol:
            return " ".join(str(model.index(row, c).data()) for c in range(model.columnCount()))
    return ""
