"""The venue registry: what ``--venue`` accepts and ``tradedeck --help`` lists.

A venue registers a name, a one-line help and whether it takes an argument (``replay:PATH``).
The engine config validates ``venue`` against it; the CLI builds its help from it. A new venue
(an exchange) registers itself in its own package; nothing else in the engine changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VenueInfo:
    name: str
    help: str
    argument: str | None = None  # e.g. "PATH": the venue is written "name:PATH"
    user_facing: bool = True

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


VENUES = VenueRegistry()
VENUES.register(VenueInfo("sim", "the built-in simulated exchange, deterministic for a seed"))
VENUES.register(
    VenueInfo(
        "replay",
        "recorded market data played back through the engine (L2 captures at PATH; "
        "recorded bars in tests)",
        argument="PATH",
    )
)
