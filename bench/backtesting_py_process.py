"""backtesting.py as a whole process, for a like-for-like comparison with ``tradedeck backtest``:
start Python, import, read the same CSV, run ``sma_cross`` with the same rules, write JSON.

Usage: python -m bench.backtesting_py_process BARS.csv OUT.json FAST SLOW FEE
"""

from __future__ import annotations

import json
import sys
import warnings
from typing import Any


def run_sma_cross(df: Any, fast: int, slow: int, fee: float) -> Any:
    """backtesting.py's ``FractionalBacktest`` with the sma_cross rules of issue 4: all cash
    in on a cross up at the next open, flat on a cross down; returns its stats."""
    import numpy as np
    import pandas as pd
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest, crossover

    def sma(x: object, n: int) -> object:
        return pd.Series(x).rolling(n).mean().to_numpy()

    class SmaCross(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, fast)
            self.slow = self.I(sma, self.data.Close, slow)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                if not self.position:
                    self.buy(size=float(np.nextafter(1.0, 0.0)))
            elif crossover(self.slow, self.fast) and self.position:
                self.position.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = FractionalBacktest(
            df,
            SmaCross,
            cash=10_000,
            commission=fee,
            trade_on_close=False,
            exclusive_orders=True,
            fractional_unit=1e-5,
        )
        return bt.run()


def main() -> int:
    csv, out = sys.argv[1], sys.argv[2]
    fast, slow, fee = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    import pandas as pd

    raw = pd.read_csv(csv)
    df = pd.DataFrame(
        {
            "Open": raw["open"].to_numpy(float),
            "High": raw["high"].to_numpy(float),
            "Low": raw["low"].to_numpy(float),
            "Close": raw["close"].to_numpy(float),
            "Volume": raw["volume"].to_numpy(float),
        },
        index=pd.to_datetime(raw["open_time_ms"], unit="ms"),
    )
    stats = run_sma_cross(df, fast, slow, fee)
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(
            {"equity_final": float(stats["Equity Final [$]"]), "trades": int(stats["# Trades"])},
            fh,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
