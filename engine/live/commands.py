"""The command queue: a priority lane for control, batches for the order flow, a table."""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any

from engine.live.state import (
    _FLOW_BATCH,
    EngineState,
)
from engine.messages import (
    SetFeedPaused,
)

log = logging.getLogger(__name__)


class CommandsMixin(EngineState):
    """The command queue: a priority lane for control, batches for the order flow, a table."""

    def _drain(self) -> None:
        """Run queued commands: every control command first, then at most ``_FLOW_BATCH``
        orders, then yield to the loop (market data, timers, a panic) and come back."""
        processed = 0
        more = False
        while True:
            with self._queue_lock:
                if self._control:
                    item, control = self._control.popleft(), True
                elif self._flow and processed < _FLOW_BATCH:
                    item, control = self._flow.popleft(), False
                    processed += 1
                else:
                    more = bool(self._flow)
                    if not more:
                        self._drain_scheduled = False
                    break
            self._dispatch(*item)
            if control:
                more = True  # let what the control command started (a panic) run first
                break
        self._flush_denials()
        if more and self._loop is not None:
            self._loop.call_soon(self._drain)

    def _dispatch(self, command: Any, fut: concurrent.futures.Future[Any]) -> None:
        if fut.done():
            return
        handler = self._handlers.get(type(command))
        try:
            if handler is None:
                raise TypeError(f"unknown command {type(command).__name__}")
            handler(command, fut)
        except Exception as exc:
            log.exception("command %r failed", command)
            if not fut.done():
                fut.set_exception(exc)

    def _set_feed_paused(self, cmd: SetFeedPaused, fut: concurrent.futures.Future[Any]) -> None:
        self._feed_paused = cmd.paused
        if self._replay is None:  # recorded bars pause inside their own loop
            if cmd.paused:
                self._stop_feed()
            else:
                self._start_feed()
        self._publish_snapshot(force=True)  # the feed's state shows at once
        log.warning("market data feed %s", "paused" if cmd.paused else "resumed")
        self._finish(fut, None, durable=False)
