"""Bars on the clock (``engine.bar_clock``) are neutral ground: the replay venue takes them from
there, not from the backtester's runner, which still re-exports them."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import numpy as np

import engine.backtest.runner as runner
from engine import bar_clock

ROOT = Path(__file__).resolve().parents[1]


def test_bar_spans_are_the_interval_cut_short_by_the_next_bar() -> None:
    bars = SimpleNamespace(time_ms=np.array([0, 60_000, 90_000, 150_000]), interval_ms=60_000)
    spans = bar_clock.bar_spans_ns(bars)
    assert spans.tolist() == [60_000_000_000, 30_000_000_000, 60_000_000_000, 60_000_000_000]
    one = SimpleNamespace(time_ms=np.array([5]), interval_ms=0)
    assert bar_clock.bar_spans_ns(one).tolist() == [bar_clock.NS_PER_MS]  # never empty


def test_the_runner_re_exports_them_and_the_replay_venue_does_not_need_the_runner() -> None:
    assert runner.NS_PER_MS is bar_clock.NS_PER_MS
    assert runner.PRINT_ALL is bar_clock.PRINT_ALL
    assert runner.bar_spans_ns is bar_clock.bar_spans_ns
    tree = ast.parse((ROOT / "engine" / "venues" / "replay.py").read_text())
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert "engine.backtest.runner" not in imported
    assert "engine.bar_clock" in imported
