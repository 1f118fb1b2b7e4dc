"""The risk panel against hand-built snapshots and a recording ``submit`` (no engine thread).

Edits become one ``UpdateRiskLimits`` with only the changed fields; values past the hard ceiling
cannot be typed and the panel says why; the engine's answer decides what the editors show.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from kit import RecordingSubmit
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox
from snapshots import T0_NS, make_snapshot

from engine.messages import (
    HaltResetRefused,
    ResetHalt,
    RiskLimitsChanged,
    RiskLimitsRejected,
    TradingStateChanged,
    UpdateRiskLimits,
)
from engine.risk.limits import CEILINGS, DEFAULTS, FLOORS
from engine.snapshot import EngineSnapshot, RiskView
from widgets.command_client import CommandClient
from widgets.risk_panel import (
    ERROR_COLOR,
    LEVEL_COLORS,
    OK_COLOR,
    STATE_COLORS,
    WARNING_COLOR,
    DecimalLimitSpin,
    RiskPanel,
    fmt_utc,
)

D = Decimal




pytestmark = pytest.mark.usefixtures("no_leaked_threads_or_timers")


@pytest.fixture
def submit() -> RecordingSubmit:
    return RecordingSubmit()


@pytest.fixture
def panel(qtbot: Any, submit: RecordingSubmit) -> RiskPanel:
    client = CommandClient(submit)
    widget = RiskPanel(client)
    client.setParent(widget)
    qtbot.addWidget(widget)
    widget.resize(520, 900)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def risk_snapshot(version: int = 1, **risk: Any) -> EngineSnapshot:
    fields: dict[str, Any] = {
        "state": "ACTIVE",
        "reason": "",
        "limits": MappingProxyType(dict(DEFAULTS)),
        "utilisation": MappingProxyType({}),
    }
    fields.update(risk)
    for key in ("limits", "utilisation"):
        fields[key] = MappingProxyType(dict(fields[key]))
    return make_snapshot(risk=RiskView(**fields), version=version)


def decimal_editor(panel: RiskPanel, name: str) -> DecimalLimitSpin:
    editor = panel.editors[name]
    assert isinstance(editor, DecimalLimitSpin)
    return editor


def changed_event(old: dict[str, Any], **new: Any) -> RiskLimitsChanged:
    return RiskLimitsChanged(
        old=MappingProxyType(dict(old)),
        new=MappingProxyType({**old, **new}),
        actor="user",
        ts_ns=T0_NS,
    )


# ---------------------------------------------------------------- editing and Apply


def test_editing_one_limit_sends_exactly_that_field(
    qtbot: Any, panel: RiskPanel, submit: RecordingSubmit
) -> None:
    panel.apply_snapshot(risk_snapshot())
    assert panel.editors["max_leverage"].value() == 3.0
    assert not panel.apply_button.isEnabled()  # nothing edited yet

    editor = panel.editors["max_leverage"]
    editor.lineEdit().selectAll()
    qtbot.keyClicks(editor.lineEdit(), "2.5")
    assert panel.changes() == {"max_leverage": D("2.5")}
    assert panel.apply_button.isEnabled()

    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    assert len(submit.commands) == 1
    command = submit.commands[0]
    assert isinstance(command, UpdateRiskLimits)
    assert command.changes() == {"max_leverage": D("2.5")}
    assert type(command.max_leverage) is Decimal
    assert str(command.max_leverage) == "2.5"  # as typed: stored and audited as text
    assert panel.pending
    assert not panel.apply_button.isEnabled()  # no second update while one is in flight
    # Not acknowledged yet: the engine's value is still the one the panel knows.
    assert panel.acknowledged["max_leverage"] == D(3)
    assert "Enforced by the engine now: 3 x" in editor.toolTip()

    submit.futures[0].set_result(changed_event(dict(DEFAULTS), max_leverage=D("2.5")))
    qtbot.waitUntil(lambda: not panel.pending)
    assert panel.result_label.text().startswith("Applied: Max leverage 3 → 2.5")
    assert panel.result_label.property("color") == OK_COLOR
    assert panel.acknowledged["max_leverage"] == D("2.5")
    assert "Enforced by the engine now: 2.5 x" in editor.toolTip()
    assert panel.changes() == {}
    assert len(submit.commands) == 1


def test_whole_number_limit_is_sent_as_int_with_other_changes(
    qtbot: Any, panel: RiskPanel, submit: RecordingSubmit
) -> None:
    panel.apply_snapshot(risk_snapshot())
    orders = panel.editors["max_open_orders"]
    orders.lineEdit().selectAll()
    qtbot.keyClicks(orders.lineEdit(), "20")
    decimal_editor(panel, "max_order_notional").setValue(12345.67)
    # Touched but put back to the engine's value: not a change.
    panel.editors["price_band_pct"].setValue(7)
    panel.editors["price_band_pct"].setValue(5)
    assert panel.apply() is True
    (command,) = submit.commands
    assert command.changes() == {"max_open_orders": 20, "max_order_notional": D("12345.67")}
    assert type(command.max_open_orders) is int


def test_value_above_the_hard_ceiling_cannot_be_entered_and_says_why(
    qtbot: Any, panel: RiskPanel, submit: RecordingSubmit
) -> None:
    panel.apply_snapshot(risk_snapshot())
    for name, editor in panel.editors.items():
        assert editor.maximum() == float(CEILINGS[name])
        assert editor.minimum() == float(FLOORS[name])

    editor = panel.editors["max_position_pct"]
    editor.lineEdit().selectAll()
    qtbot.keyClicks(editor.lineEdit(), "600")
    assert editor.value() <= float(CEILINGS["max_position_pct"])
    assert "600" not in editor.text()
    assert "above the hard ceiling of 500" in panel.check_label.text()
    assert panel.check_label.property("color") == ERROR_COLOR
    assert not panel.apply_button.isEnabled()
    assert panel.apply() is False
    assert submit.commands == []

    # Setting past the ceiling from code clamps, never exceeds it.
    panel.editors["max_leverage"].setValue(25)
    assert panel.editors["max_leverage"].value() == 5.0

    panel.revert()
    assert panel.check_label.text() == ""
    assert editor.value() == 50.0
    assert panel.changes() == {}


def test_fractions_of_a_count_are_refused_with_the_reason(
    qtbot: Any, panel: RiskPanel, submit: RecordingSubmit
) -> None:
    panel.apply_snapshot(risk_snapshot())
    editor = panel.editors["max_orders_per_second"]
    editor.lineEdit().selectAll()
    qtbot.keyClicks(editor.lineEdit(), "1.5")
    # The "." was refused, so the editor now says 15: the refusal stays and blocks Apply.
    assert editor.value() == 15
    assert "must be a whole number" in panel.check_label.text()
    assert not panel.apply_button.isEnabled()
    assert panel.apply() is False
    assert submit.commands == []

    # Once the user has left the editor, a fresh edit is taken at its word.
    qtbot.keyClick(editor.lineEdit(), Qt.Key.Key_Return)  # finishes the edit
    assert "must be a whole number" in panel.check_label.text()
    editor.lineEdit().selectAll()
    qtbot.keyClicks(editor.lineEdit(), "2")
    assert panel.check_label.text() == "To apply: Order rate 10 → 2 orders/s"
    assert panel.apply() is True
    assert submit.commands[0].changes() == {"max_orders_per_second": 2}


def test_odd_but_valid_changes_warn_without_blocking(
    qtbot: Any, panel: RiskPanel, submit: RecordingSubmit
) -> None:
    panel.apply_snapshot(risk_snapshot(utilisation={"position:BTC/USDT": 0.8}))
    panel.editors["max_position_pct"].setValue(300)
    text = panel.check_label.text()
    assert "can never bind" in text
    assert "more than doubles" in text
    assert panel.check_label.property("color") == WARNING_COLOR
    panel.editors["max_position_pct"].setValue(20)  # 80 % of 50 % is 40 %: twice the new limit
    assert "below what is already in use (200% of it)" in panel.check_label.text()
    assert panel.apply() is True
    assert submit.commands[0].changes() == {"max_position_pct": D(20)}


def test_engine_refusal_shows_the_reason_and_reverts(
    qtbot: Any, panel: RiskPanel, submit: RecordingSubmit
) -> None:
    panel.apply_snapshot(risk_snapshot())
    decimal_editor(panel, "max_daily_loss_pct").setValue(12.5)
    assert panel.apply()
    submit.futures[0].set_result(
        RiskLimitsRejected(
            reason="max_daily_loss_pct cannot be raised while HALTED",
            field="max_daily_loss_pct",
            value="12.5",
            ts_ns=T0_NS,
        )
    )
    qtbot.waitUntil(lambda: not panel.pending)
    assert "cannot be raised while HALTED" in panel.result_label.text()
    assert panel.result_label.property("color") == ERROR_COLOR
    assert panel.editors["max_daily_loss_pct"].value() == 5.0
    assert panel.changes() == {}
    assert not panel.apply_button.isEnabled()

    # A failed submit (engine gone) reverts the same way.
    panel.editors["max_leverage"].setValue(2)
    assert panel.apply()
    submit.futures[1].set_exception(RuntimeError("the engine is not running"))
    qtbot.waitUntil(lambda: not panel.pending)
    assert "the engine is not running" in panel.result_label.text()
    assert panel.editors["max_leverage"].value() == 3.0


def test_snapshots_refresh_fields_that_are_not_being_edited(panel: RiskPanel) -> None:
    panel.apply_snapshot(risk_snapshot())
    panel.editors["max_leverage"].setValue(4)
    other = {**DEFAULTS, "max_leverage": D(2), "max_open_orders": 80}
    panel.apply_snapshot(risk_snapshot(version=2, limits=other))
    assert panel.editors["max_open_orders"].value() == 80  # someone else's change shows
    assert panel.editors["max_leverage"].value() == 4.0  # the user's edit is kept
    assert panel.acknowledged["max_leverage"] == D(2)
    assert panel.check_label.text() == "To apply: Leverage 2 → 4 x"
    assert panel.changes() == {"max_leverage": D(4)}


def test_no_limits_yet_means_nothing_is_editable(panel: RiskPanel, submit: RecordingSubmit) -> None:
    panel.apply_snapshot(make_snapshot())  # RiskView() with an empty limits mapping
    assert not any(e.isEnabled() for e in panel.editors.values())
    assert panel.apply() is False
    assert submit.commands == []


# ---------------------------------------------------------------- state, bars, audit


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("ACTIVE", ""),
        ("REDUCING", "daily loss at 80% of limit"),
        ("HALTED", "daily loss limit reached"),
    ],
)
def test_banner_text_and_colour_follow_the_state(panel: RiskPanel, state: str, reason: str) -> None:
    panel.apply_snapshot(risk_snapshot(state=state, reason=reason))
    assert panel.banner.text() == (f"{state} — {reason}" if reason else state)
    assert panel.banner.property("state") == state
    assert STATE_COLORS[state] in panel.banner.styleSheet()
    assert panel.reset_button.isEnabled() is (state == "HALTED")


def test_utilisation_bars_follow_the_snapshot(panel: RiskPanel) -> None:
    usage = {
        "position:BTC/USDT": 0.25,
        "position:ETH/USDT": 0.95,
        "gross_exposure": 0.4,
        "leverage": 0.8,
        "daily_loss": 0.0,
        "orders_per_second": 0.2,
        "open_orders": 0.04,
    }
    panel.apply_snapshot(risk_snapshot(utilisation=usage))
    bars = panel.bars
    assert list(bars) == [
        "position:BTC/USDT",
        "position:ETH/USDT",
        "leverage",
        "gross_exposure",
        "daily_loss",
        "orders_per_second",
        "open_orders",
    ]
    assert bars["position:BTC/USDT"].value() == 250
    assert bars["position:BTC/USDT"].property("level") == "ok"
    assert bars["position:ETH/USDT"].property("level") == "danger"
    assert LEVEL_COLORS["danger"] in bars["position:ETH/USDT"].styleSheet()
    assert bars["leverage"].property("level") == "warn"
    assert bars["leverage"].text() == "80%"
    assert panel.usage["leverage"].detail == "2.40 / 3x"
    assert panel.usage["open_orders"].bar.toolTip() == "Open orders: 2 / 50 orders used"

    later = {**usage, "position:BTC/USDT": 1.5, "leverage": float("inf")}
    del later["position:ETH/USDT"]
    panel.apply_snapshot(risk_snapshot(version=2, utilisation=later))
    assert "position:ETH/USDT" not in panel.bars
    assert panel.bars["position:BTC/USDT"].value() == 1000  # full, text says by how much
    assert panel.bars["position:BTC/USDT"].text() == "150%"
    assert panel.bars["position:BTC/USDT"].property("level") == "danger"
    assert panel.bars["leverage"].text() == "∞"


def test_audit_log_lists_changes_newest_first(panel: RiskPanel) -> None:
    audit = (
        {
            "ts_ns": str(T0_NS),
            "actor": "user",
            "action": "limit",
            "field": "max_leverage",
            "old": "3",
            "new": "2.5",
            "reason": "limit changed",
        },
        {
            "ts_ns": str(T0_NS + 1_500_000_000),
            "actor": "engine",
            "action": "state",
            "field": "trading_state",
            "old": "ACTIVE",
            "new": "HALTED",
            "reason": "daily loss limit reached",
        },
    )
    panel.apply_snapshot(risk_snapshot(audit=audit))
    model = panel.audit_model
    assert model.rowCount() == 2
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(7)] == [
        "Time (UTC)",
        "Actor",
        "Action",
        "Field",
        "Old",
        "New",
        "Reason",
    ]
    assert [model.text(0, c) for c in range(7)] == [
        "2026-04-22 12:34:58.289",
        "engine",
        "state",
        "trading_state",
        "ACTIVE",
        "HALTED",
        "daily loss limit reached",
    ]
    assert model.text(1, 3) == "max_leverage"
    assert fmt_utc(T0_NS) == "2026-04-22 12:34:56.789"


# ---------------------------------------------------------------- halt reset


def test_reset_halt_asks_first_and_sends_confirmed_reset(
    qtbot: Any, panel: RiskPanel, submit: RecordingSubmit
) -> None:
    panel.apply_snapshot(risk_snapshot(state="ACTIVE"))
    assert not panel.reset_button.isEnabled()
    panel.ask_reset_halt()
    assert panel.reset_dialog is None  # not halted: nothing to ask

    panel.apply_snapshot(risk_snapshot(version=2, state="HALTED", reason="panic close by user"))
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    box = panel.reset_dialog
    assert isinstance(box, QMessageBox)
    qtbot.waitUntil(box.isVisible)
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
    assert "panic close by user" in box.informativeText()
    qtbot.keyClick(box, Qt.Key.Key_Return)  # Enter = Cancel
    qtbot.waitUntil(lambda: panel.reset_dialog is None)
    assert submit.commands == []

    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    box = panel.reset_dialog
    assert box is not None
    confirm = next(b for b in box.buttons() if b.text() == "Reset halt")
    qtbot.mouseClick(confirm, Qt.MouseButton.LeftButton)
    assert submit.commands == [ResetHalt(confirm=True)]

    submit.futures[0].set_result(HaltResetRefused(reason="storage is failing", ts_ns=T0_NS))
    qtbot.waitUntil(lambda: "storage is failing" in panel.result_label.text())
    assert panel.result_label.property("color") == ERROR_COLOR

    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    box = panel.reset_dialog
    assert box is not None
    confirm = next(b for b in box.buttons() if b.text() == "Reset halt")
    qtbot.mouseClick(confirm, Qt.MouseButton.LeftButton)
    submit.futures[1].set_result(TradingStateChanged(state="ACTIVE", reason="", ts_ns=T0_NS))
    qtbot.waitUntil(lambda: panel.result_label.text() == "Halt lifted: now ACTIVE")


# ---------------------------------------------------------------- end to end, real engine


@pytest.fixture
def real_window(qtbot: Any, tmp_path: Path) -> Iterator[Any]:
    """Engine thread + EngineBridge + MainWindow; everything stopped and closed afterwards."""
    from app.bridge import EngineBridge
    from app.main_window import MainWindow
    from engine import Engine, EngineConfig

    engine = Engine(
        EngineConfig(data_dir=tmp_path / "data", latency_ms=D(0), seed=3, market_data_dir=None)
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


def test_end_to_end_editing_a_limit_changes_the_engine(qtbot: Any, real_window: Any) -> None:
    window, engine = real_window
    panel: RiskPanel = window.risk_panel
    window.docks["risk"].raise_()
    qtbot.waitUntil(lambda: panel.acknowledged == dict(engine.snapshot().risk.limits))
    assert panel.acknowledged["max_leverage"] == D(3)

    # A bad value: refused at the keyboard, nothing sent, the engine unchanged.
    before = dict(engine.snapshot().risk.limits)
    audit_before = engine.snapshot().risk.audit
    position = panel.editors["max_position_pct"]
    position.setFocus()
    position.lineEdit().selectAll()
    qtbot.keyClicks(position.lineEdit(), "900")
    assert "above the hard ceiling" in panel.check_label.text()
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    assert not panel.pending
    qtbot.wait(100)
    assert dict(engine.snapshot().risk.limits) == before
    assert engine.snapshot().risk.audit == audit_before
    qtbot.mouseClick(panel.revert_button, Qt.MouseButton.LeftButton)

    # A good value typed into the panel reaches the engine and comes back acknowledged.
    leverage = panel.editors["max_leverage"]
    leverage.setFocus()
    leverage.lineEdit().selectAll()
    qtbot.keyClicks(leverage.lineEdit(), "2.5")
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: engine.snapshot().risk.limits["max_leverage"] == D("2.5"))
    qtbot.waitUntil(lambda: panel.acknowledged["max_leverage"] == D("2.5"))
    assert panel.result_label.text() == "Applied: Max leverage 3 → 2.5"
    limits = engine.snapshot().risk.limits
    assert {k: v for k, v in limits.items() if v != before[k]} == {"max_leverage": D("2.5")}
    qtbot.waitUntil(lambda: panel.audit_model.rowCount() >= 1)
    newest = panel.audit_model.row_object(0)
    assert (newest.actor, newest.field, newest.old, newest.new) == (
        "user",
        "max_leverage",
        "3",
        "2.5",
    )
