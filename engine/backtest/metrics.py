"""Performance metrics from an equity curve and a trade list (floats: analytics only).

Conventions (the same as empyrical / quantstats, which the tests compare against):

- returns are simple bar-to-bar returns of the equity curve (equity at each bar's close);
- annualisation uses ``periods_per_year = 365 days / bar interval`` (crypto trades every day);
- Sharpe = mean / sd (ddof 1) x sqrt(periods), risk-free rate 0;
- Sortino = mean x periods / (sqrt(mean(min(r, 0)^2)) x sqrt(periods));
- CAGR = (final / initial) ^ (1 / years) - 1 with years = elapsed time between the first and the
  last bar (so missing bars do not shorten the year);
- max drawdown = min(equity / running peak - 1) (a negative fraction); its duration is the
  longest time from a peak to the first bar back at or above it (or to the end);
- Calmar = CAGR / |max drawdown|.

Fractions stay fractions (0.12 means 12%); durations are in days.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
MS_PER_YEAR: Final = 365 * 86_400_000
MS_PER_DAY: Final = 86_400_000


def periods_per_year(interval_ms: int) -> float:
    return MS_PER_YEAR / interval_ms if interval_ms > 0 else 1.0


def simple_returns(equity: F64) -> F64:
    if len(equity) < 2:
        return np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r: F64 = equity[1:] / equity[:-1] - 1.0
    return np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0)


def sharpe(r: F64, ppy: float) -> float | None:
    if len(r) < 2:
        return None
    sd = float(np.std(r, ddof=1))
    if sd == 0:
        return None
    return float(np.mean(r)) / sd * math.sqrt(ppy)


def sortino(r: F64, ppy: float) -> float | None:
    if len(r) < 2:
        return None
    down = np.minimum(r, 0.0)
    dd = math.sqrt(float(np.mean(down * down))) * math.sqrt(ppy)
    if dd == 0:
        return None
    return float(np.mean(r)) * ppy / dd


def volatility(r: F64, ppy: float) -> float | None:
    if len(r) < 2:
        return None
    return float(np.std(r, ddof=1)) * math.sqrt(ppy)


def cagr(initial: float, final: float, years: float) -> float | None:
    if years <= 0 or initial <= 0:
        return None
    if final <= 0:
        return -1.0
    return float((final / initial) ** (1.0 / years) - 1.0)


@dataclass(frozen=True, slots=True)
class Drawdown:
    max_drawdown: float  # negative fraction (0 when equity never fell)
    peak_ms: int | None
    trough_ms: int | None
    duration_ms: int  # longest peak -> recovery (or end) span
    series: F64  # equity / running peak - 1, per bar


def drawdown(equity: F64, time_ms: I64, end_ms: int | None = None) -> Drawdown:
    if not len(equity):
        return Drawdown(0.0, None, None, 0, np.zeros(0))
    peak = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, equity / peak - 1.0, 0.0)
    trough = int(np.argmin(dd))
    mdd = float(dd[trough])
    # durations: time from each new peak to the next bar at or above it
    at_peak = equity >= peak
    peak_idx = np.flatnonzero(at_peak)
    last_t = int(end_ms if end_ms is not None else time_ms[-1])
    longest = 0
    if len(peak_idx):
        starts = time_ms[peak_idx]
        ends = np.append(time_ms[peak_idx[1:]], last_t)
        # a drawdown spell exists between consecutive peak bars that are not adjacent
        gaps = np.append(np.diff(peak_idx) > 1, peak_idx[-1] < len(equity) - 1)
        spans = np.where(gaps, ends - starts, 0)
        longest = int(spans.max()) if len(spans) else 0
    peak_at = int(np.argmax(equity[: trough + 1])) if mdd < 0 else None
    return Drawdown(
        max_drawdown=mdd,
        peak_ms=int(time_ms[peak_at]) if peak_at is not None else None,
        trough_ms=int(time_ms[trough]) if mdd < 0 else None,
        duration_ms=longest,
        series=dd,
    )


def trade_stats(pnls: Sequence[Decimal]) -> dict[str, float | None]:
    if not pnls:
        return {"win_rate": None, "profit_factor": None, "average_trade": None}
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    gross_win = float(sum(wins, Decimal(0)))
    gross_loss = -float(sum(losses, Decimal(0)))
    return {
        "win_rate": len(wins) / len(pnls),
        "profit_factor": (gross_win / gross_loss) if gross_loss > 0 else None,
        "average_trade": float(sum(pnls, Decimal(0))) / len(pnls),
    }


def monthly_returns(equity: F64, time_ms: I64, initial: float) -> list[tuple[int, int, float]]:
    """(year, month, return) from month-end equity (the first month from ``initial``)."""
    if not len(equity):
        return []
    # A month only changes where the day does: convert the last bar of each day, not each bar.
    days = time_ms // MS_PER_DAY
    last_of_day = np.flatnonzero(np.append(np.diff(days) != 0, True))
    months = days[last_of_day].astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    ends = np.flatnonzero(np.append(np.diff(months) != 0, True))
    out: list[tuple[int, int, float]] = []
    prev = initial
    for i, m in zip(last_of_day[ends].tolist(), months[ends].tolist(), strict=True):
        value = float(equity[i])
        out.append((1970 + m // 12, m % 12 + 1, value / prev - 1.0 if prev > 0 else 0.0))
        prev = value
    return out
