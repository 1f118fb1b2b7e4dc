"""Shared test setup: Qt runs headless (offscreen), waits are patient, nothing leaks.

- Waits default to ``kit.WAIT_MS``: ``qtbot.waitUntil``/``waitSignal`` give a loaded machine tens
  of seconds, so slowness never turns a test red (budgets live in ``make bench``).
- hypothesis has no per-example deadline for the same reason.
- A test that leaves an engine thread running fails at teardown: the next test must start clean.
"""

from __future__ import annotations

import os

# Before any PySide6 import (pytest-qt imports Qt when it builds ``qapp``).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings
from kit import WAIT_MS, WAIT_S
from pytestqt.qtbot import QtBot

settings.register_profile("tradedeck", deadline=None, print_blob=True)
settings.load_profile("tradedeck")

ENGINE_THREAD_PREFIX = "tradedeck-"


class PatientQtBot(QtBot):
    """QtBot whose waits default to ``WAIT_MS`` instead of pytest-qt's 5 s."""

    def waitUntil(self, callback: Any, *, timeout: int = WAIT_MS) -> None:
        super().waitUntil(callback, timeout=timeout)

    def waitSignal(self, signal: Any = None, *, timeout: int = WAIT_MS, **kw: Any) -> Any:
        return super().waitSignal(signal, timeout=timeout, **kw)

    def waitSignals(self, signals: Any = None, *, timeout: int = WAIT_MS, **kw: Any) -> Any:
        return super().waitSignals(signals, timeout=timeout, **kw)

    def waitCallback(self, *, timeout: int = WAIT_MS, **kw: Any) -> Any:
        return super().waitCallback(timeout=timeout, **kw)

    def waitExposed(self, widget: Any, *, timeout: int = WAIT_MS) -> Any:
        return super().waitExposed(widget, timeout=timeout)

    def waitActive(self, widget: Any, *, timeout: int = WAIT_MS) -> Any:
        return super().waitActive(widget, timeout=timeout)


@pytest.fixture
def qtbot(qapp: Any, request: pytest.FixtureRequest) -> QtBot:
    return PatientQtBot(request)


def _engine_threads() -> list[threading.Thread]:
    return [
        t for t in threading.enumerate() if t.name.startswith(ENGINE_THREAD_PREFIX) and t.is_alive()
    ]


@pytest.fixture
def no_leaked_threads_or_timers(qapp: Any) -> Iterator[None]:
    """For widget tests: views start no threads or timers of their own (the bridge's frames drive
    them), and leave none behind. Opt in with ``pytestmark = pytest.mark.usefixtures(...)``."""
    from PySide6.QtCore import QObject, QThreadPool, QTimer
    from PySide6.QtWidgets import QApplication

    before = set(threading.enumerate())
    yield
    qapp.processEvents()
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leaked, f"threads leaked: {leaked}"
    assert QThreadPool.globalInstance().activeThreadCount() == 0
    owners: list[QObject] = [qapp, *QApplication.allWidgets()]
    active = [t for o in owners for t in o.findChildren(QTimer) if t.isActive()]
    assert not active, f"timers left running: {active}"


@pytest.fixture(autouse=True)
def _no_leaked_engine_threads() -> Iterator[None]:
    """Fail the test that leaves a tradedeck thread (engine, feed, worker) running."""
    before = set(_engine_threads())
    yield
    leaked = [t for t in _engine_threads() if t not in before]
    for t in leaked:
        t.join(timeout=WAIT_S / 4)  # one that is on its way out gets the time to finish
    still = [t.name for t in leaked if t.is_alive()]
    assert still == [], f"test left threads running: {still} (stop the engine in a finally)"
