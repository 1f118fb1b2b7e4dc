"""Real exchanges through ccxt (async ccxt + ccxt.pro): market data now, orders later.

Importing the package registers its venues (``binance``); ccxt itself is imported only when a
source is built (``engine.venues.ccxt.source``), so ``tradedeck --help`` stays quick. Paper
trading on the live public data is the default for a real venue.
"""

from __future__ import annotations

from engine.venues.registry import VENUES, VenueInfo

BINANCE = VENUES.register(
    VenueInfo(
        "binance",
        "Binance spot public market data through ccxt.pro (paper trading on the live books; "
        "endpoints overridable for testnets, proxies and emulators)",
        # Not offered by --venue or --help until the live engine opens it (connect before
        # sizing instruments); until then a config naming it is refused with that reason.
        user_facing=False,
    )
)
