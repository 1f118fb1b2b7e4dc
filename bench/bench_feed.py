"""The ccxt feed's recovery against the Binance emulator (tests/emulators), real ccxt.pro client.

Each fault is injected a few times into one session; a recovery ends at the first book the
source publishes after it whose update id and top 50 levels equal the emulator's true book.
- reconnect: socket dropped -> first correct book;
- resync: the gap detected (the source reports ``resyncing``) -> first correct book;
- stall / malformed frame: injected -> first correct book (watchdog at ``STALE_S``);
- failover: the primary's last book + its silence threshold -> the REST backup's first
  correct book;
- receive -> book applied: ccxt's watch returns -> our book updated and pushed (p99);
- exchange -> book applied: the emulator's event time (ms resolution) -> book applied (p99).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from emulators.binance import TRUTH_DEPTH, BinanceEmulator, generated_script  # noqa: E402

from engine.model.market import BookSide, MarketEvent, TradeTick  # noqa: E402
from engine.venues.base import FeedHealth, HealthChange  # noqa: E402
from engine.venues.ccxt.source import CcxtFeedConfig, CcxtMarketData  # noqa: E402

SYMBOL = "BTC/USDT"
STALE_S = 1.0
REPEATS = 3
FAILOVER_S = 0.5  # the primary's silence threshold
DEADLINE_S = 60.0


class _Probe:
    def __init__(self, source: CcxtMarketData, emu: BinanceEmulator) -> None:
        self.source = source
        self.emu = emu
        self.correct: list[float] = []  # monotonic times of published books equal to the truth
        self.wrong = 0
        self.health: list[tuple[float, FeedHealth]] = []

    def on_market(self, events: Sequence[MarketEvent]) -> None:
        if all(isinstance(e, TradeTick) for e in events):
            return
        book = self.source.books[SYMBOL]
        inst = book.instrument
        top = tuple(
            tuple(
                (inst.ticks_to_price(p), inst.lots_to_qty(q)) for p, q in book.top(s, TRUTH_DEPTH)
            )
            for s in (BookSide.BID, BookSide.ASK)
        )
        if self.emu.truth.get(book.seq) == top:
            self.correct.append(time.monotonic())
        else:
            self.wrong += 1

    def on_health(self, change: HealthChange) -> None:
        self.health.append((time.monotonic(), change.health))

    def first_correct_after(self, t0: float) -> float | None:
        return next((t for t in self.correct if t > t0), None)


async def _until(cond: Callable[[], bool]) -> None:
    async with asyncio.timeout(DEADLINE_S):
        while not cond():  # noqa: ASYNC110
            await asyncio.sleep(0.002)


def _pct(xs: Sequence[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


async def _session(backup: bool) -> dict[str, Any]:
    async with BinanceEmulator(generated_script(), interval_s=0.01) as emu:
        cfg = CcxtFeedConfig(
            symbols=(SYMBOL,),
            api_url=emu.api_url,
            ws_url=emu.ws_url,
            stale_after_s=STALE_S,
            backup_poll_s=0.2 if backup else None,
            failover_after_s=FAILOVER_S,
            backup_depth=TRUTH_DEPTH,
        )
        source = CcxtMarketData(cfg)
        probe = _Probe(source, emu)
        task = asyncio.create_task(source.run(probe))
        out: dict[str, list[float]] = {
            "reconnect": [],
            "resync": [],
            "stall": [],
            "malformed": [],
            "failover": [],
        }

        async def settle() -> None:
            n = len(probe.correct)
            await _until(lambda: len(probe.correct) >= n + 30)
            # the token bucket of ccxt's rate limiter refills between faults
            await asyncio.sleep(1.0)

        live = FeedHealth.LIVE

        async def measure(kind: str, inject: Callable[[], Awaitable[None] | None]) -> None:
            await settle()
            t0 = time.monotonic()
            r = inject()
            if r is not None:
                await r
            # recovered: the first correct book after the source said it was not live
            await _until(lambda: any(t > t0 and h is not live for t, h in probe.health))
            left = next(t for t, h in probe.health if t > t0 and h is not live)
            if kind == "resync":
                t0 = left  # from the gap's detection
            await _until(lambda: probe.first_correct_after(left) is not None)
            done = probe.first_correct_after(left)
            assert done is not None
            out[kind].append((done - t0) * 1000)

        async def failover() -> None:
            """The primary dies: from its last book + the threshold to the backup's first."""
            last = probe.correct[-1]
            emu.refuse_websockets()
            await emu.drop_sockets()
            served = source.stats.backup_books
            await _until(lambda: source.stats.backup_books > served)
            done = probe.first_correct_after(last + FAILOVER_S)
            assert done is not None
            out["failover"].append((done - last - FAILOVER_S) * 1000)
            emu.refuse_websockets(False)
            await _until(lambda: source.serving[SYMBOL] == "primary")

        try:
            await _until(lambda: len(probe.correct) >= 10)
            for _ in range(REPEATS):
                if backup:
                    await settle()
                    await failover()
                    continue
                await measure("reconnect", emu.drop_sockets)
                await measure("resync", emu.skip_next_diff)
                await measure("stall", emu.stall_sockets)
                await measure("malformed", emu.malformed_next_frame)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return {
            **out,
            "apply_ms": [ns / 1e6 for ns in source.stats.apply_ns],
            "exchange_ms": [ns / 1e6 for ns in source.stats.receive_latency_ns],
            "wrong": probe.wrong,
            "books": len(probe.correct),
        }


def run() -> list[dict[str, Any]]:
    r = asyncio.run(_session(backup=False))
    with_backup = asyncio.run(_session(backup=True))
    r["failover"] = with_backup["failover"]
    r["wrong"] += with_backup["wrong"]
    note = f"{REPEATS} faults each, {r['books']} correct books, {r['wrong']} wrong"
    rows: list[dict[str, Any]] = []
    for kind, target in (
        ("reconnect", "<= 500"),
        ("resync", "<= 300"),
        ("stall", "<= 3000"),
        ("malformed", "<= 3000"),
        ("failover", "<= 500"),
    ):
        xs = r[kind]
        rows.append(
            {
                "name": f"feed {kind} -> correct book (worst of {len(xs)})",
                "value": round(max(xs), 1),
                "unit": "ms",
                "target": target,
                "note": f"median {statistics.median(xs):.1f} ms; watchdog {STALE_S:g} s; {note}",
            }
        )
    rows.append(
        {
            "name": "feed receive -> book applied p99",
            "value": round(_pct(r["apply_ms"], 0.99), 3),
            "unit": "ms",
            "target": "<= 2",
            "note": f"p50 {_pct(r['apply_ms'], 0.5):.3f} ms over {len(r['apply_ms'])} books",
        }
    )
    rows.append(
        {
            "name": "feed exchange event -> book applied p99",
            "value": round(_pct(r["exchange_ms"], 0.99), 2),
            "unit": "ms",
            "target": None,
            "note": "emulator event time has ms resolution; includes ccxt's parse",
        }
    )
    rows.append(
        {"name": "feed wrong books published", "value": r["wrong"], "unit": "", "target": "== 0"}
    )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
