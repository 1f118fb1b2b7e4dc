"""The embedded backtester (no Qt): bar data with defect reports, a fast event-driven runner
through the live RiskEngine / PaperBroker / Portfolio, metrics, a JSON document and an HTML
report, and a worker process for the GUI.

Entry points: ``run_job(BacktestJob(...))`` (what the CLI and the GUI tab use),
``Backtest(bars, strategy, config).run()`` for code, ``start_backtest(job)`` for a worker.

Names are imported on first use (PEP 562): ``engine.strategy`` needs ``engine.backtest.data``
and the runner needs ``engine.strategy``, so an eager package import would be circular.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BACKTEST_LIMITS": "engine.backtest.config",
    "BacktestConfig": "engine.backtest.config",
    "BacktestConfigError": "engine.backtest.config",
    "Bars": "engine.backtest.data",
    "DataError": "engine.backtest.data",
    "DataReport": "engine.backtest.data",
    "DatasetCache": "engine.backtest.data",
    "load_bars": "engine.backtest.data",
    "BacktestJob": "engine.backtest.job",
    "run_job": "engine.backtest.job",
    "Backtest": "engine.backtest.runner",
    "Cancelled": "engine.backtest.runner",
    "RunRecord": "engine.backtest.runner",
    "start_backtest": "engine.backtest.worker",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine.backtest' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
