"""Storage errors whose text a person can act on: what happened, to which file, what to do.

The runtime shows ``str(error)`` in a dialog as is, so every message names the path and says
whether anything on disk was changed.
"""

from __future__ import annotations

from pathlib import Path


class StorageError(Exception):
    """Anything the persistence layer could not do; the message is meant for the user."""


class UnwritableDataDir(StorageError):
    """The data directory (or the database file in it) cannot be created or written."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(
            f"Cannot write to the tradedeck data directory {path}: {detail}. "
            "Choose another data directory or fix its permissions."
        )


class DataDirLocked(StorageError):
    """Another tradedeck process holds the data directory's lock."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        self.data_dir = data_dir
        self.pid = pid
        who = f"Another tradedeck (pid {pid})" if pid is not None else "Another tradedeck process"
        super().__init__(
            f"{who} is already using the data directory {data_dir}. "
            "Close it first, or start this one with a different data directory."
        )


class CorruptDatabase(StorageError):
    """The database file is damaged, emptied, missing or missing its tables.

    ``marker`` is the data directory's account marker when one exists: an account was created
    there, so the database is never replaced by a fresh one, and starting afresh means moving
    both aside.
    """

    def __init__(self, path: Path, detail: str, marker: Path | None = None) -> None:
        self.path = path
        self.detail = detail
        self.marker = marker
        aside = f"it and {marker.name}" if marker is not None else "it"
        super().__init__(
            f"The tradedeck database {path} is damaged ({detail}). The file was left untouched. "
            f"Move {aside} aside (or restore a backup) to start with a fresh account; "
            "SQLite's '.recover' command may rescue data from a copy of it."
        )


class SchemaTooNew(StorageError):
    """The database was written by a newer tradedeck than this one."""

    def __init__(self, path: Path, found: int, known: int) -> None:
        self.path = path
        self.found = found
        self.known = known
        super().__init__(
            f"The tradedeck database {path} has schema version {found}, but this version of "
            f"tradedeck only knows versions up to {known}: it was written by a newer tradedeck. "
            "The file was left untouched. Upgrade tradedeck, or use a different data directory."
        )
