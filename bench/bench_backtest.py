"""Backtester speed: 1M synthetic 1-minute bars through the full path, against backtesting.py.

- whole process: ``python -m app.backtest_cli`` (start, load, run, metrics, write the JSON) on a
  CSV of 1,000,000 bars, timed from spawn to exit. The headline is the run a user meets: a CSV no
  datasets cache has seen (median of 3, a new cache each); a repeat run reading the cache is
  shown too and says CACHED; ``python -m app backtest`` (through ``app/main.py``) likewise;
- in-process: ``Backtest.run`` + the result document, and backtesting.py's ``FractionalBacktest``
  on the same bars with the same rules (commission = fee, trade_on_close False, exclusive
  orders, all cash), and the ratio;
- the datasets cache: reload of the 435k-bar BTCUSDT 5m file (when the shared data is there).

Both engines trade the same ``sma_cross`` (10/30, fee 10 bps, no minimum notional since
backtesting.py has none) and must end with the same equity: the bench checks it, so the
comparison is of equal work (every signal the account can pay for becomes an order).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
N_BARS = 1_000_000
FAST, SLOW = 10, 30
FEE = 0.001


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _cli(module: list[str], csv: Path, out: Path, db: Path) -> float:
    cmd = [
        sys.executable,
        "-m",
        *module,
        "--data",
        str(csv),
        "--symbol",
        "BTC/USDT",
        "--strategy",
        "sma_cross",
        "--param",
        f"fast={FAST}",
        f"slow={SLOW}",
        "--fee-bps",
        str(FEE * 10000),
        "--min-notional",
        "0",
        "--json",
        str(out),
        "--datasets-db",
        str(db),
        "--quiet",
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=_env(), check=True, capture_output=True, timeout=300)
    return time.perf_counter() - t0


def _app_has_backtest() -> bool:
    out = subprocess.run(
        [sys.executable, "-m", "app", "backtest", "--help"],
        cwd=ROOT,
        env={**_env(), "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.returncode == 0 and "--strategy" in out.stdout


def _backtesting_py(bars: Any) -> tuple[float, float, int]:
    """(seconds, final equity, closed trades) of backtesting.py on ``bars``, in this process."""
    import pandas as pd

    from bench.backtesting_py_process import run_sma_cross

    df = pd.DataFrame(
        {
            "Open": bars.floats("open"),
            "High": bars.floats("high"),
            "Low": bars.floats("low"),
            "Close": bars.floats("close"),
            "Volume": bars.volume,
        },
        index=pd.to_datetime(bars.time_ms, unit="ms"),
    )
    t0 = time.perf_counter()
    stats = run_sma_cross(df, FAST, SLOW, FEE)
    seconds = time.perf_counter() - t0
    return seconds, float(stats["Equity Final [$]"]), int(stats["# Trades"])


def run() -> list[dict[str, Any]]:
    from decimal import Decimal

    from engine.backtest.config import BacktestConfig
    from engine.backtest.data import DatasetCache, load_bars, synthetic_bars, write_csv
    from engine.backtest.result import encode, result_document
    from engine.backtest.runner import Backtest
    from engine.strategy import SmaCross

    rows: list[dict[str, Any]] = []
    bars = synthetic_bars(N_BARS, seed=11)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        csv = tmpdir / "synthetic_BTCUSDT_1m.csv"
        write_csv(bars, csv)
        db = tmpdir / "datasets.db"
        out = tmpdir / "out.json"
        # Headline: what a user meets, a CSV no datasets cache has seen (a new cache each run).
        colds = sorted(
            _cli(["app.backtest_cli"], csv, out, tmpdir / f"fresh-{k}.db") for k in range(3)
        )
        cold = colds[1]
        _cli(["app.backtest_cli"], csv, out, db)  # fills the cache
        warm = sorted(_cli(["app.backtest_cli"], csv, out, db) for _ in range(3))[1]
        rows.append(
            {
                "name": "1M bars, whole process, CSV never seen (median of 3)",
                "value": round(cold, 3),
                "unit": "s",
                "target": "<= 1.0",
                "note": "python -m app.backtest_cli: start, parse the CSV, run, write the JSON; "
                f"runs {', '.join(f'{c:.2f}' for c in colds)} s",
            }
        )
        rows.append(
            {
                "name": "1M bars, whole process, CACHED bars (median of 3)",
                "value": round(warm, 3),
                "unit": "s",
                "target": "",
                "note": "the same CSV read again from the datasets cache (a repeat run)",
            }
        )
        if _app_has_backtest():
            app_t = sorted(_cli(["app", "backtest"], csv, out, db) for _ in range(3))[1]
            rows.append(
                {
                    "name": "1M bars, python -m app backtest, CACHED (median of 3)",
                    "value": round(app_t, 3),
                    "unit": "s",
                    "target": "",
                    "note": "through app/main.py",
                }
            )

        bt_whole: list[float] = []
        bt_out = tmpdir / "bt.json"
        for _ in range(3):
            t_start = time.perf_counter()
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.backtesting_py_process",
                    str(csv),
                    str(bt_out),
                    str(FAST),
                    str(SLOW),
                    str(FEE),
                ],
                cwd=ROOT,
                env=_env(),
                capture_output=True,
                timeout=600,
                check=False,
            )
            if done.returncode == 0:
                bt_whole.append(time.perf_counter() - t_start)

        cfg = BacktestConfig(
            taker_fee=Decimal(str(FEE)), maker_fee=Decimal(str(FEE)), min_notional=Decimal(0)
        )
        loaded, _ = load_bars(csv, "BTC/USDT", cache=DatasetCache(db))
        t0 = time.perf_counter()
        rec = Backtest(loaded, SmaCross(fast=FAST, slow=SLOW), cfg).run()
        t_run = time.perf_counter() - t0
        doc = result_document(rec)
        encode(doc)
        t_ours = time.perf_counter() - t0
    rows.append(
        {
            "name": "1M bars, in-process run + metrics + JSON",
            "value": round(t_ours, 3),
            "unit": "s",
            "target": "",
            "note": f"run {t_run:.3f} s, {len(rec.fills)} fills, {rec.points_visited} points",
        }
    )
    try:
        t_bt, eq_bt, trades_bt = _backtesting_py(loaded)
    except ImportError:
        rows.append(
            {
                "name": "backtesting.py",
                "value": None,
                "unit": "",
                "target": "",
                "note": "pip install backtesting",
            }
        )
    else:
        ours_eq = float(rec.final_equity)
        same = math.isclose(eq_bt, ours_eq, rel_tol=1e-6)
        rows.append(
            {
                "name": "backtesting.py, same bars and rules",
                "value": round(t_bt, 3),
                "unit": "s",
                "target": "",
                "note": f"final equity {eq_bt:.6f} vs ours {ours_eq:.6f} "
                f"({'same' if same else 'DIFFERENT'}), {trades_bt} trades",
            }
        )
        rows.append(
            {
                "name": "speed-up vs backtesting.py (in-process)",
                "value": round(t_bt / t_ours, 2),
                "unit": "x",
                "target": ">= 3",
                "note": "backtesting.py run / our run + metrics + JSON",
            }
        )
        if bt_whole:
            whole = sorted(bt_whole)[len(bt_whole) // 2]
            rows.append(
                {
                    "name": "backtesting.py, whole process (same CSV, same rules)",
                    "value": round(whole, 3),
                    "unit": "s",
                    "target": "",
                    "note": f"start, import, pandas.read_csv, run, write JSON (median of "
                    f"{len(bt_whole)})",
                }
            )
            rows.append(
                {
                    "name": "speed-up vs backtesting.py, whole process, CSV never seen",
                    "value": round(whole / cold, 2),
                    "unit": "x",
                    "target": ">= 8",
                    "note": "both parse the same CSV; measured in this run",
                }
            )
            rows.append(
                {
                    "name": "speed-up vs backtesting.py, whole process, ours CACHED",
                    "value": round(whole / warm, 2),
                    "unit": "x",
                    "target": "",
                    "note": "ours reading the datasets cache, theirs parsing the CSV",
                }
            )
    real = DATA / "binance_spot_BTCUSDT_5m_2022-2026.csv.gz"
    if real.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            cache = DatasetCache(Path(tmp) / "datasets.db")
            t0 = time.perf_counter()
            b5, _ = load_bars(real, "BTC/USDT", cache=cache)
            parse = time.perf_counter() - t0
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                again, rep = load_bars(real, "BTC/USDT", cache=cache)
                times.append(time.perf_counter() - t0)
            if rep.cache != "hit" or len(again) != len(b5):
                raise RuntimeError("the datasets cache did not return the stored bars")
        rows.append(
            {
                "name": f"datasets cache reload, {len(b5):,} bars",
                "value": round(min(times), 4),
                "unit": "s",
                "target": "<= 0.5",
                "note": f"first parse of the .csv.gz took {parse:.2f} s",
            }
        )
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    from bench.__main__ import render_table

    result = [{"module": "bench_backtest", **r, "status": ""} for r in run()]
    for r in result:
        r.setdefault("note", "")
    print(render_table(result))
