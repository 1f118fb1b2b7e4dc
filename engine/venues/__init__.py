"""Market venues; today the embedded simulated market."""

from engine.venues.calibration import SimSymbolParams, calibrate, default_params, derive_params
from engine.venues.sim import SimMarket

__all__ = ["SimMarket", "SimSymbolParams", "calibrate", "default_params", "derive_params"]
