"""tradedeck engine: all trading state, on its own thread, with no Qt.

Public API::

    from engine import Engine, EngineConfig, SubmitOrder, CancelOrder, CancelAll
    eng = Engine(EngineConfig(data_dir=..., venue="sim", symbols=("BTC/USDT",), seed=1)).start()
    event = eng.submit(SubmitOrder(symbol="BTC/USDT", side="buy", type="market",
                                   qty=Decimal("0.01"), price=None)).result()
    eng.snapshot().positions["BTC/USDT"].qty
    eng.stop()
"""

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
