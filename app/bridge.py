"""The one bridge from the engine thread to Qt: coalesced frames, never one signal per tick.

The engine calls ``_on_engine_snapshot`` / ``_on_engine_event`` on its own thread. They only set a
flag and, if none is pending, emit one queued ``_wake`` signal. On the GUI thread ``_on_wake``
delivers at most ``max_hz`` frames a second: it pulls the *latest* snapshot and the events queued
since the previous frame, and emits ``frame`` and ``events`` once each. Whatever the tick rate,
the GUI sees at most ``max_hz`` signals a second from here.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections import deque
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from engine import Engine, EngineSnapshot

_STALL_PROBE_MS = 10


class EngineBridge(QObject):
    frame = Signal(object)  # EngineSnapshot, <= max_hz per second
    events = Signal(object)  # tuple of engine events since the previous frame
    _wake = Signal()

    def __init__(self, engine: Engine, *, max_hz: float = 30.0, parent: QObject | None = None):
        super().__init__(parent)
        self._engine = engine
        self._min_interval = 1.0 / max_hz
        self._pending = False
        self._pending_lock = threading.Lock()
        self._events: deque[Any] = deque()
        self._last_frame = 0.0
        self._frame_times: deque[float] = deque(maxlen=120)
        self.frames_delivered = 0
        self._closed = False
        self._wake.connect(self._on_wake, Qt.ConnectionType.QueuedConnection)
        self._deliver_timer = QTimer(self)
        self._deliver_timer.setSingleShot(True)
        self._deliver_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._deliver_timer.timeout.connect(self._deliver)
        # GUI stall probe: a short timer whose late firings measure how long the GUI was blocked.
        self._probe = QTimer(self)
        self._probe.setInterval(_STALL_PROBE_MS)
        self._probe.timeout.connect(self._on_probe)
        self._probe_last = time.perf_counter()
        self._stalls: deque[tuple[float, float]] = deque(maxlen=600)
        self._unsubscribe = [
            engine.on_snapshot(self._on_engine_snapshot),
            engine.subscribe(self._on_engine_event),
        ]
        self._probe.start()

    # ---------------------------------------------------------------- engine thread
    def _on_engine_snapshot(self) -> None:
        with self._pending_lock:
            if self._pending:
                return
            self._pending = True
        self._wake.emit()

    def _on_engine_event(self, event: Any) -> None:
        self._events.append(event)
        self._on_engine_snapshot()

    # ---------------------------------------------------------------- GUI thread
    @Slot()
    def _on_wake(self) -> None:
        if self._closed:
            return  # a wake-up queued before close(): nothing is delivered after it
        # Frames are due on a fixed grid (last due time + interval), so a timer that fires a
        # little late does not push every later frame back: the rate holds at max_hz.
        wait = self._min_interval - (time.perf_counter() - self._last_frame)
        if wait <= 0.001:
            self._deliver()
        elif not self._deliver_timer.isActive():
            self._deliver_timer.start(max(1, round(wait * 1000)))

    @Slot()
    def _deliver(self) -> None:
        if self._closed:
            return
        with self._pending_lock:
            self._pending = False
        try:
            snap = self._engine.snapshot()
        except RuntimeError:
            return
        now = time.perf_counter()
        due = self._last_frame + self._min_interval
        self._last_frame = due if now - due < self._min_interval else now
        self._frame_times.append(now)
        self.frames_delivered += 1
        batch = []
        while self._events:
            batch.append(self._events.popleft())
        self.frame.emit(snap)
        if batch:
            self.events.emit(tuple(batch))

    @Slot()
    def _on_probe(self) -> None:
        now = time.perf_counter()
        gap_ms = (now - self._probe_last) * 1000.0 - _STALL_PROBE_MS
        self._probe_last = now
        self._stalls.append((now, max(0.0, gap_ms)))

    # ---------------------------------------------------------------- API
    def submit(self, command: Any) -> concurrent.futures.Future[Any]:
        return self._engine.submit(command)

    def snapshot(self) -> EngineSnapshot:
        return self._engine.snapshot()

    @property
    def fps(self) -> float:
        times = [t for t in self._frame_times if t >= time.perf_counter() - 2.0]
        if len(times) < 2:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    @property
    def max_stall_ms(self) -> float:
        """Worst GUI stall over the last ~5 s."""
        cutoff = time.perf_counter() - 5.0
        return max((g for t, g in self._stalls if t >= cutoff), default=0.0)

    def close(self) -> None:
        self._closed = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self._probe.stop()
        self._deliver_timer.stop()
