"""Pre-trade risk: limits, trading state, checks and the engine that applies them."""

from engine.risk.checks import Denial
from engine.risk.engine import DayRoll, RiskContext, RiskEngine
from engine.risk.limits import (
    CEILINGS,
    DEFAULT_LIMITS,
    DEFAULTS,
    FLOORS,
    LimitError,
    RiskLimits,
    validate_changes,
)
from engine.risk.state import TradingState, TradingStateChange

__all__ = [
    "CEILINGS",
    "DEFAULTS",
    "DEFAULT_LIMITS",
    "FLOORS",
    "DayRoll",
    "Denial",
    "LimitError",
    "RiskContext",
    "RiskEngine",
    "RiskLimits",
    "TradingState",
    "TradingStateChange",
    "validate_changes",
]
