"""The live engine, kept importable under its old name: ``engine.live`` is where it lives."""

from engine.live import Engine, EngineNotRunning, NotPersisted

__all__ = ["Engine", "EngineNotRunning", "NotPersisted"]
