"""The PANIC button: shortcut, a confirmation Enter cannot pass, the command, the report.

The last test runs the real stack: engine thread, ``EngineBridge``, ``MainWindow``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from kit import WAIT_S, RecordingSubmit
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QDialog, QVBoxLayout, QWidget

from engine.messages import PanicClose, PanicCompleted
from widgets.command_client import CommandClient
from widgets.panic import ARM_DELAY_MS, PANIC_TEXT, PROGRESS_TEXT, PanicButton

D = Decimal
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier




pytestmark = pytest.mark.usefixtures("no_leaked_threads_or_timers")


@pytest.fixture
def submit() -> RecordingSubmit:
    return RecordingSubmit()


@pytest.fixture
def host(qtbot: Any, submit: RecordingSubmit) -> QWidget:
    """A window holding the button, the shortcut on the window (as the main window does)."""
    window = QWidget()
    window.setWindowTitle("host")
    client = CommandClient(submit, window)
    window.panic = PanicButton(client, window, shortcut_parent=window)  # type: ignore[attr-defined]
    layout = QVBoxLayout(window)
    layout.addWidget(window.panic)  # type: ignore[attr-defined]
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    return window


def open_confirmation(qtbot: Any, host: QWidget) -> Any:
    button: PanicButton = host.panic  # type: ignore[attr-defined]
    host.activateWindow()  # offscreen has no window manager to do it after a dialog closes
    qtbot.waitUntil(lambda: QApplication.activeWindow() is host)
    qtbot.keyClick(host, Qt.Key.Key_X, CTRL_SHIFT)
    dialog = button.confirm_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible)
    return dialog


def report(**overrides: Any) -> PanicCompleted:
    fields: dict[str, Any] = {
        "flat": True,
        "orders_cancelled": 3,
        "positions_closed": 2,
        "realised_pnl": D("-12.3456"),
        "slippage": D("0.8125"),
        "fees": D("1.2804"),
        "attempts": 1,
        "duration_ms": 4.75,
        "remaining": MappingProxyType({}),
        "log": ("cancelled 3 open orders", "attempt 1: sell 0.01 BTC/USDT (O-000007)"),
        "ts_ns": 1,
    }
    fields.update(overrides)
    return PanicCompleted(**fields)


def test_button_looks_the_part(host: QWidget) -> None:
    button: PanicButton = host.panic  # type: ignore[attr-defined]
    assert button.text() == PANIC_TEXT
    assert button.objectName() == "panicButton"
    assert button.focusPolicy() == Qt.FocusPolicy.NoFocus
    assert button.panic_shortcut.key().toString() == "Ctrl+Shift+X"
    assert button.panic_shortcut.context() == Qt.ShortcutContext.ApplicationShortcut


def test_shortcut_opens_a_confirmation_whose_default_is_cancel(
    qtbot: Any, host: QWidget, submit: RecordingSubmit
) -> None:
    dialog = open_confirmation(qtbot, host)
    assert dialog.isModal()  # window-modal through open(), not exec()
    assert dialog.cancel_button.isDefault()
    assert not dialog.confirm_button.isDefault()
    assert not dialog.confirm_button.autoDefault()
    assert not dialog.armed  # "Close everything" needs a moment before it can be clicked
    started = time.monotonic()
    qtbot.waitUntil(lambda: dialog.armed)
    assert time.monotonic() - started >= ARM_DELAY_MS / 1000 * 0.8
    assert submit.commands == []
    dialog.reject()


@pytest.mark.parametrize("key", [Qt.Key.Key_Return, Qt.Key.Key_Enter])
def test_enter_cancels_even_with_the_confirm_button_focused(
    qtbot: Any, host: QWidget, submit: RecordingSubmit, key: Qt.Key
) -> None:
    dialog = open_confirmation(qtbot, host)
    qtbot.waitUntil(lambda: dialog.armed)
    qtbot.keyClick(dialog, key)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert dialog.result() == QDialog.DialogCode.Rejected

    dialog = open_confirmation(qtbot, host)
    qtbot.waitUntil(lambda: dialog.armed)
    dialog.confirm_button.setFocus()
    qtbot.keyClick(dialog.confirm_button, key)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert dialog.result() == QDialog.DialogCode.Rejected
    qtbot.wait(50)
    assert submit.commands == []


def test_a_click_before_the_button_arms_does_nothing(
    qtbot: Any, host: QWidget, submit: RecordingSubmit
) -> None:
    dialog = open_confirmation(qtbot, host)
    qtbot.mouseClick(dialog.confirm_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert submit.commands == []
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert submit.commands == []


def test_confirming_sends_panic_close_and_shows_the_report(
    qtbot: Any, host: QWidget, submit: RecordingSubmit
) -> None:
    button: PanicButton = host.panic  # type: ignore[attr-defined]
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    dialog = button.confirm_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.armed)
    qtbot.mouseClick(dialog.confirm_button, Qt.MouseButton.LeftButton)
    assert submit.commands == [PanicClose()]
    progress = button.progress_dialog
    assert progress is not None
    assert progress.isVisible()
    assert not progress.isModal()
    assert progress.label.text() == PROGRESS_TEXT
    assert (progress.bar.minimum(), progress.bar.maximum()) == (0, 0)  # indeterminate
    assert button.in_flight
    # Pressing again while it runs only brings the progress forward; nothing is sent twice.
    button.request()
    assert len(submit.commands) == 1

    with qtbot.waitSignal(button.completed):
        submit.futures[0].set_result(report())
    assert not progress.isVisible()
    shown = button.report_dialog
    assert shown is not None
    assert shown.isVisible()
    assert not shown.isModal()
    assert shown.headline.text().startswith("FLAT")
    values = {k: v.text() for k, v in shown.values.items()}
    assert values == {
        "flat": "yes",
        "orders_cancelled": "3",
        "positions_closed": "2",
        "realised_pnl": "-12.35",
        "slippage": "+0.8125",
        "fees": "1.2804",
        "attempts": "1",
        "duration": "4.8 ms",
        "remaining": "none",
    }
    assert shown.log_view.toPlainText().splitlines() == list(report().log)
    shown.close()


def test_not_flat_and_failures_are_reported_loudly(
    qtbot: Any, host: QWidget, submit: RecordingSubmit
) -> None:
    button: PanicButton = host.panic  # type: ignore[attr-defined]
    for outcome in (
        report(flat=False, remaining=MappingProxyType({"SOL/USDT": D("-3")}), attempts=3),
        RuntimeError("the engine is not running"),
    ):
        button.request()
        dialog = button.confirm_dialog
        assert dialog is not None
        qtbot.waitUntil(lambda d=dialog: d.armed)
        qtbot.mouseClick(dialog.confirm_button, Qt.MouseButton.LeftButton)
        with qtbot.waitSignal(button.completed):
            if isinstance(outcome, Exception):
                submit.futures[-1].set_exception(outcome)
            else:
                submit.futures[-1].set_result(outcome)
        shown = button.report_dialog
        assert shown is not None
        if isinstance(outcome, Exception):
            assert "the engine is not running" in shown.headline.text()
            assert shown.values["flat"].text().startswith("unknown")
        else:
            assert shown.headline.text().startswith("NOT FLAT")
            assert shown.values["flat"].text() == "NO"
            assert shown.values["remaining"].text() == "SOL/USDT -3"
    assert submit.commands == [PanicClose(), PanicClose()]
    assert button.report_dialog is not None
    button.report_dialog.close()


# ---------------------------------------------------------------- end to end, real engine


@pytest.fixture
def real_window(qtbot: Any, tmp_path: Path) -> Iterator[Any]:
    """Engine thread + EngineBridge + MainWindow; everything stopped and closed afterwards."""
    from app.bridge import EngineBridge
    from app.main_window import MainWindow
    from engine import Engine, EngineConfig

    engine = Engine(
        EngineConfig(
            data_dir=tmp_path / "data",
            latency_ms=D(0),
            seed=5,
            symbols=("BTC/USDT", "ETH/USDT", "SOL/USDT"),
            market_data_dir=None,
        )
    ).start()
    bridge: EngineBridge | None = None
    window: MainWindow | None = None
    try:  # whatever fails after start, the engine thread is stopped (a live one hangs pytest)
        bridge = EngineBridge(engine)
        settings = QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)
        window = MainWindow(bridge, settings=settings)
        window.show()
        qtbot.waitExposed(window)
        yield window, engine
    finally:
        if window is not None:
            for dialog in window.findChildren(QDialog):
                dialog.close()
            window.close()
            window.deleteLater()
        if bridge is not None:
            bridge.close()
            bridge.deleteLater()
        engine.stop()
        QApplication.processEvents()


def test_end_to_end_panic_flattens_and_halts(qtbot: Any, real_window: Any) -> None:
    from engine import OrderAccepted, OrderFilled, SubmitOrder

    window, engine = real_window
    panel = window.risk_panel
    window.docks["risk"].raise_()

    # Positions from market orders, and resting limit orders far from the touch.
    for symbol, side, qty in (
        ("BTC/USDT", "buy", "0.01"),
        ("ETH/USDT", "sell", "0.2"),
        ("SOL/USDT", "buy", "2"),
    ):
        event = engine.submit(
            SubmitOrder(symbol=symbol, side=side, type="market", qty=D(qty))
        ).result(WAIT_S)
        assert isinstance(event, OrderFilled), event
    for symbol, side, qty, away in (
        ("BTC/USDT", "buy", "0.01", D("0.97")),
        ("ETH/USDT", "sell", "0.1", D("1.03")),
        ("SOL/USDT", "buy", "1", D("0.98")),
    ):
        book = engine.snapshot().books[symbol]
        tick = engine.snapshot().instruments[symbol].tick_size
        price = (book.mid * away).quantize(tick)
        event = engine.submit(
            SubmitOrder(symbol=symbol, side=side, type="limit", qty=D(qty), price=price)
        ).result(WAIT_S)
        assert isinstance(event, OrderAccepted), event
    snap = engine.snapshot()
    assert sum(1 for p in snap.positions.values() if p.qty) == 3
    assert len(snap.orders) == 3
    qtbot.waitUntil(lambda: panel.state == "ACTIVE")

    def btc_usage() -> int:
        bar = panel.bars.get("position:BTC/USDT")
        return bar.value() if bar is not None else -1

    qtbot.waitUntil(lambda: btc_usage() > 0)

    # The real toolbar button, the real confirmation.
    button = window.panic_button
    assert button.isVisible()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    dialog = button.confirm_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.armed)
    qtbot.mouseClick(dialog.confirm_button, Qt.MouseButton.LeftButton)

    def flat_and_halted() -> bool:
        s = engine.snapshot()
        return (
            not any(p.qty for p in s.positions.values())
            and not s.orders
            and panel.banner.text().startswith("HALTED")
        )

    qtbot.waitUntil(flat_and_halted)
    qtbot.waitUntil(lambda: button.report_dialog is not None)
    shown = button.report_dialog
    assert shown.isVisible()
    assert shown.values["flat"].text() == "yes"
    assert shown.values["orders_cancelled"].text() == "3"
    assert shown.values["positions_closed"].text() == "3"
    assert engine.snapshot().risk.state == "HALTED"
    assert panel.reset_button.isEnabled()

    def audited_actions() -> set[str]:
        model = panel.audit_model
        return {model.row_object(i).action for i in range(model.rowCount())}

    qtbot.waitUntil(lambda: "panic_close" in audited_actions())  # the report's own frame
    qtbot.waitUntil(lambda: btc_usage() == 0)

    # While halted, a risk-increasing order from the ticket is denied, with the reason shown
    # in the ticket and in the log panel.
    window.ticket.qty_edit.setText("0.01")
    assert window.ticket.send() is True
    qtbot.waitUntil(lambda: window.ticket.answer_label.text().startswith("Denied"))
    reason = window.ticket.answer_label.text().removeprefix("Denied: ")
    assert reason
    qtbot.waitUntil(
        lambda: any("denied" in line and reason in line for line in window.log_panel.lines())
    )
