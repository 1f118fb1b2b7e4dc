"""Causal, windowed indicators on integer ticks.

Each value depends only on its own window and is computed from exact integer sums, so the value
at a bar is the same whether the array covers ten years (a backtest) or the last few bars (a
streaming host). Entries before a full window are invalid and flagged by a ``valid`` mask rather
than NaN, because the inputs are ints.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

_INT64_SAFE = 2**62


def rolling_sum(x: I64, n: int) -> I64:
    """Sum of ``x[i-n+1..i]`` (0 where the window is not full). Exact."""
    out = np.zeros(len(x), dtype=np.int64)
    if n <= 0 or len(x) < n:
        return out
    cs = np.cumsum(x, dtype=np.int64)
    out[n - 1] = cs[n - 1]
    out[n:] = cs[n:] - cs[:-n]
    return out


def valid_from(length: int, first: int) -> B:
    mask = np.zeros(length, dtype=bool)
    mask[first:] = True
    return mask


def rolling_max(x: I64, n: int) -> I64:
    """Max of ``x[i-n+1..i]`` (0 where the window is not full)."""
    out = np.zeros(len(x), dtype=np.int64)
    if len(x) >= n > 0:
        out[n - 1 :] = sliding_window_view(x, n).max(axis=1)
    return out


def rolling_min(x: I64, n: int) -> I64:
    out = np.zeros(len(x), dtype=np.int64)
    if len(x) >= n > 0:
        out[n - 1 :] = sliding_window_view(x, n).min(axis=1)
    return out


def shift(x: I64, k: int = 1) -> I64:
    """``x[i-k]`` at ``i`` (0 for the first ``k``)."""
    out = np.zeros(len(x), dtype=np.int64)
    if k < len(x):
        out[k:] = x[: len(x) - k]
    return out


def compare_means(sum_a: I64, n_a: int, sum_b: I64, n_b: int) -> npt.NDArray[np.int8]:
    """Sign of mean_a - mean_b, exactly: sign(sum_a * n_b - sum_b * n_a)."""
    top = max(int(np.abs(sum_a).max(initial=0)) * n_b, int(np.abs(sum_b).max(initial=0)) * n_a)
    if top >= _INT64_SAFE:
        a = sum_a.astype(object) * n_b
        b = sum_b.astype(object) * n_a
        big: npt.NDArray[np.int8] = np.sign(a - b).astype(np.int8)
        return big
    out: npt.NDArray[np.int8] = np.sign(sum_a * n_b - sum_b * n_a).astype(np.int8)
    return out


def true_range(high: I64, low: I64, close: I64) -> I64:
    """max(high, prev close) - min(low, prev close); the first bar uses its own range."""
    prev = shift(close, 1)
    if len(close):
        prev[0] = close[0]
    out: I64 = np.maximum(high, prev) - np.minimum(low, prev)
    return out


def zscore(close: I64, n: int) -> tuple[F64, B]:
    """(close - mean) / population sd over the last ``n`` closes, from exact integer sums.

    z = (n*c - S) / sqrt(n*Q - S^2) with S, Q the window sums of c and c^2 (ints); 0 where the
    window is flat or not full.
    """
    length = len(close)
    z = np.zeros(length, dtype=np.float64)
    valid = valid_from(length, n - 1)
    if length < n or n < 2:
        return z, np.zeros(length, dtype=bool)
    top = int(np.abs(close).max(initial=0))
    if top * top * n * n >= _INT64_SAFE:
        raise ValueError("prices too large for exact z-scores in int64")
    win = sliding_window_view(close, n)
    s = win.sum(axis=1)
    q = (win * win).sum(axis=1)
    num = n * close[n - 1 :] - s
    rad = n * q - s * s
    ok = rad > 0
    vals = np.zeros(len(num), dtype=np.float64)
    vals[ok] = num[ok] / np.sqrt(rad[ok].astype(np.float64))
    z[n - 1 :] = vals
    valid[n - 1 :] &= ok
    return z, valid
