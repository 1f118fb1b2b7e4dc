"""UI benchmarks: frames/s and worst GUI stall under load, cold start, resident memory.

Each measurement runs the real app in a fresh subprocess with Qt offscreen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}


def _probe(seconds: float, sim_rate: float) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.ui_probe",
            "--seconds",
            str(seconds),
            "--sim-rate",
            str(sim_rate),
        ],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cold_start() -> float:
    """Seconds from process spawn to the first painted window (the app prints that line)."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "--data-dir", tmp, "--exit-after", "1"],
            cwd=ROOT,
            env=_env(),
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stderr is not None
        shown = None
        for line in proc.stderr:
            if "window shown" in line and shown is None:
                shown = time.perf_counter() - t0
        proc.wait(60)
    if shown is None:
        raise RuntimeError("the app never reported a shown window")
    return shown


def _sim_rate_for(target_diffs_per_s: float) -> float:
    calib = _probe(3.0, 1.0)
    base = max(calib["diffs_per_s"], 1.0)
    return target_diffs_per_s / base


def _backtest_gui_gap() -> dict[str, float]:
    """The GUI thread's lateness while the Backtest tab runs 1M bars (bench/backtest_gui_probe)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.backtest_gui_probe"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run() -> list[dict[str, object]]:
    rate = _sim_rate_for(10_000)
    loaded = _probe(10.0, rate)
    idle = _probe(5.0, 1.0)
    starts = sorted(_cold_start() for _ in range(3))
    gap = _backtest_gui_gap()
    return [
        {
            "name": "sim diffs/s during UI run",
            "value": round(loaded["diffs_per_s"]),
            "unit": "/s",
            "target": ">= 10000",
        },
        {
            "name": "UI frames/s at 10k diffs/s",
            "value": round(loaded["fps"], 1),
            "unit": "fps",
            "target": ">= 30 (bridge caps at 30)",
        },
        {
            "name": "worst GUI stall at 10k diffs/s",
            "value": round(loaded["max_stall_ms"], 1),
            "unit": "ms",
            "target": "<= 50",
        },
        {
            "name": "cold start to first painted window (median of 3)",
            "value": round(starts[1], 2),
            "unit": "s",
            "target": "<= 2",
        },
        {
            "name": "resident memory, 3 live books",
            "value": round(idle["rss_mb"]),
            "unit": "MB",
            "target": "<= 400",
        },
        {
            "name": "worst GUI gap during a 1M-bar backtest (Backtest tab)",
            "value": round(gap["max_gap_ms"], 1),
            "unit": "ms",
            "target": "<= 50",
            "note": f"p99 {gap['p99_gap_ms']:.1f} ms over {gap['ticks']} ticks of a 10 ms timer; "
            f"run {gap['state']} in {gap['wall_s']:.1f} s (worker process)",
        },
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<50} {row['value']:>10} {row['unit']:<5} target {row['target']}")
