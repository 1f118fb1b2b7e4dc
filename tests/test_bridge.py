"""The engine -> Qt bridge coalesces: at most ~30 frames a second however fast the market runs,
one ``events`` signal per frame, and no event lost on the way.

Nothing here depends on how fast the machine is: coalescing is shown with a burst the GUI thread
cannot interleave, the cap as an upper bound on frames per second of wall time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kit import WAIT_S
from PySide6.QtCore import QEventLoop, QTimer
from pytestqt.qtbot import QtBot

from app.bridge import EngineBridge
from engine import Engine, EngineConfig, OrderDenied, SubmitOrder

MAX_HZ = 30.0


class StubEngine:
    """Plays the engine's side of the bridge: the test calls ``tick``/``publish`` as the engine
    thread would. ``snapshot()`` returns how many snapshots were taken, so a frame tells which
    state it carried."""

    def __init__(self) -> None:
        self._on_snapshot: list[Callable[[], None]] = []
        self._listeners: list[Callable[[Any], None]] = []
        self.ticks = 0

    def on_snapshot(self, callback: Callable[[], None]) -> Callable[[], None]:
        self._on_snapshot.append(callback)
        return lambda: self._on_snapshot.remove(callback)

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback)

    def snapshot(self) -> int:
        return self.ticks

    def tick(self) -> None:
        self.ticks += 1
        for callback in list(self._on_snapshot):
            callback()

    def publish(self, event: Any) -> None:
        for callback in list(self._listeners):
            callback(event)

    @property
    def connected(self) -> bool:
        return bool(self._on_snapshot or self._listeners)


class Recorder:
    def __init__(self, bridge: EngineBridge) -> None:
        self.frames: list[Any] = []
        self.frame_times: list[float] = []
        self.batches: list[tuple[Any, ...]] = []
        bridge.frame.connect(self._on_frame)
        bridge.events.connect(self.batches.append)

    def _on_frame(self, snap: Any) -> None:
        self.frames.append(snap)
        self.frame_times.append(time.perf_counter())

    @property
    def events(self) -> list[Any]:
        return [e for batch in self.batches for e in batch]


def _spin(seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


@pytest.fixture
def stub(qtbot: QtBot) -> Iterator[tuple[StubEngine, EngineBridge, Recorder]]:
    engine = StubEngine()
    bridge = EngineBridge(engine, max_hz=MAX_HZ)  # type: ignore[arg-type]
    yield engine, bridge, Recorder(bridge)
    bridge.close()


def test_a_burst_becomes_one_frame_carrying_the_latest_state_and_every_event(
    stub: tuple[StubEngine, EngineBridge, Recorder], qtbot: QtBot
) -> None:
    engine, _bridge, seen = stub
    # 10,000 ticks and 40 events before the GUI thread gets to run: one wake-up is queued.
    for k in range(10_000):
        engine.tick()
        if k % 250 == 0:
            engine.publish(("event", k))
    qtbot.waitUntil(lambda: len(seen.frames) >= 1)
    _spin(3 / MAX_HZ)  # room for a second frame, were one (wrongly) queued
    assert seen.frames == [10_000]
    assert seen.batches == [tuple(("event", k) for k in range(0, 10_000, 250))]


def test_frames_are_capped_however_fast_the_engine_ticks(
    stub: tuple[StubEngine, EngineBridge, Recorder], qtbot: QtBot
) -> None:
    engine, _bridge, seen = stub
    stop = threading.Event()
    published: list[int] = []

    def engine_thread() -> None:
        k = 0
        while not stop.is_set():
            engine.tick()
            if k % 97 == 0:
                published.append(k)
                engine.publish(k)
            k += 1
            if k % 500 == 0:
                time.sleep(0)  # let the GUI thread have the GIL now and then

    worker = threading.Thread(target=engine_thread, name="test-fake-engine")
    worker.start()
    try:
        qtbot.waitUntil(lambda: len(seen.frames) >= 25)
    finally:
        stop.set()
        worker.join(WAIT_S)
    qtbot.waitUntil(lambda: seen.events[-1:] == published[-1:])
    # Every event arrives once, in order, in no more batches than there were frames.
    assert seen.events == published
    assert len(seen.batches) <= len(seen.frames)
    # The cap: frames sit on a 1/MAX_HZ grid, so n frames span at least (n - 1) intervals
    # (1 ms of slack per frame for the timer's rounding).
    times = seen.frame_times
    span = times[-1] - times[0]
    assert span >= (len(times) - 1) * (1 / MAX_HZ - 0.001)
    # Each frame shows the newest state at its time: snapshots only move forward.
    assert seen.frames == sorted(seen.frames)
    assert len(set(seen.frames)) == len(seen.frames)


def test_close_stops_delivery(
    stub: tuple[StubEngine, EngineBridge, Recorder], qtbot: QtBot
) -> None:
    engine, bridge, seen = stub
    engine.tick()
    qtbot.waitUntil(lambda: len(seen.frames) == 1)
    engine.tick()  # a frame is now due on the grid, its timer pending
    bridge.close()
    assert not engine.connected
    for _ in range(100):
        engine.tick()
        engine.publish("late")
    _spin(5 / MAX_HZ)
    assert seen.frames == [1]
    assert "late" not in seen.events


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(EngineConfig(data_dir=tmp_path, sim_rate=30.0, latency_ms=Decimal(0))).start()
    yield eng
    eng.stop()


def test_the_real_engine_delivers_every_event_once_in_frames(engine: Engine, qtbot: QtBot) -> None:
    bridge = EngineBridge(engine)
    seen = Recorder(bridge)
    try:
        # 40 refused orders (qty 0): each is one OrderDenied event, sent in a burst.
        futures = [
            engine.submit(SubmitOrder(symbol="BTC/USDT", side="buy", type="market", qty="0"))
            for _ in range(40)
        ]
        answers = [f.result(WAIT_S) for f in futures]
        qtbot.waitUntil(
            lambda: sum(isinstance(e, OrderDenied) for e in seen.events) >= len(answers)
        )
        _spin(3 / MAX_HZ)
    finally:
        bridge.close()
    denied = [e for e in seen.events if isinstance(e, OrderDenied)]
    assert denied == answers
    assert all(isinstance(a, OrderDenied) and a.limit == "qty" for a in answers)
    assert len(seen.batches) <= len(seen.frames)
    assert seen.frames[-1].stats.book_updates >= seen.frames[0].stats.book_updates
