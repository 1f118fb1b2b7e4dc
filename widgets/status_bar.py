"""Health at a glance: venue, engine loop lag, market data rate, UI frame rate, storage and feed.

Everything comes from the snapshot's ``EngineStats`` except the UI frame rate, which is a property
of the GUI side: taken from ``fps_source`` (the bridge) when given, else counted from frames here.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from engine.snapshot import EngineSnapshot, EngineStats
from widgets.table_model import NEGATIVE, POSITIVE

WARN = "#ffa726"
LAG_WARN_MS = 20.0  # p99 loop lag above this means the engine is falling behind the feed


def _style(label: QLabel, color: str | None) -> None:
    label.setStyleSheet(f"color: {color}; padding: 0 6px;" if color else "padding: 0 6px;")


class StatusBar(QStatusBar):
    """Permanent labels, refreshed from each frame; ``labels[name]`` gives direct access."""

    def __init__(
        self, fps_source: Callable[[], float] | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._fps_source = fps_source
        self._frame_times: deque[float] = deque(maxlen=90)
        self._last_stats: EngineStats | None = None
        self.labels: dict[str, QLabel] = {}
        for name, tip in (
            ("venue", "Market data venue"),
            ("lag", "Engine event-loop lag, p50 / p99 over the recent window"),
            ("rate", "Market data updates applied per second"),
            ("fps", "UI frames drawn per second (capped near 30)"),
            ("storage", "Persistence (SQLite)"),
            ("feed", "Market data feed"),
        ):
            label = QLabel("–", self)
            label.setObjectName(f"status_{name}")
            label.setToolTip(tip)
            _style(label, None)
            self.addPermanentWidget(label)
            self.labels[name] = label

    @Slot(object)
    def apply_snapshot(self, snap: EngineSnapshot) -> None:
        now = time.monotonic()
        self._frame_times.append(now)
        self._show_fps(now)
        stats = snap.stats
        if stats == self._last_stats:
            return
        self._last_stats = stats
        self.labels["venue"].setText(stats.venue)
        lag = self.labels["lag"]
        lag.setText(f"lag {stats.loop_lag_ms_p50:.1f} / {stats.loop_lag_ms_p99:.1f} ms")
        _style(lag, WARN if stats.loop_lag_ms_p99 > LAG_WARN_MS else None)
        self.labels["rate"].setText(f"{stats.updates_per_s:,.0f} upd/s")
        storage = self.labels["storage"]
        if stats.storage_ok:
            storage.setText("storage OK")
            storage.setToolTip("Persistence (SQLite): writing normally")
            _style(storage, POSITIVE.name())
        else:
            storage.setText("storage ERROR")
            storage.setToolTip(f"Persistence failed: {stats.storage_error}")
            _style(storage, NEGATIVE.name())
        feed = self.labels["feed"]
        feed.setText("feed OK" if stats.feed_ok else "feed STALE")
        _style(feed, POSITIVE.name() if stats.feed_ok else WARN)

    def _show_fps(self, now: float) -> None:
        if self._fps_source is not None:
            fps = self._fps_source()
        else:
            recent = [t for t in self._frame_times if t >= now - 2.0]
            fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 else 0.0
        self.labels["fps"].setText(f"{fps:.0f} fps")
