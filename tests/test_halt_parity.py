"""The daily-loss halt over many days: the backtester and the live engine (replay venue) must
halt at the same moments, lift the halt at the same next UTC days and fill the same orders.

Both drive the one kernel (``engine.core``), where the day roll and the lift are written once;
before, only the live engine lifted the halt and the backtester denied every order after its
first halt.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine import Engine, EngineConfig, OrderDenied, OrderFilled, TradingStateChanged
from engine.backtest.config import BACKTEST_LIMITS, BacktestConfig
from engine.backtest.data import Bars, synthetic_bars
from engine.backtest.runner import Backtest
from engine.messages import SetFeedPaused, StartStrategy, StopStrategy, UpdateRiskLimits
from engine.strategy import make_strategy

PARAMS = {"fast": "3", "slow": "7"}
RISK = {"max_daily_loss_pct": "1"}
DAY_NS = 86_400 * 1_000_000_000


@pytest.fixture(scope="module")
def bars() -> Bars:
    # 1,200 hourly bars: 50 UTC days of a volatile synthetic market
    return synthetic_bars(1200, seed=5, interval_ms=3_600_000, annual_vol=0.9)


def _live(bars: Bars, data_dir: Path) -> list[Any]:
    eng = Engine(
        EngineConfig(
            data_dir=data_dir,
            venue="replay",
            replay_bars=bars,
            paper_cash=Decimal(10000),
            maker_fee_bps=Decimal(10),
            taker_fee_bps=Decimal(10),
            latency_ms=Decimal(0),
            market_data_dir=None,
        )
    ).start()
    events: list[Any] = []
    eng.subscribe(events.append)
    try:
        limits = {**BACKTEST_LIMITS.to_strings(), **RISK}
        changed = eng.submit(UpdateRiskLimits(**limits)).result(30)
        assert type(changed).__name__ == "RiskLimitsChanged", changed
        started = eng.submit(
            StartStrategy(name="sma_cross", symbol=bars.symbol, params=dict(PARAMS))
        ).result(30)
        eng.submit(SetFeedPaused(paused=False)).result(30)
        assert eng.replay_finished.wait(300), "replay did not finish"
        eng.submit(StopStrategy(name_or_id=started.strategy_id)).result(30)
    finally:
        eng.stop()
    return events


def test_multi_day_halt_parity(bars: Bars, tmp_path: Path) -> None:
    rec = Backtest(bars, make_strategy("sma_cross", dict(PARAMS)), BacktestConfig(risk=RISK)).run()
    halts = [s for s in rec.state_changes if s.state == "HALTED"]
    lifts = [s for s in rec.state_changes if s.state == "ACTIVE"]
    assert len(halts) >= 3, "the case must halt on several days"
    assert len(lifts) >= 2
    # every lift is the first check of a later UTC day than its halt, and says so
    for halt, lift in zip(halts, lifts, strict=False):
        assert lift.ts_ns // DAY_NS > halt.ts_ns // DAY_NS
        assert lift.reason.startswith("new trading day ")
        assert halt.reason.startswith("daily loss ")
    # and the strategy trades again after a lift: fills after the first lift
    assert any(f.ts_event > lifts[0].ts_ns for f in rec.fills)

    events = _live(bars, tmp_path)
    states = [
        (e.ts_ns, e.state, e.reason)
        for e in events
        if isinstance(e, TradingStateChanged) and e.reason != ""
    ]
    assert states == [(s.ts_ns, s.state, s.reason) for s in rec.state_changes]
    fills = [e.fill for e in events if isinstance(e, OrderFilled)]
    assert fills == rec.fills
    denials = [(e.ts_ns, e.reason) for e in events if isinstance(e, OrderDenied)]
    assert denials == [(d.ts_ns, d.reason) for d in rec.denials]
