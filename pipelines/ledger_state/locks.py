"""Locks that die with their holder: ``flock`` on a file (SQLite, one machine) and PostgreSQL
advisory locks (a shared server). A killed worker's locks are released by the kernel or by
the server when its connection drops, so no claim outlives the process that took it."""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path


def lock_key(text: str) -> int:
    """A signed 64-bit key for ``text`` (PostgreSQL advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


def lock_file_name(text: str) -> str:
    """The file name of the lock of ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()[:40] + ".lock"


class FileLock:
    """An exclusive ``flock`` on ``<folder>/<sha256 of name>.lock``."""

    def __init__(self, folder: Path, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / lock_file_name(name)
        self._fd: int | None = None

    def acquire(self, wait: bool = True) -> bool:
        """Take the lock, waiting for it unless ``wait`` is False; whether it was taken."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        """Let the lock go (closing the file releases the ``flock``)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
