"""The test kit: deadlines, shared-data paths and markers every test module uses.

Deadlines are hang guards, not budgets: a loaded or slow machine makes the suite slower, never red.
Speed targets live in ``make bench``.
"""

from __future__ import annotations

import os
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

WAIT_S = 60.0  # how long any wait for a condition may take before the test fails
WAIT_MS = int(WAIT_S * 1000)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
TICKS = DATA / "ticks_l2"

# CI lays ../shared beside the clone: there a missing file is a broken setup, so tests that need
# it run (and fail loudly) instead of being skipped.
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def needs_data(path: Path = DATA) -> pytest.MarkDecorator:
    """Skip when ``path`` (in ../shared/data) is absent on a developer's machine; run under CI."""
    return pytest.mark.skipif(
        not path.exists() and not ON_CI, reason=f"{path} not available (../shared/data)"
    )


class RecordingSubmit:
    """A stand-in for the bridge's ``submit``: records commands, hands out futures the test
    completes (or leaves open)."""

    def __init__(self) -> None:
        self.commands: list[Any] = []
        self.futures: list[Future[Any]] = []

    def __call__(self, command: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.commands.append(command)
        self.futures.append(future)
        return future
