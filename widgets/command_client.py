"""The only way widgets talk to the engine: send a command, get its answer on the GUI thread.

The engine resolves futures on its own thread; touching widgets from there would crash Qt. The
client forwards each result through a queued signal, so callbacks always run in the thread that
owns the client (the GUI thread) and no asyncio integration is needed to test it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

log = logging.getLogger(__name__)

Submit = Callable[[Any], "Future[Any]"]
DoneCallback = Callable[[object], None]


class CommandClient(QObject):
    """Wraps a thread-safe ``submit(command) -> Future``; ``on_done`` gets the event or error."""

    # (callback or None, command, result-or-exception); queued so it always lands in our thread.
    _resolved = Signal(object, object, object)
    # Every settled command, for whoever wants to log them (e.g. the main window).
    settled = Signal(object, object)

    def __init__(self, submit: Submit, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._submit = submit
        self._resolved.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._pending = 0

    @property
    def pending(self) -> int:
        """Commands sent whose answer has not been delivered yet."""
        return self._pending

    def send(self, command: object, on_done: DoneCallback | None = None) -> None:
        self._pending += 1
        try:
            future = self._submit(command)
        except Exception as exc:  # a submit that raises is answered like a failed future
            log.exception("submit failed for %r", command)
            self._resolved.emit(on_done, command, exc)
            return

        def _forward(fut: Future[Any]) -> None:
            # Runs on whatever thread completes the future; only emits (thread-safe).
            if fut.cancelled():
                result: object = RuntimeError("command cancelled")
            else:
                exc = fut.exception()
                result = exc if exc is not None else fut.result()
            try:
                self._resolved.emit(on_done, command, result)
            except RuntimeError:  # the client (its window) was destroyed meanwhile
                log.debug("answer to %r arrived after the client was deleted", command)

        future.add_done_callback(_forward)

    @Slot(object, object, object)
    def _deliver(self, on_done: DoneCallback | None, command: object, result: object) -> None:
        self._pending -= 1
        self.settled.emit(command, result)
        if on_done is None:
            return
        try:
            on_done(result)
        except Exception:
            log.exception("on_done callback failed for %r", command)
