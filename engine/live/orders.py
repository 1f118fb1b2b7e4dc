"""Order commands: submit, cancel, cancel all (through the kernel)."""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any

from engine.live.state import (
    EngineState,
)
from engine.messages import (
    AllCancelled,
    CancelAll,
    CancelOrder,
    CancelRejected,
    OrderAccepted,
    OrderDenied,
    SubmitOrder,
)

log = logging.getLogger(__name__)


class OrdersMixin(EngineState):
    """Order commands: submit, cancel, cancel all (through the kernel)."""

    def _submit_order(self, cmd: SubmitOrder, fut: concurrent.futures.Future[Any]) -> None:
        outer, self._placing = self._placing, fut
        try:
            result = self._kernel.submit(cmd, self._now())
        finally:
            self._placing = outer
        if isinstance(result, OrderDenied) and result.order_id:
            return  # a risk denial: resolved when its batch is written
        if isinstance(result, OrderAccepted) and result.order.order_id in self._futures:
            self._schedule_advance(result.order.order_id)
            return  # working: resolved when it rests, fills or closes
        self._finish(fut, result, durable=not isinstance(result, OrderDenied))

    def _schedule_advance(self, order_id: str) -> None:
        if self.config.latency_ms > 0 and order_id in self._kernel.orders:
            assert self._loop is not None
            self._loop.call_later(
                float(self.config.latency_ms) / 1000.0 + 0.0005, self._advance_broker
            )

    def _advance_broker(self) -> None:
        kernel = self._kernel_obj
        if kernel is None:
            return
        kernel.advance(self._now())
        self._flush_denials()

    def _cancel_order(self, cmd: CancelOrder, fut: concurrent.futures.Future[Any]) -> None:
        now = self._now()
        event = self._kernel.cancel(cmd.order_id, "cancelled by user", now)
        if event is None:
            refused = CancelRejected(
                order_id=cmd.order_id, reason=f"no open order {cmd.order_id!r}", ts_ns=now
            )
            self._emit(refused)
            self._finish(fut, refused, durable=False)
            return
        self._finish(fut, event)

    def _cancel_all(self, cmd: CancelAll, fut: concurrent.futures.Future[Any]) -> None:
        now = self._now()
        done = tuple(self._kernel.cancel_all(cmd.symbol, "cancel all", now))
        event = AllCancelled(order_ids=done, symbol=cmd.symbol, ts_ns=now)
        self._emit(event)
        self._finish(fut, event)
