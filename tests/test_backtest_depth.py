"""The ``book`` slippage model's depth table is what the real L2 captures say it is."""

from __future__ import annotations

import itertools
from pathlib import Path

from kit import needs_data

from engine.backtest.depth import CAPTURE_FILES, DEPTH_PROFILE, measure_depth_profile
from engine.model.instrument import DEFAULT_INSTRUMENTS

TICKS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ticks_l2"


@needs_data(TICKS)
def test_depth_profile_recomputed_from_the_hftbacktest_captures() -> None:
    paths = [TICKS / name for name in CAPTURE_FILES]
    profile, samples = measure_depth_profile(paths, DEFAULT_INSTRUMENTS["BTC/USDT"])
    assert samples == 651  # one per second over the 11 captured minutes
    assert len(profile) == len(DEPTH_PROFILE)
    for (bps, usdt), (want_bps, want_usdt) in zip(profile, DEPTH_PROFILE, strict=True):
        assert bps == want_bps
        assert abs(usdt - want_usdt) <= 1, (bps, usdt, want_usdt)


def test_depth_profile_is_a_cumulative_curve() -> None:
    bps = [b for b, _ in DEPTH_PROFILE]
    depth = [d for _, d in DEPTH_PROFILE]
    assert bps == sorted(bps)
    assert bps[0] == 0
    assert all(a < b for a, b in itertools.pairwise(depth))
