"""Exponential backoff with jitter that honours a venue's ``Retry-After``.

``delay(retry_after)`` grows ``base * 2**n`` up to ``cap``, drawn uniformly in its upper half
(so reconnecting clients spread out), and never below what the venue asked for: on Binance, a
burst after a 429 risks a 418 IP ban. ``reset()`` after a success.
"""

from __future__ import annotations

import random
from collections.abc import Mapping


class Backoff:
    def __init__(
        self, base_s: float = 0.05, cap_s: float = 10.0, *, rng: random.Random | None = None
    ) -> None:
        if not 0 < base_s <= cap_s:
            raise ValueError(f"need 0 < base_s <= cap_s, got {base_s}, {cap_s}")
        self.base_s = base_s
        self.cap_s = cap_s
        self.attempts = 0
        self._rng = rng or random.Random()

    def delay(self, retry_after_s: float | None = None) -> float:
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(self.attempts, 30))
        self.attempts += 1
        wait = self._rng.uniform(ceiling / 2, ceiling)
        if retry_after_s is not None and retry_after_s > wait:
            return retry_after_s
        return wait

    def reset(self) -> None:
        self.attempts = 0


def retry_after_s(headers: Mapping[str, object] | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form), if present and sane."""
    if not headers:
        return None
    for key, value in headers.items():
        if str(key).lower() == "retry-after":
            try:
                seconds = float(str(value))
            except ValueError:
                return None
            return seconds if 0 <= seconds <= 3600 else None
    return None
