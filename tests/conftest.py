"""Shared test setup: Qt runs headless (offscreen) so widget tests need no display."""

from __future__ import annotations

import os

# Before any PySide6 import (pytest-qt imports Qt when it builds ``qapp``).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
