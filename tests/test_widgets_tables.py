"""Table docks: build the model, then the view, change the snapshot, assert on the view."""

from __future__ import annotations

import dataclasses
import logging
import threading
from decimal import Decimal
from typing import Any

import pytest
from kit import RecordingSubmit
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QApplication
from snapshots import (
    account_view,
    engine_stats,
    evolve,
    make_fill,
    make_snapshot,
    order_view,
    position_view,
)

from engine.messages import AllCancelled, CancelAll, CancelOrder, CancelRejected
from engine.snapshot import frozen_map
from widgets.account import AccountPanel
from widgets.command_client import CommandClient
from widgets.fills import FillsView
from widgets.log_panel import LogPanel
from widgets.orders import OrdersView
from widgets.positions import PositionsView
from widgets.status_bar import StatusBar
from widgets.table_model import POSITIVE, Column, SnapshotTableModel

D = Decimal




class Counter:
    """Counts model signals so a test can tell an in-place update from a reset."""

    def __init__(self, model: SnapshotTableModel) -> None:
        self.resets = 0
        self.changed: list[tuple[int, int, int, int]] = []
        self.inserted: list[tuple[int, int]] = []
        self.removed: list[tuple[int, int]] = []
        model.modelReset.connect(self._reset)
        model.dataChanged.connect(
            lambda a, b, *_: self.changed.append((a.row(), a.column(), b.row(), b.column()))
        )
        model.rowsInserted.connect(lambda _p, a, b: self.inserted.append((a, b)))
        model.rowsRemoved.connect(lambda _p, a, b: self.removed.append((a, b)))

    def _reset(self) -> None:
        self.resets += 1


def table_texts(model: SnapshotTableModel) -> list[list[str]]:
    return [
        [model.data(model.index(r, c)) for c in range(model.columnCount())]
        for r in range(model.rowCount())
    ]


def column(model: SnapshotTableModel, header: str) -> int:
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    return headers.index(header)


# ---------------------------------------------------------------- generic model


def test_model_updates_in_place_inserts_and_removes_without_reset(qtbot: Any) -> None:
    cols = [Column("k", lambda r: r[0]), Column("v", lambda r: r[1])]
    model = SnapshotTableModel(cols, key=lambda r: r[0])
    counter = Counter(model)
    model.set_rows([("a", 1), ("b", 2), ("c", 3)])
    assert counter.resets == 0
    assert counter.inserted == [(0, 2)]
    model.set_rows([("a", 1), ("b", 20), ("c", 3)])
    assert counter.changed == [(1, 1, 1, 1)]  # only the one changed cell
    model.set_rows([("x", 0), ("a", 1), ("c", 3), ("d", 4)])
    assert counter.removed == [(1, 1)]
    assert counter.inserted[1:] == [(0, 0), (3, 3)]
    assert counter.resets == 0
    assert model.keys() == ["x", "a", "c", "d"]
    assert model.row_of("d") == 3


def test_model_resets_only_when_surviving_rows_reorder(qtbot: Any) -> None:
    model = SnapshotTableModel([Column("k", lambda r: r)], key=lambda r: r)
    counter = Counter(model)
    model.set_rows(["a", "b", "c"])
    model.set_rows(["c", "b", "a"])
    assert counter.resets == 1
    assert model.keys() == ["c", "b", "a"]
    with pytest.raises(ValueError, match="duplicate"):
        model.set_rows(["a", "a"])


# ---------------------------------------------------------------- positions


def test_positions_update_in_place_and_colour_pnl(qtbot: Any) -> None:
    view = PositionsView()
    qtbot.addWidget(view)
    snap = make_snapshot(
        positions={
            "BTC/USDT": position_view("BTC/USDT", "0.01", "60000.10", "60000.05"),
            "ETH/USDT": position_view("ETH/USDT", "1", "3000.00", "3000.00"),
        }
    )
    view.apply_snapshot(snap)
    model = view.model
    counter = Counter(model)
    assert model.rowCount() == 2
    assert model.text(0, 0) == "BTC/USDT"
    assert model.text(0, column(model, "Qty")) == "0.01000"  # lot precision 0.00001
    assert model.text(0, column(model, "Mark")) == "60,000.05"
    assert model.text(0, column(model, "uPnL")) == "0.00"  # -0.0005 rounds to zero: no sign

    # The mark moves up 100: uPnL +1.00 on BTC, ETH untouched.
    nxt = evolve(
        snap, positions={"BTC/USDT": position_view("BTC/USDT", "0.01", "60000.10", "60100.10")}
    )
    view.apply_snapshot(nxt)
    assert counter.resets == 0
    assert counter.inserted == []
    assert counter.removed == []
    assert {c[0] for c in counter.changed} == {0}  # only the BTC row
    upnl = column(model, "uPnL")
    assert model.text(0, upnl) == "+1.00"
    assert model.data(model.index(0, upnl), Qt.ItemDataRole.ForegroundRole) == POSITIVE
    assert model.text(1, column(model, "Mark")) == "3,000.00"

    # Same snapshot again costs nothing.
    counter.changed.clear()
    view.apply_snapshot(nxt)
    assert counter.changed == []


# ---------------------------------------------------------------- orders


def _orders_view(qtbot: Any) -> tuple[OrdersView, RecordingSubmit]:
    submit = RecordingSubmit()
    client = CommandClient(submit)
    view = OrdersView(client)
    qtbot.addWidget(view)
    view._client_ref = client  # type: ignore[attr-defined]  # keep alive with the view
    return view, submit


def test_new_order_appears_and_removed_order_disappears(qtbot: Any) -> None:
    view, _ = _orders_view(qtbot)
    o1 = order_view("O-000001", price="59999.00", ts_created=1)
    snap = make_snapshot(orders=[o1])
    view.apply_snapshot(snap)
    model = view.model
    counter = Counter(model)
    assert model.keys() == ["O-000001"]
    assert model.text(0, column(model, "Price")) == "59,999.00"
    assert model.text(0, column(model, "Side")) == "buy"

    view.table.selectRow(0)
    o2 = order_view("O-000002", side="sell", price="60001.00", ts_created=2)
    snap2 = evolve(snap, orders=[o2])
    view.apply_snapshot(snap2)
    assert model.keys() == ["O-000001", "O-000002"]
    assert counter.resets == 0
    assert view.selected_order_ids() == ["O-000001"]  # the selection survived the insert

    # O-000001 fills and leaves the open orders: its row goes, O-000002 stays.
    snap3 = dataclasses.replace(snap2, orders=frozen_map({"O-000002": o2}), version=3)
    view.apply_snapshot(snap3)
    assert model.keys() == ["O-000002"]
    assert counter.removed == [(0, 0)]
    assert counter.resets == 0
    assert view.selected_order_ids() == []

    # Partially filled: the Filled cell changes in place.
    part = dataclasses.replace(o2, filled_qty=D("0.02"), status=o2.status.PARTIALLY_FILLED)
    view.apply_snapshot(evolve(snap3, orders=[part]))
    assert model.text(0, column(model, "Filled")) == "0.02000"
    assert model.text(0, column(model, "Status")) == "partially filled"
    assert counter.resets == 0


def test_cancel_button_and_delete_key_send_cancel_order_with_the_right_id(qtbot: Any) -> None:
    view, submit = _orders_view(qtbot)
    orders = [order_view(f"O-00000{i}", ts_created=i) for i in (1, 2, 3)]
    view.apply_snapshot(make_snapshot(orders=orders))
    assert not view.cancel_button.isEnabled()
    view.table.selectRow(1)
    assert view.cancel_button.isEnabled()
    qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    assert submit.commands == [CancelOrder(order_id="O-000002")]

    # The engine refuses: the reason shows under the table.
    submit.futures[0].set_result(CancelRejected(order_id="O-000002", reason="unknown", ts_ns=1))
    qtbot.waitUntil(lambda: "unknown" in view.message.text())

    # Two rows selected, Delete key on the table cancels both.
    sel = view.table.selectionModel()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    sel.select(view.model.index(2, 0), flags)
    view.show()
    qtbot.waitExposed(view)
    view.table.setFocus()
    view.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is view.table)
    qtbot.keyClick(view.table, Qt.Key.Key_Delete)
    assert submit.commands[1:] == [
        CancelOrder(order_id="O-000002"),
        CancelOrder(order_id="O-000003"),
    ]


def test_cancel_all_sends_cancel_all(qtbot: Any) -> None:
    view, submit = _orders_view(qtbot)
    assert not view.cancel_all_button.isEnabled()
    view.apply_snapshot(make_snapshot(orders=[order_view("O-000001")]))
    assert view.cancel_all_button.isEnabled()
    qtbot.mouseClick(view.cancel_all_button, Qt.MouseButton.LeftButton)
    assert submit.commands == [CancelAll()]
    submit.futures[0].set_result(AllCancelled(order_ids=("O-000001",), symbol=None, ts_ns=1))
    qtbot.waitUntil(lambda: view.message.text() == "Cancelled 1 order(s)")


# ---------------------------------------------------------------- fills, account, status


def test_fills_newest_first_new_fill_inserted_on_top(qtbot: Any) -> None:
    view = FillsView()
    qtbot.addWidget(view)
    f1 = make_fill("F-000001", price="60006.05", mid="60000.05", ts_event=1_000_000_000)
    snap = make_snapshot(fills=(f1,))
    view.apply_snapshot(snap)
    model = view.model
    counter = Counter(model)
    assert model.text(0, column(model, "Price")) == "60,006.05"
    # 6.00 * 0.01 = 0.06 USDT worse than mid on 600.0605 notional = 0.9999 bps, a cost
    assert model.text(0, column(model, "Slip (bps)")) == "+1.00"
    assert model.text(0, column(model, "Fee")) == "0.6000605"  # 0.1% of 600.0605, trimmed
    assert model.text(0, column(model, "Liq.")) == "taker"
    f2 = make_fill("F-000002", side="sell", price="60000.00", ts_event=2_000_000_000)
    view.apply_snapshot(evolve(snap, fills=(f1, f2)))
    assert model.keys() == ["F-000002", "F-000001"]
    assert counter.inserted == [(0, 0)]
    assert counter.resets == 0


def test_account_panel_shows_figures(qtbot: Any) -> None:
    panel = AccountPanel()
    qtbot.addWidget(panel)
    acct = account_view(
        "10000",
        equity=D("10250.5"),
        unrealised_pnl=D("250.5"),
        gross_exposure=D("20501"),
        start_of_day_equity=D("10000"),
    )
    panel.apply_snapshot(make_snapshot(account=acct))
    assert panel.values["equity"].text() == "10,250.50 USDT"
    assert panel.values["pnl_today"].text() == "+250.50 USDT"
    assert panel.values["unrealised"].text() == "+250.50 USDT"
    assert panel.values["leverage"].text() == "2.00×"
    assert POSITIVE.name() in panel.values["pnl_today"].styleSheet()


def test_status_bar_shows_engine_health(qtbot: Any) -> None:
    bar = StatusBar(fps_source=lambda: 29.6)
    qtbot.addWidget(bar)
    stats = engine_stats(
        loop_lag_ms_p50=0.4,
        loop_lag_ms_p99=3.25,
        updates_per_s=1234.0,
        storage_ok=False,
        storage_error="disk full",
        feed_ok=False,
    )
    bar.apply_snapshot(make_snapshot(stats=stats))
    assert bar.labels["venue"].text() == "sim"
    assert bar.labels["lag"].text() == "lag 0.4 / 3.2 ms"
    assert bar.labels["rate"].text() == "1,234 upd/s"
    assert bar.labels["fps"].text() == "30 fps"
    assert bar.labels["storage"].text() == "storage ERROR"
    assert "disk full" in bar.labels["storage"].toolTip()
    assert bar.labels["feed"].text() == "feed STALE"


# ---------------------------------------------------------------- plumbing


def test_command_client_delivers_answer_on_the_gui_thread(qtbot: Any) -> None:
    submit = RecordingSubmit()
    client = CommandClient(submit)
    answers: list[tuple[object, threading.Thread]] = []
    client.send(CancelAll(), lambda r: answers.append((r, threading.current_thread())))
    assert client.pending == 1
    worker = threading.Thread(target=submit.futures[0].set_result, args=("done",))
    worker.start()
    worker.join()
    assert answers == []  # not called on the engine (worker) thread
    qtbot.waitUntil(lambda: len(answers) == 1)
    assert answers[0] == ("done", threading.main_thread())
    assert client.pending == 0

    boom: list[object] = []
    client.send(CancelAll(), boom.append)
    submit.futures[1].set_exception(RuntimeError("engine stopped"))
    qtbot.waitUntil(lambda: len(boom) == 1)
    assert isinstance(boom[0], RuntimeError)


def test_log_panel_shows_a_record_logged_from_another_thread(qtbot: Any) -> None:
    panel = LogPanel(max_lines=3)
    qtbot.addWidget(panel)
    logger = logging.getLogger("tests.log_panel")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    panel.attach(logger)
    try:
        worker = threading.Thread(target=logger.warning, args=("feed stalled on %s", "BTC/USDT"))
        worker.start()
        worker.join()
        qtbot.waitUntil(lambda: any("feed stalled on BTC/USDT" in x for x in panel.lines()))
        assert "WARNING" in panel.lines()[-1]

        logger.debug("noise")  # below the default Info filter: kept, not shown
        logger.info("line 0")
        qtbot.waitUntil(lambda: "line 0" in panel.lines()[-1])
        assert len(panel.lines()) == 2
        panel.set_level(logging.DEBUG)
        assert ["noise" in x for x in panel.lines()] == [False, True, False]
        for i in (1, 2):
            logger.info("line %d", i)
        qtbot.waitUntil(lambda: "line 2" in panel.lines()[-1])
        assert len(panel.lines()) == 3  # capped at max_lines
        panel.set_level(logging.WARNING)
        assert panel.lines() == []  # the warning has scrolled out of the 3 kept records
    finally:
        panel.detach()
        logger.propagate = True
    assert panel.handler not in logger.handlers
