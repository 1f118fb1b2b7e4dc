"""Live trading is asked for twice: a mode switch, then the venue's name typed back exactly.

``LiveModeGate(venue).decide(switch, typed)`` allows live orders on ``venue`` only when the switch
is the boolean ``True`` (not ``"true"``, ``1`` or ``"yes"``) and ``typed`` is exactly
``LIVE <venue>`` (``LIVE binance``): same case, no surrounding or doubled spaces, this venue and
not another. Everything else is refused with the reason. The gate holds no secrets and writes
nothing: arming lives in memory for the session and a restart starts in paper mode again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_VENUE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
_MAX_TYPED: Final = 64


@dataclass(frozen=True, slots=True)
class LiveDecision:
    allowed: bool
    reason: str


def confirmation_phrase(venue: str) -> str:
    """What the trader must type to trade ``venue`` live."""
    return f"LIVE {venue}"


class LiveModeGate:
    """The two-step opt-in for one venue (Qt-free; the connect dialog asks, this decides)."""

    def __init__(self, venue: str) -> None:
        if not isinstance(venue, str) or not _VENUE.match(venue):
            raise ValueError(f"not a venue id: {str(venue)[:40]!r}")
        self.venue = venue
        self.phrase = confirmation_phrase(venue)
        self._armed = False

    @property
    def armed(self) -> bool:
        return self._armed

    def decide(self, switch: object, typed: object) -> LiveDecision:
        """Whether live trading may start; arms the gate when it may, disarms it otherwise."""
        decision = self._decide(switch, typed)
        self._armed = decision.allowed
        return decision

    def disarm(self) -> None:
        self._armed = False

    def _decide(self, switch: object, typed: object) -> LiveDecision:
        if switch is not True:
            return LiveDecision(
                False, f"live mode is off for {self.venue}: turn the live switch on first"
            )
        if typed is None:
            return LiveDecision(False, f"type {self.phrase!r} to confirm live trading")
        if not isinstance(typed, str):
            kind = type(typed).__name__
            return LiveDecision(
                False, f"the confirmation must be the text {self.phrase!r}, not a {kind}"
            )
        if len(typed) > _MAX_TYPED:
            return LiveDecision(False, f"the confirmation is not {self.phrase!r}")
        if typed == self.phrase:
            return LiveDecision(True, f"live trading on {self.venue} confirmed")
        if typed.strip() == self.phrase or " ".join(typed.split()) == self.phrase:
            why = "without extra spaces"
        elif typed.casefold() == self.phrase.casefold():
            why = "with the same capitals"
        elif typed.split()[:1] == ["LIVE"]:
            why = f"for this venue ({self.venue})"
        else:
            why = "exactly"
        return LiveDecision(False, f"the confirmation must be {self.phrase!r} typed {why}")
