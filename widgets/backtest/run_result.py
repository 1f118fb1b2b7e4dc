"""One finished backtest as the tab keeps it: the parts of its result JSON a view needs.

A result document holds the equity curve as one ``[time_ms, value]`` pair per bar. Read with
``json.loads(parse_float=Decimal)`` that is a few hundred bytes of Python objects per bar, so a
435k-bar run would cost ~100 MB per run kept for comparison. The curve is decoded as floats
(it is analytics, never money) straight into numpy arrays; everything else keeps exact
``Decimal``s. The JSON file itself stays on disk: the HTML report is built from it, whole.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from engine.backtest.job import BacktestJob
from engine.backtest.worker import view_files
from engine.model.instrument import Instrument

F64 = npt.NDArray[np.float64]

# Distinct on the dark background, in the order runs get them.
RUN_COLORS: tuple[str, ...] = (
    "#4c9be8",
    "#e0b341",
    "#c678dd",
    "#26a69a",
    "#ef8a50",
    "#56b6c2",
    "#e06c75",
    "#98c379",
    "#d7d7d7",
    "#8f7cf0",
)


class _ResultDoc(msgspec.Struct):
    """The keys the tab reads; unknown keys are ignored, so the document may grow."""

    equity: list[tuple[int, float]] = []
    metrics: dict[str, Any] = {}
    trades: list[dict[str, Any]] = []
    open_trades: list[dict[str, Any]] = []
    fills: list[dict[str, Any]] = []
    parameters: dict[str, Any] = {}
    data: dict[str, Any] | None = None
    run: dict[str, Any] = {}


_DECODER = msgspec.json.Decoder(_ResultDoc, float_hook=Decimal)


@dataclass(eq=False)
class BacktestRun:
    """A finished run: its job, result file, metrics/trades/fills (exact) and equity (floats)."""

    run_id: int
    job: BacktestJob
    path: Path
    color: str
    metrics: dict[str, Any]
    trades: list[dict[str, Any]]
    open_trades: list[dict[str, Any]]
    fills: list[dict[str, Any]]
    parameters: dict[str, Any]
    data: dict[str, Any] | None
    run: dict[str, Any]
    time_s: F64  # equity point times, epoch seconds (pyqtgraph's DateAxisItem unit)
    equity: F64
    drawdown_pct: F64 = field(init=False)

    def __post_init__(self) -> None:
        self.drawdown_pct = drawdown_pct(self.equity)

    @property
    def strategy(self) -> str:
        strat = self.parameters.get("strategy") or {}
        return str(strat.get("name", self.job.strategy))

    @property
    def symbol(self) -> str:
        return str(self.parameters.get("symbol", self.job.symbol or "?"))

    @property
    def params_text(self) -> str:
        strat = self.parameters.get("strategy") or {}
        params = strat.get("params") or {}
        return " ".join(f"{k}={v}" for k, v in params.items())

    @property
    def short_label(self) -> str:
        return f"#{self.run_id} {self.strategy}"

    @property
    def label(self) -> str:
        """One line for the run list: what ran, on what, and how it did."""
        total = self.metrics.get("total_return")
        perf = "" if total is None else f"  {float(total) * 100:+.2f}%"
        return f"#{self.run_id} {self.strategy} {self.params_text} · {self.symbol}{perf}"

    @property
    def period(self) -> str:
        first, last = self.run.get("first_ms"), self.run.get("last_ms")
        if first is None or last is None:
            return ""
        return f"{utc_day(int(first))} → {utc_day(int(last))}"

    def instrument(self) -> Instrument | None:
        """The traded grid (tick, lot) for formatting prices and quantities."""
        p = self.parameters
        try:
            tick = Decimal(str(p["tick_size"]))
            lot = Decimal(str(p["lot_size"]))
            min_notional = Decimal(str(p.get("min_notional", 0)))
        except (KeyError, ArithmeticError, ValueError):
            return None
        base, _, quote = self.symbol.partition("/")
        return Instrument(self.symbol, base, quote or "USD", tick, lot, min_notional)

    def document(self) -> dict[str, Any]:
        """The whole result document, exact (what the HTML report is rendered from)."""
        doc: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"), parse_float=Decimal)
        return doc


def drawdown_pct(equity: F64) -> F64:
    """Percent below the running peak (0 at a new high, negative below it)."""
    if not len(equity):
        return np.zeros(0, dtype=np.float64)
    peak = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, (equity / peak - 1.0) * 100.0, 0.0)
    out: F64 = dd.astype(np.float64)
    return out


def load_run(run_id: int, job: BacktestJob, path: Path, color: str) -> BacktestRun:
    """Read a worker's result (``ValueError`` if it is not one): the view copy the worker wrote
    beside it when there is one (milliseconds on the GUI thread), else the full JSON."""
    view_json, equity_npy = view_files(path)
    try:
        if view_json.is_file() and equity_npy.is_file():
            doc = _DECODER.decode(view_json.read_bytes())
            pts = np.load(equity_npy, allow_pickle=False)
        else:
            doc = _DECODER.decode(path.read_bytes())
            pts = np.asarray(doc.equity, dtype=np.float64).reshape(-1, 2)
    except msgspec.DecodeError as exc:
        raise ValueError(f"result file {path} is unreadable: {exc}") from None
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"result file {path} has an equity curve of shape {pts.shape}")
    time_s = pts[:, 0] / 1000.0
    equity = np.ascontiguousarray(pts[:, 1], dtype=np.float64)
    return BacktestRun(
        run_id=run_id,
        job=job,
        path=path,
        color=color,
        metrics=doc.metrics,
        trades=doc.trades,
        open_trades=doc.open_trades,
        fills=doc.fills,
        parameters=doc.parameters,
        data=doc.data,
        run=doc.run,
        time_s=time_s,
        equity=equity,
    )


def utc_day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d")


def utc_minute(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(int(ms) / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
