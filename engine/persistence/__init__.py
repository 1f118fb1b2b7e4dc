"""SQLite persistence (the only package that touches the database): ``Store.open(data_dir)``."""

from engine.persistence.errors import (
    CorruptDatabase,
    DataDirLocked,
    SchemaTooNew,
    StorageError,
    UnwritableDataDir,
)
from engine.persistence.lock import LOCK_FILENAME
from engine.persistence.records import AccountSnapshotRecord, RestoredState, RiskStateRecord
from engine.persistence.schema import LATEST_VERSION, MIGRATIONS
from engine.persistence.store import DB_FILENAME, RECENT_LIMIT, Store

__all__ = [
    "DB_FILENAME",
    "LATEST_VERSION",
    "LOCK_FILENAME",
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
