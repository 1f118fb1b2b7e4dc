"""Parameters of the simulated market, built-in or calibrated from real Binance candles.

The simulator only needs a handful of numbers per symbol (start price, volatility, how much
trades) to look like the real thing; everything else (level spacing, order sizes) is derived
from them here so that a book of ~20+ levels keeps up with the price at the sim's event rate.
"""

from __future__ import annotations

import csv
import gzip
import logging
import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

from engine.model.instrument import Instrument

log = logging.getLogger(__name__)

SECONDS_PER_YEAR = 365.25 * 86_400.0
CALIBRATION_DAYS = 90

# (start price, annual volatility, hourly volume in base units): mid-2020s orders of magnitude,
# used when no data is at hand.
_DEFAULTS: dict[str, tuple[str, float, float]] = {
    "BTC": ("64000", 0.55, 800.0),
    "ETH": ("2200", 0.70, 12_000.0),
    "SOL": ("87", 0.80, 60_000.0),
    "BNB": ("600", 0.50, 3_000.0),
    "XRP": ("1.40", 0.80, 2_000_000.0),
    "ADA": ("0.25", 0.70, 3_000_000.0),
    "DOGE": ("0.11", 0.70, 25_000_000.0),
    "LTC": ("56", 0.60, 10_000.0),
    "LINK": ("9.8", 0.70, 80_000.0),
    "TRX": ("0.35", 0.40, 4_000_000.0),
    "DOT": ("1.3", 0.75, 200_000.0),
    "AVAX": ("9.3", 0.75, 70_000.0),
    "BCH": ("420", 0.60, 600.0),
}
_FALLBACK = ("100", 0.80, 10_000.0)

# Order events per second per symbol at rate_multiplier=1 (before Hawkes clustering, see
# SimSymbolParams.event_rate). Real BTCUSDT spot shows ~350 level updates/s; we run lighter.
DEFAULT_EVENT_RATE = 100.0
# Level spacing = this * (1-second price sd in ticks) / sqrt(event rate): a book of ~30 levels
# then spans a few seconds of price movement, as the real BTCUSDT top-20 does (~$7 in Aug 2024).
_STEP_FACTOR = 1.0
# Volume per market-order event is ~(a + b * rho) * trade_size_lots, rho = per-event price sd /
# level step: pick-offs of stale quotes add to the plain market orders when the price moves
# about a level per event. Measured on the sim so that calibrated volume comes out right.
_VOLUME_FIT = (0.75, 0.75)


@dataclass(frozen=True, slots=True)
class SimSymbolParams:
    """Everything the simulator needs for one symbol; rates are per second at multiplier 1.

    The book model (Cont, Stoikov & Talreja 2010 flavour): limit orders arrive at distance
    ``i`` (1..``depth_levels``) steps of ``level_step_ticks`` from the opposite best quote with
    weight ``i ** -power_alpha``; cancellations hit levels in proportion to their size; market
    orders (share ``market_share``, Pareto sizes with tail ``trade_size_tail`` and mean
    ``trade_size_lots``) walk the book. A latent fair price (GBM with ``annual_vol``, jumps and a
    calm/active regime) steers all of it.
    """

    symbol: str
    start_price: Decimal
    annual_vol: float
    level_step_ticks: int
    base_size_lots: int  # median limit-order size
    trade_size_lots: int  # mean market-order size
    volume_per_hour_lots: int  # typical hourly volume (history candles)
    event_rate: float = DEFAULT_EVENT_RATE  # mean order events/s including clustering
    depth_levels: int = 50
    power_alpha: float = 0.4
    market_share: float = 0.07
    resting_levels: float = 60.0  # cancellation scale: ~levels per side at equilibrium
    requote_weight: float = 6.0  # touch requotes per level-step of lag behind fair
    pickoff_prob: float = 0.3  # stale quote taken by a market order rather than pulled
    trade_size_tail: float = 1.6  # Pareto tail index of market-order sizes
    limit_size_sigma: float = 1.3  # lognormal sigma of limit-order sizes
    hawkes_branching: float = 0.65  # share of events triggered by earlier events
    hawkes_decay: float = 4.0  # 1/s: clusters last ~0.25 s
    jump_rate_per_hour: float = 2.0
    jump_var_share: float = 0.1  # share of the variance carried by jumps
    active_share: float = 0.15  # long-run share of time in the active regime
    active_vol_ratio: float = 2.0  # active vs calm volatility
    active_rate_ratio: float = 2.5  # active vs calm order intensity
    regime_mean_s: float = 900.0  # mean calm spell; active spells scale with active_share

    def __post_init__(self) -> None:
        if self.start_price <= 0:
            raise ValueError(f"{self.symbol}: start_price must be > 0")
        if not 0 < self.annual_vol < 10:
            raise ValueError(f"{self.symbol}: annual_vol out of range: {self.annual_vol}")
        if self.level_step_ticks < 1 or self.base_size_lots < 1 or self.trade_size_lots < 1:
            raise ValueError(f"{self.symbol}: step and sizes must be >= 1")
        if self.volume_per_hour_lots < 0 or self.event_rate <= 0 or self.depth_levels < 2:
            raise ValueError(f"{self.symbol}: bad volume, event rate or depth")
        if not 0 <= self.hawkes_branching < 1 or self.hawkes_decay <= 0:
            raise ValueError(f"{self.symbol}: Hawkes branching must be in [0, 1), decay > 0")
        if not 0 < self.market_share < 1 or not 0 <= self.pickoff_prob <= 1:
            raise ValueError(f"{self.symbol}: market_share in (0, 1), pickoff_prob in [0, 1]")
        if self.trade_size_tail <= 1 or self.limit_size_sigma < 0 or self.resting_levels <= 0:
            raise ValueError(f"{self.symbol}: size tail must be > 1, sigma >= 0")
        if not 0 <= self.jump_var_share < 1 or self.jump_rate_per_hour < 0:
            raise ValueError(f"{self.symbol}: jump share in [0, 1), rate >= 0")
        if not 0 < self.active_share < 1 or self.active_vol_ratio <= 0:
            raise ValueError(f"{self.symbol}: regime parameters out of range")
        if self.active_rate_ratio <= 0 or self.regime_mean_s <= 0:
            raise ValueError(f"{self.symbol}: regime parameters out of range")


def derive_params(
    instrument: Instrument,
    start_price: Decimal,
    annual_vol: float,
    hourly_volume: Decimal,
    event_rate: float = DEFAULT_EVENT_RATE,
) -> SimSymbolParams:
    """Grid-dependent parameters from the three market facts (price, vol, volume)."""
    start = instrument.ticks_to_price(max(1, instrument.price_to_ticks(start_price)))
    start_ticks = instrument.price_to_ticks(start)
    sd_1s_ticks = start_ticks * annual_vol / math.sqrt(SECONDS_PER_YEAR)
    step = max(1, round(_STEP_FACTOR * sd_1s_ticks / math.sqrt(event_rate)))
    base = SimSymbolParams(
        symbol=instrument.symbol,
        start_price=start,
        annual_vol=annual_vol,
        level_step_ticks=step,
        base_size_lots=1,
        trade_size_lots=1,
        volume_per_hour_lots=0,
        event_rate=event_rate,
    )
    volume_lots = max(0, instrument.qty_to_lots(hourly_volume))
    market_events_per_hour = 3600.0 * event_rate * base.market_share
    rho = min(1.0, sd_1s_ticks / math.sqrt(event_rate) / step)
    per_event = _VOLUME_FIT[0] + _VOLUME_FIT[1] * rho
    trade_size = max(1, round(volume_lots / market_events_per_hour / per_event))
    return replace(
        base,
        trade_size_lots=trade_size,
        base_size_lots=max(1, 3 * trade_size),
        volume_per_hour_lots=volume_lots,
    )


def default_params(instruments: Mapping[str, Instrument]) -> dict[str, SimSymbolParams]:
    """Built-in parameters: the app runs without any data files."""
    out: dict[str, SimSymbolParams] = {}
    for symbol, inst in instruments.items():
        price, vol, volume = _DEFAULTS.get(inst.base, _FALLBACK)
        out[symbol] = derive_params(inst, Decimal(price), vol, Decimal(str(volume)))
    return out


@dataclass(frozen=True, slots=True)
class CandleStats:
    """What calibration takes from a candle file."""

    last_close: Decimal
    annual_vol: float
    median_hourly_volume: Decimal
    bars: int
    gaps: int  # missing bars inside the window (real exchange outages)


def candle_file(data_dir: Path, instrument: Instrument) -> Path:
    return data_dir / f"binance_spot_{instrument.base}{instrument.quote}_1h.csv.gz"


def read_candle_stats(path: Path, days: int = CALIBRATION_DAYS) -> CandleStats:
    """Stats of the last ``days`` of a 1h Binance candle file (open_time_ms,o,h,l,c,volume).

    Gaps are real (outages), so returns are scaled by their actual time span rather than
    assuming one bar per hour; unordered or duplicated rows are refused.
    """
    with gzip.open(path, "rt", encoding="ascii", newline="") as fh:
        lines = fh.read().splitlines()
    header = lines[0].split(",") if lines else []
    if header[:6] != ["open_time_ms", "open", "high", "low", "close", "volume"]:
        raise ValueError(f"{path.name}: unexpected header {header}")
    # Hourly bars: the window lies within the last days*24 (+1) rows, gaps only shorten it.
    tail = lines[max(1, len(lines) - days * 24 - 1) :]
    rows = [(int(r[0]), Decimal(r[4]), Decimal(r[5])) for r in csv.reader(tail) if r]
    if len(rows) < 48:
        raise ValueError(f"{path.name}: too few rows ({len(rows)})")
    cutoff = rows[-1][0] - days * 86_400_000
    window = [r for r in rows if r[0] >= cutoff]
    hour_ms = 3_600_000
    var_sum = 0.0
    span_h = 0
    gaps = 0
    for (t0, c0, _), (t1, c1, _) in pairwise(window):
        if t1 <= t0:
            raise ValueError(f"{path.name}: rows out of order at {t1}")
        if c0 <= 0 or c1 <= 0:
            raise ValueError(f"{path.name}: non-positive close at {t1}")
        hours = (t1 - t0) // hour_ms
        gaps += hours - 1
        var_sum += math.log(c1 / c0) ** 2
        span_h += hours
    if gaps:
        log.info("%s: %d missing hourly bars in the last %d days", path.name, gaps, days)
    annual_vol = math.sqrt(var_sum / span_h * 24 * 365.25)
    volume = statistics.median(r[2] for r in window)
    return CandleStats(window[-1][1], annual_vol, volume, len(window), gaps)


def calibrate(data_dir: Path, instruments: Mapping[str, Instrument]) -> dict[str, SimSymbolParams]:
    """Start price (last close), annual vol (last ~90 days) and trade sizes from real candles.

    Symbols without a file keep their built-in defaults, so a partial data set still works.
    """
    out = default_params(instruments)
    for symbol, inst in instruments.items():
        path = candle_file(data_dir, inst)
        if not path.is_file():
            log.info("no candles for %s at %s; using defaults", symbol, path)
            continue
        stats = read_candle_stats(path)
        out[symbol] = derive_params(
            inst, stats.last_close, stats.annual_vol, stats.median_hourly_volume
        )
    return out
