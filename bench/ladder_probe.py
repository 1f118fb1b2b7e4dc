"""Time the ladder applying real engine snapshots, offscreen, and print JSON (``bench_ladder``).

Snapshots come from a running engine on the simulated market at ``--depth`` levels per side, so the
changes per frame are the market's, not a synthetic pattern. Only ``apply_snapshot`` is timed
(model update + dataChanged); the paint that follows is Qt's, between frames.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--frames", type=int, default=1500)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtWidgets import QApplication

    from engine import Engine, EngineConfig
    from widgets.ladder import LadderWidget
    from widgets.selection import SymbolSelection

    app = QApplication(sys.argv[:1])
    snaps = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = EngineConfig(data_dir=Path(tmp), sim_rate=20.0, book_depth=args.depth)
        engine = Engine(cfg).start()
        try:
            last = None
            deadline = time.monotonic() + 120
            while len(snaps) < args.frames and time.monotonic() < deadline:
                snap = engine.snapshot()
                if snap is not last:
                    snaps.append(snap)
                    last = snap
                time.sleep(0.0005)
        finally:
            engine.stop()
    selection = SymbolSelection()
    ladder = LadderWidget(selection, depth=args.depth)
    ladder.resize(520, 900)
    ladder.show()
    app.processEvents()
    times = []
    rebuilt = ladder.model.rows_formatted
    for snap in snaps:
        t0 = time.perf_counter()
        ladder.apply_snapshot(snap)
        times.append(time.perf_counter() - t0)
        app.processEvents()  # paint between frames, as the window does (not timed)
    times_ms = sorted(t * 1000 for t in times)
    levels = max(len(s.books[s.symbols[0]].bids) for s in snaps)
    print(
        json.dumps(
            {
                "frames": len(times_ms),
                "levels": levels,
                "median_ms": statistics.median(times_ms),
                "p99_ms": times_ms[min(len(times_ms) - 1, int(len(times_ms) * 0.99))],
                "rows_formatted_per_frame": (ladder.model.rows_formatted - rebuilt) / len(snaps),
            }
        )
    )
    ladder.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
