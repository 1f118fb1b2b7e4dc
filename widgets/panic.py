"""The PANIC button: one deliberate confirmation, then halt, cancel everything, flatten everything.

A panic close must be quick to reach (always in the toolbar, Ctrl+Shift+X from any window of the
app) and hard to trigger by accident: the confirmation's default button is Cancel, Enter and
Return always cancel, and "Close everything" only arms after half a second and never becomes the
default. Dialogs use ``open()``/``show()``, never ``exec()``: a nested event loop would freeze
the frames the trader is watching while the engine works.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from engine.messages import PanicClose, PanicCompleted
from widgets import theme
from widgets.command_client import CommandClient
from widgets.table_model import fmt_decimal

log = logging.getLogger(__name__)

PANIC_TEXT = "PANIC — close all"
PANIC_SHORTCUT = "Ctrl+Shift+X"
ARM_DELAY_MS = 500  # "Close everything" stays disabled this long after the dialog opens
PROGRESS_TEXT = "Cancelling orders and flattening positions…"
FLAT_COLOR = theme.BID
NOT_FLAT_COLOR = theme.ASK


class PanicConfirmDialog(QDialog):
    """The one confirmation step. Cancel is the default; Enter/Return cancel, Esc cancels."""

    def __init__(self, parent: QWidget | None = None, *, arm_delay_ms: int = ARM_DELAY_MS) -> None:
        super().__init__(parent)
        self.setObjectName("panic_confirm")
        self.setWindowTitle(PANIC_TEXT)
        headline = QLabel(
            "<b>Cancel every open order and close every position at market?</b>", self
        )
        headline.setWordWrap(True)
        detail = QLabel(
            "Trading is HALTED first and stays halted until you reset it in the risk panel. "
            "Market orders in a thin book can fill far from mid.",
            self,
        )
        detail.setWordWrap(True)
        detail.setProperty("role", "muted")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("panic_cancel")
        self.cancel_button.setAutoDefault(True)
        self.cancel_button.setDefault(True)
        self.confirm_button = QPushButton("Close everything", self)
        self.confirm_button.setObjectName("panic_confirm_button")
        self.confirm_button.setAutoDefault(False)
        self.confirm_button.setDefault(False)
        self.confirm_button.setEnabled(False)
        self.confirm_button.setToolTip("Click to confirm (Enter cancels)")
        self.confirm_button.setStyleSheet(
            "QPushButton { background-color: #b91c1c; color: white; font-weight: 700; }"
            "QPushButton:disabled { background-color: #3f1d1d; color: #a8a29e; }"
        )
        buttons = QHBoxLayout()
        buttons.addWidget(self.confirm_button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(headline)
        layout.addWidget(detail)
        layout.addLayout(buttons)
        self.setMinimumWidth(440)

        self._arm_timer = QTimer(self)
        self._arm_timer.setSingleShot(True)
        self._arm_timer.setInterval(arm_delay_ms)
        self._arm_timer.timeout.connect(self._arm)
        self.cancel_button.clicked.connect(self.reject)
        self.confirm_button.clicked.connect(self.accept)

    @property
    def armed(self) -> bool:
        return self.confirm_button.isEnabled()

    @Slot()
    def _arm(self) -> None:
        self.confirm_button.setEnabled(True)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.confirm_button.setEnabled(False)
        self._arm_timer.start()
        self.cancel_button.setFocus(Qt.FocusReason.OtherFocusReason)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Whatever has focus, Enter never confirms: only a click (or Space on the button) does.
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            self.reject()
            return
        super().keyPressEvent(event)

    def done(self, result: int) -> None:
        self._arm_timer.stop()
        super().done(result)


class PanicProgressDialog(QDialog):
    """Non-modal 'working on it' while the engine closes everything."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panic_progress")
        self.setWindowTitle("Panic close")
        self.setModal(False)
        self.label = QLabel(PROGRESS_TEXT, self)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 0)  # indeterminate
        self.bar.setTextVisible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        self.setMinimumWidth(360)


def _money(value: Decimal, places: int = 2, *, sign: bool = True) -> str:
    return fmt_decimal(value, places, sign=sign)


class PanicReportDialog(QDialog):
    """Non-modal report of a finished panic close (or why it could not run)."""

    FIELDS = (
        ("flat", "Flat"),
        ("orders_cancelled", "Orders cancelled"),
        ("positions_closed", "Positions closed"),
        ("realised_pnl", "Realised PnL"),
        ("slippage", "Slippage"),
        ("fees", "Fees"),
        ("attempts", "Attempts"),
        ("duration", "Duration"),
        ("remaining", "Remaining positions"),
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panic_report")
        self.setWindowTitle("Panic close report")
        self.setModal(False)
        self.headline = QLabel("", self)
        self.headline.setObjectName("panic_headline")
        self.headline.setWordWrap(True)
        form = QFormLayout()
        self.values: dict[str, QLabel] = {}
        for key, title in self.FIELDS:
            label = QLabel("", self)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            form.addRow(title, label)
            self.values[key] = label
        self.log_view = QPlainTextEdit(self)
        self.log_view.setObjectName("panic_log")
        self.log_view.setReadOnly(True)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.close_button = QPushButton("Close", self)
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.headline)
        layout.addLayout(form)
        layout.addWidget(QLabel("Log", self))
        layout.addWidget(self.log_view, 1)
        layout.addLayout(buttons)
        self.resize(520, 480)

    def show_report(self, report: PanicCompleted) -> None:
        if report.flat:
            self._headline("FLAT — every order cancelled, every position closed", FLAT_COLOR)
        else:
            self._headline("NOT FLAT — positions remain, check them now", NOT_FLAT_COLOR)
        v = self.values
        v["flat"].setText("yes" if report.flat else "NO")
        v["orders_cancelled"].setText(str(report.orders_cancelled))
        v["positions_closed"].setText(str(report.positions_closed))
        v["realised_pnl"].setText(_money(report.realised_pnl))
        v["slippage"].setText(_money(report.slippage, 4))
        v["fees"].setText(_money(report.fees, 4, sign=False))  # a cost, always paid
        for key in ("realised_pnl", "slippage", "fees"):
            v[key].setToolTip(str(getattr(report, key)))  # exact value
        v["attempts"].setText(str(report.attempts))
        v["duration"].setText(f"{report.duration_ms:,.1f} ms")
        remaining = ", ".join(f"{s} {q}" for s, q in sorted(report.remaining.items()))
        v["remaining"].setText(remaining or "none")
        self.log_view.setPlainText("\n".join(report.log))

    def show_error(self, error: object) -> None:
        self._headline(f"Panic close did not complete: {error}", NOT_FLAT_COLOR)
        for label in self.values.values():
            label.setText("")
        self.values["flat"].setText("unknown — check positions and orders")
        self.log_view.setPlainText(str(error))

    def _headline(self, text: str, color: str) -> None:
        self.headline.setText(text)
        self.headline.setStyleSheet(f"color: {color}; font-weight: 700; font-size: 12pt;")


class PanicButton(QPushButton):
    """Big red button: confirm, send ``PanicClose``, show progress, then the report."""

    # The engine's answer (``PanicCompleted`` or the exception) once a panic close finished.
    completed = Signal(object)

    def __init__(
        self,
        client: CommandClient,
        parent: QWidget | None = None,
        *,
        shortcut_parent: QWidget | None = None,
        arm_delay_ms: int = ARM_DELAY_MS,
    ) -> None:
        super().__init__(PANIC_TEXT, parent)
        self._client = client
        self._arm_delay_ms = arm_delay_ms
        self.setObjectName("panicButton")
        self.setToolTip(
            f"Halt trading, cancel every order and close every position ({PANIC_SHORTCUT})"
        )
        # Never takes keyboard focus: Space/Enter aimed at another widget cannot press it.
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        # The shortcut lives on the window (not the button) so it works even if the toolbar is
        # hidden; ApplicationShortcut makes it work from floating docks and dialogs too.
        self.panic_shortcut = QShortcut(QKeySequence(PANIC_SHORTCUT), shortcut_parent or self)
        self.panic_shortcut.setContext(Qt.ShortcutContext.ApplicationShortcut)
        self.panic_shortcut.activated.connect(self.request)
        self.clicked.connect(self.request)
        self.confirm_dialog: PanicConfirmDialog | None = None
        self.progress_dialog: PanicProgressDialog | None = None
        self.report_dialog: PanicReportDialog | None = None
        self.last_result: object = None
        self._in_flight = False

    @property
    def in_flight(self) -> bool:
        return self._in_flight

    @Slot()
    def request(self) -> None:
        """Open the confirmation (or bring forward what is already showing)."""
        if self._in_flight and self.progress_dialog is not None:
            self.progress_dialog.show()
            self.progress_dialog.raise_()
            return
        if self.confirm_dialog is not None and self.confirm_dialog.isVisible():
            self.confirm_dialog.raise_()
            self.confirm_dialog.activateWindow()
            return
        if self.confirm_dialog is not None:
            self.confirm_dialog.deleteLater()
        dialog = PanicConfirmDialog(self.window(), arm_delay_ms=self._arm_delay_ms)
        dialog.accepted.connect(self._confirmed)
        self.confirm_dialog = dialog
        dialog.open()

    @Slot()
    def _confirmed(self) -> None:
        if self._in_flight:
            return
        self._in_flight = True
        log.warning("PANIC close requested")
        if self.progress_dialog is None:
            self.progress_dialog = PanicProgressDialog(self.window())
        self.progress_dialog.show()
        self.progress_dialog.raise_()
        self._client.send(PanicClose(), on_done=self._on_done)

    def _on_done(self, result: object) -> None:
        self._in_flight = False
        self.last_result = result
        if self.progress_dialog is not None:
            self.progress_dialog.close()
        if self.report_dialog is None:
            self.report_dialog = PanicReportDialog(self.window())
        if isinstance(result, PanicCompleted):
            self.report_dialog.show_report(result)
        else:
            log.error("panic close failed: %s", result)
            self.report_dialog.show_error(result)
        self.report_dialog.show()
        self.report_dialog.raise_()
        self.completed.emit(result)
