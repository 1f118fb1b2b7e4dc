"""Backtests on trades and L2 updates, where the data has them (the hftbacktest captures).

There is no shortcut here: the recorded book is rebuilt message by message
(``CaptureReplayMarket``) and every message goes through the live order path
(``ReplaySession``): market orders walk the real recorded depth, resting limits queue behind the
displayed size and fill from real trades. The strategy gets ``on_book`` / ``on_trade`` for every
change (if it overrides them) and ``on_bar`` for bars built from the trades (``bar_ms``), closed
when the first event after the bar's end arrives. The result is a ``RunRecord`` like a bar
backtest's, so metrics, JSON and report are the same.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import numpy as np

from engine.backtest.config import BacktestConfig
from engine.backtest.runner import RunRecord, StateChange
from engine.matching import FeeSchedule
from engine.model.instrument import Instrument
from engine.model.market import TradeTick
from engine.risk import RiskLimits
from engine.strategy.base import Strategy
from engine.strategy.stream import StreamingHost
from engine.venues.replay import CaptureReplayMarket, ReplaySession, attach


class _BarBuilder:
    """OHLCV bars of ``interval_ms`` from trade ticks (prices in ticks, volume in base units)."""

    def __init__(self, interval_ms: int, lot: float) -> None:
        self.interval_ns = interval_ms * 1_000_000
        self.lot = lot
        self.start: int | None = None
        self.ohlc = [0, 0, 0, 0]
        self.volume = 0.0

    def end_ns(self) -> int | None:
        return None if self.start is None else self.start + self.interval_ns

    def add(self, tick: TradeTick) -> None:
        p = tick.price_ticks
        if self.start is None:
            self.start = tick.ts_ns - tick.ts_ns % self.interval_ns
            self.ohlc = [p, p, p, p]
            self.volume = 0.0
        o = self.ohlc
        o[1] = max(o[1], p)
        o[2] = min(o[2], p)
        o[3] = p
        self.volume += tick.size_lots * self.lot

    def take(self) -> tuple[int, int, int, int, int, float]:
        assert self.start is not None
        bar = (self.start // 1_000_000, *self.ohlc, self.volume)
        self.start = None
        return bar  # type: ignore[return-value]


def run_tick_backtest(
    paths: Sequence[Path],
    strategy: Strategy,
    config: BacktestConfig | None = None,
    *,
    instrument: Instrument,
    bar_ms: int = 1000,
) -> RunRecord:
    t_start = time.perf_counter()
    cfg = config or BacktestConfig()
    inst = cfg.instrument(instrument.symbol, instrument.tick_size)
    limits = cfg.risk_limits()
    assert isinstance(limits, RiskLimits)
    market = CaptureReplayMarket(paths, inst)
    session = ReplaySession(
        market,
        cash=cfg.cash,
        fees=FeeSchedule(maker=cfg.maker_fee, taker=cfg.taker_fee),
        latency_ns=cfg.latency_ms * 1_000_000 + cfg.latency_bars * bar_ms * 1_000_000,
        limits=limits,
        day_start_hour=cfg.day_start_hour,
    )
    ctx = session.context()
    attach(session, strategy, ctx)
    host = StreamingHost(strategy, inst.symbol, inst.tick_size, bar_ms)
    host.start(ctx)
    wants_book = type(strategy).on_book is not Strategy.on_book
    wants_trade = type(strategy).on_trade is not Strategy.on_trade
    builder = _BarBuilder(bar_ms, float(inst.lot_size))
    book = market.book
    fill_bars: list[int] = []
    equity: list[float] = []
    position: list[float] = []
    seen_fills = 0
    events = 0
    while True:
        pt = session.step()
        if pt is None:
            break
        events += 1
        end = builder.end_ns()
        if end is not None and pt.ts_ns >= end:
            bar = builder.take()
            host.push(ctx, *bar)
            mark = book.mid()
            qty = session.portfolio.position(inst.symbol).qty
            value = session.portfolio.cash + (qty * mark if mark is not None else Decimal(0))
            equity.append(float(value))
            position.append(float(qty))
        for ev in session.last_events:
            if isinstance(ev, TradeTick):
                builder.add(ev)
                if wants_trade:
                    strategy.on_trade(ctx, ev)
        if wants_book and session.last_events and market.synced:
            strategy.on_book(ctx, book.view(20))
        new = len(session.log.fills) - seen_fills
        if new:
            fill_bars.extend([max(len(host) - 1, 0)] * new)
            seen_fills += new
    strategy.on_stop(ctx)
    bars = host.bars()
    if not len(bars):
        raise ValueError("no trades in the captures: no bars")
    qty = session.portfolio.position(inst.symbol).qty
    last = bars.price(int(bars.close[-1]))
    rec = RunRecord(
        bars=bars,
        instrument=inst,
        config=cfg,
        strategy=strategy.describe(),
        fills=list(session.log.fills),
        fill_bars=fill_bars,
        denials=list(session.log.denials),
        rejections=list(session.log.rejections),
        cancels=list(session.log.cancels),
        state_changes=[StateChange(t, s, r) for t, s, r in session.log.states],
        cash=session.portfolio.cash,
        qty=qty,
        final_equity=session.portfolio.cash + qty * last,
        open_orders=session.open_orders(),
        equity=np.asarray(equity, dtype=np.float64),
        position=np.asarray(position, dtype=np.float64),
        points_visited=events,
        elapsed_s=time.perf_counter() - t_start,
    )
    return rec
