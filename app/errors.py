"""One place for errors from any thread: the log and a (non-blocking) error dialog."""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

log = logging.getLogger(__name__)


class ErrorReporter(QObject):
    """Routes ``sys.excepthook`` and ``threading.excepthook`` to the log and one dialog."""

    reported = Signal(str, str)  # title, details (queued from any thread)

    def __init__(self, parent_widget: QWidget | None = None) -> None:
        super().__init__()
        self._parent_widget = parent_widget
        self._dialog: QMessageBox | None = None
        self._seen: set[str] = set()
        self.reported.connect(self._show, Qt.ConnectionType.QueuedConnection)
        self._previous_hooks = (sys.excepthook, threading.excepthook)

    def install(self) -> None:
        sys.excepthook = self._sys_hook
        threading.excepthook = self._thread_hook

    def uninstall(self) -> None:
        sys.excepthook, threading.excepthook = self._previous_hooks

    def set_parent_widget(self, widget: QWidget | None) -> None:
        self._parent_widget = widget

    def report(self, title: str, message: str) -> None:
        log.error("%s: %s", title, message)
        self.reported.emit(title, message)

    def _sys_hook(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self._previous_hooks[0](exc_type, exc, tb)
            return
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("unhandled error:\n%s", text)
        self.reported.emit(f"{exc_type.__name__}: {exc}", text)

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        text = "".join(
            traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)
        )
        name = args.thread.name if args.thread else "?"
        log.error("unhandled error in thread %s:\n%s", name, text)
        self.reported.emit(f"Error in thread {name}: {args.exc_value}", text)

    @Slot(str, str)
    def _show(self, title: str, details: str) -> None:
        key = title + details[-200:]
        if key in self._seen and self._dialog is not None and self._dialog.isVisible():
            return
        self._seen.add(key)
        dialog = QMessageBox(self._parent_widget)
        dialog.setIcon(QMessageBox.Icon.Critical)
        dialog.setWindowTitle("tradedeck — error")
        dialog.setText(title)
        dialog.setDetailedText(details)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._dialog = dialog
        dialog.open()  # never exec(): the qasync loop must keep running
