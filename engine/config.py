"""Engine configuration: one frozen, validated object, checked when it is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from engine.model.money import parse_decimal
from engine.venues.registry import VENUES, UnknownVenue, capture_symbol

if TYPE_CHECKING:
    from engine.backtest.data import Bars

DEFAULT_SYMBOLS: tuple[str, ...] = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
KNOWN_VENUES: tuple[str, ...] = VENUES.names()  # the registry is the list (``--venue``)


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


__all__ = ["ConfigError", "EngineConfig", "capture_symbol", "replay_path"]


def replay_path(venue: str) -> Path | None:
    """The capture path of a ``replay:PATH`` venue (``None`` for any other venue)."""
    name, sep, arg = venue.partition(":")
    return Path(arg).expanduser() if name == "replay" and sep and arg else None


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
    # venue="replay:PATH": recorded L2 captures at PATH, played at this many times real time
    # (0: as fast as possible).
    replay_speed: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())
        if isinstance(self.symbols, str):
            object.__setattr__(self, "symbols", tuple(s.strip() for s in self.symbols.split(",")))
        else:
            object.__setattr__(self, "symbols", tuple(self.symbols))
        try:
            info, arg = VENUES.parse(self.venue, require_argument=False)
        except UnknownVenue as exc:
            raise ConfigError(str(exc)) from None
        if info.name == "replay" and arg is None:
            if self.replay_bars is None:
                raise ConfigError("venue 'replay' needs replay_bars (or write replay:PATH)")
            if self.symbols != (self.replay_bars.symbol,):
                object.__setattr__(self, "symbols", (self.replay_bars.symbol,))
        elif arg is not None and info.symbols_for is not None:
            try:
                object.__setattr__(self, "symbols", info.symbols_for(arg))
            except UnknownVenue as exc:
                raise ConfigError(str(exc)) from None
        if arg is not None and (
            isinstance(self.replay_speed, bool) or not (0 <= self.replay_speed <= 10_000)
        ):
            raise ConfigError(f"replay_speed must be in [0, 10000], got {self.replay_speed}")
        if not self.symbols:
            raise ConfigError("at least one symbol is needed")
        known = info.catalogue
        unknown = [] if known is None else [s for s in self.symbols if s not in known]
        if known is not None and unknown:
            raise ConfigError(f"unknown symbol(s) {', '.join(unknown)}; known: {', '.join(known)}")
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
