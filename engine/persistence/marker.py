"""The account marker, ``<data_dir>/tradedeck.account``: proof that an account lives here.

It is written once, right after a database's schema is first committed (and, for a data
directory from before markers, the first time its database opens cleanly). From then on a
database that is missing, empty (0 bytes) or without tradedeck's tables is reported as damaged,
never replaced by a fresh account: SQLite itself would happily treat an emptied file as a new,
empty database. The content (JSON: the database file name and the account's creation time) is
for the person reading the error; a marker that cannot be parsed still counts. The file is
written atomically (temp file, fsync, rename, fsync of the directory) and never changed after.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.persistence.errors import UnwritableDataDir

MARKER_FILENAME = "tradedeck.account"


@dataclass(frozen=True, slots=True)
class AccountMarker:
    path: Path
    database: str | None
    created_utc: str | None

    def describe(self) -> str:
        """E.g. "an account was created here on 2026-12-07T02:53:00Z (see tradedeck.account)"."""
        when = f" on {self.created_utc}" if self.created_utc else ""
        return f"an account was created here{when} (see {self.path.name})"


def read_marker(data_dir: Path) -> AccountMarker | None:
    """The marker in ``data_dir``, or ``None`` if there is none."""
    path = data_dir / MARKER_FILENAME
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except OSError:
        return AccountMarker(path, None, None)  # it exists: that is what counts
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return AccountMarker(path, None, None)
    database, created = data.get("database"), data.get("created_utc")
    return AccountMarker(
        path,
        database if isinstance(database, str) else None,
        created if isinstance(created, str) else None,
    )


def write_marker(data_dir: Path, database: str) -> AccountMarker:
    """Write the marker for ``database`` (a file name in ``data_dir``), durably."""
    path = data_dir / MARKER_FILENAME
    created = datetime.fromtimestamp(time.time(), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps({"database": database, "created_utc": created}, indent=2) + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(data_dir)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UnwritableDataDir(data_dir, f"cannot write {path.name} ({exc.strerror})") from exc
    return AccountMarker(path, database, created)


def _fsync_dir(data_dir: Path) -> None:
    fd = os.open(data_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
