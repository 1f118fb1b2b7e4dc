"""A private Xvfb server for tests that need a real X display (screenshots, xcb platform).

Xvfb picks a free display number itself (`-displayfd`), so parallel runs and a developer's own
X server never collide; the server is killed when the test is done. Without Xvfb the test is
skipped with the command that installs it.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

SCREEN = "1600x1000x24"
START_TIMEOUT_S = 15.0
SKIP_REASON = (
    "Xvfb is not installed: `apt-get install --no-install-recommends xvfb` "
    "(`make test` does it when run as root)"
)


def _read_display(fd: int, proc: subprocess.Popen[bytes], timeout: float) -> str:
    """Xvfb writes the display number it chose, then a newline, once it accepts clients."""
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"Xvfb did not report a display within {timeout:.0f} s")
        if proc.poll() is not None:
            raise RuntimeError(f"Xvfb exited with status {proc.returncode} before it was ready")
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.2))
        if ready:
            chunk = os.read(fd, 64)
            if not chunk:
                raise RuntimeError("Xvfb closed its display pipe without reporting a display")
            data += chunk
    return ":" + data.decode().strip()


@contextmanager
def xvfb_server(screen: str = SCREEN) -> Iterator[str]:
    """Run Xvfb on a free display for the duration of the block; yields e.g. ':1'."""
    binary = shutil.which("Xvfb")
    if binary is None:
        pytest.skip(SKIP_REASON)
    read_fd, write_fd = os.pipe()
    # stderr goes to a file, not a pipe: a chatty Xvfb must never block on a full pipe
    with tempfile.TemporaryFile() as log:
        command = [binary, "-displayfd", str(write_fd), "-screen", "0", screen]
        command += ["-nolisten", "tcp", "-noreset"]
        proc = subprocess.Popen(
            command, pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=log
        )
        os.close(write_fd)
        try:
            try:
                display = _read_display(read_fd, proc, START_TIMEOUT_S)
            except (TimeoutError, RuntimeError) as exc:
                proc.kill()
                proc.wait(timeout=5)
                log.seek(0)
                said = log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"{exc}; Xvfb said: {said}") from exc
            yield display
        finally:
            os.close(read_fd)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


@pytest.fixture
def xvfb_display() -> Iterator[str]:
    """The DISPLAY string of a fresh Xvfb server (1600x1000, 24-bit), killed after the test."""
    with xvfb_server() as display:
        yield display
