"""Run the real main window on the sim venue offscreen and report UI numbers as JSON.

Used by ``bench/bench_ui.py`` in a subprocess (a clean process per measurement):
frames/s and worst GUI stall while the sim runs at a given diff rate, and resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sim-rate", type=float, default=1.0)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    import psutil
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.bridge import EngineBridge
    from app.main_window import MainWindow
    from engine import Engine, EngineConfig

    app = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(EngineConfig(data_dir=Path(tmp), sim_rate=args.sim_rate)).start()
        bridge = EngineBridge(engine)
        window = MainWindow(
            bridge, settings=QSettings(str(Path(tmp) / "l.ini"), QSettings.Format.IniFormat)
        )
        window.resize(1600, 1000)
        window.show()
        # Warm up 2 s, then measure.
        loop = QEventLoop()
        QTimer.singleShot(2000, loop.quit)
        loop.exec()
        frames0 = bridge.frames_delivered
        updates0 = engine.snapshot().stats.book_updates
        t0 = time.perf_counter()
        last = t0
        worst_loop = 0.0
        while time.perf_counter() - t0 < args.seconds:
            app.processEvents()
            now = time.perf_counter()
            worst_loop = max(worst_loop, (now - last) * 1000.0)
            last = now
            time.sleep(0.001)
        # The bridge's 10 ms probe timer, counted only inside the measured window (its own
        # history also holds start-up, which is the cold-start number, not a stall under load).
        probe = [gap for t, gap in bridge._stalls if t >= t0]
        elapsed = time.perf_counter() - t0
        frames = bridge.frames_delivered - frames0
        updates = engine.snapshot().stats.book_updates - updates0
        rss_mb = psutil.Process().memory_info().rss / 1e6
        result = {
            "fps": frames / elapsed,
            "diffs_per_s": updates / elapsed,
            "max_stall_ms": max(max(probe, default=0.0), worst_loop - 1.0),
            "rss_mb": rss_mb,
        }
        window.close()
        bridge.close()
        engine.stop()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
