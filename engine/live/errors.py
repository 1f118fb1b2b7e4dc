"""Errors of the live engine shell."""

from __future__ import annotations

from typing import Any


class EngineNotRunning(RuntimeError):
    """A command was sent to an engine that is not (or no longer) running."""


class NotPersisted(RuntimeError):
    """The command's effect happened in memory but could not be written to the database.

    Its event was not published; ``event`` is it. Trading is halted until a probe write
    succeeds (the backlog is then written and published in order) and the halt is reset.
    """

    def __init__(self, event: Any, message: str) -> None:
        super().__init__(message)
        self.event = event
