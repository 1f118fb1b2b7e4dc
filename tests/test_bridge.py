"""The engine -> Qt bridge coalesces: at most ~30 frames a second however fast the market runs,
one ``events`` signal per frame, and no event lost on the way."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from PySide6.QtCore import QEventLoop, QTimer
from pytestqt.qtbot import QtBot

from app.bridge import EngineBridge
from engine import Engine, EngineConfig, OrderDenied, SubmitOrder


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(EngineConfig(data_dir=tmp_path, sim_rate=30.0, latency_ms=Decimal(0))).start()
    yield eng
    eng.stop()


def _spin(seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def test_frames_are_capped_and_events_batched(engine: Engine, qtbot: QtBot) -> None:
    bridge = EngineBridge(engine)
    frames: list[float] = []
    batches: list[tuple[object, ...]] = []
    bridge.frame.connect(lambda _snap: frames.append(time.perf_counter()))
    bridge.events.connect(batches.append)
    try:
        updates_before = engine.snapshot().stats.book_updates
        # 40 refused orders (qty 0): each is one OrderDenied event, sent in a burst.
        for _ in range(40):
            engine.submit(SubmitOrder(symbol="BTC/USDT", side="buy", type="market", qty="0"))
        _spin(2.0)
        updates = engine.snapshot().stats.book_updates - updates_before
    finally:
        bridge.close()
    assert updates > 2000, "the market should be much faster than the frame rate"
    assert 40 <= len(frames) <= 2.0 * 30 + 2
    denied = [e for batch in batches for e in batch if isinstance(e, OrderDenied)]
    assert len(denied) == 40
    assert len(batches) <= len(frames)
    # Frames are spaced by the cap (allowing timer jitter), never in a per-tick burst.
    gaps = sorted(b - a for a, b in pairwise(frames))
    assert gaps[len(gaps) // 2] >= 0.025


def test_close_stops_delivery(engine: Engine, qtbot: QtBot) -> None:
    bridge = EngineBridge(engine)
    frames: list[object] = []
    bridge.frame.connect(frames.append)
    _spin(0.3)
    bridge.close()
    _spin(0.1)
    count = len(frames)
    _spin(0.5)
    assert count > 0
    assert len(frames) == count
