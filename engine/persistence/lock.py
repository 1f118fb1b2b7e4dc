"""One tradedeck per data directory: an ``flock`` on ``<data_dir>/tradedeck.lock``.

Two processes writing one account would each believe their own cash; the second is refused with
the pid of the first. ``flock`` is released by the kernel when the holder dies, even by SIGKILL,
so a stale lock file never blocks a restart. The file is never deleted (deleting it would let a
third process lock a fresh inode while the second still holds the old one). POSIX only.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from engine.persistence.errors import DataDirLocked, StorageError, UnwritableDataDir

LOCK_FILENAME = "tradedeck.lock"


class InstanceLock:
    """An exclusive lock on a data directory, held until ``release`` (or process exit)."""

    def __init__(self, data_dir: Path, fd: int) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILENAME
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> InstanceLock:
        """Take the lock or raise ``DataDirLocked`` naming the holder's pid."""
        path = data_dir / LOCK_FILENAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError as exc:
            raise UnwritableDataDir(
                data_dir, f"cannot create {path.name} ({exc.strerror})"
            ) from exc
        except OSError as exc:
            raise StorageError(f"Cannot open the lock file {path}: {exc.strerror}.") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            pid = _read_pid(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DataDirLocked(data_dir, pid) from None
            raise StorageError(f"Cannot lock {path}: {exc.strerror}.") from exc
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise UnwritableDataDir(data_dir, f"cannot write {path.name} ({exc.strerror})") from exc
        return cls(data_dir, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Unlock; idempotent. The pid is cleared so a reader never names a dead process."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _read_pid(fd: int) -> int | None:
    """The holder's pid, or ``None`` if it has not written it yet (or wrote nonsense)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
