"""``tradedeck headless``: the engine on the sim venue without a window, for servers and soaks."""

from __future__ import annotations

import json
import signal
import threading
import time
from typing import Any

from engine import Engine, EngineConfig


def run_headless(config: EngineConfig, seconds: float, as_json: bool) -> int:
    engine = Engine(config).start()
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started = time.monotonic()
    try:
        stop.wait(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        summary: dict[str, Any] = engine.stats_summary()
        summary["wall_seconds"] = round(time.monotonic() - started, 3)
        engine.stop()
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        lag = summary["loop_lag_ms"]
        print(
            f"tradedeck headless: {summary['wall_seconds']} s on {summary['venue']} "
            f"{','.join(summary['symbols'])}\n"
            f"  book updates {summary['book_updates']} ({summary['book_updates_per_s']}/s), "
            f"trades {summary['trades']}\n"
            f"  loop lag ms p50 {lag['p50']} p99 {lag['p99']} max {lag['max']}\n"
            f"  equity {summary['equity']}  risk {summary['risk_state']}  "
            f"storage {'ok' if summary['storage_ok'] else 'FAILED'}"
        )
    return 0
