"""The journal: write first, then publish; failed writes wait in order for the probe."""

from __future__ import annotations

import concurrent.futures
import logging
import time
from decimal import Decimal
from typing import Any

from engine.core import KernelSink
from engine.live.errors import NotPersisted
from engine.live.state import (
    _DENIAL_BATCH,
    EngineState,
    _Publish,
    _Write,
)
from engine.messages import (
    EngineFailed,
    OrderAccepted,
    OrderCancelled,
    OrderDenied,
    OrderFilled,
    OrderRejected,
    TradingStateChanged,
)
from engine.model.fill import Fill
from engine.model.market import MarketEvent, TradeTick
from engine.model.orders import Order
from engine.persistence import StorageError
from engine.portfolio import Position
from engine.risk import TradingStateChange

log = logging.getLogger(__name__)


class JournalMixin(EngineState):
    """The journal: write first, then publish; failed writes wait in order for the probe."""

    def _persist(self, what: str, write: _Write) -> None:
        """Write to SQLite; a failure halts trading and is reported, never swallowed."""
        self._commit(what, write, None)

    def _commit(self, what: str, write: _Write, publish: _Publish | None) -> bool:
        """Write, then publish. While the database fails, the write and its publication wait
        in the backlog, in order (``False``); nothing of it is published until it is written."""
        store = self._store
        if store is None:
            if publish is not None:
                publish()
            return True
        if not self._backlog:
            try:
                write(store)
            except StorageError as exc:
                self._backlog.append((what, write, publish))
                self._storage_failed(what, exc)
                return False
            if publish is not None:
                publish()
            return True
        self._backlog.append((what, write, publish))
        return False

    def _flush_backlog(self) -> None:
        """The probe: retry the backlog in order; publish what gets written."""
        store = self._store
        self._last_probe = time.monotonic()
        if store is None:
            return
        while self._backlog:
            what, write, publish = self._backlog[0]
            try:
                write(store)
            except StorageError as exc:
                self._storage_error = f"could not write {what} to the database: {exc}"
                return
            self._backlog.popleft()
            if publish is not None:
                publish()
        if not self._storage_ok:
            log.warning("database writable again: backlog written")
            self._storage_ok = True
            self._storage_error = ""
            self._publish_snapshot(force=True)

    def _storage_failed(self, what: str, exc: Exception) -> None:
        message = f"could not write {what} to the database: {exc}"
        log.error(message)
        first = self._storage_ok
        self._storage_ok = False
        self._storage_error = message
        self._last_probe = time.monotonic()
        if first:
            now = self._now()
            kernel = self._kernel_obj
            if kernel is not None:
                # Nothing may trade that cannot be recorded: no new risk, no resting orders.
                kernel.halt("storage failure: " + str(exc), now)
                kernel.cancel_all(None, "storage failure: the order cannot be recorded", now)
            # The snapshot says so (storage_ok False, HALTED) before any caller hears back.
            self._publish_snapshot(force=True)
            for fut in list(self._futures.values()):
                self._finish(fut, None)
            self._futures.clear()
        self._emit(EngineFailed(where="storage", message=message, ts_ns=self._now()))

    def _flush_denials(self) -> None:
        """Journal the risk denials of this loop turn in one transaction, then publish them."""
        batch = self._denials
        if not batch:
            return
        self._denials = []
        futures = self._denial_futures
        self._denial_futures = {}
        rows = [(view, "denied", reason, ts) for view, reason, ts, _ in batch]

        def publish() -> None:
            for i, (view, _, _, event) in enumerate(batch):
                self._recent_orders.append(view)
                self._emit(event)
                fut = futures.get(i)
                if fut is not None:
                    self._finish(fut, event)

        what = f"{len(rows)} denied orders"
        if not self._commit(what, lambda s: s.record_order_events(rows), publish):
            for i, (_, _, _, event) in enumerate(batch):
                fut = futures.get(i)
                if fut is not None:
                    self._finish(fut, event)

    def _finish(
        self, fut: concurrent.futures.Future[Any], event: Any, *, durable: bool = True
    ) -> None:
        """Resolve a caller's future; while writes are failing, a durable outcome becomes
        ``NotPersisted`` (its event is not published until the probe writes it)."""
        if fut.done():
            return
        if durable and self._backlog:
            fut.set_exception(
                NotPersisted(event, f"not persisted: {self._storage_error}; trading is halted")
            )
            return
        fut.set_result(event)


class Journal(KernelSink):
    """The live shell's sink: each kernel change is written to SQLite, then published (the
    snapshot, subscribers and strategies, the caller's future), in that order."""

    __slots__ = ("_e",)

    def __init__(self, engine: EngineState) -> None:
        self._e = engine

    def order_denied(self, order: Order | None, event: OrderDenied) -> None:
        e = self._e
        if order is None:  # malformed: never became an order, nothing to journal
            log.info("order refused: %s", event.reason)
            e._emit(event)
            return
        log.info("order %s denied: %s", order.order_id, event.reason)
        fut, e._placing = e._placing, None
        if fut is not None:
            e._denial_futures[len(e._denials)] = fut
        e._denials.append((order.view(), event.reason, event.ts_ns, event))
        if len(e._denials) >= _DENIAL_BATCH:
            e._flush_denials()

    def order_accepted(self, order: Order, event: OrderAccepted) -> None:
        e = self._e
        fut, e._placing = e._placing, None
        if fut is not None:
            e._futures[order.order_id] = fut
        view, now = event.order, event.ts_ns

        def publish() -> None:
            e._publish_snapshot(force=True)
            e._emit(event)

        e._commit("order", lambda s: s.record_order_event(view, "accepted", "", now), publish)

    def order_rested(self, order: Order) -> None:
        e = self._e
        pending = e._futures.pop(order.order_id, None)
        if pending is not None:
            e._finish(pending, OrderAccepted(order=order.view(), ts_ns=e._now()))

    def order_filled(self, order: Order, fill: Fill, event: OrderFilled) -> None:
        e = self._e
        position = _copy_position(e._portfolio.position(fill.symbol))
        cash = e._portfolio.cash
        view = event.order
        done = not order.status.is_open
        pending = e._futures.pop(order.order_id, None) if done else None

        def publish() -> None:
            e._fills.append(fill)
            e._fills_cache = tuple(e._fills)
            if done:
                e._recent_orders.append(view)
            e._publish_snapshot(force=True)
            e._emit(event)
            if pending is not None:
                e._finish(pending, event)

        committed = e._commit(
            "fill",
            lambda s: s.record_fill(fill, view, position, cash, fill.ts_event),
            publish,
        )
        if not committed and pending is not None:
            e._finish(pending, event)
        if committed and e._from_market:
            # Book update received -> fill matched, persisted and published.
            e.fill_latency_ns.append(time.perf_counter_ns() - e._event_t0)

    def order_closed(self, order: Order, event: OrderCancelled | OrderRejected) -> None:
        e = self._e
        kind = "cancelled" if isinstance(event, OrderCancelled) else "rejected"
        view, reason, now = event.order, event.reason, event.ts_ns
        log.info("order %s %s: %s", order.order_id, kind, reason)
        pending = e._futures.pop(order.order_id, None)

        def publish() -> None:
            e._recent_orders.append(view)
            e._publish_snapshot(force=True)
            e._emit(event)
            if pending is not None:
                e._finish(pending, event)

        if (
            not e._commit("order", lambda s: s.record_order_event(view, kind, reason, now), publish)
            and pending is not None
        ):
            e._finish(pending, event)

    def order_amended(self, order: Order, reason: str) -> None:
        view, now = order.view(), order.ts_updated
        self._e._persist("order", lambda s: s.record_order_event(view, "amended", reason, now))

    def market_events(self, events: list[MarketEvent]) -> None:
        e = self._e
        for mev in events:
            if isinstance(mev, TradeTick):
                e._record_trade(mev)
            else:
                e._counters.book_updates += 1

    def state_changed(self, change: TradingStateChange, event: TradingStateChanged) -> None:
        e = self._e
        now = event.ts_ns
        e._save_risk_state(now)
        e._audit(
            now,
            "engine",
            "state",
            "trading_state",
            change.old_state,
            change.new_state,
            change.reason,
        )
        log.warning(
            "trading state %s -> %s: %s (%d resting orders cancelled)",
            change.old_state,
            change.new_state,
            change.reason,
            event.orders_cancelled,
        )

        def publish() -> None:
            e._publish_snapshot(force=True)
            e._emit(event)

        e._commit("trading state", lambda s: None, publish)

    def risk_day(self, day: str, start_of_day_equity: Decimal | None) -> None:
        e = self._e
        log.info("trading day %s, start-of-day equity %s", day, start_of_day_equity)
        e._save_risk_state(e._now())


def _copy_position(p: Position) -> Position:
    return Position(p.symbol, p.qty, p.cost_basis, p.realised_pnl, p.fees)
