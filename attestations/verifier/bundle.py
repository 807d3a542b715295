"""What the verifier reads: a bundle's four files, and their lines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BUNDLE_FILES = ("manifest.json", "manifest.sig", "headers.jsonl", "records.jsonl")


@dataclass(frozen=True)
class BundleFiles:
    """The raw bytes of a bundle's four files; None for a file that is missing or unreadable."""

    name: str
    manifest: bytes | None
    manifest_sig: bytes | None
    headers: bytes | None
    records: bytes | None

    @classmethod
    def from_reader(cls, name: str, read: Callable[[str], bytes]) -> BundleFiles:
        """Read the four files with ``read(file_name)``; a file it cannot read (``OSError``
        or ``ValueError``) is None, and the verifier says what that means."""

        def attempt(file: str) -> bytes | None:
            try:
                return read(file)
            except (OSError, ValueError):
                return None

        manifest, sig, headers, records = (attempt(f) for f in BUNDLE_FILES)
        return cls(name, manifest, sig, headers, records)

    @classmethod
    def read_dir(cls, path: str | Path) -> BundleFiles:
        """Read a bundle folder on the local file system."""
        folder = Path(path)
        return cls.from_reader(str(path), lambda file: (folder / file).read_bytes())


def split_lines(data: bytes) -> list[tuple[int, bytes]]:
    """Lines of a JSONL file as ``(line_no, bytes)``: split on ``\\n``, empty segments dropped."""
    return [(n, seg) for n, seg in enumerate(data.split(b"\n"), start=1) if seg]
