"""Engine configuration: one frozen, validated object, checked when it is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from engine.model.instrument import DEFAULT_INSTRUMENTS
from engine.model.money import parse_decimal

if TYPE_CHECKING:
    from engine.backtest.data import Bars

DEFAULT_SYMBOLS: tuple[str, ...] = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
KNOWN_VENUES: tuple[str, ...] = ("sim",)


class ConfigError(ValueError):
    """A configuration value is unusable; the message says which and why."""


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("tradedeck", appauthor=False))


def default_market_data_dir() -> Path | None:
    """Real candles beside the checkout (``../shared/data``) calibrate the simulator."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here.parent / "shared" / "data", here / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    """Everything the engine needs to start. Validated at construction (``ConfigError``)."""

    data_dir: Path = field(default_factory=default_data_dir)
    venue: str = "sim"
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    seed: int = 7
    paper_cash: Decimal = Decimal(10000)
    maker_fee_bps: Decimal = Decimal(10)
    taker_fee_bps: Decimal = Decimal(10)
    latency_ms: Decimal = Decimal(20)
    sim_rate: float = 1.0
    market_data_dir: Path | None = field(default_factory=default_market_data_dir)
    book_depth: int = 20
    candle_seconds: int = 60
    snapshot_hz: float = 50.0
    lock_data_dir: bool = True
    # The GUI thread shares the GIL with the engine; a 1 ms switch interval (default 5 ms)
    # bounds how long a book update can wait for the interpreter. None leaves it alone.
    gil_switch_interval_s: float | None = 0.001
    # venue="replay": recorded bars played through the live engine under a simulated clock
    # (deterministic paper trading; the strategy-parity tests use it). Not a user-facing venue.
    replay_bars: Bars | None = None
    replay_slippage: str = "none"

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())
        if isinstance(self.symbols, str):
            object.__setattr__(self, "symbols", tuple(s.strip() for s in self.symbols.split(",")))
        else:
            object.__setattr__(self, "symbols", tuple(self.symbols))
        if self.venue == "replay":
            if self.replay_bars is None:
                raise ConfigError("venue 'replay' needs replay_bars")
            if self.symbols != (self.replay_bars.symbol,):
                object.__setattr__(self, "symbols", (self.replay_bars.symbol,))
        elif self.venue not in KNOWN_VENUES:
            raise ConfigError(f"venue {self.venue!r} is not available (known: {KNOWN_VENUES})")
        if not self.symbols:
            raise ConfigError("at least one symbol is needed")
        unknown = [s for s in self.symbols if s not in DEFAULT_INSTRUMENTS]
        if unknown:
            raise ConfigError(
                f"unknown symbol(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_INSTRUMENTS)}"
            )
        if len(set(self.symbols)) != len(self.symbols):
            raise ConfigError("symbols are listed twice")
        for name in ("paper_cash", "maker_fee_bps", "taker_fee_bps", "latency_ms"):
            value = parse_decimal(getattr(self, name))
            if value is None or value < 0:
                raise ConfigError(
                    f"{name} must be a non-negative number, got {getattr(self, name)!r}"
                )
            object.__setattr__(self, name, value)
        if self.paper_cash <= 0:
            raise ConfigError("paper_cash must be positive")
        if not (0 < self.sim_rate <= 10_000):
            raise ConfigError(f"sim_rate must be in (0, 10000], got {self.sim_rate}")
        if not (1 <= self.book_depth <= 500):
            raise ConfigError("book_depth must be between 1 and 500")
        if self.candle_seconds <= 0:
            raise ConfigError("candle_seconds must be positive")
        if not (1 <= self.snapshot_hz <= 1000):
            raise ConfigError("snapshot_hz must be between 1 and 1000")
