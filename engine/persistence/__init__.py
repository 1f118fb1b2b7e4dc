"""SQLite persistence (the only package that touches the database): ``Store.open(data_dir)``."""

from engine.persistence.errors import (
    CorruptDatabase,
    DataDirLocked,
    SchemaTooNew,
    StorageError,
    UnwritableDataDir,
)
from engine.persistence.lock import LOCK_FILENAME
from engine.persistence.marker import MARKER_FILENAME
from engine.persistence.records import AccountSnapshotRecord, RestoredState, RiskStateRecord
from engine.persistence.schema import LATEST_VERSION, MIGRATIONS
from engine.persistence.store import (
    CHECKPOINT_BACKSTOP_S,
    CHECKPOINT_INTERVAL_S,
    DB_FILENAME,
    RECENT_LIMIT,
    Store,
)

__all__ = [
    "CHECKPOINT_BACKSTOP_S",
    "CHECKPOINT_INTERVAL_S",
    "DB_FILENAME",
    "LATEST_VERSION",
    "LOCK_FILENAME",
    "MARKER_FILENAME",
    "MIGRATIONS",
    "RECENT_LIMIT",
    "AccountSnapshotRecord",
    "CorruptDatabase",
    "DataDirLocked",
    "RestoredState",
    "RiskStateRecord",
    "SchemaTooNew",
    "StorageError",
    "Store",
    "UnwritableDataDir",
]
