"""The ccxt feed's parts without a network: backoff, Retry-After, config, endpoints, instruments;
and its start-up against an emulator that fails or is not there."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable, Sequence
from decimal import Decimal

import pytest
from emulators.binance import BinanceEmulator, generated_script
from emulators.net import loopback_only
from kit import WAIT_S

from engine.model.market import MarketEvent
from engine.venues.base import FeedHealth, HealthChange
from engine.venues.ccxt.backoff import Backoff, retry_after_s
from engine.venues.ccxt.source import (
    CcxtFeedConfig,
    CcxtMarketData,
    instrument_from_market,
    make_exchange,
)


@pytest.fixture(autouse=True)
def _loopback() -> object:
    with loopback_only():
        yield


def test_backoff_grows_to_its_cap_with_jitter_and_resets() -> None:
    b = Backoff(0.1, 1.0, rng=random.Random(1))
    delays = [b.delay() for _ in range(8)]
    for n, d in enumerate(delays):
        ceiling = min(1.0, 0.1 * 2**n)
        assert ceiling / 2 <= d <= ceiling
    b.reset()
    assert b.delay() <= 0.1


def test_backoff_never_waits_less_than_retry_after() -> None:
    b = Backoff(0.05, 10.0, rng=random.Random(2))
    assert b.delay(retry_after_s=3.0) == 3.0
    assert b.delay(retry_after_s=0.0) > 0  # a smaller Retry-After keeps the backoff


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),  # date form: backoff only
        ({"Retry-After": "-1"}, None),
        ({"Retry-After": "99999"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_header(headers: dict[str, str] | None, seconds: float | None) -> None:
    assert retry_after_s(headers) == seconds


@pytest.mark.parametrize(
    "kw",
    [
        {"symbols": ()},
        {"stale_after_s": 0},
        {"resync_timeout_s": -1},
        {"backoff_base_s": 2.0, "backoff_cap_s": 1.0},
        {"book_depth": 0},
        {"backup_poll_s": 0},
        {"api_url": "127.0.0.1:80"},
    ],
)
def test_config_refuses_bad_values(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  (each a different message)
        CcxtFeedConfig(**kw)  # type: ignore[arg-type]


def test_endpoints_are_rewritten_and_keep_stream_in_the_ws_path() -> None:
    ex = make_exchange(CcxtFeedConfig(api_url="http://127.0.0.1:9/", ws_url="ws://127.0.0.1:9"))
    try:
        assert ex.urls["api"]["public"] == "http://127.0.0.1:9/api/v3"
        assert ex.urls["api"]["ws"]["spot"] == "ws://127.0.0.1:9/stream"
        assert ex.options["fetchMarkets"]["types"] == ["spot"]
    finally:
        asyncio.run(ex.close())


def test_instrument_grid_is_exact_from_ccxt_floats() -> None:
    market = {
        "symbol": "DOGE/USDT",
        "base": "DOGE",
        "quote": "USDT",
        "precision": {"price": 1e-05, "amount": 1.0},
        "limits": {"cost": {"min": 1.0}},
    }
    inst = instrument_from_market(market)
    assert (inst.tick_size, inst.lot_size, inst.min_notional) == (
        Decimal("0.00001"),
        Decimal("1"),
        Decimal("1"),
    )


class Sink:
    def __init__(self) -> None:
        self.health: list[HealthChange] = []
        self.events = 0

    def on_market(self, events: Sequence[MarketEvent]) -> None:
        self.events += len(events)

    def on_health(self, change: HealthChange) -> None:
        self.health.append(change)


async def _until(cond: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not cond():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def test_no_exchange_at_start_says_disconnected_retrying_and_shuts_down_cleanly() -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def main() -> None:
        cfg = CcxtFeedConfig(api_url=f"http://127.0.0.1:{port}", ws_url=f"ws://127.0.0.1:{port}")
        src = CcxtMarketData(cfg)
        sink = Sink()
        task = asyncio.create_task(src.run(sink))
        await _until(lambda: src.stats.errors >= 2)
        assert sink.health[0].symbol is None
        assert sink.health[0].health is FeedHealth.RECONNECTING
        assert sink.health[0].reason.startswith("disconnected, retrying")
        assert src.health is FeedHealth.RECONNECTING
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert src._exchange is None

    asyncio.run(main())


def test_markets_failing_at_start_are_retried_then_books_flow() -> None:
    async def main() -> None:
        async with BinanceEmulator(generated_script()) as emu:
            emu.fail_exchange_info(500, 2)
            cfg = CcxtFeedConfig(api_url=emu.api_url, ws_url=emu.ws_url, backoff_base_s=0.02)
            src = CcxtMarketData(cfg)
            sink = Sink()
            task = asyncio.create_task(src.run(sink))
            await _until(lambda: src.health is FeedHealth.LIVE and sink.events > 0)
            assert src.stats.errors >= 2
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())


def test_an_unknown_symbol_is_refused_with_its_name() -> None:
    async def main() -> None:
        async with BinanceEmulator(generated_script()) as emu:
            cfg = CcxtFeedConfig(symbols=("NOPE/USDT",), api_url=emu.api_url, ws_url=emu.ws_url)
            src = CcxtMarketData(cfg)
            with pytest.raises(ValueError, match="NOPE/USDT"):
                await src.run(Sink())
            assert src._exchange is None

    asyncio.run(main())
