"""Bundles read as a stream (issue #20): the lines, line numbers and digests of a stream are
those of the spec's split, whatever the buffer, and a bundle read from disk line by line
gets exactly the outcomes of the same bytes held whole."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attestations.ledger import write_files
from attestations.state import MemoryStore
from attestations.verifier import BUNDLE_FILES, BundleFiles, BundleResult, Verifier, split_lines
from attestations.verifier import bundle as bundle_module
from attestations.verifier.bundle import LineStream
from tests.attestations.builders import Ledger, contribution, edit_lines, resign


class _Unseekable(io.BytesIO):
    def seekable(self) -> bool:
        return False


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=80).map(lambda b: b.replace(b"\x00", b"\n")), buffer=st.integers(1, 9))
def test_a_stream_splits_and_hashes_as_the_spec_says(data: bytes, buffer: int) -> None:
    old = bundle_module.READ_BUFFER
    bundle_module.READ_BUFFER = buffer  # lines longer than the buffer take the long-line path
    try:
        for content in (data, lambda: io.BytesIO(data), lambda: _Unseekable(data)):
            stream = LineStream(content)  # type: ignore[arg-type]
            assert list(stream) == split_lines(data)
            assert stream.hexdigest() == hashlib.sha256(data).hexdigest()
            assert stream.lines == len(split_lines(data)) and stream.readable
    finally:
        bundle_module.READ_BUFFER = old


def test_a_file_that_fails_to_open_or_to_read_is_unreadable() -> None:
    def fails() -> BinaryIO:
        raise PermissionError("no")

    stream = LineStream(fails)
    assert list(stream) == [] and not stream.readable

    class Broken(io.BytesIO):
        def readline(self, size: int | None = -1) -> bytes:
            if self.tell() > 0:
                raise OSError("I/O error")
            return super().readline(size)

    stream = LineStream(lambda: Broken(b"a\nb\nc\n"))
    assert list(stream) == [(1, b"a")] and not stream.readable


def _outcomes(result: BundleResult) -> tuple[object, ...]:
    return (
        result.lines,
        result.bundle_failure,
        result.header_failure,
        sorted(result.trusted_headers.items()),
        [(r.line_no, r.record_id, r.leaf_hash, r.leaf) for r in result.verified],
        result.duplicate_lines,
        list(result.quarantined),
    )


def _bundle() -> tuple[Ledger, dict[str, bytes]]:
    led = Ledger()
    led.seal([contribution(i) for i in range(4)], "2025-03-02T00:00:00Z")
    led.seal([contribution(i) for i in range(4, 7)], "2025-03-02T01:00:00Z")
    return led, led.bundle()


def _tampered(led: Ledger, files: dict[str, bytes], case: str) -> dict[str, bytes]:
    key = led.exporters["social_insurance"].key
    records = files["records.jsonl"]
    if case == "records_digest":  # found only after every line was judged
        return {**files, "records.jsonl": records.replace(b'"index":1', b'"index":2', 1)}
    if case == "count":
        return resign(files, key, record_count=99)
    if case == "chain":
        return resign(files, key, chain_id="another-chain")
    if case == "chain_and_digest":
        changed = resign(files, key, chain_id="another-chain")
        return {**changed, "records.jsonl": records + b"{}\n"}
    if case == "line_edits":
        edited = edit_lines(records, lambda lines: [b"", b"not json", *lines, b"  ", lines[0]])
        return resign({**files, "records.jsonl": edited}, key)
    if case == "huge_line":
        line = json.dumps({"height": 0, "index": 0, "leaf": "x" * (3 << 20), "proof": []}).encode()
        return resign({**files, "records.jsonl": records + line + b"\n"}, key)
    if case == "no_final_newline":
        return resign({**files, "records.jsonl": records.rstrip(b"\n")}, key)
    if case == "headers_digest":
        return {**files, "headers.jsonl": files["headers.jsonl"] + b"\n"}
    return files


CASES = [
    "genuine", "records_digest", "count", "chain", "chain_and_digest", "line_edits",
    "huge_line", "no_final_newline", "headers_digest",
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_streamed_from_disk_equals_held_whole(tmp_path: Path, case: str) -> None:
    led, files = _bundle()
    files = _tampered(led, files, case)
    held = BundleFiles("b", *(files.get(f) for f in BUNDLE_FILES))
    whole = Verifier(led.policy(), MemoryStore()).evaluate(held)
    folder = write_files(tmp_path / "b", files)
    streamed = Verifier(led.policy(), MemoryStore()).evaluate(BundleFiles.read_dir(folder))
    assert _outcomes(streamed) == _outcomes(whole)
    assert streamed.lines == len(streamed.verified) + streamed.duplicates + len(streamed.quarantined)
    if case in ("records_digest", "chain_and_digest", "count"):
        assert {q.reason for q in streamed.quarantined} == {"manifest_mismatch"}
        assert not streamed.trusted_headers and streamed.header_failure is None, "nothing trusted"
        lines = split_lines(files["records.jsonl"])
        assert [q.raw for q in streamed.quarantined] == [raw for _, raw in lines]


def test_a_missing_jsonl_file_is_missing(tmp_path: Path) -> None:
    led, files = _bundle()
    folder = write_files(tmp_path / "b", files)
    (folder / "headers.jsonl").unlink()
    result = Verifier(led.policy(), MemoryStore()).evaluate(BundleFiles.read_dir(folder))
    missing = "headers.jsonl or records.jsonl is missing or unreadable"
    assert result.bundle_failure == ("manifest_mismatch", missing)
    assert result.lines == 7 and len(result.quarantined) == 7
