"""One strategy, three hosts: the live ``Engine`` (``StrategyHost``) must trade like the backtester.

The engine runs on a ``venue="replay"`` of recorded bars under a simulated clock, so the real
engine thread - ``_submit_order`` -> ``RiskEngine`` -> ``PaperBroker`` -> SQLite - produces the
fills, and they must equal the backtester's on the same bars field by field. A second test runs
a strategy on the wall-clock sim venue, the way a user would start one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kit import WAIT_S

from engine import Engine, EngineConfig, OrderDenied, OrderFilled, UpdateRiskLimits
from engine.backtest.config import BACKTEST_LIMITS, BacktestConfig
from engine.backtest.data import Bars, synthetic_bars
from engine.backtest.runner import Backtest, RunRecord
from engine.messages import (
    SetFeedPaused,
    StartStrategy,
    StopStrategy,
    StrategyRejected,
    StrategyStarted,
    StrategyStopped,
)
from engine.model.fill import Fill
from engine.persistence import Store
from engine.strategy import STRATEGIES, SmaCross, StrategyContext, make_strategy

PARAMS = {"fast": "3", "slow": "7"}


@pytest.fixture(scope="module")
def bars() -> Bars:
    return synthetic_bars(400, seed=5, interval_ms=60_000, annual_vol=0.9)


class _Probe(SmaCross):
    """sma_cross that also counts what the host tells it."""

    name = "sma_probe"
    fills_seen: list[Fill] = []  # noqa: RUF012 - class-level on purpose: the engine builds it

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        type(self).fills_seen.append(fill)


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> type[_Probe]:
    monkeypatch.setitem(STRATEGIES, _Probe.name, _Probe)
    monkeypatch.setattr(_Probe, "fills_seen", [])
    return _Probe


def _backtest(bars: Bars, name: str, risk: dict[str, str] | None = None) -> RunRecord:
    cfg = BacktestConfig(risk=risk or {})
    strategy = make_strategy(name, dict(PARAMS))
    return Backtest(bars, strategy, cfg).run()


def _engine_replay(
    bars: Bars, data_dir: Path, name: str, limits: dict[str, str]
) -> tuple[list[Any], Engine]:
    cfg = EngineConfig(
        data_dir=data_dir,
        venue="replay",
        replay_bars=bars,
        paper_cash=Decimal(10000),
        maker_fee_bps=Decimal(10),
        taker_fee_bps=Decimal(10),
        latency_ms=Decimal(0),
        market_data_dir=None,
    )
    eng = Engine(cfg).start()
    events: list[Any] = []
    eng.subscribe(events.append)
    changed = eng.submit(UpdateRiskLimits(**limits)).result(WAIT_S)
    assert type(changed).__name__ == "RiskLimitsChanged", changed
    started = eng.submit(StartStrategy(name=name, symbol=bars.symbol, params=dict(PARAMS))).result(
        5
    )
    assert isinstance(started, StrategyStarted), started
    eng.submit(SetFeedPaused(paused=False)).result(WAIT_S)
    assert eng.replay_finished.wait(120), "replay did not finish"
    stopped = eng.submit(StopStrategy(name_or_id=started.strategy_id)).result(WAIT_S)
    assert isinstance(stopped, StrategyStopped)
    return events, eng


def _key(f: Fill) -> tuple[int, str, Decimal, Decimal, Decimal]:
    return (f.ts_event, f.side.value, f.qty, f.price, f.fee)


def test_live_engine_and_backtester_give_identical_fills(
    bars: Bars, tmp_path: Path, probe: type[_Probe]
) -> None:
    rec = _backtest(bars, "sma_cross")
    assert len(rec.fills) >= 6, "the case must actually trade"
    events, eng = _engine_replay(bars, tmp_path, probe.name, BACKTEST_LIMITS.to_strings())
    try:
        fills = [e.fill for e in events if isinstance(e, OrderFilled)]
        assert [_key(f) for f in fills] == [_key(f) for f in rec.fills]
        # beyond time/side/qty/price/fee: ids, notional, decision mids and slippage too
        assert fills == rec.fills
        assert not [e for e in events if isinstance(e, OrderDenied)]
        assert all(e.order.source == "strategy:sma_probe" for e in events if hasattr(e, "order"))
        snap = eng.snapshot()
        assert snap.account.cash == rec.cash
        assert snap.positions[bars.symbol].qty == rec.qty
    finally:
        eng.stop()
    # the strategy heard about every fill, and the engine made them durable
    assert probe.fills_seen == fills
    store = Store.open(tmp_path)
    try:
        assert store.load_state().recent_fills[-len(fills) :] == fills
    finally:
        store.close()


def test_risk_denials_match_the_backtester(bars: Bars, tmp_path: Path, probe: type[_Probe]) -> None:
    """A tight order-size limit: the engine's RiskEngine denies the strategy's buys exactly
    where the backtester's does; nothing bypasses the gate."""
    risk = {"max_order_notional": "5000"}
    rec = _backtest(bars, "sma_cross", risk)
    assert rec.denials, "the limit must bite"
    limits = {**BACKTEST_LIMITS.to_strings(), **risk}
    events, eng = _engine_replay(bars, tmp_path, probe.name, limits)
    eng.stop()
    denials = [e for e in events if isinstance(e, OrderDenied)]
    assert [(d.ts_ns, d.reason) for d in denials] == [(d.ts_ns, d.reason) for d in rec.denials]
    assert all(d.limit == "max_order_notional" for d in denials)
    fills = [e.fill for e in events if isinstance(e, OrderFilled)]
    assert fills == rec.fills
    assert not fills


def _wait(pred: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def sim_engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(
        EngineConfig(
            data_dir=tmp_path,
            seed=3,
            latency_ms=Decimal(0),
            candle_seconds=1,
            sim_rate=20.0,
            symbols=("BTC/USDT",),
            market_data_dir=None,
        )
    ).start()
    yield eng
    eng.stop()


def test_strategy_commands_on_the_sim_venue(sim_engine: Engine, probe: type[_Probe]) -> None:
    eng = sim_engine
    bad = [
        StartStrategy(name="nope", symbol="BTC/USDT"),
        StartStrategy(name="sma_cross", symbol="XXX/USDT"),
        StartStrategy(name="sma_cross", symbol="BTC/USDT", params={"fast": "9", "slow": "3"}),
        StopStrategy(name_or_id="S-9999"),
    ]
    for cmd in bad:
        assert isinstance(eng.submit(cmd).result(WAIT_S), StrategyRejected), cmd
    events: list[Any] = []
    lock = threading.Lock()

    def keep(e: Any) -> None:
        with lock:
            events.append(e)

    eng.subscribe(keep)
    params = {"fast": "1", "slow": "2"}  # crosses every few bars
    started = eng.submit(StartStrategy(name=probe.name, symbol="BTC/USDT", params=params))
    first = started.result(WAIT_S)
    assert isinstance(first, StrategyStarted)
    again = eng.submit(StartStrategy(name=probe.name, symbol="BTC/USDT")).result(WAIT_S)
    assert isinstance(again, StrategyRejected)
    assert "already running" in again.reason

    def strategy_denied() -> bool:
        with lock:
            return any(isinstance(e, OrderDenied) and e.limit == "max_position_pct" for e in events)

    # the default 50 % position limit refuses an all-cash buy: the gate is the manual one
    _wait(strategy_denied, WAIT_S)
    assert not probe.fills_seen
    loosened = eng.submit(UpdateRiskLimits(**BACKTEST_LIMITS.to_strings())).result(WAIT_S)
    assert type(loosened).__name__ == "RiskLimitsChanged"

    def strategy_filled() -> bool:
        with lock:
            return any(
                isinstance(e, OrderFilled) and e.order.source == "strategy:sma_probe"
                for e in events
            )

    _wait(strategy_filled, WAIT_S)
    _wait(lambda: bool(probe.fills_seen), WAIT_S)
    stopped = eng.submit(StopStrategy(name_or_id=probe.name)).result(WAIT_S)
    assert isinstance(stopped, StrategyStopped)
    assert stopped.strategy_id == first.strategy_id
    ids = {f.fill_id for f in eng.snapshot().fills}
    assert {f.fill_id for f in probe.fills_seen} <= ids
