"""Pre-trade risk: limits, trading state, checks and the engine that applies them."""

from engine.risk.checks import Denial
from engine.risk.engine import DayRoll, RiskContext, RiskEngine
from engine.risk.limits import (
    CEILINGS,
    DEFAULT_LIMITS,
    DEFAULTS,
    FLOORS,
    LIMIT_SPECS,
    SPECS,
    LimitError,
    LimitSpec,
    RiskLimits,
    validate_changes,
)
from engine.risk.state import TradingState, TradingStateChange

__all__ = [
    "CEILINGS",
    "DEFAULTS",
    "DEFAULT_LIMITS",
    "FLOORS",
    "LIMIT_SPECS",
    "SPECS",
    "DayRoll",
    "Denial",
    "LimitError",
    "LimitSpec",
    "RiskContext",
    "RiskEngine",
    "RiskLimits",
    "TradingState",
    "TradingStateChange",
    "validate_changes",
]
