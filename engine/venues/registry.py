"""The venue registry: what ``--venue`` accepts and ``tradedeck --help`` lists.

A venue registers a name, a one-line help, whether it takes an argument (``replay:PATH``), the
factory that opens its market-data source (``open``) and, when it knows them before connecting,
the instruments it lists (``catalogue``: the config refuses other symbols at once). The engine
config validates ``venue`` against it; the CLI builds its help from it; the live engine opens
the source the factory returns. A new venue (an exchange) registers itself in its own package;
nothing else in the engine changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.model.instrument import DEFAULT_INSTRUMENTS, Instrument

if TYPE_CHECKING:
    from engine.venues.base import MarketDataSource, SourceRequest


@dataclass(frozen=True, slots=True)
class VenueInfo:
    name: str
    help: str
    argument: str | None = None  # e.g. "PATH": the venue is written "name:PATH"
    user_facing: bool = True
    open: Callable[[SourceRequest], MarketDataSource] | None = None
    # The instruments the venue lists, when known before connecting (None: asked at open).
    catalogue: Mapping[str, Instrument] | None = None
    # The symbols a spec's argument implies (a capture file's instrument); None: as configured.
    symbols_for: Callable[[str], tuple[str, ...]] | None = None

    @property
    def spec(self) -> str:
        return self.name if self.argument is None else f"{self.name}:{self.argument}"


class UnknownVenue(ValueError):
    """A venue spec no registered venue accepts."""


class VenueRegistry:
    def __init__(self) -> None:
        self._venues: dict[str, VenueInfo] = {}

    def register(self, info: VenueInfo) -> VenueInfo:
        if info.name in self._venues:
            raise ValueError(f"venue {info.name!r} is already registered")
        if not info.name.isidentifier():
            raise ValueError(f"venue name {info.name!r} must be an identifier")
        self._venues[info.name] = info
        return info

    def unregister(self, name: str) -> None:
        """Forget a venue (a test's stub venue; a plugin being unloaded)."""
        self._venues.pop(name, None)

    def __iter__(self) -> Iterator[VenueInfo]:
        return iter(self._venues.values())

    def names(self) -> tuple[str, ...]:
        return tuple(self._venues)

    def parse(self, spec: str, *, require_argument: bool = True) -> tuple[VenueInfo, str | None]:
        """``"sim"`` -> (sim, None); ``"replay:/x"`` -> (replay, "/x"); else ``UnknownVenue``.
        ``require_argument=False`` lets the engine's own bar replay write plain ``replay``."""
        if not isinstance(spec, str):
            raise UnknownVenue(f"venue must be text, got {spec!r}")
        name, sep, arg = spec.partition(":")
        info = self._venues.get(name)
        if info is None:
            raise UnknownVenue(f"venue {spec!r} is not available (known: {self.describe()})")
        if info.argument is None and sep:
            raise UnknownVenue(f"venue {name!r} takes no argument, got {spec!r}")
        if info.argument is not None and (require_argument or sep) and not arg:
            raise UnknownVenue(f"venue {name!r} needs an argument: {info.spec}")
        return info, (arg if sep else None)

    def describe(self) -> str:
        return ", ".join(v.spec for v in self if v.user_facing)

    def help_text(self) -> str:
        return "; ".join(f"{v.spec}: {v.help}" for v in self if v.user_facing)


def capture_symbol(path: Path) -> str | None:
    """The instrument of a capture file, from its name (``..._btcusdt_...`` -> BTC/USDT)."""
    name = path.name.lower()
    for symbol in DEFAULT_INSTRUMENTS:
        if f"_{symbol.replace('/', '').lower()}_" in name:
            return symbol
    return None


def _capture_symbols(arg: str) -> tuple[str, ...]:
    path = Path(arg).expanduser()
    if not path.is_file():
        raise UnknownVenue(f"venue 'replay:{arg}': no capture file at {path}")
    symbol = capture_symbol(path)
    if symbol is None:
        raise UnknownVenue(
            f"venue 'replay:{arg}': no known symbol in the file name "
            f"(known: {', '.join(DEFAULT_INSTRUMENTS)})"
        )
    return (symbol,)


def _open_sim(req: SourceRequest) -> MarketDataSource:
    import logging

    from engine.venues.base import SimSource
    from engine.venues.sim import SimMarket, calibrate, default_params

    instruments = {s: DEFAULT_INSTRUMENTS[s] for s in req.symbols}
    params = None
    if req.market_data_dir is not None:
        try:
            params = calibrate(req.market_data_dir, instruments)
        except Exception:
            logging.getLogger(__name__).warning(
                "simulator calibration failed; using built-in defaults", exc_info=True
            )
    if params is None:
        params = default_params(instruments)
    market = SimMarket(
        instruments, req.seed, req.now_ns, rate_multiplier=req.sim_rate, params=params
    )
    return SimSource(market, instruments, req.step_s)


def _open_capture(req: SourceRequest) -> MarketDataSource:
    from engine.venues.base import CaptureSource

    if req.argument is None:
        raise UnknownVenue("venue 'replay' needs a PATH to open a source (replay:PATH)")
    inst = DEFAULT_INSTRUMENTS[req.symbols[0]]
    return CaptureSource([Path(req.argument).expanduser()], inst, speed=req.replay_speed)


VENUES = VenueRegistry()
VENUES.register(
    VenueInfo(
        "sim",
        "the built-in simulated exchange, deterministic for a seed",
        open=_open_sim,
        catalogue=DEFAULT_INSTRUMENTS,
    )
)
VENUES.register(
    VenueInfo(
        "replay",
        "recorded market data played back through the engine (L2 captures at PATH; "
        "recorded bars in tests)",
        argument="PATH",
        open=_open_capture,
        catalogue=DEFAULT_INSTRUMENTS,
        symbols_for=_capture_symbols,
    )
)
