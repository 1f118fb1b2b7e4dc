"""Log lines in the window: a ``logging.Handler`` that is safe to call from any thread.

``emit`` only formats the record and emits a signal; the queued connection delivers it on the GUI
thread, where the panel appends it. The text is capped (``max_lines``) so a chatty hour cannot eat
memory, and a level filter re-renders from the kept records.
"""

from __future__ import annotations

import logging
from collections import deque

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LEVELS: tuple[tuple[str, int], ...] = (
    ("Debug", logging.DEBUG),
    ("Info", logging.INFO),
    ("Warning", logging.WARNING),
    ("Error", logging.ERROR),
)


class _Emitter(QObject):
    record = Signal(int, str)  # levelno, formatted line


class QtLogHandler(logging.Handler):
    """Forwards formatted records through a Qt signal; attach it to any logger."""

    def __init__(self, level: int = logging.DEBUG) -> None:
        super().__init__(level)
        self.emitter = _Emitter()
        self.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            self.emitter.record.emit(record.levelno, line)
        except RuntimeError:
            pass  # the Qt side is already gone (shutdown); nothing to show it on
        except Exception:
            self.handleError(record)


class LogPanel(QWidget):
    """Read-only log view with a level filter; owns a ``handler`` to attach to a logger."""

    def __init__(
        self, max_lines: int = 2000, level: int = logging.INFO, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.max_lines = max_lines
        self._records: deque[tuple[int, str]] = deque(maxlen=max_lines)
        self.handler = QtLogHandler()
        # Queued even from the GUI thread: a record logged while Qt is painting is shown later,
        # never re-entrantly.
        self.handler.emitter.record.connect(self._on_record, Qt.ConnectionType.QueuedConnection)
        self._attached: list[logging.Logger] = []

        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(max_lines)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setObjectName("log_text")
        self.level_combo = QComboBox(self)
        for name, value in LEVELS:
            self.level_combo.addItem(name, value)
        self.level_combo.setCurrentIndex(max(0, self.level_combo.findData(level)))
        self.level_combo.currentIndexChanged.connect(self._rerender)
        clear = QPushButton("Clear", self)
        clear.clicked.connect(self.clear)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Level", self))
        bar.addWidget(self.level_combo)
        bar.addStretch(1)
        bar.addWidget(clear)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.text)

    @property
    def level(self) -> int:
        return int(self.level_combo.currentData())

    def set_level(self, level: int) -> None:
        self.level_combo.setCurrentIndex(max(0, self.level_combo.findData(level)))

    def attach(self, logger: logging.Logger | None = None) -> None:
        """Start showing records of ``logger`` (the root logger by default)."""
        target = logger if logger is not None else logging.getLogger()
        if target not in self._attached:
            target.addHandler(self.handler)
            self._attached.append(target)

    def detach(self) -> None:
        for logger in self._attached:
            logger.removeHandler(self.handler)
        self._attached.clear()

    def lines(self) -> list[str]:
        return self.text.toPlainText().splitlines()

    @Slot()
    def clear(self) -> None:
        self._records.clear()
        self.text.clear()

    @Slot(int, str)
    def _on_record(self, levelno: int, line: str) -> None:
        self._records.append((levelno, line))
        if levelno >= self.level:
            self._append(line)

    def _append(self, line: str) -> None:
        bar = self.text.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 2
        self.text.appendPlainText(line)
        if at_bottom:  # follow the tail unless the user scrolled up to read
            self.text.moveCursor(QTextCursor.MoveOperation.End)
            bar.setValue(bar.maximum())

    @Slot()
    def _rerender(self, *_args: object) -> None:
        level = self.level
        self.text.setPlainText("\n".join(line for lv, line in self._records if lv >= level))
        self.text.moveCursor(QTextCursor.MoveOperation.End)
