"""What the store hands back: immutable records of restored state."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engine.model.fill import Fill
from engine.model.orders import OrderView
from engine.portfolio import Position


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoredState:
    """Everything the engine needs to continue where the last run stopped.

    ``cash is None`` means a fresh database (no account saved yet; ``initial_cash`` is then 0).
    ``last_*_seq`` are the largest numeric suffixes of the stored ids, so
    ``O-{last_order_seq + 1:06d}`` is never a duplicate. Lists are oldest first.
    """

    cash: Decimal | None
    initial_cash: Decimal
    currency: str
    positions: dict[str, Position]
    open_orders: list[OrderView]
    fill_count: int
    last_order_seq: int
    last_fill_seq: int
    recent_fills: list[Fill]
    recent_orders: list[OrderView]

    @property
    def is_fresh(self) -> bool:
        return self.cash is None


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskStateRecord:
    """The risk engine's trading state as last saved (ACTIVE / REDUCE_ONLY / HALTED, ...)."""

    state: str
    reason: str
    trading_day: str
    start_of_day_equity: Decimal
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSnapshotRecord:
    """One point of the equity history."""

    ts_ns: int
    cash: Decimal
    equity: Decimal
    realised: Decimal
    unrealised: Decimal
    fees: Decimal
