"""A process killed with SIGKILL mid-trading loses no fill that had been published."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.persistence import Store

ROOT = Path(__file__).resolve().parents[1]

TRADER = r"""
import sys, time
from decimal import Decimal
from engine import Engine, EngineConfig, OrderFilled, SubmitOrder

eng = Engine(EngineConfig(data_dir=sys.argv[1], seed=3, latency_ms=Decimal(0))).start()

def on_event(ev):
    if isinstance(ev, OrderFilled):
        print("FILL", ev.fill.fill_id, flush=True)

eng.subscribe(on_event)
side = "buy"
while True:
    eng.submit(SubmitOrder(symbol="BTC/USDT", side=side, type="market", qty=Decimal("0.001")))
    side = "sell" if side == "buy" else "buy"
    time.sleep(0.002)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_loses_no_published_fill(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", TRADER, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    published: list[str] = []
    deadline = time.monotonic() + 60
    try:
        assert proc.stdout is not None
        while len(published) < 150 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("FILL "):
                published.append(line.split()[1])
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert len(published) >= 150, "the trader did not produce enough fills"

    store = Store.open(tmp_path)
    try:
        stored = {f.fill_id for f in store.fills()}
        state = store.load_state()
    finally:
        store.close()
    missing = [f for f in published if f not in stored]
    assert missing == []
    # The stored position equals the sum of stored fills (nothing half-written).
    net = sum((f.qty if f.side == "buy" else -f.qty) for f in store_fills(tmp_path))
    assert state.positions["BTC/USDT"].qty == net


def store_fills(path: Path):  # type: ignore[no-untyped-def]
    store = Store.open(path)
    try:
        return store.fills()
    finally:
        store.close()
