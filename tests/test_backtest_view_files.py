"""The worker writes, beside the full result, a view copy the GUI loads in milliseconds: the
document without its equity curve, and the curve as a float64 array. Both say the same."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from kit import WAIT_S

from engine.backtest.data import synthetic_bars, write_csv
from engine.backtest.job import BacktestJob
from engine.backtest.worker import start_backtest, view_files
from widgets.backtest.run_result import load_run


def test_the_view_copy_equals_the_full_result(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    write_csv(synthetic_bars(20_000, seed=3), csv)
    job = BacktestJob(data=str(csv), strategy="sma_cross")
    handle = start_backtest(job, tmp_path / "out")
    assert handle.wait(WAIT_S) == "done", handle.error
    assert handle.result_path is not None
    full = json.loads(handle.result_path.read_text(), parse_float=Decimal)
    view_json, equity_npy = view_files(handle.result_path)
    curve = np.load(equity_npy)
    assert curve.dtype == np.float64
    assert curve.shape == (len(full["equity"]), 2)
    assert curve[:, 0].tolist() == [float(t) for t, _ in full["equity"]]
    assert curve[:, 1].tolist() == [float(v) for _, v in full["equity"]]
    view = json.loads(view_json.read_text(), parse_float=Decimal)
    assert "equity" not in view
    assert view == {k: v for k, v in full.items() if k != "equity"}

    fast = load_run(1, job, handle.result_path, "#fff")
    view_json.unlink()  # without the view copy the full JSON is read: the same run
    slow = load_run(1, job, handle.result_path, "#fff")
    assert np.array_equal(fast.time_s, slow.time_s)
    assert np.array_equal(fast.equity, slow.equity)
    assert (fast.metrics, fast.fills, fast.trades) == (slow.metrics, slow.fills, slow.trades)
    assert len(fast.equity) == len(full["equity"]) > 1000


def test_a_damaged_equity_array_is_reported(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    write_csv(synthetic_bars(5_000, seed=4), csv)
    job = BacktestJob(data=str(csv), strategy="sma_cross")
    handle = start_backtest(job, tmp_path / "out")
    assert handle.wait(WAIT_S) == "done", handle.error
    assert handle.result_path is not None
    _, equity_npy = view_files(handle.result_path)
    np.save(equity_npy, np.zeros(7))
    with pytest.raises(ValueError, match="shape"):
        load_run(1, job, handle.result_path, "#fff")
