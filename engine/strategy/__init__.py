"""Strategies: one interface for backtest, paper and live (see ``engine.strategy.base``)."""

from engine.strategy.base import (
    Param,
    ParamError,
    Strategy,
    StrategyContext,
    affordable_qty,
    floor_to_lot,
    parse_kv,
    parse_params,
)
from engine.strategy.builtin import STRATEGIES, Breakout, Grid, MeanReversion, SmaCross

__all__ = [
    "STRATEGIES",
    "Breakout",
    "Grid",
    "MeanReversion",
    "Param",
    "ParamError",
    "SmaCross",
    "Strategy",
    "StrategyContext",
    "affordable_qty",
    "floor_to_lot",
    "parse_kv",
    "parse_params",
]


def make_strategy(name: str, params: dict[str, object] | None = None) -> Strategy:
    """An instance of the registered strategy ``name`` with ``params`` (text or values)."""
    cls = STRATEGIES.get(name)
    if cls is None:
        raise ParamError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}")
    return cls(**(params or {}))
