"""The command queue: a priority lane for control, batches for the order flow, a table."""

from __future__ import annotations

import concurrent.futures
import logging
import time
from typing import Any

from engine.live.state import (
    _FLOW_BATCH,
    _FLOW_MIN,
    _FLOW_SLICE_S,
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
        orders (fewer once the turn has run ``_FLOW_SLICE_S``, never fewer than ``_FLOW_MIN``),
        then yield to the loop (market data, timers, a panic) and come back.

        A turn is bounded in time as well as in count: while another thread pours orders in,
        the engine thread shares the GIL with it and 64 orders took ~100 ms on a loaded
        machine (``bench/bench_control.py``). The queue lock is taken once per batch, not once
        per command. A control command that arrives mid-batch still goes next: the rest of the
        batch goes back to the front of the flow lane.
        """
        control = self._control
        flow = self._flow
        with self._queue_lock:
            if control:
                batch = [control.popleft()]
                is_control = True
            else:
                batch = [flow.popleft() for _ in range(min(_FLOW_BATCH, len(flow)))]
                is_control = False
        deadline = time.perf_counter() + _FLOW_SLICE_S
        for i, item in enumerate(batch):
            if not is_control and (
                control or (i >= _FLOW_MIN and time.perf_counter() > deadline)
            ):  # a panic overtakes the rest of the batch; a long turn yields
                with self._queue_lock:
                    flow.extendleft(reversed(batch[i:]))
                break
            self._dispatch(*item)
        self._flush_denials()
        with self._queue_lock:
            more = bool(control or flow)
            if not more:
                self._drain_scheduled = False
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
