"""MainWindow with a tiny fake bridge: docks, frames to views, events to the log, saved layout."""

from __future__ import annotations

import gc
import logging
from concurrent.futures import Future
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel
from snapshots import evolve, make_snapshot, order_view, position_view

from app.main_window import KEY_STATE, KEY_SYMBOL, MainWindow
from engine.messages import CancelAll, OrderDenied

D = Decimal
DOCKS = {
    "ladder",
    "depth",
    "trades",
    "candles",
    "positions",
    "orders",
    "fills",
    "account",
    "ticket",
    "log",
    "risk",
    "backtest",
}


class FakeBridge(QObject):
    """The bridge's interface and nothing else: two signals and ``submit``."""

    frame = Signal(object)
    events = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[Any] = []

    def submit(self, command: Any) -> Future[Any]:
        self.commands.append(command)
        future: Future[Any] = Future()
        return future


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def bridge() -> FakeBridge:
    return FakeBridge()


@pytest.fixture
def root_info() -> Any:
    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.INFO)
    yield
    root.setLevel(old)


def build(qtbot: Any, bridge: FakeBridge, settings: QSettings) -> MainWindow:
    window = MainWindow(bridge, settings=settings)
    qtbot.addWidget(window)
    return window


def test_all_docks_exist_and_frames_reach_the_views(
    qtbot: Any, bridge: FakeBridge, settings: QSettings
) -> None:
    window = build(qtbot, bridge, settings)
    assert set(window.docks) == DOCKS
    found = {d.objectName() for d in window.findChildren(QDockWidget)}
    assert found == {f"dock_{n}" for n in DOCKS}
    view_menu_texts = [a.text() for a in window.view_menu.actions()]
    assert "Order ticket" in view_menu_texts
    assert "&Reset layout" in view_menu_texts

    window.show()
    qtbot.waitExposed(window)
    snap = make_snapshot(
        positions={"BTC/USDT": position_view("BTC/USDT", "0.01")},
        orders=[order_view("O-000001")],
    )
    bridge.frame.emit(snap)
    assert window.selection.symbol == "BTC/USDT"  # first symbol picked
    assert window.symbol_combo.count() == 5
    assert window.ticket.symbol_combo.currentText() == "BTC/USDT"
    # The positions tab is in front; the orders tab behind it catches up when raised.
    assert window.positions.model.keys() == ["BTC/USDT"]
    window.docks["orders"].raise_()
    qtbot.waitUntil(lambda: window.orders.model.keys() == ["O-000001"])
    assert window.account.values["equity"].text() == "10,000.00 USDT"
    assert window.status.labels["venue"].text() == "sim"

    # The toolbar selector drives every market view's selection.
    window.symbol_combo.setCurrentText("ETH/USDT")
    assert window.selection.symbol == "ETH/USDT"
    assert window.ticket.symbol_combo.currentText() == "ETH/USDT"


def test_ticket_in_window_sends_through_the_bridge(
    qtbot: Any, bridge: FakeBridge, settings: QSettings
) -> None:
    window = build(qtbot, bridge, settings)
    bridge.frame.emit(make_snapshot(orders=[order_view("O-000001")]))
    window.orders.cancel_all()
    assert bridge.commands == [CancelAll()]
    window.ticket.qty_edit.setText("0.01")
    assert window.ticket.send() is True
    assert bridge.commands[-1].qty == D("0.01")


def test_events_become_log_lines(
    qtbot: Any, bridge: FakeBridge, settings: QSettings, root_info: Any
) -> None:
    window = build(qtbot, bridge, settings)
    denial = OrderDenied(
        order_id="O-000009",
        client_id=None,
        symbol="BTC/USDT",
        reason="daily loss limit reached",
        ts_ns=1,
    )
    bridge.events.emit((denial,))
    qtbot.waitUntil(lambda: any("daily loss limit reached" in x for x in window.log_panel.lines()))
    line = next(x for x in window.log_panel.lines() if "daily loss" in x)
    assert "WARNING" in line
    assert "order denied (BTC/USDT)" in line
    window.close()
    assert window.log_panel.handler not in logging.getLogger().handlers


def test_layout_and_symbol_are_saved_and_restored(
    qtbot: Any, bridge: FakeBridge, settings: QSettings, tmp_path: Path
) -> None:
    window = build(qtbot, bridge, settings)
    window.show()
    qtbot.waitExposed(window)
    bridge.frame.emit(make_snapshot())
    window.selection.set_symbol("SOL/USDT")
    window.docks["depth"].close()
    window.docks["account"].setFloating(True)
    window.resize(700, window.minimumSizeHint().height())  # the offscreen screen is 800x600
    size = window.size()
    assert size.width() == 700
    window.close()
    assert settings.value(KEY_SYMBOL) == "SOL/USDT"
    assert settings.value(KEY_STATE)

    # A new window reading the same ini file (a fresh QSettings, as after a restart).
    again = QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)
    window2 = build(qtbot, bridge, again)
    window2.show()
    qtbot.waitExposed(window2)
    assert window2.selection.symbol == "SOL/USDT"
    assert not window2.docks["depth"].isVisible()
    assert window2.docks["account"].isFloating()
    assert window2.docks["ladder"].isVisible()
    # Width comes back exactly; the height may be clamped to the small offscreen screen.
    assert window2.size().width() == size.width()

    window2.reset_layout()
    assert window2.docks["depth"].isVisible()
    assert not window2.docks["account"].isFloating()
    window2.close()


def test_hooks_add_dock_and_toolbar_widget(
    qtbot: Any, bridge: FakeBridge, settings: QSettings
) -> None:
    window = build(qtbot, bridge, settings)

    class ExtraPanel(QLabel):
        def __init__(self) -> None:
            super().__init__("extra")
            self.frames = 0

        def apply_snapshot(self, _snap: object) -> None:
            self.frames += 1

    panic = QLabel("PANIC")
    action = window.add_toolbar_widget(panic)
    assert action in window.toolbar.actions()
    panel = ExtraPanel()
    dock = window.add_dock("extra", panel, Qt.DockWidgetArea.RightDockWidgetArea)
    assert dock.objectName() == "dock_extra"
    assert window.dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea
    assert dock.toggleViewAction() in window.view_menu.actions()
    bridge.frame.emit(make_snapshot())
    assert panel.frames == 1
    with pytest.raises(ValueError, match="already exists"):
        window.add_dock("extra", QLabel())
    window.reset_layout()
    assert window.dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea


def test_a_failing_view_does_not_stop_the_others(
    qtbot: Any, bridge: FakeBridge, settings: QSettings, caplog: Any
) -> None:
    window = build(qtbot, bridge, settings)

    class Broken(QLabel):
        def apply_snapshot(self, _snap: object) -> None:
            raise ZeroDivisionError("boom")

    window.add_dock("broken", Broken())
    snap = make_snapshot(positions={"BTC/USDT": position_view("BTC/USDT", "0.01")})
    with caplog.at_level(logging.ERROR, logger="app.main_window"):
        bridge.frame.emit(snap)
        bridge.frame.emit(evolve(snap))
    assert window.positions.model.keys() == ["BTC/USDT"]
    assert [r.message for r in caplog.records].count("the broken view failed to draw a frame") == 1


def test_no_timers_left_running_after_close(
    qtbot: Any, bridge: FakeBridge, settings: QSettings
) -> None:
    window = build(qtbot, bridge, settings)
    window.show()
    qtbot.waitExposed(window)
    snap = make_snapshot()
    for _ in range(3):
        snap = evolve(snap)
        bridge.frame.emit(snap)
    window.close()
    QApplication.processEvents()
    running = [t for t in window.findChildren(QTimer) if t.isActive()]
    assert running == []
    # After close the window no longer listens to the bridge.
    frames = window.status.labels["venue"].text()
    bridge.frame.emit(evolve(snap, venue="other", stats=snap.stats))
    assert window.status.labels["venue"].text() == frames
    window.deleteLater()
    QApplication.processEvents()
    gc.collect()
