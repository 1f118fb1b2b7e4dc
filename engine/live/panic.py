"""Panic close: halt and cancel at once (ahead of queued orders), then flatten with retries."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from decimal import Decimal
from typing import Any

from engine.live.state import (
    _PANIC_ATTEMPT_TIMEOUT_S,
    _PANIC_MAX_ATTEMPTS,
    EngineState,
)
from engine.messages import (
    OrderDenied,
    PanicClose,
    PanicCompleted,
)
from engine.model.orders import Order, OrderSide, OrderType
from engine.snapshot import (
    frozen_map,
)

log = logging.getLogger(__name__)


class PanicMixin(EngineState):
    """Panic close: halt and cancel at once (ahead of queued orders), then flatten with retries."""

    def _start_panic(self, cmd: PanicClose, fut: concurrent.futures.Future[Any]) -> None:
        """Halt and cancel now, ahead of any queued order; flatten in a task."""
        t0 = time.perf_counter()
        kernel = self._kernel
        now = self._now()
        before = len(kernel.orders)
        kernel.cancel_all(None, "panic close", now)
        kernel.halt(f"panic close by {cmd.actor}", now)
        cancelled = before - len(kernel.orders)
        assert self._loop is not None
        self._panic_task = self._loop.create_task(self._panic(cmd, fut, cancelled, t0))

    async def _panic(
        self, cmd: PanicClose, fut: concurrent.futures.Future[Any], cancelled: int, t0: float
    ) -> None:
        kernel = self._kernel
        portfolio = self._portfolio
        lines: list[str] = [f"cancelled {cancelled} open orders"]
        realised_before = portfolio.realised_pnl()
        fees_before = portfolio.fees()
        fill_seq_before = kernel.fill_seq
        to_close = {s for s, p in portfolio.positions.items() if p.qty}
        attempts = 0
        while attempts < _PANIC_MAX_ATTEMPTS:
            open_positions = {s: p.qty for s, p in portfolio.positions.items() if p.qty}
            if not open_positions:
                break
            attempts += 1
            sent: list[str] = []
            now = self._now()
            for sym, qty in open_positions.items():
                order = Order(
                    order_id=kernel.next_order_id(),
                    client_id=None,
                    symbol=sym,
                    side=OrderSide.SELL if qty > 0 else OrderSide.BUY,
                    type=OrderType.MARKET,
                    qty=abs(qty),
                    price=None,
                    reduce_only=True,
                    source="panic",
                    ts_created=now,
                    ts_updated=now,
                )
                result = kernel.place(order, now, skip_throttle=True)
                if isinstance(result, OrderDenied):
                    lines.append(f"attempt {attempts}: {sym} close order denied: {order.reason}")
                else:
                    sent.append(order.order_id)
                    lines.append(
                        f"attempt {attempts}: {order.side} {abs(qty)} {sym} ({order.order_id})"
                    )
            self._flush_denials()
            deadline = time.perf_counter() + _PANIC_ATTEMPT_TIMEOUT_S
            while any(oid in kernel.orders for oid in sent) and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
                self._advance_broker()
            for oid in sent:
                if oid in kernel.orders:
                    kernel.cancel(oid, "panic attempt timed out", self._now())
            for sym in open_positions:
                left = portfolio.positions[sym].qty
                if left:
                    lines.append(f"attempt {attempts}: {sym} still {left} after fills; retrying")
                    log.warning(
                        "panic close: %s still %s open after attempt %d", sym, left, attempts
                    )
            if any(portfolio.positions[s].qty for s in open_positions):
                await asyncio.sleep(0.01 * attempts)
        remaining = {s: p.qty for s, p in portfolio.positions.items() if p.qty}
        new_fills = [f for f in self._fills if _fill_no(f.fill_id) > fill_seq_before]
        slippage = sum((f.slippage for f in new_fills), Decimal(0))
        duration_ms = (time.perf_counter() - t0) * 1000.0
        report = PanicCompleted(
            flat=not remaining,
            orders_cancelled=cancelled,
            positions_closed=len(to_close) - len(remaining),
            realised_pnl=portfolio.realised_pnl() - realised_before,
            slippage=slippage,
            fees=portfolio.fees() - fees_before,
            attempts=attempts,
            duration_ms=duration_ms,
            remaining=frozen_map(remaining),
            log=tuple(lines),
            ts_ns=self._now(),
        )
        for line in lines:
            log.warning("panic close: %s", line)
        log.warning(
            "panic close %s in %.1f ms: %d orders cancelled, %d positions closed",
            "flat" if report.flat else "NOT FLAT",
            duration_ms,
            cancelled,
            report.positions_closed,
        )
        self._audit(
            report.ts_ns,
            cmd.actor,
            "panic_close",
            None,
            None,
            None,
            f"flat={report.flat} cancelled={cancelled} closed={report.positions_closed} "
            f"in {duration_ms:.1f} ms",
        )
        self._publish_snapshot(force=True)
        self._emit(report)
        self._finish(fut, report)


def _fill_no(fill_id: str) -> int:
    try:
        return int(fill_id.rsplit("-", 1)[-1])
    except ValueError:
        return 0
