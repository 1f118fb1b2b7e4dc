"""Simulated market benchmarks: how fast the sim generates events, and what it emits.

The app runs the sim at ~10k book diffs/s in the UI benchmark, stepping every 5 ms, so event
generation must be several times faster than that on one core.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from engine.model import DEFAULT_INSTRUMENTS, LevelUpdate
from engine.venues import SimMarket

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
START = 1_781_950_000_000_000_000
NS = 1_000_000_000


def _generate(multiplier: float, sim_seconds: float, step_ns: int) -> dict[str, float]:
    """Step the sim like the engine loop does; wall time per step and totals."""
    sim = SimMarket(
        {s: DEFAULT_INSTRUMENTS[s] for s in SYMBOLS}, 7, START, rate_multiplier=multiplier
    )
    events = diffs = 0
    step_ms: list[float] = []
    end = START + int(sim_seconds * NS)
    t = START
    wall0 = time.perf_counter()
    while t < end:
        t += step_ns
        s0 = time.perf_counter()
        batch = sim.step_until(t)
        step_ms.append((time.perf_counter() - s0) * 1000.0)
        events += len(batch)
        diffs += sum(1 for e in batch if isinstance(e, LevelUpdate))
    wall = time.perf_counter() - wall0
    step_ms.sort()
    return {
        "events": events,
        "diffs": diffs,
        "wall": wall,
        "events_per_s": events / wall,
        "diffs_per_s": diffs / wall,
        "sim_diffs_per_s": diffs / sim_seconds,
        "step_mean_ms": statistics.fmean(step_ms),
        "step_p99_ms": step_ms[int(0.99 * (len(step_ms) - 1))],
    }


def _per_symbol_rate(seconds: int = 60) -> float:
    sim = SimMarket({s: DEFAULT_INSTRUMENTS[s] for s in SYMBOLS}, 7, START)
    counts = dict.fromkeys(SYMBOLS, 0)
    for ev in sim.step_until(START + seconds * NS):
        if isinstance(ev, LevelUpdate):
            counts[ev.symbol] += 1
    return min(counts.values()) / seconds


def run() -> list[dict[str, object]]:
    base = _generate(1.0, 120.0, 5_000_000)
    multiplier = 10_000 / base["sim_diffs_per_s"]
    loaded = _generate(multiplier, 10.0, 5_000_000)
    share = 100.0 * 10_000 / loaded["diffs_per_s"]
    hist_t0 = time.perf_counter()
    sim = SimMarket({s: DEFAULT_INSTRUMENTS[s] for s in SYMBOLS}, 7, START)
    build_ms = (time.perf_counter() - hist_t0) * 1000.0
    hist_ms = statistics.median(_timed(lambda: sim.history("BTC/USDT", 60, 300)) for _ in range(5))
    return [
        {
            "name": "events generated (3 symbols, x1)",
            "value": round(base["events_per_s"]),
            "unit": "events/s",
            "target": ">= 20000",
        },
        {
            "name": f"events generated (x{multiplier:.0f} = 10k diffs/s)",
            "value": round(loaded["events_per_s"]),
            "unit": "events/s",
            "target": ">= 20000",
        },
        {
            "name": "book diffs generated (x10k load)",
            "value": round(loaded["diffs_per_s"]),
            "unit": "diffs/s",
            "target": ">= 10000",
        },
        {
            "name": "one core used at 10k diffs/s",
            "value": round(share, 1),
            "unit": "%",
            "target": "< 50",
        },
        {
            "name": "step_until mean at 10k diffs/s (5 ms steps)",
            "value": round(loaded["step_mean_ms"], 3),
            "unit": "ms",
            "target": "< 2.5",
        },
        {
            "name": "step_until p99 at 10k diffs/s (5 ms steps)",
            "value": round(loaded["step_p99_ms"], 3),
            "unit": "ms",
            "target": "",
            "note": "bursts and a shared 2-core machine",
        },
        {
            "name": "sim book diffs/s at x1 (all symbols)",
            "value": round(base["sim_diffs_per_s"]),
            "unit": "diffs/s",
            "target": ">= 60",
        },
        {
            "name": "sim book diffs/s at x1 (slowest symbol)",
            "value": round(_per_symbol_rate(), 1),
            "unit": "diffs/s",
            "target": ">= 20",
        },
        {
            "name": "SimMarket() build (3 books)",
            "value": round(build_ms, 1),
            "unit": "ms",
            "target": "< 500",
        },
        {"name": "history(300 x 1m)", "value": round(hist_ms, 2), "unit": "ms", "target": "< 50"},
    ]


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000.0


if __name__ == "__main__":
    from bench.__main__ import render_table, verdict

    rows = [
        {**r, "module": "bench_sim", "status": verdict(r["value"], r["target"]), "note": ""}
        for r in run()
    ]
    print(render_table(rows))
