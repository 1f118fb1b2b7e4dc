"""tradedeck engine: all trading state, on its own thread, with no Qt.

Public API::

    from engine import Engine, EngineConfig, SubmitOrder, CancelOrder, CancelAll
    eng = Engine(EngineConfig(data_dir=..., venue="sim", symbols=("BTC/USDT",), seed=1)).start()
    event = eng.submit(SubmitOrder(symbol="BTC/USDT", side="buy", type="market",
                                   qty=Decimal("0.01"), price=None)).result()
    eng.snapshot().positions["BTC/USDT"].qty
    eng.stop()

Names are imported on first use (PEP 562), so ``import engine.backtest...`` (the backtest CLI)
does not pay for the live engine, persistence (sqlite-utils, which imports pandas) and asyncio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.config import ConfigError, EngineConfig
    from engine.live import Engine, EngineNotRunning, NotPersisted
    from engine.messages import (
        AllCancelled,
        CancelAll,
        CancelOrder,
        CancelRejected,
        EngineFailed,
        HaltResetRefused,
        OrderAccepted,
        OrderCancelled,
        OrderDenied,
        OrderFilled,
        OrderRejected,
        PanicClose,
        PanicCompleted,
        ResetHalt,
        RiskLimitsChanged,
        RiskLimitsRejected,
        SetFeedPaused,
        SubmitOrder,
        TradingStateChanged,
        UpdateRiskLimits,
    )
    from engine.model import Fill, Instrument, OrderSide, OrderStatus, OrderType, OrderView
    from engine.persistence import DataDirLocked, StorageError
    from engine.snapshot import EngineSnapshot

_EXPORTS: dict[str, str] = {
    "AllCancelled": "engine.messages",
    "CancelAll": "engine.messages",
    "CancelOrder": "engine.messages",
    "CancelRejected": "engine.messages",
    "ConfigError": "engine.config",
    "DataDirLocked": "engine.persistence",
    "Engine": "engine.live",
    "EngineConfig": "engine.config",
    "EngineFailed": "engine.messages",
    "EngineNotRunning": "engine.live",
    "NotPersisted": "engine.live",
    "EngineSnapshot": "engine.snapshot",
    "Fill": "engine.model",
    "HaltResetRefused": "engine.messages",
    "Instrument": "engine.model",
    "OrderAccepted": "engine.messages",
    "OrderCancelled": "engine.messages",
    "OrderDenied": "engine.messages",
    "OrderFilled": "engine.messages",
    "OrderRejected": "engine.messages",
    "OrderSide": "engine.model",
    "OrderStatus": "engine.model",
    "OrderType": "engine.model",
    "OrderView": "engine.model",
    "PanicClose": "engine.messages",
    "PanicCompleted": "engine.messages",
    "ResetHalt": "engine.messages",
    "RiskLimitsChanged": "engine.messages",
    "RiskLimitsRejected": "engine.messages",
    "SetFeedPaused": "engine.messages",
    "StorageError": "engine.persistence",
    "SubmitOrder": "engine.messages",
    "TradingStateChanged": "engine.messages",
    "UpdateRiskLimits": "engine.messages",
}

__all__ = [
    "AllCancelled",
    "CancelAll",
    "CancelOrder",
    "CancelRejected",
    "ConfigError",
    "DataDirLocked",
    "Engine",
    "EngineConfig",
    "EngineFailed",
    "EngineNotRunning",
    "EngineSnapshot",
    "Fill",
    "HaltResetRefused",
    "Instrument",
    "NotPersisted",
    "OrderAccepted",
    "OrderCancelled",
    "OrderDenied",
    "OrderFilled",
    "OrderRejected",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "OrderView",
    "PanicClose",
    "PanicCompleted",
    "ResetHalt",
    "RiskLimitsChanged",
    "RiskLimitsRejected",
    "SetFeedPaused",
    "StorageError",
    "SubmitOrder",
    "TradingStateChanged",
    "UpdateRiskLimits",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
