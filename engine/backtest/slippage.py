"""Slippage models as synthetic order books.

Bars carry one price per moment, not a book, so each model builds the book the paper broker
matches against at a price point ``p`` of bar ``i``. The broker then does what it does live:
walks the levels for a taker, measures slippage against the mid at decision time. Every model
keeps the mid at ``p`` exactly, so ``none`` costs nothing and the others cost what they say.

- ``none``: one deep level at ``p`` on both sides (a locked book): every taker fills at ``p``.
- ``fixed:BPS``: one deep level ``BPS`` away from ``p`` on each side (rounded out to the tick).
- ``impact[:Y]``: the square-root law. The average cost of taking ``Q`` is
  ``Y x sigma x sqrt(Q / V)`` of the price, with ``sigma`` the standard deviation of log returns
  and ``V`` the mean volume over the previous ``window`` bars (both known at the bar's open).
  The book holds the matching marginal curve ``1.5 Y sigma sqrt(q / V)``, in ``levels`` bands up
  to ``max_volumes x V``; each band sits at its average marginal price, so walking whole bands
  reproduces the law exactly.
- ``book``: the average depth profile of the real BTCUSDT book (``engine.backtest.depth``),
  scaled by ``scale``, in quote currency: the same dollars of depth at any price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from engine.backtest.data import Bars
from engine.model.instrument import Instrument


def _depth_profile() -> tuple[tuple[int, int], ...]:
    """The measured profile, imported on first use (its module pulls in the L2 book replay)."""
    from engine.backtest.depth import DEPTH_PROFILE

    return tuple(DEPTH_PROFILE)


Levels = list[tuple[int, int]]
DEEP: Final = 10**15  # lots: deeper than any account could take
# Bounds that keep every synthetic price finite and every level count an int64: an impact
# coefficient of 100 already charges 100 sigma for one bar's volume; a depth scale of 1e6 puts
# about 1e12 quote within the profile. NaN, inf, negatives and huge exponents are refused.
MAX_IMPACT_COEF: Final = 100.0
MAX_BOOK_SCALE: Final = 1e6
_MAX_SPEC_ARG: Final = 32  # characters after the colon
F64 = npt.NDArray[np.float64]


class SlippageModel:
    """Builds the synthetic book (bids, asks; best first) for price ``p`` ticks at bar ``i``."""

    name: str = "none"

    def prepare(self, bars: Bars, instrument: Instrument) -> None:
        self._instrument = instrument

    def book_at(self, p: int, i: int) -> tuple[Levels, Levels]:
        return [(p, DEEP)], [(p, DEEP)]

    def describe(self) -> str:
        return "none: fills at the bar price (one deep level at the price)"

    @property
    def spec(self) -> str:
        return self.name


class NoSlippage(SlippageModel):
    name = "none"


@dataclass
class FixedSlippage(SlippageModel):
    bps: Decimal

    name = "fixed"

    def __post_init__(self) -> None:
        if not self.bps.is_finite() or not 0 <= self.bps < 10_000:
            raise ValueError(f"fixed slippage must be 0..10000 bps, got {self.bps}")
        exponent = self.bps.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -12:
            raise ValueError(f"fixed slippage has more than 12 decimals: {self.bps}")
        self._cache: dict[int, tuple[Levels, Levels]] = {}

    def book_at(self, p: int, i: int) -> tuple[Levels, Levels]:
        hit = self._cache.get(p)
        if hit is None:
            half = int((Decimal(p) * self.bps / 10_000).to_integral_value(rounding="ROUND_CEILING"))
            hit = ([(max(p - half, 1), DEEP)], [(p + half, DEEP)])
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[p] = hit
        return hit

    def describe(self) -> str:
        return f"fixed: {self.bps} bps from the bar price on each side (rounded out to the tick)"

    @property
    def spec(self) -> str:
        return f"fixed:{self.bps}"


@dataclass
class ImpactSlippage(SlippageModel):
    coef: float = 1.0
    window: int = 20
    levels: int = 32
    max_volumes: float = 10.0

    name = "impact"

    def __post_init__(self) -> None:
        if not (0 < self.coef <= MAX_IMPACT_COEF):
            raise ValueError(
                f"impact coefficient must be in (0, {MAX_IMPACT_COEF:g}], got {self.coef}"
            )
        if not (2 <= self.window <= 100_000 and 2 <= self.levels <= 1_000):
            raise ValueError("impact model needs 2 <= window <= 100000, 2 <= levels <= 1000")
        if not (0 < self.max_volumes <= 1_000):
            raise ValueError("impact model needs 0 < max_volumes <= 1000")

    def prepare(self, bars: Bars, instrument: Instrument) -> None:
        self._instrument = instrument
        self.sigma, self.volume = impact_inputs(bars, self.window)
        lot = float(instrument.lot_size)
        # Band k holds q_k - q_(k-1) of Qmax (k/K)^2 and sits at its average marginal cost.
        k = np.arange(1, self.levels + 1, dtype=np.float64)
        q_hi = (k / self.levels) ** 2
        q_lo = ((k - 1) / self.levels) ** 2
        self._share = q_hi - q_lo  # of Qmax
        avg_sqrt = (2.0 / 3.0) * (q_hi**1.5 - q_lo**1.5) / (q_hi - q_lo)
        self._dist = 1.5 * self.coef * math.sqrt(self.max_volumes) * avg_sqrt  # x sigma
        self._lot = lot

    def book_at(self, p: int, i: int) -> tuple[Levels, Levels]:
        sigma = float(self.sigma[i])
        qmax = self.max_volumes * float(self.volume[i])
        frac = self._dist * sigma
        lots = np.floor(self._share * qmax / self._lot).astype(np.int64)
        asks: Levels = []
        bids: Levels = []
        for f, n in zip(frac.tolist(), lots.tolist(), strict=True):
            if n <= 0:
                continue
            a = math.ceil(p * (1.0 + f))
            b = math.floor(p * (1.0 - f))
            if asks and asks[-1][0] == a:
                asks[-1] = (a, asks[-1][1] + n)
            else:
                asks.append((a, n))
            if b > 0:
                if bids and bids[-1][0] == b:
                    bids[-1] = (b, bids[-1][1] + n)
                else:
                    bids.append((b, n))
        return bids, asks

    def describe(self) -> str:
        return (
            f"impact: square-root law, average cost {self.coef} x sigma x sqrt(qty / volume), "
            f"sigma and volume over the previous {self.window} bars; depth up to "
            f"{self.max_volumes} x volume"
        )

    @property
    def spec(self) -> str:
        return "impact" if self.coef == 1.0 else f"impact:{self.coef}"


def impact_inputs(bars: Bars, window: int) -> tuple[F64, F64]:
    """Per bar: sd of log close-to-close returns and mean volume over the previous ``window``
    bars (so both are known at the bar's open); early bars take the first full-window value."""
    n = len(bars)
    sigma = np.zeros(n, dtype=np.float64)
    volume = np.zeros(n, dtype=np.float64)
    if n == 0:
        return sigma, volume
    close = bars.close.astype(np.float64)
    r = np.zeros(n, dtype=np.float64)
    r[1:] = np.log(close[1:] / close[:-1])
    if n > window + 1:
        sd = sliding_window_view(r[1:], window).std(axis=1, ddof=1)  # returns k..k+window-1
        sigma[window + 1 :] = sd[: n - window - 1]
        sigma[: window + 1] = sd[0]
        vm = sliding_window_view(bars.volume, window).mean(axis=1)
        volume[window:] = vm[: n - window]
        volume[:window] = vm[0]
    else:
        sigma[:] = float(np.std(r[1:], ddof=1)) if n > 2 else 0.0
        volume[:] = float(np.mean(bars.volume))
    return sigma, volume


@dataclass
class BookSlippage(SlippageModel):
    scale: float = 1.0

    name = "book"

    def __post_init__(self) -> None:
        if not (0 < self.scale <= MAX_BOOK_SCALE):
            raise ValueError(
                f"book depth scale must be in (0, {MAX_BOOK_SCALE:g}], got {self.scale}"
            )
        self._cache: dict[int, tuple[Levels, Levels]] = {}

    def prepare(self, bars: Bars, instrument: Instrument) -> None:
        self._instrument = instrument
        self._unit = float(instrument.tick_size * instrument.lot_size)
        self._profile = _depth_profile()

    def book_at(self, p: int, i: int) -> tuple[Levels, Levels]:
        hit = self._cache.get(p)
        if hit is not None:
            return hit
        bids: Levels = []
        asks: Levels = []
        prev = 0
        for bps, cum in self._profile:
            band = (cum - prev) * self.scale
            prev = cum
            a = -(-p * (10_000 + bps) // 10_000)
            b = p * (10_000 - bps) // 10_000
            for levels, price in ((asks, a), (bids, b)):
                lots = int(band / (price * self._unit)) if price > 0 else 0
                if lots <= 0:
                    continue
                if levels and levels[-1][0] == price:
                    levels[-1] = (price, levels[-1][1] + lots)
                else:
                    levels.append((price, lots))
        hit = (bids, asks)
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[p] = hit
        return hit

    def describe(self) -> str:
        profile = _depth_profile()
        total = profile[-1][1] * self.scale
        return (
            f"book: depth profile of the real BTCUSDT spot book (avg, Aug 2024) x {self.scale}, "
            f"{total:,.0f} quote within {profile[-1][0]} bps per side"
        )

    @property
    def spec(self) -> str:
        return "book" if self.scale == 1.0 else f"book:{self.scale}"


def parse_slippage(spec: str) -> SlippageModel:
    """``none``, ``fixed:BPS``, ``impact`` / ``impact:COEF``, ``book`` / ``book:SCALE``."""
    if not isinstance(spec, str):
        raise ValueError(f"slippage must be text such as 'fixed:2', not {type(spec).__name__}")
    name, _, arg = spec.strip().lower().partition(":")
    if len(arg) > _MAX_SPEC_ARG:
        raise ValueError(f"bad slippage {spec[:40]!r}...: the number is too long")
    try:
        if name == "none" and not arg:
            return NoSlippage()
        if name == "fixed":
            return FixedSlippage(Decimal(arg.strip()))
        if name == "impact":
            return ImpactSlippage(coef=float(arg) if arg else 1.0)
        if name == "book":
            return BookSlippage(scale=float(arg) if arg else 1.0)
    except InvalidOperation:
        raise ValueError(f"bad slippage {spec!r}: {arg!r} is not a number") from None
    except (ArithmeticError, ValueError) as exc:
        raise ValueError(f"bad slippage {spec!r}: {exc}") from None
    raise ValueError(f"slippage must be none, fixed:BPS, impact or book, not {spec!r}")
