"""One tradedeck per data directory: an ``flock`` on the directory itself, plus a pid file.

Two processes writing one account would each believe their own cash (and reuse each other's fill
ids); the second is refused with the pid of the first.

The lock that decides is an ``flock`` on the data directory's own inode, not on a file in it: a
directory that holds the database cannot be deleted or replaced while it is in use, so deleting
``tradedeck.lock`` (or the database, or its ``-wal``) does not let a second writer in. Why not lock
the database file: SQLite guards it with POSIX ``fcntl`` locks, which the kernel drops for the
whole process as soon as *any* descriptor of that file is closed, so a second descriptor opened
and closed by us would silently cancel SQLite's own locks (sqlite.org/howtocorrupt.html, 2.2).
Why not ``PRAGMA locking_mode=EXCLUSIVE``: it shuts out every reader, the ``sqlite3`` shell
included, and a refused instance could not say who holds it. The directory lock touches no file
SQLite uses, readers stay possible, and ``/proc/locks`` names the holder on Linux.

``<data_dir>/tradedeck.lock`` is still written and ``flock``-ed: it carries the holder's pid for
other systems and keeps out an older tradedeck that only knows that file. Both locks are released
by the kernel when the holder dies, even by SIGKILL, so nothing stale ever blocks a restart; the
file is never deleted. POSIX only.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
from pathlib import Path

from engine.persistence.errors import DataDirLocked, StorageError, UnwritableDataDir

log = logging.getLogger(__name__)

LOCK_FILENAME = "tradedeck.lock"

_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
# A file system that cannot flock a directory (NFS emulates flock with fcntl, which needs a
# writable descriptor): the pid file's lock is then the only one, and a warning says so.
_NO_DIR_LOCK = (errno.EBADF, errno.ENOLCK, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP)


class InstanceLock:
    """An exclusive lock on a data directory, held until ``release`` (or process exit)."""

    def __init__(self, data_dir: Path, dir_fd: int | None, fd: int) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILENAME
        self._dir_fd = dir_fd
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> InstanceLock:
        """Take both locks or raise ``DataDirLocked`` naming the holder's pid."""
        dir_fd = _lock_directory(data_dir)
        try:
            fd = _lock_pid_file(data_dir)
        except BaseException:
            if dir_fd is not None:
                os.close(dir_fd)
            raise
        return cls(data_dir, dir_fd, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Unlock; idempotent. The pid is cleared so a reader never names a dead process."""
        fd, self._fd = self._fd, None
        dir_fd, self._dir_fd = self._dir_fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
            if dir_fd is not None:
                os.close(dir_fd)


def _lock_directory(data_dir: Path) -> int | None:
    """The deciding lock; ``None`` where the file system cannot lock a directory."""
    try:
        dir_fd = os.open(data_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise UnwritableDataDir(data_dir, f"cannot open it ({exc.strerror})") from exc
    try:
        fcntl.flock(dir_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(dir_fd)
        if exc.errno in _BUSY:
            raise DataDirLocked(data_dir, holder_pid(data_dir)) from None
        if exc.errno in _NO_DIR_LOCK:
            log.warning(
                "%s: this file system cannot lock a directory (%s); only %s guards against a "
                "second tradedeck, and deleting it would let one in",
                data_dir,
                exc.strerror,
                LOCK_FILENAME,
            )
            return None
        raise StorageError(f"Cannot lock the data directory {data_dir}: {exc.strerror}.") from exc
    return dir_fd


def _lock_pid_file(data_dir: Path) -> int:
    path = data_dir / LOCK_FILENAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError as exc:
        raise UnwritableDataDir(data_dir, f"cannot create {path.name} ({exc.strerror})") from exc
    except OSError as exc:
        raise StorageError(f"Cannot open the lock file {path}: {exc.strerror}.") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        pid = _read_pid(fd)
        os.close(fd)
        if exc.errno in _BUSY:
            raise DataDirLocked(data_dir, pid) from None
        raise StorageError(f"Cannot lock {path}: {exc.strerror}.") from exc
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError as exc:
        os.close(fd)
        raise UnwritableDataDir(data_dir, f"cannot write {path.name} ({exc.strerror})") from exc
    return fd


def holder_pid(data_dir: Path) -> int | None:
    """Who holds ``data_dir``: the kernel's word (``/proc/locks``), else the pid file's."""
    pid = _flock_holder(data_dir)
    if pid is not None:
        return pid
    try:
        fd = os.open(data_dir / LOCK_FILENAME, os.O_RDONLY)
    except OSError:
        return None
    try:
        return _read_pid(fd)
    finally:
        os.close(fd)


def _flock_holder(path: Path) -> int | None:
    """The pid holding an ``flock`` on ``path``'s inode per ``/proc/locks`` (Linux), or ``None``.

    A line reads ``1: FLOCK  ADVISORY  WRITE 4242 fe:00:2147329 0 EOF`` (device in hex). Some
    file systems (btrfs subvolumes, overlayfs) report another device to ``stat``, so an inode-only
    match is accepted when it names a single pid.
    """
    try:
        st = os.stat(path)
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    exact: set[int] = set()
    same_inode: set[int] = set()
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK" or "->" in fields:
            continue
        try:
            major, minor, inode = fields[5].split(":")
            pid = int(fields[4])
            dev = (int(major, 16), int(minor, 16))
            ino = int(inode)
        except ValueError:
            continue
        if ino != st.st_ino or pid <= 0:
            continue
        same_inode.add(pid)
        if dev == (os.major(st.st_dev), os.minor(st.st_dev)):
            exact.add(pid)
    for candidates in (exact, same_inode):
        if len(candidates) == 1:
            return next(iter(candidates))
    return None


def _read_pid(fd: int) -> int | None:
    """The holder's pid, or ``None`` if it has not written it yet (or wrote nonsense)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
