"""Trading state: how much the risk engine lets through, and which moves between states are legal.

Same three states as nautilus_trader's risk engine. ACTIVE lets everything the limits allow;
REDUCING and HALTED let only orders that strictly reduce a position through (nautilus denies all
orders when HALTED; a trader expects "close it" to work after a halt, so here HALTED differs from
REDUCING only in how it is lifted: a halt needs an explicit, confirmed reset).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"

    @property
    def allows_increase(self) -> bool:
        """May an order that adds risk pass (subject to the limits)?"""
        return self is TradingState.ACTIVE

    @classmethod
    def parse(cls, text: str) -> TradingState | None:
        try:
            return cls(text.strip().upper())
        except ValueError:
            return None


# Halting is always allowed (safety only ever increases on its own); leaving HALTED goes through
# ``RiskEngine.reset_halt(confirm=True)`` only, and lands on ACTIVE.
ALLOWED: Final[dict[TradingState, frozenset[TradingState]]] = {
    TradingState.ACTIVE: frozenset({TradingState.REDUCING, TradingState.HALTED}),
    TradingState.REDUCING: frozenset({TradingState.ACTIVE, TradingState.HALTED}),
    TradingState.HALTED: frozenset({TradingState.ACTIVE}),
}


def can_transition(current: TradingState, target: TradingState) -> bool:
    return target in ALLOWED[current]


@dataclass(frozen=True, slots=True)
class TradingStateChange:
    """A state change the runtime must persist and publish as ``TradingStateChanged``."""

    old_state: TradingState
    new_state: TradingState
    reason: str
