"""Engine configuration: per-part configs, each frozen and validated when it is built, composed
into one ``EngineConfig``.

The parts, one per subsystem:

- ``VenueConfig``: which market (``venue``, a ``engine.venues.registry.VENUES`` spec), the
  symbols, the simulator's seed and rate, the recordings to replay.
- ``PaperBrokerConfig``: the paper account's cash, the fees and the order latency.
- ``RiskConfig``: the limits a new account starts with (``engine.risk.limits.LIMIT_SPECS``).
- ``JournalConfig``: where the database lives and whether the data directory is locked.

The flat keywords (``EngineConfig(data_dir=..., seed=..., latency_ms=..., sim_rate=...,
book_depth=..., venue=...)``) still build it and still read back: each names a field of one of
the parts (given beside a whole part, a flat keyword overrides that field of it).

**Fees have one unit: a ``Decimal`` fraction of notional** (``Decimal("0.001")`` is 0.1%, i.e.
10 bps), as ``engine.matching.FeeSchedule`` holds them, in the live engine, the kernel, the
backtester (``BacktestConfig.maker_fee``/``taker_fee``) and the strategy API alike. Basis
points exist only at the edges where a person types or reads a number: the backtest CLI's
``--fee-bps``, the Backtest tab, and the ``maker_fee_bps``/``taker_fee_bps`` keywords here,
which are converted once, on construction (and shown back by the same-named properties).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from engine.matching import FeeSchedule
from engine.model.money import parse_decimal
from engine.risk.limits import RiskLimits, validate_changes
from engine.venues.registry import VENUES, UnknownVenue, capture_symbol

if TYPE_CHECKING:
    from engine.backtest.data import Bars

__all__ = [
    "ConfigError",
    "EngineConfig",
    "JournalConfig",
    "PaperBrokerConfig",
    "RiskConfig",
    "VenueConfig",
    "capture_symbol",
    "replay_path",
]

DEFAULT_SYMBOLS: tuple[str, ...] = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
KNOWN_VENUES: tuple[str, ...] = VENUES.names()  # the registry is the list (``--venue``)
BPS = Decimal(10_000)  # basis points per unit fraction: the CLI/UI edge's conversion


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


def replay_path(venue: str) -> Path | None:
    """The capture path of a ``replay:PATH`` venue (``None`` for any other venue)."""
    name, sep, arg = venue.partition(":")
    return Path(arg).expanduser() if name == "replay" and sep and arg else None


def _non_negative(name: str, value: object) -> Decimal:
    number = parse_decimal(value)
    if number is None or number < 0:
        raise ConfigError(f"{name} must be a non-negative number, got {value!r}")
    return number


# ---------------------------------------------------------------------- the parts


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueConfig:
    """The market: a registered venue, its symbols, and how a simulated or recorded one runs."""

    venue: str = "sim"
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    seed: int = 7
    sim_rate: float = 1.0
    market_data_dir: Path | None = field(default_factory=default_market_data_dir)
    # venue="replay": recorded bars played through the live engine under a simulated clock
    # (deterministic paper trading; the strategy-parity tests use it). Not a user-facing venue.
    replay_bars: Bars | None = None
    replay_slippage: str = "none"
    # venue="replay:PATH": recorded L2 captures at PATH, played at this many times real time
    # (0: as fast as possible).
    replay_speed: float = 1.0

    def __post_init__(self) -> None:
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
        if not (0 < self.sim_rate <= 10_000):
            raise ConfigError(f"sim_rate must be in (0, 10000], got {self.sim_rate}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PaperBrokerConfig:
    """The paper account and its broker: starting cash, fees (fractions of notional; see the
    module docstring), and the latency from decision to arrival at the book."""

    paper_cash: Decimal = Decimal(10000)
    fees: FeeSchedule = field(default_factory=FeeSchedule)
    latency_ms: Decimal = Decimal(20)

    def __post_init__(self) -> None:
        cash = _non_negative("paper_cash", self.paper_cash)
        if cash <= 0:
            raise ConfigError("paper_cash must be positive")
        object.__setattr__(self, "paper_cash", cash)
        object.__setattr__(self, "latency_ms", _non_negative("latency_ms", self.latency_ms))
        if not isinstance(self.fees, FeeSchedule):
            raise ConfigError(f"fees must be a FeeSchedule, got {self.fees!r}")

    @classmethod
    def from_bps(
        cls, *, maker_fee_bps: object, taker_fee_bps: object, **kwargs: Any
    ) -> PaperBrokerConfig:
        """Fees typed in basis points (the edge's unit), held as fractions."""
        maker = _non_negative("maker_fee_bps", maker_fee_bps) / BPS
        taker = _non_negative("taker_fee_bps", taker_fee_bps) / BPS
        try:
            fees = FeeSchedule(maker=maker, taker=taker)
        except ValueError as exc:
            raise ConfigError(f"fees: {exc}") from None
        return cls(fees=fees, **kwargs)

    @property
    def latency_ns(self) -> int:
        return int(self.latency_ms * 1_000_000)


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskConfig:
    """The limits a new account starts with. Once the database holds limits, those win: every
    later change goes through ``UpdateRiskLimits`` and is audited there. A mapping of limit
    names to values is validated against ``LIMIT_SPECS`` (floors, hard ceilings)."""

    limits: RiskLimits = field(default_factory=RiskLimits)

    def __post_init__(self) -> None:
        limits: object = self.limits
        if isinstance(limits, Mapping):
            checked = validate_changes(RiskLimits(), limits)
            if not isinstance(checked, RiskLimits):
                raise ConfigError(checked.reason)
            object.__setattr__(self, "limits", checked)
        elif not isinstance(limits, RiskLimits):
            raise ConfigError(f"risk limits must be RiskLimits or a mapping, got {limits!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalConfig:
    """Where the SQLite journal lives; ``lock_data_dir`` keeps a second writer out."""

    data_dir: Path = field(default_factory=default_data_dir)
    lock_data_dir: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())


# ---------------------------------------------------------------------- the whole


_VENUE_FIELDS = (
    "venue",
    "symbols",
    "seed",
    "sim_rate",
    "market_data_dir",
    "replay_bars",
    "replay_slippage",
    "replay_speed",
)
_BROKER_FIELDS = ("paper_cash", "latency_ms")
_JOURNAL_FIELDS = ("data_dir", "lock_data_dir")
_UNSET: Any = object()  # "not given": the part's default (or the given part's value) holds


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    """Everything the engine needs to start, as its parts (``venue_config``, ``broker``,
    ``risk``, ``journal``) plus the view settings. Validated at construction (``ConfigError``).

    Each flat keyword is a field of one part and reads back as an attribute; a part can be
    passed whole (``broker=PaperBrokerConfig(...)``), and a flat keyword given beside it
    overrides that one field of it.
    """

    # the parts (built from the flat keywords when not given)
    venue_config: VenueConfig = _UNSET
    broker: PaperBrokerConfig = _UNSET
    risk: RiskConfig = field(default_factory=RiskConfig)
    journal: JournalConfig = _UNSET
    # flat keywords, each a field of a part (read back as the part has it)
    data_dir: Path = _UNSET
    lock_data_dir: bool = _UNSET
    venue: str = _UNSET
    symbols: tuple[str, ...] = _UNSET
    seed: int = _UNSET
    sim_rate: float = _UNSET
    market_data_dir: Path | None = _UNSET
    replay_bars: Bars | None = _UNSET
    replay_slippage: str = _UNSET
    replay_speed: float = _UNSET
    paper_cash: Decimal = _UNSET
    latency_ms: Decimal = _UNSET
    maker_fee_bps: Decimal = _UNSET  # the edge's unit; held as ``broker.fees`` fractions
    taker_fee_bps: Decimal = _UNSET
    # the views: snapshot depth, candles, publication rate
    book_depth: int = 20
    candle_seconds: int = 60
    snapshot_hz: float = 50.0
    # The GUI thread shares the GIL with the engine; a 1 ms switch interval (default 5 ms)
    # bounds how long a book update can wait for the interpreter. None leaves it alone.
    gil_switch_interval_s: float | None = 0.001

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "venue_config", self._part("venue_config", VenueConfig, _VENUE_FIELDS)
        )
        object.__setattr__(self, "journal", self._part("journal", JournalConfig, _JOURNAL_FIELDS))
        object.__setattr__(self, "broker", self._broker())
        if not isinstance(self.risk, RiskConfig):
            raise ConfigError(f"risk must be a RiskConfig, got {self.risk!r}")
        for part, names in (
            (self.venue_config, _VENUE_FIELDS),
            (self.journal, _JOURNAL_FIELDS),
            (self.broker, _BROKER_FIELDS),
        ):
            for name in names:
                object.__setattr__(self, name, getattr(part, name))
        fees = self.broker.fees
        object.__setattr__(self, "maker_fee_bps", fees.maker * BPS)
        object.__setattr__(self, "taker_fee_bps", fees.taker * BPS)
        if not (1 <= self.book_depth <= 500):
            raise ConfigError("book_depth must be between 1 and 500")
        if self.candle_seconds <= 0:
            raise ConfigError("candle_seconds must be positive")
        if not (1 <= self.snapshot_hz <= 1000):
            raise ConfigError("snapshot_hz must be between 1 and 1000")

    def _given(self, names: tuple[str, ...]) -> dict[str, Any]:
        return {n: getattr(self, n) for n in names if getattr(self, n) is not _UNSET}

    def _part(self, attr: str, cls: Any, names: tuple[str, ...]) -> Any:
        part, given = getattr(self, attr), self._given(names)
        if part is _UNSET:
            return cls(**given)
        if not isinstance(part, cls):
            raise ConfigError(f"{attr} must be a {cls.__name__}, got {part!r}")
        return dataclasses.replace(part, **given) if given else part

    def _broker(self) -> PaperBrokerConfig:
        part: PaperBrokerConfig = self._part("broker", PaperBrokerConfig, _BROKER_FIELDS)
        bps = self._given(("maker_fee_bps", "taker_fee_bps"))
        if not bps:
            return part
        return PaperBrokerConfig.from_bps(
            maker_fee_bps=bps.get("maker_fee_bps", part.fees.maker * BPS),
            taker_fee_bps=bps.get("taker_fee_bps", part.fees.taker * BPS),
            paper_cash=part.paper_cash,
            latency_ms=part.latency_ms,
        )
