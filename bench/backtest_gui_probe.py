"""Run a 1M-bar backtest from the Backtest tab offscreen; print the GUI thread's worst gap as JSON.

A 10 ms timer on the GUI thread records how late each of its firings is while the worker process
loads and runs the bars and the tab then shows the result: the worst and p99 lateness are how
long a trader's window would freeze.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

TICK_MS = 10


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from engine.backtest.data import synthetic_bars, write_csv
    from widgets.backtest_tab import BacktestTab

    app = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "synthetic_BTCUSDT_1m.csv"
        write_csv(synthetic_bars(1_000_000, seed=11), csv)
        tab = BacktestTab(datasets_db=Path(tmp) / "datasets.db", shared_data_dir=Path(tmp) / "none")
        tab.resize(1300, 900)
        tab.show()
        tab.select_dataset(csv)
        tab.set_strategy("sma_cross")
        gaps: list[float] = []
        last = [time.perf_counter()]

        def tick() -> None:
            now = time.perf_counter()
            gaps.append(max(0.0, (now - last[0]) * 1000 - TICK_MS))
            last[0] = now

        timer = QTimer()
        timer.setInterval(TICK_MS)
        timer.timeout.connect(tick)
        timer.start()
        deadline = time.monotonic() + 30
        while not tab.run_button.isEnabled() and time.monotonic() < deadline:
            app.processEvents()  # the dataset report is read in the background first
        started = time.perf_counter()
        if not tab.run():
            print(json.dumps({"error": f"run refused: {tab.status_label.text()}"}))
            return 1
        deadline = time.monotonic() + 300
        while tab.state == "running" and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.001)
        wall = time.perf_counter() - started
        # Showing the result happens on the GUI thread too: keep ticking until the tab has
        # settled, so a freeze while loading and plotting the result is counted.
        settle = time.monotonic() + 2.0
        while time.monotonic() < settle:
            app.processEvents()
            time.sleep(0.001)
        timer.stop()
        state = tab.state
        tab.shutdown()
    ordered = sorted(gaps)
    print(
        json.dumps(
            {
                "state": state,
                "wall_s": wall,
                "ticks": len(gaps),
                "max_gap_ms": ordered[-1] if ordered else float("nan"),
                "p99_gap_ms": ordered[int(len(ordered) * 0.99)] if ordered else float("nan"),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
