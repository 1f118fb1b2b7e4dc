"""Backtest settings: one frozen, validated object (fees, slippage, fill rule, latency, risk)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from engine.backtest.slippage import SlippageModel, parse_slippage
from engine.model.instrument import DEFAULT_INSTRUMENTS, Instrument
from engine.risk import CEILINGS, DEFAULT_LIMITS, LimitError, RiskLimits, validate_changes

FILL_RULES: Final = ("next_open", "close")
LIMIT_RULES: Final = ("through", "touch")

# A backtest should test the strategy, not trip the desk's live limits: every limit at its hard
# ceiling. Orders still go through the same RiskEngine, so an order the ceiling refuses (over
# 1,000,000 notional, a 50% daily loss) is refused here too, and shows up in the results.
BACKTEST_LIMITS: Final[RiskLimits] = RiskLimits(
    **{name: CEILINGS[name] for name in DEFAULT_LIMITS.as_dict()}  # type: ignore[arg-type]
)


# Bounds of the money settings: far beyond any real account, well inside what exact decimal
# arithmetic (28 significant digits) and int64 ticks and lots can carry without overflow.
MAX_CASH: Final = Decimal(10) ** 15
MAX_LOT: Final = Decimal(10) ** 6
MAX_DECIMALS: Final = 30  # digits after the point of cash and fees (fee bps / 10000 adds 4)
MAX_LOT_DECIMALS: Final = 12  # a lot of 1e-12 still quantizes any qty within 28 digits
MAX_LATENCY_BARS: Final = 1_000_000
MAX_LATENCY_MS: Final = 7 * 86_400_000


class BacktestConfigError(ValueError):
    """A setting is unusable; the message says which and why."""


def _check_decimal(name: str, v: object, max_decimals: int = MAX_DECIMALS) -> None:
    """A finite ``Decimal`` with at most ``MAX_DECIMALS`` decimals and a sane magnitude (O(1):
    huge exponents are refused from the exponent, never expanded)."""
    if not isinstance(v, Decimal) or not v.is_finite():
        raise BacktestConfigError(f"{name} must be a finite Decimal, got {v!r}")
    exponent = v.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if v and (v.adjusted() > 18 or exponent < -max_decimals):
        raise BacktestConfigError(f"{name} is out of range: {v}")


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestConfig:
    cash: Decimal = Decimal(10000)
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    slippage: str = "none"
    fill: str = "next_open"
    limit_fill: str = "through"
    latency_bars: int = 0
    latency_ms: int = 0
    lot_size: Decimal | None = None
    min_notional: Decimal | None = None
    risk: Mapping[str, object] = field(default_factory=dict)
    day_start_hour: int = 0

    def __post_init__(self) -> None:
        for name in ("cash", "maker_fee", "taker_fee"):
            _check_decimal(name, getattr(self, name))
        for name in ("lot_size", "min_notional"):
            if getattr(self, name) is not None:
                _check_decimal(name, getattr(self, name), MAX_LOT_DECIMALS)
        if self.cash <= 0:
            raise BacktestConfigError("cash must be positive")
        if self.cash > MAX_CASH:
            raise BacktestConfigError(f"cash must be at most {MAX_CASH:,}")
        if not (0 <= self.maker_fee < 1 and 0 <= self.taker_fee < 1):
            raise BacktestConfigError("fees are fractions in [0, 1)")
        for name, top in (
            ("latency_bars", MAX_LATENCY_BARS),
            ("latency_ms", MAX_LATENCY_MS),
            ("day_start_hour", 23),
        ):
            v = getattr(self, name)
            if type(v) is not int:  # not bool, not a numpy scalar
                raise BacktestConfigError(f"{name} must be a whole number, got {v!r}")
            if not 0 <= v <= top:
                raise BacktestConfigError(f"{name} must be in 0..{top:,}, got {v}")
        if not isinstance(self.slippage, str):
            raise BacktestConfigError(f"slippage must be text, got {self.slippage!r}")
        if self.fill not in FILL_RULES:
            raise BacktestConfigError(f"fill must be one of {FILL_RULES}, not {self.fill!r}")
        if self.limit_fill not in LIMIT_RULES:
            raise BacktestConfigError(
                f"limit_fill must be one of {LIMIT_RULES}, not {self.limit_fill!r}"
            )
        if self.lot_size is not None and not 0 < self.lot_size <= MAX_LOT:
            raise BacktestConfigError(f"lot size must be positive and at most {MAX_LOT:,}")
        if self.min_notional is not None and not 0 <= self.min_notional <= MAX_CASH:
            raise BacktestConfigError(f"min notional must be in 0..{MAX_CASH:,}")
        try:
            self.slippage_model()
        except ValueError as exc:
            raise BacktestConfigError(str(exc)) from None
        if isinstance(self.risk_limits(), LimitError):
            raise BacktestConfigError(f"risk limits: {self.risk_limits()}")

    def slippage_model(self) -> SlippageModel:
        return parse_slippage(self.slippage)

    def risk_limits(self) -> RiskLimits | LimitError:
        return validate_changes(BACKTEST_LIMITS, dict(self.risk))

    def latency_ns(self, interval_ms: int) -> int:
        return self.latency_ms * 1_000_000 + self.latency_bars * interval_ms * 1_000_000

    def instrument(self, symbol: str, tick_size: Decimal) -> Instrument:
        """The traded instrument on the data's price grid, with the lot / min notional asked."""
        known = DEFAULT_INSTRUMENTS.get(symbol)
        base, _, quote = symbol.partition("/")
        lot = self.lot_size or (known.lot_size if known else Decimal("0.00001"))
        min_notional = (
            self.min_notional
            if self.min_notional is not None
            else (known.min_notional if known else Decimal(0))
        )
        return Instrument(symbol, base or symbol, quote or "USD", tick_size, lot, min_notional)

    def describe(self) -> dict[str, str]:
        """The assumptions, in words, for reports."""
        model = self.slippage_model()
        lat = []
        if self.latency_bars:
            lat.append(f"{self.latency_bars} bar(s)")
        if self.latency_ms:
            lat.append(f"{self.latency_ms} ms")
        return {
            "fees": f"maker {self.maker_fee * 10000} bps, taker {self.taker_fee * 10000} bps",
            "slippage": model.describe(),
            "fill": (
                "market orders decided on a bar's close fill at the next bar's open"
                if self.fill == "next_open"
                else "market orders fill at the close of the signal bar"
            ),
            "limit_fill": (
                "a resting limit fills when the price trades through it (strictly beyond)"
                if self.limit_fill == "through"
                else "a resting limit fills when the price touches it"
            ),
            "latency": " + ".join(lat) if lat else "none",
            "intrabar_path": "open, low, high, close if the bar closed up, else open, high, low, "
            "close",
            "risk": "every order through the RiskEngine; limits at their hard ceilings unless set",
        }
