"""Thin Qt views over immutable engine snapshots; they send commands, never touch engine state."""
