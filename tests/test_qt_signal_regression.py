"""Guard against the PySide6 6.12.0 signal crash.

On CPython 3.11, PySide6 6.12.0 aborts the whole process after a few thousand `Signal.emit()`
calls ("Fatal Python error: bool_dealloc"): a refcount bug on emitted payloads. The bridge emits
a frame and an events signal ~30 times a second, so the app would die within minutes. The emits
run in a child process because the failure is an abort, not an exception.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import PySide6

EMITS = 200_000
QUEUED_EMITS = 20_000

CHILD = textwrap.dedent(
    f"""
    import sys
    import threading
    import time

    from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal, Slot


    class Emitter(QObject):
        flag = Signal(bool)
        number = Signal(int)
        payload = Signal(object)


    class Receiver(QObject):
        def __init__(self):
            super().__init__()
            self.count = 0
            self.total = 0

        @Slot(bool)
        def on_flag(self, value):
            self.count += 1
            self.total += int(value)

        @Slot(int)
        def on_number(self, value):
            self.count += 1
            self.total += value

        @Slot(object)
        def on_payload(self, value):
            self.count += 1
            self.total += len(value)


    app = QCoreApplication(sys.argv[:1])
    emitter, receiver = Emitter(), Receiver()
    emitter.flag.connect(receiver.on_flag)
    emitter.number.connect(receiver.on_number)
    emitter.payload.connect(receiver.on_payload)

    # direct connections: the slot runs inside emit(), as for signals within the GUI thread
    expected_total = 0
    for i in range({EMITS}):
        kind = i % 3
        if kind == 0:
            emitter.flag.emit(i % 2 == 0)
            expected_total += int(i % 2 == 0)
        elif kind == 1:
            emitter.number.emit(i)
            expected_total += i
        else:
            emitter.payload.emit(("frame", i))
            expected_total += 2
    assert receiver.total == expected_total, (receiver.total, expected_total)
    print("direct", receiver.count, flush=True)

    # queued connections from another thread: what the engine -> GUI bridge does
    queued = Receiver()
    source = Emitter()
    source.flag.connect(queued.on_flag, Qt.ConnectionType.QueuedConnection)
    source.number.connect(queued.on_number, Qt.ConnectionType.QueuedConnection)
    source.payload.connect(queued.on_payload, Qt.ConnectionType.QueuedConnection)

    def produce():
        for i in range({QUEUED_EMITS}):
            kind = i % 3
            if kind == 0:
                source.flag.emit(True)
            elif kind == 1:
                source.number.emit(1)
            else:
                source.payload.emit((i,))

    thread = threading.Thread(target=produce)
    thread.start()
    thread.join()
    deadline = time.monotonic() + 60
    while queued.count < {QUEUED_EMITS} and time.monotonic() < deadline:
        app.processEvents()
    print("queued", queued.count, flush=True)
    """
)


def test_signal_emits_do_not_crash() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=240
    )
    detail = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, f"signal emits crashed the interpreter: {detail}"
    assert f"direct {EMITS}" in proc.stdout, detail
    assert f"queued {QUEUED_EMITS}" in proc.stdout, detail


def test_pyside6_below_6_12() -> None:
    version = tuple(int(p) for p in PySide6.__version__.split(".")[:2])
    assert version < (6, 12), (
        f"PySide6 {PySide6.__version__} is installed, but 6.12.0 on CPython 3.11 aborts the "
        "process after a few thousand Signal.emit() calls ('Fatal Python error: bool_dealloc'); "
        "keep 'PySide6-Essentials<6.12' in pyproject.toml until a fixed release passes "
        "test_signal_emits_do_not_crash"
    )
