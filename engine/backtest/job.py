"""One backtest as a plain, picklable job: data file + strategy + settings -> result document.

The CLI, the worker process and the GUI tab all run backtests through ``run_job`` so they get
the same numbers for the same inputs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.backtest.config import BacktestConfig
from engine.backtest.data import DataError, DatasetCache, load_bars
from engine.backtest.result import result_document
from engine.backtest.runner import Backtest
from engine.strategy import Strategy, make_strategy

MS_PER_DAY = 86_400_000


def parse_day(text: str | None) -> int | None:
    """``YYYY-MM-DD`` (UTC) -> epoch ms of that day's start."""
    if text is None or text == "":
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise DataError(f"date {text!r} is not YYYY-MM-DD") from None
    return (day - dt.date(1970, 1, 1)).days * MS_PER_DAY


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestJob:
    data: str
    strategy: str
    params: Mapping[str, str] = field(default_factory=dict)
    symbol: str | None = None
    config: BacktestConfig = field(default_factory=BacktestConfig)
    start: str | None = None  # first day included
    end: str | None = None  # last day included
    datasets_db: str | None = None  # None: no cache
    bar_ms: int = 1000  # bar length built from trades, for tick captures (.jsonl / .jsonl.gz)

    def is_ticks(self) -> bool:
        return all(_is_capture(p) for p in self.data.split(","))

    def window_ms(self) -> tuple[int | None, int | None]:
        start = parse_day(self.start)
        end = parse_day(self.end)
        if end is not None:
            end += MS_PER_DAY
        if start is not None and end is not None and end <= start:
            raise DataError("--end is before --start")
        return start, end


def run_job(
    job: BacktestJob,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Load (cached), select the window, run, and build the result document."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    strategy = make_strategy(job.strategy, dict(job.params))
    if job.is_ticks():
        return _run_ticks(job, strategy)
    # The parsed bars are stored on a thread while the run goes on; joined before returning.
    cache = DatasetCache(job.datasets_db, background=True) if job.datasets_db else None
    try:
        doc = _run_bars(job, strategy, cache, progress, should_stop, timings, t0)
    except BaseException:
        if cache is not None:
            with contextlib.suppress(Exception):
                cache.wait()
        raise
    if cache is not None:
        cache.wait()
    return doc


def _run_bars(
    job: BacktestJob,
    strategy: Strategy,
    cache: DatasetCache | None,
    progress: Callable[[float], None] | None,
    should_stop: Callable[[], bool] | None,
    timings: dict[str, float],
    t0: float,
) -> dict[str, Any]:
    bars, report = load_bars(Path(job.data), job.symbol, cache=cache)
    timings["load_s"] = time.perf_counter() - t0
    start, end = job.window_ms()
    if start is not None or end is not None:
        bars = bars.between(start, end)
        if not len(bars):
            raise DataError("no bars between --start and --end")
    t1 = time.perf_counter()
    rec = Backtest(bars, strategy, job.config, report=report).run(progress, should_stop)
    timings["run_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    doc = result_document(
        rec,
        parameters={
            "data": job.data,
            "start": job.start,
            "end": job.end,
            "slippage": job.config.slippage,
            "fill": job.config.fill,
            "limit_fill": job.config.limit_fill,
            "maker_fee": job.config.maker_fee,
            "taker_fee": job.config.taker_fee,
            "latency_bars": job.config.latency_bars,
            "latency_ms": job.config.latency_ms,
        },
    )
    timings["metrics_s"] = time.perf_counter() - t2
    doc["run"].update(timings)
    return doc


def _is_capture(path: str) -> bool:
    return path.endswith((".jsonl", ".jsonl.gz"))


def _run_ticks(job: BacktestJob, strategy: Strategy) -> dict[str, Any]:
    """Tick captures (trades + L2): the live path over the recorded book, bars from trades."""
    from engine.backtest.ticks import run_tick_backtest
    from engine.model.instrument import DEFAULT_INSTRUMENTS

    symbol = job.symbol or "BTC/USDT"
    inst = DEFAULT_INSTRUMENTS.get(symbol)
    if inst is None:
        raise DataError(f"tick captures need a known instrument grid; {symbol} is not one")
    paths = [Path(p) for p in job.data.split(",")]
    for p in paths:
        if not p.is_file():
            raise DataError(f"no such file: {p}")
    t0 = time.perf_counter()
    rec = run_tick_backtest(paths, strategy, job.config, instrument=inst, bar_ms=job.bar_ms)
    doc = result_document(
        rec,
        parameters={"data": job.data, "bar_ms": job.bar_ms, "source": "ticks + L2 (replayed)"},
    )
    doc["run"]["run_s"] = time.perf_counter() - t0
    return doc
