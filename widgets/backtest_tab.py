"""The backtest tab: pick data and a strategy, run it in a worker process, compare the runs.

The run happens in a separate process (``engine.backtest.worker.start_backtest``), never on the
GUI thread nor on a thread beside it (the runner is pure Python and would hold the GIL): a 10 Hz
``QTimer`` on the GUI thread polls the worker's handle for progress and the result, so the live
books keep moving while a 435k-bar backtest runs. The timer only runs while there is something
to poll. Cancel asks the run to stop at its next progress step; a worker that does not stop
within ``CANCEL_GRACE_S`` (it may be parsing a big file, where no step is checked) is killed.

Every finished run stays in the run list with a checkbox: checked runs overlay their equity and
drawdown in their own colours and line up side by side in the metrics table; the selected run
also fills the trades table and the price pane. "Save report" renders the HTML report from the
run's own result JSON (``engine.backtest.report``), so it matches what the CLI would write.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QDate, QSignalBlocker, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.backtest.config import FILL_RULES, LIMIT_RULES, BacktestConfig
from engine.backtest.data import DataReport, DatasetCache
from engine.backtest.job import BacktestJob
from engine.backtest.report import write_report
from engine.backtest.worker import BacktestHandle, start_backtest
from engine.config import default_data_dir, default_market_data_dir
from engine.model.money import parse_decimal
from engine.strategy import STRATEGIES, make_strategy
from widgets import theme
from widgets.backtest.datasets import (
    Dataset,
    InspectHandle,
    cached,
    list_datasets,
    start_inspect,
)
from widgets.backtest.param_form import ParamForm
from widgets.backtest.result_plots import ResultPlots
from widgets.backtest.run_result import RUN_COLORS, BacktestRun, load_run, utc_day, utc_minute
from widgets.backtest.tables import MetricsModel, TradesModel, trade_rows

log = logging.getLogger(__name__)

POLL_MS = 100  # 10 Hz: progress looks live, the GUI thread barely notices
CANCEL_GRACE_S = 5.0
MAX_GAPS_LISTED = 20
DATE_FORMAT = "yyyy-MM-dd"

# State of the tab's current (or last) run.
IDLE, RUNNING, DONE, ERROR, CANCELLED = "idle", "running", "done", "error", "cancelled"

SLIPPAGE_MODELS: tuple[tuple[str, str, str, str], ...] = (
    # (model, label, default argument, what the argument is)
    ("none", "none", "", "fills at the bar price"),
    ("fixed", "fixed bps", "5", "bps from the bar price on each side"),
    ("impact", "impact (square-root law)", "1", "coefficient Y of Y x sigma x sqrt(qty/volume)"),
    ("book", "book (real BTCUSDT depth)", "1", "scale of the average real book's depth"),
)
FILL_LABELS = {"next_open": "next bar's open", "close": "signal bar's close"}
LIMIT_LABELS = {"through": "price trades through", "touch": "price touches"}
# Messages of errors the user can fix read better without the exception's class name.
_PLAIN_ERRORS = ("DataError: ", "ParamError: ", "BacktestConfigError: ", "ValueError: ")


def interval_text(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms} ms"


def describe_report(report: DataReport) -> tuple[str, str]:
    """(label text, tooltip) for a dataset: size, span, grid, then every defect found."""
    every = interval_text(report.interval_ms)
    if not report.regular:
        every = f"~{every} (irregular)"
    lines = [
        f"{report.symbol} · {report.bars:,} bars ({report.rows:,} rows read) · every {every}",
        f"{utc_minute(report.first_ms)} → {utc_minute(report.last_ms)} UTC",
        f"price grid {report.tick_size} · volume in {report.volume_unit} units",
    ]
    defects = report.summary_lines()
    lines += [f"• {d}" for d in defects] if defects else ["clean: no gaps, duplicates or bad bars"]
    tip = [f"{report.path}", f"sha256 {report.sha256}" if report.sha256 else ""]
    if report.gaps:
        tip.append("gaps (last bar before → first bar after, missing bars):")
        tip += [
            f"  {utc_minute(g.after_ms)} → {utc_minute(g.before_ms)}  ({g.missing})"
            for g in report.gaps[:MAX_GAPS_LISTED]
        ]
        if report.gap_count > MAX_GAPS_LISTED:
            tip.append(f"  ... {report.gap_count - MAX_GAPS_LISTED} more")
    return "\n".join(lines), "\n".join(t for t in tip if t)


def plain_error(text: str) -> str:
    """The first line of a worker's error, without the class name of user-fixable errors."""
    first = text.strip().splitlines()[0] if text.strip() else "unknown error"
    for prefix in _PLAIN_ERRORS:
        if first.startswith(prefix):
            return first[len(prefix) :]
    return first


def _qdate(ms: int) -> QDate:
    d = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).date()
    return QDate(d.year, d.month, d.day)


class BacktestTab(QWidget):
    """Data, strategy and options on the left; charts, metrics and trades on the right."""

    state_changed = Signal(str)
    run_added = Signal(object)  # BacktestRun

    def __init__(
        self,
        *,
        datasets_db: Path | None = None,
        shared_data_dir: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.datasets_db = datasets_db or default_data_dir() / "datasets.db"
        self.cache = DatasetCache(self.datasets_db)
        self.shared_data_dir = shared_data_dir or default_market_data_dir()
        self.runs: list[BacktestRun] = []
        self.report: DataReport | None = None
        self.error_text = ""  # the last error, in words
        self.error_details = ""  # ... and whatever the worker said in full
        self._state = IDLE
        self._exiting: list[tuple[BacktestHandle, float]] = []  # finished, not yet joined
        self._handle: BacktestHandle | None = None
        self._job: BacktestJob | None = None
        self._inspect: InspectHandle | None = None
        self._cancel_at: float | None = None
        self._started_at = 0.0
        self._next_run_id = 1
        self._work: tempfile.TemporaryDirectory[str] | None = None
        self._dialog: QFileDialog | None = None
        self._last_dir = self.shared_data_dir or Path.home()
        self._params_by_strategy: dict[str, dict[str, str]] = {}
        self._strategy = ""
        self._prices: dict[int, tuple[Any, Any, str]] = {}  # run id -> (time_s, close, title)

        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._tick)

        self._build()
        self.refresh_datasets()
        self._on_strategy_changed()

    # ================================================================ construction

    def _build(self) -> None:
        controls = QWidget()
        left = QVBoxLayout(controls)
        left.addWidget(self._data_box())
        left.addWidget(self._strategy_box())
        left.addWidget(self._options_box())
        left.addLayout(self._run_row())
        left.addWidget(self._runs_box(), 1)

        self.controls = controls
        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)

        self.plots = ResultPlots()
        self.metrics_model = MetricsModel(self)
        self.metrics_view = self._table(self.metrics_model)
        self.metrics_view.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.trades_model = TradesModel(self)
        self.trades_view = self._table(self.trades_model)
        self.results_tabs = QTabWidget()
        self.results_tabs.addTab(self.metrics_view, "Metrics")
        self.results_tabs.addTab(self.trades_view, "Trades")
        self.results_tabs.setMinimumWidth(60)  # tabbed beside the chart: never widen its column

        self.results_splitter = right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.plots)
        right.addWidget(self.results_tabs)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        right.setChildrenCollapsible(True)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(scroll)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self._sized = False
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.splitter)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._sized:  # splitters share space by size hints until shown: set it once
            self._sized = True
            QTimer.singleShot(0, self, self._initial_sizes)

    def _initial_sizes(self) -> None:
        width, height = self.width(), self.height()
        left = min(self.controls.sizeHint().width() + 24, 440, width // 2)
        self.splitter.setSizes([left, max(width - left, 1)])
        self.results_splitter.setSizes([int(height * 0.62), int(height * 0.38)])

    @staticmethod
    def _table(model: Any) -> QTableView:
        view = QTableView()
        view.setModel(model)
        view.setAlternatingRowColors(True)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.verticalHeader().setVisible(False)
        view.verticalHeader().setDefaultSectionSize(22)
        view.horizontalHeader().setStretchLastSection(True)
        view.horizontalHeader().setResizeContentsPrecision(64)  # fit to 64 rows, not all
        return view

    def _data_box(self) -> QGroupBox:
        box = QGroupBox("Data")
        lay = QVBoxLayout(box)
        self.dataset_combo = QComboBox()
        self.dataset_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.dataset_combo.setMinimumContentsLength(16)
        self.dataset_combo.setPlaceholderText("choose a dataset…")
        self.dataset_combo.setToolTip("Imported (cached) datasets and the files in ../shared/data")
        self.dataset_combo.currentIndexChanged.connect(self._on_dataset_changed)
        lay.addWidget(self.dataset_combo)
        row = QHBoxLayout()
        self.import_button = QPushButton("Import file…")
        self.import_button.setToolTip("Read a candle file (CSV, CSV.gz, Parquet) into the cache")
        self.import_button.clicked.connect(self.open_import_dialog)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh_datasets)
        row.addWidget(self.import_button, 1)
        row.addWidget(self.refresh_button)
        lay.addLayout(row)
        self.symbol_edit = QLineEdit()
        self.symbol_edit.setPlaceholderText("symbol: from the file name")
        self.symbol_edit.setToolTip(
            "Only for files that hold several symbols (e.g. BTC/USDT); empty: from the file name"
        )
        self.symbol_edit.editingFinished.connect(self._on_dataset_changed)
        lay.addWidget(self.symbol_edit)
        self.report_label = QLabel("no dataset chosen")
        self.report_label.setObjectName("backtestDataReport")
        self.report_label.setWordWrap(True)
        self.report_label.setTextFormat(Qt.TextFormat.PlainText)
        self.report_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.report_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.report_label)
        return box

    def _strategy_box(self) -> QGroupBox:
        box = QGroupBox("Strategy")
        lay = QVBoxLayout(box)
        self.strategy_combo = QComboBox()
        for name, cls in STRATEGIES.items():
            self.strategy_combo.addItem(f"{cls.title or name} ({name})", name)
            doc = (cls.__doc__ or "").strip()
            self.strategy_combo.setItemData(
                self.strategy_combo.count() - 1, doc, Qt.ItemDataRole.ToolTipRole
            )
        self.strategy_combo.currentIndexChanged.connect(self._on_strategy_changed)
        lay.addWidget(self.strategy_combo)
        self.param_form = ParamForm()
        lay.addWidget(self.param_form)
        self.defaults_button = QPushButton("Defaults")
        self.defaults_button.setToolTip("Put every parameter back to its default")
        self.defaults_button.clicked.connect(self.param_form.reset_defaults)
        lay.addWidget(self.defaults_button, 0, Qt.AlignmentFlag.AlignRight)
        return box

    def _options_box(self) -> QGroupBox:
        box = QGroupBox("Options")
        form = QFormLayout(box)
        self.cash_edit = QLineEdit("10000")
        self.cash_edit.setToolTip("Starting cash in the quote currency (exact decimal)")
        form.addRow("Cash", self.cash_edit)
        fees = QHBoxLayout()
        self.taker_fee_edit = QLineEdit("10")
        self.taker_fee_edit.setToolTip("Taker fee in bps (10 = 0.1%)")
        self.maker_fee_edit = QLineEdit("10")
        self.maker_fee_edit.setToolTip("Maker fee in bps (resting limit orders)")
        fees.addWidget(QLabel("taker"))
        fees.addWidget(self.taker_fee_edit)
        fees.addWidget(QLabel("maker"))
        fees.addWidget(self.maker_fee_edit)
        form.addRow("Fees (bps)", fees)
        slip = QHBoxLayout()
        self.slippage_combo = QComboBox()
        for model, label, _default, what in SLIPPAGE_MODELS:
            self.slippage_combo.addItem(label, model)
            self.slippage_combo.setItemData(
                self.slippage_combo.count() - 1, what, Qt.ItemDataRole.ToolTipRole
            )
        self.slippage_combo.currentIndexChanged.connect(self._on_slippage_changed)
        self.slippage_arg = QLineEdit()
        self.slippage_arg.setMaximumWidth(70)
        slip.addWidget(self.slippage_combo, 1)
        slip.addWidget(self.slippage_arg)
        form.addRow("Slippage", slip)
        self.fill_combo = QComboBox()
        for rule in FILL_RULES:
            self.fill_combo.addItem(FILL_LABELS.get(rule, rule), rule)
        self.fill_combo.setToolTip("Where a market order decided at a bar's close fills")
        form.addRow("Market fill", self.fill_combo)
        self.limit_fill_combo = QComboBox()
        for rule in LIMIT_RULES:
            self.limit_fill_combo.addItem(LIMIT_LABELS.get(rule, rule), rule)
        self.limit_fill_combo.setToolTip("When a resting limit order counts as filled")
        form.addRow("Limit fill", self.limit_fill_combo)
        lat = QHBoxLayout()
        self.latency_bars_spin = QSpinBox()
        self.latency_bars_spin.setRange(0, 10_000)
        self.latency_bars_spin.setSuffix(" bars")
        self.latency_ms_spin = QSpinBox()
        self.latency_ms_spin.setRange(0, 86_400_000)
        self.latency_ms_spin.setSuffix(" ms")
        self.latency_ms_spin.setSingleStep(50)
        lat.addWidget(self.latency_bars_spin)
        lat.addWidget(self.latency_ms_spin)
        form.addRow("Latency", lat)
        self.start_check, self.start_edit = self._date_row(form, "From", "First day (UTC)")
        self.end_check, self.end_edit = self._date_row(form, "To", "Last day (UTC), included")
        self._on_slippage_changed()
        return box

    @staticmethod
    def _date_row(form: QFormLayout, label: str, tip: str) -> tuple[QCheckBox, QDateEdit]:
        row = QHBoxLayout()
        check = QCheckBox(label)
        check.setToolTip(f"{tip}; unchecked: from the data's first / to its last bar")
        edit = QDateEdit()
        edit.setDisplayFormat(DATE_FORMAT)
        edit.setCalendarPopup(True)
        edit.setEnabled(False)
        edit.setToolTip(tip)
        check.toggled.connect(edit.setEnabled)
        row.addWidget(check)
        row.addWidget(edit, 1)
        form.addRow(row)
        return check, edit

    def _run_row(self) -> QVBoxLayout:
        lay = QVBoxLayout()
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run backtest")
        self.run_button.setObjectName("backtestRun")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        lay.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        lay.addWidget(self.progress)
        self.status_label = QLabel("")
        self.status_label.setObjectName("backtestStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.status_label)
        return lay

    def _runs_box(self) -> QGroupBox:
        box = QGroupBox("Runs (checked: overlaid)")
        lay = QVBoxLayout(box)
        self.runs_list = QListWidget()
        self.runs_list.setMinimumHeight(90)
        self.runs_list.itemChanged.connect(self._on_run_checked)
        self.runs_list.currentItemChanged.connect(self._on_current_run)
        lay.addWidget(self.runs_list)
        row = QHBoxLayout()
        self.save_button = QPushButton("Save report…")
        self.save_button.setToolTip("Write the selected run's self-contained HTML report")
        self.save_button.clicked.connect(self.open_save_dialog)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_current_run)
        row.addWidget(self.save_button, 1)
        row.addWidget(self.remove_button)
        lay.addLayout(row)
        self._update_run_buttons()
        return box

    # ================================================================ state

    @property
    def state(self) -> str:
        return self._state

    def _set_state(self, state: str, message: str = "", *, error: str = "") -> None:
        self._state = state
        running = state == RUNNING
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if state == ERROR:
            self.error_text = message
            self.error_details = error or message
            self.status_label.setStyleSheet(f"color: {theme.ASK};")
            self.status_label.setToolTip(self.error_details)
        else:
            self.status_label.setStyleSheet("")
            self.status_label.setToolTip("")
        self.status_label.setText(message)
        self.state_changed.emit(state)

    # ================================================================ datasets

    @Slot()
    def refresh_datasets(self) -> None:
        """List the cache's datasets and the shared files; keep the current pick."""
        current = self.current_dataset_path()
        datasets = list_datasets(self.cache, self.shared_data_dir)
        with QSignalBlocker(self.dataset_combo):
            self.dataset_combo.clear()
            for d in datasets:
                self._add_dataset_item(d)
            if current is not None and self._dataset_index(current) < 0:
                self._add_dataset_item(Dataset(current, current.name, "picked"))
            # Nothing is picked until the trader picks: reading a file costs seconds.
            self.dataset_combo.setCurrentIndex(
                self._dataset_index(current) if current is not None else -1
            )

    def _add_dataset_item(self, d: Dataset) -> None:
        self.dataset_combo.addItem(d.text, str(d.path))
        tip = f"{d.path}\n{d.origin}"
        if d.cached_symbol:
            tip += f", {d.cached_symbol}"
        index = self.dataset_combo.count() - 1
        self.dataset_combo.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)

    def _dataset_index(self, path: Path) -> int:
        return self.dataset_combo.findData(str(path))

    def current_dataset_path(self) -> Path | None:
        data = self.dataset_combo.currentData()
        return Path(data) if data else None

    def select_dataset(self, path: Path) -> None:
        """Make ``path`` the current dataset (listed or not) and show its data report."""
        path = Path(path).resolve()
        index = self._dataset_index(path)
        if index < 0:
            self._add_dataset_item(Dataset(path, path.name, "picked"))
            index = self.dataset_combo.count() - 1
        if index == self.dataset_combo.currentIndex():
            self._on_dataset_changed()
        else:
            self.dataset_combo.setCurrentIndex(index)

    def import_file(self, path: Path) -> None:
        """Pick ``path`` and read it into the cache (in the background); the report follows."""
        self.select_dataset(path)

    def symbol(self) -> str | None:
        return self.symbol_edit.text().strip() or None

    def _on_dataset_changed(self, *_args: object) -> None:
        path = self.current_dataset_path()
        busy = self._inspect
        if busy is not None and (busy.path, busy.symbol) == (path, self.symbol()):
            return  # already being read
        self._stop_inspect()
        self.report = None
        if path is None:
            self.report_label.setText("no dataset: import a candle file")
            self.report_label.setToolTip("")
            return
        hit = cached(self.cache, path, self.symbol())
        if hit is not None:
            self._show_report(hit[1])
            return
        self.report_label.setText(f"reading {path.name}…")
        self.report_label.setToolTip(str(path))
        self.report_label.setStyleSheet("")
        try:
            self._inspect = start_inspect(path, self.symbol(), self.datasets_db)
        except OSError as exc:
            self.report_label.setText(f"cannot read {path.name}: {exc}")
            return
        self.timer.start()

    def _show_report(self, report: DataReport) -> None:
        self.report = report
        text, tip = describe_report(report)
        self.report_label.setText(text)
        self.report_label.setToolTip(tip)
        self.report_label.setStyleSheet("" if report.clean else f"color: {theme.MID};")
        first, last = _qdate(report.first_ms), _qdate(report.last_ms)
        for check, edit, default in (
            (self.start_check, self.start_edit, first),
            (self.end_check, self.end_edit, last),
        ):
            edit.setDateRange(first, last)
            if not check.isChecked():
                edit.setDate(default)

    def _stop_inspect(self) -> None:
        if self._inspect is not None:
            self._inspect.kill()
            self._inspect = None

    def _poll_inspect(self) -> None:
        if self._inspect is None:
            return
        result = self._inspect.poll()
        if result is None:
            return
        path = self._inspect.path
        self._inspect = None
        kind, value = result
        if kind == "done" and isinstance(value, DataReport):
            self._show_report(value)
            self.refresh_datasets()  # the file is in the cache now
        else:
            self.report = None
            self.report_label.setText(f"{path.name}: {value}")
            self.report_label.setStyleSheet(f"color: {theme.ASK};")

    @Slot()
    def open_import_dialog(self) -> None:
        """Choose a candle file (non-modal ``open()``, never ``exec()``)."""
        dialog = QFileDialog(
            self,
            "Import candle file",
            str(self._last_dir),
            "Candle files (*.csv *.csv.gz *.gz *.parquet *.pq);;All files (*)",
        )
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        dialog.fileSelected.connect(self._on_import_chosen)
        self._open_dialog(dialog)

    def _on_import_chosen(self, name: str) -> None:
        if name:
            self._last_dir = Path(name).parent
            self.import_file(Path(name))

    def _open_dialog(self, dialog: QFileDialog) -> None:
        if self._dialog is not None:
            self._dialog.close()
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r, d=dialog: self._forget_dialog(d))
        self._dialog = dialog
        dialog.open()

    def _forget_dialog(self, dialog: QFileDialog) -> None:
        if self._dialog is dialog:
            self._dialog = None

    # ================================================================ strategy and options

    def _on_strategy_changed(self, *_args: object) -> None:
        if self._strategy:
            self._params_by_strategy[self._strategy] = self.param_form.values()
        name = self.current_strategy()
        cls = STRATEGIES[name]
        self.param_form.set_schema(cls.schema(), cls.params_schema)
        self.param_form.set_values(self._params_by_strategy.get(name, {}))
        self._strategy = name

    def current_strategy(self) -> str:
        return str(self.strategy_combo.currentData())

    def set_strategy(self, name: str) -> None:
        index = self.strategy_combo.findData(name)
        if index < 0:
            raise ValueError(f"unknown strategy {name!r}")
        self.strategy_combo.setCurrentIndex(index)

    def _on_slippage_changed(self, *_args: object) -> None:
        model = self.slippage_combo.currentData()
        for name, _label, default, what in SLIPPAGE_MODELS:
            if name == model:
                self.slippage_arg.setEnabled(bool(default))
                self.slippage_arg.setText(default)
                self.slippage_arg.setToolTip(what)

    def set_window(self, start: str | None, end: str | None) -> None:
        """First and last day (``YYYY-MM-DD``, UTC); None for the data's own ends."""
        for check, edit, text in (
            (self.start_check, self.start_edit, start),
            (self.end_check, self.end_edit, end),
        ):
            check.setChecked(text is not None)
            if text is not None:
                edit.setMinimumDate(QDate(1970, 1, 1))
                edit.setMaximumDate(QDate(2999, 12, 31))
                edit.setDate(QDate.fromString(text, DATE_FORMAT))

    def slippage_spec(self) -> str:
        model = str(self.slippage_combo.currentData())
        arg = self.slippage_arg.text().strip()
        return model if model == "none" or not arg else f"{model}:{arg}"

    @staticmethod
    def _decimal(edit: QLineEdit, what: str) -> Decimal:
        value = parse_decimal(edit.text())
        if value is None:
            raise ValueError(f"{what} {edit.text()!r} is not a number")
        return value

    @staticmethod
    def _day(check: QCheckBox, edit: QDateEdit) -> str | None:
        return edit.date().toString(DATE_FORMAT) if check.isChecked() else None

    def build_job(self) -> BacktestJob:
        """The job the form describes; ``ValueError`` (in words) when something is off."""
        path = self.current_dataset_path()
        if path is None:
            raise ValueError("pick a dataset first (or import a file)")
        name = self.current_strategy()
        params = self.param_form.values()
        make_strategy(name, dict(params))  # the strategy's own checks, before a process starts
        taker = self._decimal(self.taker_fee_edit, "taker fee")
        maker = self._decimal(self.maker_fee_edit, "maker fee")
        config = BacktestConfig(
            cash=self._decimal(self.cash_edit, "cash"),
            taker_fee=taker / 10_000,
            maker_fee=maker / 10_000,
            slippage=self.slippage_spec(),
            fill=str(self.fill_combo.currentData()),
            limit_fill=str(self.limit_fill_combo.currentData()),
            latency_bars=self.latency_bars_spin.value(),
            latency_ms=self.latency_ms_spin.value(),
        )
        start = self._day(self.start_check, self.start_edit)
        end = self._day(self.end_check, self.end_edit)
        job = BacktestJob(
            data=str(path),
            strategy=name,
            params=params,
            symbol=self.symbol(),
            config=config,
            start=start,
            end=end,
            datasets_db=str(self.datasets_db),
        )
        job.window_ms()  # "end before start" is said now, not after a process started
        return job

    # ================================================================ running

    @Slot()
    def run(self) -> bool:
        """Start a backtest of what the form says; False (and the reason shown) if it cannot."""
        if self._handle is not None:
            return False
        try:
            job = self.build_job()
        except ValueError as exc:
            self._set_state(ERROR, str(exc))
            return False
        out_dir = self._work_dir() / f"run-{self._next_run_id}"
        try:
            self._handle = start_backtest(job, out_dir)
        except OSError as exc:
            self._set_state(ERROR, f"could not start the backtest worker: {exc}")
            return False
        self._job = job
        self._cancel_at = None
        self._started_at = time.monotonic()
        self.progress.setValue(0)
        self.progress.setFormat("loading data…")
        self._set_state(RUNNING, f"running {job.strategy} on {Path(job.data).name}…")
        self.timer.start()
        return True

    @Slot()
    def cancel(self) -> None:
        """Ask the run to stop; it is killed if it has not stopped within ``CANCEL_GRACE_S``."""
        if self._handle is None or self._cancel_at is not None:
            return
        self._handle.cancel()
        self._cancel_at = time.monotonic()
        self.cancel_button.setEnabled(False)
        self.status_label.setText("cancelling…")

    def _work_dir(self) -> Path:
        if self._work is None:
            self._work = tempfile.TemporaryDirectory(prefix="tradedeck-backtest-")
        return Path(self._work.name)

    @Slot()
    def _tick(self) -> None:
        self._poll_run()
        self._poll_inspect()
        self._poll_exited()
        if self._handle is None and self._inspect is None and not self._exiting:
            self.timer.stop()

    def _poll_run(self) -> None:
        handle = self._handle
        if handle is None:
            return
        handle.poll()
        if handle.state == RUNNING:
            if self._cancel_at is not None and time.monotonic() - self._cancel_at > CANCEL_GRACE_S:
                handle.kill()  # stuck where no progress step checks the flag (e.g. parsing)
                handle.error = f"killed: the worker did not stop within {CANCEL_GRACE_S:.0f} s"
            else:
                self.progress.setValue(int(handle.progress * 1000))
                if handle.progress > 0:
                    self.progress.setFormat("%p%")
                if self._cancel_at is None:
                    elapsed = time.monotonic() - self._started_at
                    job = self._job
                    what = f"{job.strategy} on {Path(job.data).name}" if job else ""
                    self.status_label.setText(f"running {what}… {elapsed:.1f} s")
                return
        self._finish_run(handle)

    def _finish_run(self, handle: BacktestHandle) -> None:
        job = self._job
        self._handle = None
        self._job = None
        self._cancel_at = None
        self._reap_later(handle)
        elapsed = time.monotonic() - self._started_at
        if handle.state == DONE and handle.result_path is not None and job is not None:
            color = RUN_COLORS[(self._next_run_id - 1) % len(RUN_COLORS)]
            try:
                run = load_run(self._next_run_id, job, handle.result_path, color)
            except (OSError, ValueError) as exc:
                self._set_state(ERROR, f"could not read the result: {exc}")
                return
            self._next_run_id += 1
            self.progress.setValue(1000)
            self.progress.setFormat("done")
            self._add_run(run)
            m = run.metrics
            total = m.get("total_return")
            perf = "" if total is None else f", total return {float(total) * 100:+.2f}%"
            self._set_state(
                DONE,
                f"{run.short_label} done in {elapsed:.1f} s: {int(run.run.get('bars', 0)):,} "
                f"bars, {int(m.get('number_of_trades', 0)):,} trades{perf}",
            )
        elif handle.state == CANCELLED:
            self.progress.setFormat("cancelled")
            detail = f" ({handle.error})" if handle.error else ""
            self._set_state(CANCELLED, f"cancelled after {elapsed:.1f} s{detail}")
        else:
            self.progress.setFormat("failed")
            self._set_state(ERROR, plain_error(handle.error), error=handle.error)
        self.refresh_datasets()  # the worker cached the file it read

    # ================================================================ runs

    def _add_run(self, run: BacktestRun) -> None:
        self.runs.append(run)
        item = QListWidgetItem(run.label)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setData(Qt.ItemDataRole.UserRole, run.run_id)
        item.setData(Qt.ItemDataRole.DecorationRole, QColor(run.color))
        item.setToolTip(
            f"{run.label}\n{run.period} UTC\n{run.job.data}\n"
            f"slippage {run.job.config.slippage}, fill {run.job.config.fill}, "
            f"fees {_bps(run.job.config.taker_fee)} / {_bps(run.job.config.maker_fee)} bps"
        )
        with QSignalBlocker(self.runs_list):  # one refresh below, not one per change
            item.setCheckState(Qt.CheckState.Checked)
            self.runs_list.addItem(item)
            self.runs_list.setCurrentItem(item)
        self._refresh_views()
        self._update_run_buttons()
        self.run_added.emit(run)

    def run_by_id(self, run_id: int) -> BacktestRun | None:
        return next((r for r in self.runs if r.run_id == run_id), None)

    def _item_of(self, run: BacktestRun) -> QListWidgetItem | None:
        for i in range(self.runs_list.count()):
            item = self.runs_list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == run.run_id:
                return item
        return None

    def current_run(self) -> BacktestRun | None:
        item = self.runs_list.currentItem()
        return None if item is None else self.run_by_id(int(item.data(Qt.ItemDataRole.UserRole)))

    def checked_runs(self) -> list[BacktestRun]:
        out = []
        for i in range(self.runs_list.count()):
            item = self.runs_list.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                run = self.run_by_id(int(item.data(Qt.ItemDataRole.UserRole)))
                if run is not None:
                    out.append(run)
        return out

    def set_run_checked(self, run: BacktestRun, checked: bool) -> None:
        item = self._item_of(run)
        if item is not None:
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def select_run(self, run: BacktestRun) -> None:
        item = self._item_of(run)
        if item is not None:
            self.runs_list.setCurrentItem(item)

    @Slot()
    def remove_current_run(self) -> None:
        run = self.current_run()
        item = self.runs_list.currentItem()
        if run is None or item is None:
            return
        self.runs.remove(run)
        self._prices.pop(run.run_id, None)
        self.runs_list.takeItem(self.runs_list.row(item))
        self._refresh_views()
        self._update_run_buttons()

    def _on_run_checked(self, _item: QListWidgetItem) -> None:
        self._refresh_views()

    def _on_current_run(self, *_args: object) -> None:
        self._refresh_views()

    def _update_run_buttons(self) -> None:
        has = self.runs_list.count() > 0
        self.save_button.setEnabled(has)
        self.remove_button.setEnabled(has)

    def _refresh_views(self) -> None:
        """Overlay the checked runs; metrics of the selected run first, then the checked."""
        checked = self.checked_runs()
        self.plots.show_runs(checked)
        current = self.current_run()
        shown = [current] if current is not None else []
        shown += [r for r in checked if r is not current]
        self.metrics_model.set_runs(shown)
        if current is None:
            self.trades_model.clear()
            self.plots.show_price(None)
            return
        self.trades_model.set_rows(trade_rows(current), current.instrument())
        self.trades_view.resizeColumnsToContents()  # measures the first rows only
        time_s, close, title = self._price_of(current)
        self.plots.show_price(current, time_s, close, title)

    def _price_of(self, run: BacktestRun) -> tuple[Any, Any, str]:
        """The run's closes from the dataset cache (the worker stored them); no parse here."""
        hit = self._prices.get(run.run_id)
        if hit is not None:
            return hit
        fills = len(run.fills)
        job = run.job
        found = None if job.is_ticks() else cached(self.cache, Path(job.data), job.symbol)
        if found is None:
            out: tuple[Any, Any, str] = (
                None,
                None,
                f"{run.short_label}: {fills} fills (price data not in the cache)",
            )
        else:
            bars = found[0].between(*run.job.window_ms())
            time_s = bars.time_ms.astype(np.float64) / 1000.0
            title = f"{run.short_label} {run.symbol} close · {fills} fills"
            out = (time_s, bars.floats("close"), title)
        self._prices[run.run_id] = out
        return out

    # ================================================================ report

    @Slot()
    def open_save_dialog(self) -> None:
        """Choose where the selected run's HTML report goes (non-modal ``open()``)."""
        run = self.current_run()
        if run is None:
            return
        first = run.run.get("first_ms")
        day = utc_day(int(first)) if first is not None else "run"
        name = f"backtest_{run.strategy}_{run.symbol.replace('/', '')}_{day}_{run.run_id}.html"
        dialog = QFileDialog(self, "Save backtest report", str(Path.home() / name), "HTML (*.html)")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("html")
        dialog.fileSelected.connect(lambda p, r=run: self.save_report(Path(p), r) if p else None)
        self._open_dialog(dialog)

    def save_report(self, path: Path, run: BacktestRun | None = None) -> bool:
        """Write ``run``'s (default: the selected run's) HTML report to ``path``."""
        run = run or self.current_run()
        if run is None:
            self.status_label.setText("no run to report on")
            return False
        try:
            write_report(run.document(), Path(path))
        except (OSError, ValueError) as exc:
            self.error_text = f"could not save the report: {exc}"
            self.status_label.setText(self.error_text)
            self.status_label.setStyleSheet(f"color: {theme.ASK};")
            return False
        self.status_label.setStyleSheet("")
        self.status_label.setText(f"report saved: {path}")
        return True

    # ================================================================ teardown

    def _reap_later(self, handle: BacktestHandle) -> None:
        """A finished worker exits right after its last message: join it from the poll timer
        rather than waiting here on the GUI thread."""
        self._exiting.append((handle, time.monotonic()))

    def _poll_exited(self) -> None:
        still = []
        for handle, since in self._exiting:
            handle.process.join(timeout=0)
            if handle.process.is_alive() and time.monotonic() - since < CANCEL_GRACE_S:
                still.append((handle, since))
            else:
                _reap(handle)  # gone (or overdue: killed)
        self._exiting = still

    def is_busy(self) -> bool:
        return self._handle is not None or self._inspect is not None

    def shutdown(self) -> None:
        """Stop everything this tab started: the worker, the file reader, the timer, dialogs."""
        self.timer.stop()
        handle = self._handle
        if handle is not None:
            self._handle = None
            self._job = None
            handle.cancel()
            handle.kill()
            _reap(handle)
            self._set_state(CANCELLED, "cancelled: the tab was closed")
        for exited, _since in self._exiting:
            _reap(exited)
        self._exiting = []
        self._stop_inspect()
        if self._dialog is not None:
            self._dialog.close()
            self._dialog = None
        if self._work is not None:
            self._work.cleanup()
            self._work = None


def _bps(fraction: Decimal) -> str:
    return format((fraction * 10_000).normalize(), "f")


def _reap(handle: BacktestHandle) -> None:
    """Join the worker (it exits right after its last message) and free its queue."""
    handle.process.join(timeout=2)
    if handle.process.is_alive():
        handle.kill()
    handle.queue.close()
