"""What the verifier reads: a bundle's four files, and their lines, as a stream.

The manifest and its signature are small and read whole. ``headers.jsonl`` and
``records.jsonl`` are read line by line (``LineStream``) while their SHA-256 is computed
over the same bytes, so the verifier's memory stays within a small multiple of the largest
line, whatever the file's size, and the bytes it hashes are the bytes it judges.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

BUNDLE_FILES = ("manifest.json", "manifest.sig", "headers.jsonl", "records.jsonl")
STREAMED = ("headers.jsonl", "records.jsonl")
READ_BUFFER = 1 << 20  # the buffer a streamed file is read through

Opener = Callable[[], BinaryIO]
"""Opens one file for reading in binary; ``OSError`` or ``ValueError`` when it cannot."""
Content = bytes | Opener | None
"""A file's bytes, or how to open it, or None when it is missing or unreadable."""


class LineStream:
    """The lines of one JSONL file, read once, in order, as ``(line_no, bytes)``: split on
    ``\\n``, empty segments dropped but counted in the line numbers (spec section 8).

    After the iteration, ``hexdigest()`` is the SHA-256 of every byte read and ``readable``
    says whether the file could be read to its end (an I/O error stops the lines there).
    """

    def __init__(self, content: Content) -> None:
        self._content = content
        self._sha = hashlib.sha256()
        self.readable = content is not None
        self.lines = 0  # non-empty lines yielded so far

    def hexdigest(self) -> str:
        """Lowercase hex SHA-256 of the bytes read so far."""
        return self._sha.hexdigest()

    def _open(self) -> BinaryIO | None:
        content = self._content
        if content is None:
            return None
        if isinstance(content, bytes):
            return io.BytesIO(content)
        try:
            return content()
        except (OSError, ValueError):
            self.readable = False
            return None

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        handle = self._open()
        if handle is None:
            return
        line_no = 0
        with handle:
            try:
                for segment in _segments(handle, self._sha.update):
                    line_no += 1
                    if segment:
                        self.lines += 1
                        yield line_no, segment
            except (OSError, ValueError):  # an I/O error: the file is unreadable from here
                self.readable = False


def _segments(handle: BinaryIO, update: Callable[[bytes], object]) -> Iterator[bytes]:
    """The segments of ``handle`` split on ``\\n`` (the empty ones too, but not the one
    after a final newline), each byte read passed to ``update`` first.

    A line longer than ``READ_BUFFER`` is first measured, then read again in one piece of
    its exact size without its newline, so that it costs its own size once rather than its
    pieces and their join (a stream that cannot seek is joined)."""
    readline = handle.readline
    seekable = handle.seekable()
    while True:
        line = readline(READ_BUFFER)
        if len(line) < READ_BUFFER or line[-1] == 10:
            if not line:
                return
            update(line)
            yield line[:-1] if line[-1] == 10 else line
            continue
        start, size, pieces = handle.tell() - len(line), len(line), [line]
        del line
        while True:
            piece = readline(READ_BUFFER)
            size += len(piece)
            pieces.append(piece)
            if seekable:
                pieces.clear()
            newline = piece[-1:] == b"\n"
            ended = newline or len(piece) < READ_BUFFER
            del piece
            if ended:
                break
        if not seekable:
            data = b"".join(pieces)
            del pieces
            update(data)
            yield data[:-1] if newline else data
            continue
        handle.seek(start)
        data = handle.read(size - newline)
        update(data)
        if newline:
            update(handle.read(1))
        yield data


class BundleFiles:
    """A bundle's four files: ``manifest`` and ``manifest_sig`` as bytes, ``headers`` and
    ``records`` as bytes or a way to open them (read as a stream by ``lines``); None for
    a file that is missing or unreadable."""

    __slots__ = ("_streamed", "manifest", "manifest_sig", "name")

    def __init__(
        self,
        name: str,
        manifest: bytes | None,
        manifest_sig: bytes | None,
        headers: Content,
        records: Content,
    ) -> None:
        self.name = name
        self.manifest = manifest
        self.manifest_sig = manifest_sig
        self._streamed: dict[str, Content] = {"headers.jsonl": headers, "records.jsonl": records}

    def lines(self, file: str) -> LineStream:
        """A new stream over the lines of ``headers.jsonl`` or ``records.jsonl``."""
        return LineStream(self._streamed[file])

    def present(self, file: str) -> bool:
        """Whether ``headers.jsonl`` or ``records.jsonl`` exists (it may still fail to read)."""
        return self._streamed[file] is not None

    def whole(self, file: str) -> bytes | None:
        """All of a streamed file's bytes, for a caller that must quote many of its lines
        (reading it once beats reading it once a line); None when it cannot be read."""
        content = self._streamed[file]
        if content is None or isinstance(content, bytes):
            return content
        try:
            with content() as handle:
                return handle.read()
        except (OSError, ValueError):
            return None

    @property
    def headers(self) -> bytes | None:
        """``headers.jsonl`` whole (see ``whole``)."""
        return self.whole("headers.jsonl")

    @property
    def records(self) -> bytes | None:
        """``records.jsonl`` whole (see ``whole``)."""
        return self.whole("records.jsonl")

    @classmethod
    def from_reader(
        cls, name: str, read: Callable[[str], bytes], open_file: Callable[[str], BinaryIO] | None = None
    ) -> BundleFiles:
        """The four files through ``read(file_name)``, or, for the two JSONL files and
        when given, ``open_file(file_name)`` (streamed: opened when the verifier reads them).
        A file it cannot read (``OSError`` or ``ValueError``) is None, and the verifier says
        what that means; ``open_file`` should raise ``FileNotFoundError`` at once for a
        missing file, so that it is missing rather than unreadable."""

        def attempt(file: str) -> bytes | None:
            try:
                return read(file)
            except (OSError, ValueError):
                return None

        manifest, sig = attempt("manifest.json"), attempt("manifest.sig")
        if open_file is None:
            headers, records = attempt("headers.jsonl"), attempt("records.jsonl")
            return cls(name, manifest, sig, headers, records)
        return cls(name, manifest, sig, *(_opener(open_file, file) for file in STREAMED))

    @classmethod
    def read_dir(cls, path: str | Path) -> BundleFiles:
        """A bundle folder on the local file system (the JSONL files streamed)."""
        folder = Path(path)
        return cls.from_reader(
            str(path),
            lambda file: (folder / file).read_bytes(),
            lambda file: open(folder / file, "rb", buffering=READ_BUFFER),
        )


def _opener(open_file: Callable[[str], BinaryIO], file: str) -> Opener | None:
    """``open_file`` bound to ``file``, or None when the file is missing (checked by opening
    it once and closing it)."""
    try:
        open_file(file).close()
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        pass  # present but unreadable: the stream says so when it is read
    return lambda: open_file(file)


def split_lines(data: bytes) -> list[tuple[int, bytes]]:
    """Lines of a JSONL file as ``(line_no, bytes)``: split on ``\\n``, empty segments dropped."""
    return [(n, seg) for n, seg in enumerate(data.split(b"\n"), start=1) if seg]
