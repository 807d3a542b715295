"""Reading the landing zone without leaving it: the collector's side of hostile input.

A bundle is a folder ``<landing>/<source>/<name>/`` holding four regular files. The
collector lists every entry of ``<landing>/<source>/`` and reads a bundle's files only when
each is a regular file whose real path lies inside the landing root: a symbolic link (to a
file or a folder, inside the root or not), a device, a FIFO or a socket is refused, never
opened, never followed. The four files' sizes are added up before any byte is read and
checked against ``max_bytes`` (``SMECREDIT_MAX_BUNDLE_BYTES``, default 1 GiB), and a file is
read with ``O_NOFOLLOW | O_NONBLOCK``, checked again on the open descriptor and never read
past the size it had, so a file swapped for a link or grown in between is refused too.
``headers.jsonl`` and ``records.jsonl`` are opened that way as streams, which the verifier
reads line by line.

A refused bundle is ``Unreadable``: the ingest path gives it a ``bundle_unreadable``
quarantine entry and an ``ingest_log`` row, so every folder seen is accounted for. Object
stores have no links or devices: there the checks are the entry's type and size.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

from pipelines.errors import SmecreditError
from pipelines.lake import filesystem

BUNDLE_FILES = ("manifest.json", "manifest.sig", "headers.jsonl", "records.jsonl")
DEFAULT_MAX_BUNDLE_BYTES = 1 << 30
ENV_MAX_BUNDLE_BYTES = "SMECREDIT_MAX_BUNDLE_BYTES"
UNREADABLE = "bundle_unreadable"
READ_BUFFER = 1 << 20  # the buffer a JSONL file is streamed through


class Unreadable(SmecreditError):
    """A bundle the collector refuses to read; the message is the one-line reason."""


@dataclass(frozen=True)
class Entry:
    """One entry of ``<landing>/<source>/``: a bundle folder, or why it is not one."""

    uri: str
    problem: str | None = None


def max_bundle_bytes(env: dict[str, str] | None = None) -> int:
    """``SMECREDIT_MAX_BUNDLE_BYTES`` from ``env`` (default 1 GiB).

    Raises:
        ValueError: the value is not a positive integer.
    """
    value = (os.environ if env is None else env).get(ENV_MAX_BUNDLE_BYTES, "").strip()
    if not value:
        return DEFAULT_MAX_BUNDLE_BYTES
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{ENV_MAX_BUNDLE_BYTES} must be a positive number of bytes, got {value!r}")
    return int(value)


def _is_local(fs: Any) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _inside(root: str, path: str) -> bool:
    real_root, real = os.path.realpath(root), os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def list_entries(landing_uri: str, source: str) -> list[Entry]:
    """Every entry of ``<landing>/<source>/`` except hidden ones (``.name``, uploads in
    progress), in name order: folders as bundles, anything else with the reason it is
    refused. A missing source folder has no entries."""
    fs, root = filesystem(landing_uri)
    folder = f"{root}/{source}"
    protocol = landing_uri.split("://", 1)[0] + "://" if "://" in landing_uri else ""
    if _is_local(fs):
        if not os.path.lexists(folder):
            return []
        if os.path.islink(folder) or not os.path.isdir(folder) or not _inside(root, folder):
            return [Entry(f"{protocol}{folder}", "the source folder is a symbolic link or not a folder")]
        found = []
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            mode = entry.stat(follow_symlinks=False).st_mode
            problem = None if stat.S_ISDIR(mode) else f"the bundle folder is {_kind(mode)}"
            found.append(Entry(f"{protocol}{folder}/{entry.name}", problem))
        return found
    if not fs.isdir(folder):
        return []
    names = sorted(
        info["name"].rstrip("/") for info in fs.ls(folder, detail=True) if info["type"] == "directory"
    )
    return [Entry(f"{protocol}{n}") for n in names if not n.rsplit("/", 1)[-1].startswith(".")]


def _open_local(path: str, expected: int) -> int:
    """A descriptor on a regular file opened without following a link or blocking on a
    FIFO, whose size is still ``expected`` (its size when it was checked)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable(f"{os.path.basename(path)} is {_kind(info.st_mode)}")
        if info.st_size != expected:
            raise Unreadable(f"{os.path.basename(path)} changed size while it was read")
    except BaseException:
        os.close(fd)
        raise
    return fd


class _Bounded(io.RawIOBase):
    """A descriptor read no further than ``left`` bytes: a file grown since it was checked
    gives no more than its checked size."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd, self._size, self._pos = fd, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._pos = os.lseek(self._fd, offset, whence)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        got = os.readv(self._fd, [memoryview(buffer)[:want]])
        self._pos += got
        return got

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


def _stream_local(path: str, expected: int) -> BinaryIO:
    """``path`` opened as by ``_open_local``, read through a buffer (the lines of a JSONL
    file are then read one at a time)."""
    return io.BufferedReader(_Bounded(_open_local(path, expected), expected), READ_BUFFER)


def _read_local(path: str, expected: int) -> bytes:
    """All of a regular file opened as by ``_open_local``, at most ``expected`` bytes."""
    with _Bounded(_open_local(path, expected), expected) as raw:
        chunks, left = [], expected
        while left > 0:
            chunk = raw.read(min(left, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


def _local_sizes(landing_root: str, folder: str) -> dict[str, int]:
    """The size of each bundle file present; raises ``Unreadable`` for a link, a special
    file or a path outside the landing root."""
    if os.path.islink(folder) or not _inside(landing_root, folder):
        raise Unreadable("the bundle folder is a symbolic link or lies outside the landing root")
    sizes = {}
    for name in BUNDLE_FILES:
        path = os.path.join(folder, name)
        try:
            mode = os.lstat(path)
        except FileNotFoundError:
            continue  # a missing file is the verifier's to judge (manifest_invalid, ...)
        if not stat.S_ISREG(mode.st_mode):
            raise Unreadable(f"{name} is {_kind(mode.st_mode)}: refused, never followed")
        if not _inside(landing_root, path):
            raise Unreadable(f"{name} lies outside the landing root")
        sizes[name] = mode.st_size
    return sizes


def _remote_sizes(fs: Any, folder: str) -> dict[str, int]:
    sizes = {}
    for name in BUNDLE_FILES:
        path = f"{folder}/{name}"
        try:
            info = fs.info(path)
        except FileNotFoundError:
            continue
        if info.get("type") != "file":
            raise Unreadable(f"{name} is a {info.get('type')}, not a file")
        sizes[name] = int(info.get("size") or 0)
    return sizes


class BundleReader:
    """Reads a bundle's files only as the checks allow: ``reader(file_name)`` gives a file's
    bytes, ``reader.open(file_name)`` a binary stream over them (local files; elsewhere the
    bytes are read whole); both raise ``FileNotFoundError`` for a missing file (the verifier
    judges that) and ``Unreadable`` for a file that cannot be opened safely."""

    def __init__(self, fs: Any, folder: str, sizes: dict[str, int], local: bool) -> None:
        self._fs, self._folder, self._sizes, self.local = fs, folder, sizes, local

    def _size(self, name: str) -> int:
        if name not in self._sizes:
            raise FileNotFoundError(name)
        return self._sizes[name]

    def open(self, name: str) -> BinaryIO:
        """A stream over the file ``name``."""
        if not self.local:
            return io.BytesIO(self(name))
        size = self._size(name)
        with _opened_safely(name):
            return _stream_local(f"{self._folder}/{name}", size)

    def __call__(self, name: str) -> bytes:
        size = self._size(name)
        if self.local:
            with _opened_safely(name):
                return _read_local(f"{self._folder}/{name}", size)
        with self._fs.open(f"{self._folder}/{name}", "rb") as handle:
            data = bytes(handle.read(size + 1))
        if len(data) != size:
            raise Unreadable(f"{name} changed size while it was read")
        return data


@contextmanager
def _opened_safely(name: str) -> Iterator[None]:
    """A local open that fails for any reason but a missing file (ELOOP: the file was swapped
    for a link since it was checked) is ``Unreadable``; a missing file stays FileNotFoundError."""
    try:
        yield
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise Unreadable(f"{name} cannot be opened safely: {exc.strerror or exc}") from None


def bundle_reader(landing_uri: str, bundle_uri: str, max_bytes: int) -> BundleReader:
    """The reader of one bundle's files (``BundleReader``), once its files have passed the
    checks.

    Raises:
        Unreadable: a file is a link or a special file, lies outside the landing root, or
            the bundle's files add up to more than ``max_bytes``; nothing has been read.
    """
    fs, folder = filesystem(bundle_uri)
    local = _is_local(fs)
    sizes = _local_sizes(filesystem(landing_uri)[1], folder) if local else _remote_sizes(fs, folder)
    total = sum(sizes.values())
    if total > max_bytes:
        raise Unreadable(
            f"the bundle's files hold {total:,} bytes, "
            f"over the limit of {max_bytes:,} ({ENV_MAX_BUNDLE_BYTES})"
        )
    return BundleReader(fs, folder, sizes, local)
