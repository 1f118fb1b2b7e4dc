"""The main window: every view in a dock, one symbol selector, frames and events from the bridge.

The window owns no trading state. It hands each bridge frame (an immutable ``EngineSnapshot``,
at most ~30 a second) to the views, turns the engine events of that frame into log lines, and
sends commands only through its ``CommandClient``. Layout, geometry and the chosen symbol are kept
in ``QSettings``; ``add_dock`` and ``add_toolbar_widget`` are the hooks for later panels (risk
panel, PANIC button).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, QUrl, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QLabel,
    QMainWindow,
    QSizePolicy,
    QToolBar,
    QWidget,
)

from engine.messages import (
    AllCancelled,
    CancelRejected,
    EngineFailed,
    HaltResetRefused,
    OrderAccepted,
    OrderCancelled,
    OrderDenied,
    OrderFilled,
    OrderRejected,
    PanicCompleted,
    RiskLimitsChanged,
    RiskLimitsRejected,
    TradingStateChanged,
)
from engine.snapshot import EngineSnapshot
from widgets.account import AccountPanel
from widgets.backtest_tab import BacktestTab
from widgets.candle_chart import CandleChartWidget
from widgets.command_client import CommandClient
from widgets.depth_chart import DepthChartWidget
from widgets.fills import FillsView
from widgets.ladder import LadderWidget
from widgets.log_panel import LogPanel
from widgets.order_ticket import OrderTicket
from widgets.orders import OrdersView
from widgets.panic import PanicButton
from widgets.positions import PositionsView
from widgets.risk_panel import RiskPanel
from widgets.selection import SymbolSelection
from widgets.status_bar import StatusBar
from widgets.trades_tape import TradesTapeWidget

log = logging.getLogger(__name__)

STATE_VERSION = 2  # bump when the dock set changes incompatibly: old saved layouts are ignored
KEY_GEOMETRY = "main_window/geometry"
KEY_STATE = "main_window/state"
KEY_SYMBOL = "main_window/symbol"

Area = Qt.DockWidgetArea


class Bridge(Protocol):
    """What the window needs from ``app.bridge.EngineBridge`` (a fake QObject does in tests)."""

    frame: Any  # Signal(object): EngineSnapshot
    events: Any  # Signal(object): tuple of engine events

    def submit(self, command: Any) -> Any: ...


def _datasets_db(settings: QSettings) -> Path | None:
    """The backtest dataset cache beside the settings file (the app's data dir); None: default."""
    if settings.format() == QSettings.Format.IniFormat:
        return Path(settings.fileName()).parent / "datasets.db"
    return None


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


class MainWindow(QMainWindow):
    """Docks for every view, a toolbar with the symbol selector, View/File menus."""

    def __init__(
        self,
        bridge: Bridge,
        *,
        settings: QSettings | None = None,
        log_file: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("tradedeck")
        self.setObjectName("tradedeck_main_window")
        self.setDockNestingEnabled(True)
        self.bridge = bridge
        self.settings = settings if settings is not None else QSettings()
        self.log_file = log_file
        self.selection = SymbolSelection(parent=self)
        self.client = CommandClient(bridge.submit, self)
        self.docks: dict[str, QDockWidget] = {}
        self._views: list[tuple[str, Any]] = []  # (dock name, widget with apply_snapshot)
        self._failed_views: set[str] = set()
        self._last_snap: EngineSnapshot | None = None
        self._symbols: tuple[str, ...] = ()
        self._connected = False
        self._extra_areas: dict[str, Qt.DockWidgetArea] = {}  # docks from add_dock
        self._tab_targets: dict[str, str] = {}
        self._default_sizes_pending = False  # add_dock panels shown as a tab beside a dock

        # Qt calls a main window without a central widget unsupported; docks take all the room
        # around this hidden placeholder.
        placeholder = QWidget(self)
        placeholder.hide()
        self.setCentralWidget(placeholder)

        # -- views
        self.ladder = LadderWidget(self.selection)
        self.depth_chart = DepthChartWidget(self.selection)
        self.trades_tape = TradesTapeWidget(self.selection)
        self.candle_chart = CandleChartWidget(self.selection)
        self.positions = PositionsView()
        self.orders = OrdersView(self.client)
        self.fills = FillsView()
        self.account = AccountPanel()
        self.ticket = OrderTicket(self.selection, self.client)
        self.log_panel = LogPanel()
        fps: Callable[[], float] | None = None
        if hasattr(bridge, "fps"):
            fps = lambda: float(bridge.fps)  # noqa: E731 - a property read, evaluated per frame
        self.status = StatusBar(fps_source=fps, parent=self)
        self.setStatusBar(self.status)

        self._menus()
        self._toolbar()
        for name, title, widget in (
            ("ladder", "Order book", self.ladder),
            ("depth", "Depth", self.depth_chart),
            ("trades", "Trades", self.trades_tape),
            ("candles", "Chart", self.candle_chart),
            ("positions", "Positions", self.positions),
            ("orders", "Open orders", self.orders),
            ("fills", "Fills", self.fills),
            ("account", "Account", self.account),
            ("ticket", "Order ticket", self.ticket),
            ("log", "Log", self.log_panel),
        ):
            self._make_dock(name, title, widget)
        self._safety_controls()
        self.backtest_tab = BacktestTab(datasets_db=_datasets_db(self.settings))
        self.add_dock("backtest", self.backtest_tab, Area.LeftDockWidgetArea, tabify_with="candles")
        self.apply_default_layout()
        if not self.restore_settings():
            # First run: a dock only takes a width once the window is on screen.
            QTimer.singleShot(0, self, self._size_side_docks)
        self.toolbar.show()  # a layout saved with the toolbar hidden must not hide PANIC

        self.log_panel.attach()  # root logger: engine, app and widget records all show here
        if log_file is not None:
            log.info("logging to %s", log_file)
        self.connect_bridge()
        self._initial_frame()

    # -------------------------------------------------------- construction

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        if self.log_file is not None:
            open_logs = QAction("Open &log folder", self)
            open_logs.triggered.connect(self._open_log_folder)
            file_menu.addAction(open_logs)
            file_menu.addSeparator()
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Quit))
        self.quit_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.quit_action.triggered.connect(self.close)
        file_menu.addAction(self.quit_action)

        self.view_menu = self.menuBar().addMenu("&View")
        self._view_menu_end = self.view_menu.addSeparator()
        self.reset_layout_action = QAction("&Reset layout", self)
        self.reset_layout_action.triggered.connect(self.reset_layout)
        self.view_menu.addAction(self.reset_layout_action)

    def _toolbar(self) -> None:
        self.toolbar = QToolBar("Main toolbar", self)
        self.toolbar.setObjectName("toolbar_main")
        self.toolbar.setMovable(False)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)
        self.toolbar.addWidget(QLabel(" Symbol ", self.toolbar))
        self.symbol_combo = QComboBox(self.toolbar)
        self.symbol_combo.setObjectName("toolbar_symbol")
        self.symbol_combo.setMinimumContentsLength(10)
        self.symbol_combo.setToolTip("Market shown by the book, chart, tape and ticket")
        self.symbol_combo.currentTextChanged.connect(self._on_combo_symbol)
        self.selection.changed.connect(self._on_selection_changed)
        self.toolbar.addWidget(self.symbol_combo)
        self.toolbar.addSeparator()
        self.view_menu.insertAction(self._view_menu_end, self.toolbar.toggleViewAction())

    def _safety_controls(self) -> None:
        """PANIC at the right end of the toolbar (which can no longer be hidden); the risk dock."""
        spacer = QWidget(self.toolbar)
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.add_toolbar_widget(spacer)
        self.trading_state_label = QLabel("STARTING", self.toolbar)
        self.trading_state_label.setObjectName("tradingStateLabel")
        self.trading_state_label.setStyleSheet(
            "QLabel { color: #101215; background: #7d838d; border-radius: 4px;"
            " padding: 3px 10px; font-weight: bold; }"
        )
        self._shown_state: tuple[str, str] | None = None
        self.add_toolbar_widget(self.trading_state_label)
        self.panic_button = PanicButton(self.client, self.toolbar, shortcut_parent=self)
        self.add_toolbar_widget(self.panic_button)
        self.toolbar.toggleViewAction().setEnabled(False)
        self.risk_panel = RiskPanel(self.client)
        self.add_dock(
            "risk", self.risk_panel, Area.RightDockWidgetArea, title="Risk", tabify_with="account"
        )

    def _make_dock(self, name: str, title: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{_slug(name)}")
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.docks[name] = dock
        self.view_menu.insertAction(self._view_menu_end, dock.toggleViewAction())
        if callable(getattr(widget, "apply_snapshot", None)):
            self._views.append((name, widget))
            dock.visibilityChanged.connect(lambda visible, n=name: self._on_dock_shown(n, visible))
        return dock

    def apply_default_layout(self) -> None:
        """Book | chart over depth | ticket over account; tables and log tabbed along the bottom."""
        d = self.docks
        for dock in d.values():
            self.removeDockWidget(dock)
        d = {n: dock for n, dock in d.items() if n not in self._extra_areas}
        self.addDockWidget(Area.LeftDockWidgetArea, d["ladder"])
        self.splitDockWidget(d["ladder"], d["candles"], Qt.Orientation.Horizontal)
        self.splitDockWidget(d["candles"], d["ticket"], Qt.Orientation.Horizontal)
        self.splitDockWidget(d["ladder"], d["trades"], Qt.Orientation.Vertical)
        self.splitDockWidget(d["candles"], d["depth"], Qt.Orientation.Vertical)
        self.splitDockWidget(d["ticket"], d["account"], Qt.Orientation.Vertical)
        self.addDockWidget(Area.BottomDockWidgetArea, d["positions"])
        for name in ("orders", "fills", "log"):
            self.tabifyDockWidget(d["positions"], d[name])
        for dock in d.values():
            dock.setFloating(False)
            dock.show()
        d["positions"].raise_()
        self._default_sizes_pending = True
        self._apply_default_sizes()
        # Panels added later through add_dock go back where they were added: a tab beside
        # their target dock, or their own area.
        for name, area in self._extra_areas.items():
            target = self._tab_targets.get(name)
            if target in self.docks:
                self.tabifyDockWidget(self.docks[target], self.docks[name])
            else:
                self.addDockWidget(area, self.docks[name])
            self.docks[name].show()
        self._size_side_docks()

    def _apply_default_sizes(self) -> None:
        """Column and row proportions of the default layout, scaled to the window.

        Qt shares dock space by size hints until the window has its real size, so this runs
        again once the window is shown (``showEvent``).
        """
        d = self.docks
        width = max(self.width(), 1200)
        self.resizeDocks(
            [d["ladder"], d["candles"], d["ticket"]],
            [int(width * 0.24), int(width * 0.52), int(width * 0.24)],
            Qt.Orientation.Horizontal,
        )
        self.resizeDocks(
            [d["ladder"], d["trades"], d["candles"], d["depth"], d["positions"]],
            [420, 260, 480, 200, 220],
            Qt.Orientation.Vertical,
        )

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._default_sizes_pending:
            self._default_sizes_pending = False
            QTimer.singleShot(0, self._apply_default_sizes)

    def _size_side_docks(self) -> None:
        """Side panels from add_dock get the width they ask for, not whatever is left over."""
        for name, area in self._extra_areas.items():
            if name in self._tab_targets:
                continue
            if area in (Area.LeftDockWidgetArea, Area.RightDockWidgetArea):
                dock = self.docks[name]
                self.resizeDocks(
                    [dock], [dock.widget().sizeHint().width()], Qt.Orientation.Horizontal
                )

    # -------------------------------------------------------- hooks for later panels

    def add_toolbar_widget(self, widget: QWidget) -> QAction:
        """Put ``widget`` (e.g. the PANIC button) on the main toolbar; returns its action."""
        return self.toolbar.addWidget(widget)

    def add_dock(
        self,
        name: str,
        widget: QWidget,
        area: Qt.DockWidgetArea = Area.RightDockWidgetArea,
        *,
        title: str | None = None,
        tabify_with: str | None = None,
    ) -> QDockWidget:
        """Add a panel in its own dock (View menu entry, saved layout, snapshots if it wants them).

        A widget with ``apply_snapshot`` gets every frame like the built-in views. Its saved
        placement is restored if the layout in ``QSettings`` knows it.
        """
        if name in self.docks:
            raise ValueError(f"a dock named {name!r} already exists")
        dock = self._make_dock(name, title or name.replace("_", " ").capitalize(), widget)
        self._extra_areas[name] = area
        if tabify_with is not None:
            self._tab_targets[name] = tabify_with
        if not self.restoreDockWidget(dock):
            self.addDockWidget(area, dock)
            if tabify_with in self.docks:
                self.tabifyDockWidget(self.docks[tabify_with], dock)
        if self._last_snap is not None and callable(getattr(widget, "apply_snapshot", None)):
            self._apply_to(name, widget, self._last_snap)
        return dock

    # -------------------------------------------------------- bridge

    def connect_bridge(self) -> None:
        if self._connected:
            return
        self.bridge.frame.connect(self.apply_snapshot)
        self.bridge.events.connect(self.on_events)
        self._connected = True

    def disconnect_bridge(self) -> None:
        if not self._connected:
            return
        for signal, slot in (
            (self.bridge.frame, self.apply_snapshot),
            (self.bridge.events, self.on_events),
        ):
            with contextlib.suppress(RuntimeError, TypeError):  # the bridge is already gone
                signal.disconnect(slot)
        self._connected = False

    def _initial_frame(self) -> None:
        """Paint the current state at once instead of waiting for the first frame."""
        snapshot = getattr(self.bridge, "snapshot", None)
        if not callable(snapshot):
            return
        try:
            snap = snapshot()
        except RuntimeError:  # engine not running (yet)
            return
        if isinstance(snap, EngineSnapshot):
            self.apply_snapshot(snap)

    @Slot(object)
    def apply_snapshot(self, snap: EngineSnapshot) -> None:
        self._last_snap = snap
        if snap.symbols != self._symbols:
            self._set_symbols(snap.symbols)
        # Hidden docks (closed, or a background tab) skip the frame; they catch up when shown.
        shown = self.isVisible()
        for name, view in self._views:
            if shown and not self.docks[name].isVisible():
                continue
            self._apply_to(name, view, snap)
        self.status.apply_snapshot(snap)
        self._show_trading_state(snap.risk.state, snap.risk.reason)

    def _show_trading_state(self, state: str, reason: str) -> None:
        """The trading state stays visible in the toolbar whichever docks are open."""
        if (state, reason) == self._shown_state:
            return
        self._shown_state = (state, reason)
        colour = {"ACTIVE": "#26a69a", "REDUCING": "#e0b341"}.get(state, "#ef5350")
        self.trading_state_label.setText(f"{state}" + (f": {reason}" if reason else ""))
        self.trading_state_label.setToolTip(reason or "trading normally")
        self.trading_state_label.setStyleSheet(
            f"QLabel {{ color: #101215; background: {colour}; border-radius: 4px;"
            " padding: 3px 10px; font-weight: bold; }"
        )

    def _apply_to(self, name: str, view: Any, snap: EngineSnapshot) -> None:
        try:
            view.apply_snapshot(snap)
        except Exception:
            # One broken view must not blank the others, nor flood the log 30 times a second.
            if name not in self._failed_views:
                self._failed_views.add(name)
                log.exception("the %s view failed to draw a frame", name)

    @Slot(object)
    def on_events(self, events: tuple[object, ...]) -> None:
        """Engine events of one frame -> log lines (the log dock shows them)."""
        for event in events:
            described = describe_event(event)
            if described is not None:
                level, text = described
                log.log(level, "%s", text)

    # -------------------------------------------------------- symbol selector

    def _set_symbols(self, symbols: tuple[str, ...]) -> None:
        self._symbols = symbols
        self.symbol_combo.blockSignals(True)
        self.symbol_combo.clear()
        self.symbol_combo.addItems(list(symbols))
        self.symbol_combo.blockSignals(False)
        if self.selection.symbol not in symbols and symbols:
            self.selection.set_symbol(symbols[0])
        self.symbol_combo.setCurrentText(self.selection.symbol)

    @Slot(str)
    def _on_combo_symbol(self, symbol: str) -> None:
        if symbol:
            self.selection.set_symbol(symbol)

    @Slot(str)
    def _on_selection_changed(self, symbol: str) -> None:
        if self.symbol_combo.findText(symbol) >= 0:
            self.symbol_combo.setCurrentText(symbol)

    def _on_dock_shown(self, name: str, visible: bool) -> None:
        if visible and self._last_snap is not None:
            for view_name, view in self._views:
                if view_name == name:
                    self._apply_to(name, view, self._last_snap)

    # -------------------------------------------------------- layout persistence

    @Slot()
    def reset_layout(self) -> None:
        self.apply_default_layout()
        self.toolbar.show()

    def save_settings(self) -> None:
        self.settings.setValue(KEY_GEOMETRY, self.saveGeometry())
        self.settings.setValue(KEY_STATE, self.saveState(STATE_VERSION))
        self.settings.setValue(KEY_SYMBOL, self.selection.symbol)
        self.settings.sync()

    def restore_settings(self) -> bool:
        """Geometry, dock layout and symbol from ``settings``; False when nothing was saved."""
        geometry = self.settings.value(KEY_GEOMETRY)
        state = self.settings.value(KEY_STATE)
        symbol = self.settings.value(KEY_SYMBOL)
        if isinstance(symbol, str) and symbol:
            self.selection.set_symbol(symbol)
        restored = False
        if isinstance(geometry, QByteArray | bytes) and geometry:
            restored = self.restoreGeometry(QByteArray(geometry))
        else:
            self._default_size()
        if isinstance(state, QByteArray | bytes) and state:
            restored = self.restoreState(QByteArray(state), STATE_VERSION) and restored
        if restored:
            self._default_sizes_pending = False  # the trader's own layout wins
        return restored

    def _default_size(self) -> None:
        """1600x1000, or 90% of a smaller screen."""
        width, height = 1600, 1000
        screen = self.screen()
        if screen is not None:
            avail = screen.availableGeometry()
            width = min(width, int(avail.width() * 0.9))
            height = min(height, int(avail.height() * 0.9))
        self.resize(width, height)

    @Slot()
    def _open_log_folder(self) -> None:
        if self.log_file is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.log_file.parent)))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.backtest_tab.shutdown()  # its worker process and poll timer end with the window
        self.save_settings()
        self.disconnect_bridge()
        self.log_panel.detach()
        super().closeEvent(event)


def describe_event(event: object) -> tuple[int, str] | None:
    """A log level and one line for an engine event; None for events not worth a line."""
    if isinstance(event, OrderDenied):
        return logging.WARNING, f"order denied ({event.symbol}): {event.reason}"
    if isinstance(event, OrderRejected):
        return logging.WARNING, f"order {event.order.order_id} rejected: {event.reason}"
    if isinstance(event, OrderFilled):
        f, o = event.fill, event.order
        return (
            logging.INFO,
            f"fill {o.order_id} {f.side.value} {f.qty} {f.symbol} @ {f.price}"
            f" fee {f.fee} {f.fee_asset} slippage {f.slippage_bps} bps"
            f" ({o.filled_qty}/{o.qty} filled)",
        )
    if isinstance(event, OrderCancelled):
        return logging.INFO, f"order {event.order.order_id} cancelled: {event.reason}"
    if isinstance(event, CancelRejected):
        return logging.WARNING, f"cancel {event.order_id} refused: {event.reason}"
    if isinstance(event, AllCancelled):
        return logging.INFO, f"cancelled {len(event.order_ids)} order(s)"
    if isinstance(event, OrderAccepted):
        o = event.order
        price = f" @ {o.price}" if o.price is not None else ""
        return (
            logging.DEBUG,
            f"order {o.order_id} accepted: {o.side.value} {o.qty} {o.symbol}{price}",
        )
    if isinstance(event, TradingStateChanged):
        return logging.WARNING, f"trading state {event.state}: {event.reason}"
    if isinstance(event, RiskLimitsChanged):
        changed = ", ".join(
            f"{k} {event.old.get(k)} -> {v}" for k, v in event.new.items() if event.old.get(k) != v
        )
        return logging.INFO, f"risk limits changed by {event.actor}: {changed or 'no change'}"
    if isinstance(event, RiskLimitsRejected):
        return logging.WARNING, f"risk limits refused: {event.reason}"
    if isinstance(event, HaltResetRefused):
        return logging.WARNING, f"halt reset refused: {event.reason}"
    if isinstance(event, PanicCompleted):
        state = "flat" if event.flat else f"NOT flat, remaining {dict(event.remaining)}"
        return (
            logging.WARNING,
            f"panic close done in {event.duration_ms:.0f} ms: {event.orders_cancelled} orders"
            f" cancelled, {event.positions_closed} positions closed, {state}",
        )
    if isinstance(event, EngineFailed):
        return logging.ERROR, f"engine failure in {event.where}: {event.message}"
    return None
