"""From a run's record to trades, metrics and the JSON document the CLI, report and UI share.

JSON shape (``result_document``)::

    {"version": 1,
     "metrics": {total_return, cagr, volatility, sharpe, sortino, calmar, max_drawdown,
                 max_drawdown_duration, win_rate, profit_factor, average_trade, exposure,
                 turnover, fees_paid, slippage_paid, number_of_trades, ...},
     "fills":  [{time_ms, side, qty, price, fee, slippage, notional, liquidity, order_id}],
     "trades": [{entry_time_ms, exit_time_ms, side, qty, entry_price, exit_price, pnl, fees,
                 return_pct}],
     "equity": [[time_ms, value], ...],          # at each bar's close
     "open_position": {...}, "denials": [...], "parameters": {...}, "assumptions": {...},
     "data": {...DataReport...}, "run": {...}}

Money fields (qty, prices, fees, slippage, pnl) are written as exact decimal numbers, never via
float; ``json.loads(..., parse_float=Decimal)`` reads them back exactly. Metrics and the equity
curve are floats (analytics only).
"""

from __future__ import annotations

import os
import tempfile
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from engine.backtest import metrics as m
from engine.model.money import ZERO, money

if TYPE_CHECKING:  # annotations only: writing files needs neither the runner nor the broker
    from engine.backtest.runner import RunRecord
    from engine.model.fill import Fill

VERSION = 1
_ENCODER = msgspec.json.Encoder(decimal_format="number")
PRICE_Q = Decimal("1e-8")


@dataclass(frozen=True, slots=True)
class Trade:
    """A round trip, FIFO-matched from fills; ``pnl`` is net of both legs' fees."""

    side: str  # "long" / "short"
    qty: Decimal
    entry_time_ms: int
    entry_price: Decimal
    exit_time_ms: int | None
    exit_price: Decimal | None
    pnl: Decimal  # realised (closed) or marked (open) net of fees
    fees: Decimal
    entry_notional: Decimal

    @property
    def return_pct(self) -> float:
        if not self.entry_notional:
            return 0.0
        return float(self.pnl / self.entry_notional * 100)


@dataclass(slots=True)
class _Lot:
    time_ms: int
    qty: Decimal
    notional: Decimal
    fee: Decimal
    sign: int


def build_trades(fills: list[Fill], mark: Decimal | None) -> tuple[list[Trade], list[Trade]]:
    """(closed trades, open trades marked at ``mark``) by FIFO lot matching, exact."""
    lots: deque[_Lot] = deque()
    closed: list[Trade] = []
    for f in fills:
        sign = f.side.sign
        qty_left = f.qty
        fee_left = f.fee
        notional_left = f.notional
        t = f.ts_event // 1_000_000
        while qty_left and lots and lots[0].sign != sign:
            lot = lots[0]
            take = min(qty_left, lot.qty)
            entry_notional = (
                lot.notional if take == lot.qty else money(lot.notional * take / lot.qty)
            )
            entry_fee = lot.fee if take == lot.qty else money(lot.fee * take / lot.qty)
            exit_notional = notional_left if take == qty_left else money(f.notional * take / f.qty)
            exit_fee = fee_left if take == qty_left else money(f.fee * take / f.qty)
            gross = (exit_notional - entry_notional) * lot.sign
            fees = entry_fee + exit_fee
            closed.append(
                Trade(
                    side="long" if lot.sign > 0 else "short",
                    qty=take,
                    entry_time_ms=lot.time_ms,
                    entry_price=(entry_notional / take).quantize(PRICE_Q),
                    exit_time_ms=t,
                    exit_price=(exit_notional / take).quantize(PRICE_Q),
                    pnl=gross - fees,
                    fees=fees,
                    entry_notional=entry_notional,
                )
            )
            lot.qty -= take
            lot.notional -= entry_notional
            lot.fee -= entry_fee
            qty_left -= take
            notional_left -= exit_notional
            fee_left -= exit_fee
            if not lot.qty:
                lots.popleft()
        if qty_left:
            lots.append(_Lot(t, qty_left, notional_left, fee_left, sign))
    still_open: list[Trade] = []
    for lot in lots:
        value = lot.qty * mark if mark is not None else lot.notional
        still_open.append(
            Trade(
                side="long" if lot.sign > 0 else "short",
                qty=lot.qty,
                entry_time_ms=lot.time_ms,
                entry_price=(lot.notional / lot.qty).quantize(PRICE_Q),
                exit_time_ms=None,
                exit_price=None,
                pnl=(value - lot.notional) * lot.sign - lot.fee,
                fees=lot.fee,
                entry_notional=lot.notional,
            )
        )
    return closed, still_open


def compute_metrics(rec: RunRecord, trades: list[Trade]) -> dict[str, Any]:
    bars = rec.bars
    equity = rec.equity
    t = bars.time_ms
    initial = float(rec.config.cash)
    ppy = m.periods_per_year(bars.interval_ms)
    r = m.simple_returns(equity)
    years = (int(t[-1]) - int(t[0])) / m.MS_PER_YEAR if len(t) > 1 else 0.0
    final = float(rec.final_equity)
    dd = m.drawdown(equity, t)
    cagr = m.cagr(initial, final, years)
    fees = sum((f.fee for f in rec.fills), ZERO)
    slip = sum((f.slippage for f in rec.fills), ZERO)
    traded = sum((f.notional for f in rec.fills), ZERO)
    mean_equity = float(np.mean(equity)) if len(equity) else initial
    stats = m.trade_stats([tr.pnl for tr in trades])
    calmar = None
    if cagr is not None and dd.max_drawdown < 0:
        calmar = cagr / abs(dd.max_drawdown)
    return {
        "total_return": final / initial - 1.0,
        "cagr": cagr,
        "volatility": m.volatility(r, ppy),
        "sharpe": m.sharpe(r, ppy),
        "sortino": m.sortino(r, ppy),
        "calmar": calmar,
        "max_drawdown": dd.max_drawdown,
        "max_drawdown_duration": dd.duration_ms / m.MS_PER_DAY,
        "win_rate": stats["win_rate"],
        "profit_factor": stats["profit_factor"],
        "average_trade": stats["average_trade"],
        "exposure": float(np.mean(rec.position != 0)) if len(rec.position) else 0.0,
        "turnover": float(traded) / mean_equity if mean_equity > 0 else None,
        "fees_paid": fees,
        "slippage_paid": slip,
        "number_of_trades": len(trades),
        # context
        "initial_cash": rec.config.cash,
        "final_equity": rec.final_equity,
        "final_cash": rec.cash,
        "final_position": rec.qty,
        "number_of_fills": len(rec.fills),
        "orders_denied": len(rec.denials),
        "periods_per_year": ppy,
        "years": years,
        "max_drawdown_peak_ms": dd.peak_ms,
        "max_drawdown_trough_ms": dd.trough_ms,
    }


def _fill_doc(f: Fill) -> dict[str, Any]:
    return {
        "time_ms": f.ts_event // 1_000_000,
        "side": f.side.value,
        "qty": f.qty,
        "price": f.price,
        "fee": f.fee,
        "slippage": f.slippage,
        "notional": f.notional,
        "liquidity": f.liquidity.value,
        "order_id": f.order_id,
    }


def _trade_doc(tr: Trade) -> dict[str, Any]:
    return {
        "side": tr.side,
        "qty": tr.qty,
        "entry_time_ms": tr.entry_time_ms,
        "entry_price": tr.entry_price,
        "exit_time_ms": tr.exit_time_ms,
        "exit_price": tr.exit_price,
        "pnl": tr.pnl,
        "fees": tr.fees,
        "return_pct": tr.return_pct,
    }


def result_document(rec: RunRecord, *, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON-able document of a run (see the module docstring)."""
    bars = rec.bars
    mark = bars.price(int(bars.close[-1]))
    closed, still_open = build_trades(rec.fills, mark)
    metrics = compute_metrics(rec, closed)
    rounded = np.round(rec.equity, 8)
    equity = list(zip(bars.time_ms.tolist(), rounded.tolist(), strict=True))
    monthly = m.monthly_returns(rec.equity, bars.time_ms, float(rec.config.cash))
    inst = rec.instrument
    return {
        "version": VERSION,
        "metrics": metrics,
        "fills": [_fill_doc(f) for f in rec.fills],
        "trades": [_trade_doc(tr) for tr in closed],
        "open_trades": [_trade_doc(tr) for tr in still_open],
        "equity": equity,
        "monthly_returns": [[y, mo, r] for y, mo, r in monthly],
        "open_position": {"qty": rec.qty, "mark": mark, "cash": rec.cash},
        "open_orders": [
            {"order_id": o.order_id, "side": o.side.value, "qty": o.qty, "price": o.price}
            for o in rec.open_orders
        ],
        "denials": [
            {"time_ms": d.ts_ns // 1_000_000, "reason": d.reason, "limit": d.limit}
            for d in rec.denials[:1000]
        ],
        "risk_events": [
            {"time_ms": s.ts_ns // 1_000_000, "state": s.state, "reason": s.reason}
            for s in rec.state_changes
        ],
        "parameters": {
            "strategy": rec.strategy,
            "symbol": inst.symbol,
            "cash": rec.config.cash,
            "lot_size": inst.lot_size,
            "tick_size": inst.tick_size,
            "min_notional": inst.min_notional,
            **(parameters or {}),
        },
        "assumptions": rec.config.describe(),
        "data": rec.report.to_dict() if rec.report is not None else None,
        "run": {
            "bars": len(bars),
            "first_ms": int(bars.time_ms[0]),
            "last_ms": int(bars.time_ms[-1]),
            "interval_ms": bars.interval_ms,
            "points_visited": rec.points_visited,
            "elapsed_s": rec.elapsed_s,
        },
    }


def encode(doc: dict[str, Any]) -> bytes:
    return _ENCODER.encode(doc)


def write_json(doc: dict[str, Any], path: Path) -> None:
    write_files_atomically({path: encode(doc)})


def write_files_atomically(files: Mapping[Path, bytes]) -> None:
    """Write every file or none: each goes to a temporary file in its own folder (same file
    system), flushed to disk, then all are renamed into place with ``os.replace``. A failure
    before the renames (disk full, a missing folder) removes the temporaries and leaves the
    targets as they were."""
    if not files:
        return
    mask = os.umask(0)
    os.umask(mask)
    staged: list[tuple[Path, Path]] = []
    try:
        for target, data in files.items():
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            staged.append((Path(name), target))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(name, 0o666 & ~mask)  # what a plain open() would have made
        for tmp, target in staged:
            os.replace(tmp, target)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
