"""The collector stays inside the landing root: links, devices and FIFOs are refused before
anything is read, and a bundle's size is checked before its files are opened."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.landing import (
    BUNDLE_FILES,
    DEFAULT_MAX_BUNDLE_BYTES,
    Unreadable,
    bundle_reader,
    list_entries,
    max_bundle_bytes,
)

LIMIT = 1 << 20


def _bundle(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in BUNDLE_FILES:
        (folder / name).write_bytes(f"{name}\n".encode())
    return folder


def _read_all(landing: Path, bundle: Path, limit: int = LIMIT) -> dict[str, bytes]:
    read = bundle_reader(str(landing), str(bundle), limit)
    return {name: read(name) for name in BUNDLE_FILES}


def test_a_plain_bundle_reads_and_a_missing_file_is_left_to_the_verifier(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path / "landing" / "social_insurance" / "2025-01-01")
    (bundle / "manifest.sig").unlink()
    read = bundle_reader(str(tmp_path / "landing"), str(bundle), LIMIT)
    assert read("records.jsonl") == b"records.jsonl\n"
    with pytest.raises(FileNotFoundError):
        read("manifest.sig")


def test_a_records_file_linked_outside_the_landing_root_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("the bank's secrets\n")
    bundle = _bundle(tmp_path / "landing" / "supply_chain" / "2025-01-01")
    (bundle / "records.jsonl").unlink()
    (bundle / "records.jsonl").symlink_to(secret)
    with pytest.raises(Unreadable, match=r"records\.jsonl is a symbolic link: refused, never followed"):
        bundle_reader(str(tmp_path / "landing"), str(bundle), LIMIT)


def test_a_link_inside_the_root_is_refused_too(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    other = _bundle(landing / "supply_chain" / "2025-01-01")
    bundle = _bundle(landing / "supply_chain" / "2025-01-02")
    (bundle / "headers.jsonl").unlink()
    (bundle / "headers.jsonl").symlink_to(other / "headers.jsonl")
    with pytest.raises(Unreadable, match=r"headers\.jsonl is a symbolic link"):
        bundle_reader(str(landing), str(bundle), LIMIT)


def test_headers_linked_to_dev_zero_and_a_fifo_are_refused_without_blocking(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    zero = _bundle(landing / "housing_fund" / "2025-01-01")
    (zero / "headers.jsonl").unlink()
    (zero / "headers.jsonl").symlink_to("/dev/zero")
    with pytest.raises(Unreadable, match=r"headers\.jsonl is a symbolic link"):
        bundle_reader(str(landing), str(zero), LIMIT)
    fifo = _bundle(landing / "housing_fund" / "2025-01-02")
    (fifo / "records.jsonl").unlink()
    os.mkfifo(fifo / "records.jsonl")  # nobody writes to it: opening it would block forever
    with pytest.raises(Unreadable, match=r"records\.jsonl is a FIFO"):
        bundle_reader(str(landing), str(fifo), LIMIT)


def test_a_device_node_in_place_of_a_file_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("creating a device node needs root")
    bundle = _bundle(tmp_path / "landing" / "housing_fund" / "2025-01-01")
    (bundle / "headers.jsonl").unlink()
    os.mknod(bundle / "headers.jsonl", 0o600 | 0o020000, os.makedev(1, 5))  # /dev/zero's numbers
    with pytest.raises(Unreadable, match=r"headers\.jsonl is a character device"):
        bundle_reader(str(tmp_path / "landing"), str(bundle), LIMIT)


def test_the_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path / "landing" / "supply_chain" / "2025-01-01")
    with open(bundle / "records.jsonl", "wb") as big:
        big.truncate(LIMIT)  # sparse: a megabyte that costs nothing to make
    with pytest.raises(Unreadable, match=r"hold 1,048,6\d\d bytes, over the limit of 1,048,576"):
        bundle_reader(str(tmp_path / "landing"), str(bundle), LIMIT)
    assert len(_read_all(tmp_path / "landing", bundle, 2 * LIMIT)["records.jsonl"]) == LIMIT


def test_a_file_grown_after_the_check_is_refused(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path / "landing" / "supply_chain" / "2025-01-01")
    read = bundle_reader(str(tmp_path / "landing"), str(bundle), LIMIT)
    (bundle / "records.jsonl").write_bytes(b"x" * 1000)
    with pytest.raises(Unreadable, match="changed size"):
        read("records.jsonl")
    (bundle / "headers.jsonl").unlink()
    (bundle / "headers.jsonl").symlink_to(bundle / "records.jsonl")
    with pytest.raises(Unreadable, match="cannot be opened safely"):
        read("headers.jsonl")


def test_every_entry_of_a_source_folder_is_listed_with_its_problem(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    real = _bundle(landing / "supply_chain" / "2025-01-01")
    elsewhere = _bundle(tmp_path / "elsewhere" / "2025-01-02")
    (landing / "supply_chain" / "2025-01-02").symlink_to(elsewhere)
    (landing / "supply_chain" / "2025-01-03").symlink_to(real)
    (landing / "supply_chain" / "stray.txt").write_text("x")
    (landing / "supply_chain" / ".upload-in-progress").mkdir()
    entries = {Path(e.uri).name: e.problem for e in list_entries(str(landing), "supply_chain")}
    assert entries == {
        "2025-01-01": None,
        "2025-01-02": "the bundle folder is a symbolic link",
        "2025-01-03": "the bundle folder is a symbolic link",
        "stray.txt": "the bundle folder is not a regular file",
    }
    assert list_entries(str(landing), "housing_fund") == []
    (landing / "housing_fund").symlink_to(elsewhere.parent)
    (entry,) = list_entries(str(landing), "housing_fund")
    assert entry.problem == "the source folder is a symbolic link or not a folder"
    with pytest.raises(Unreadable, match="bundle folder is a symbolic link"):
        bundle_reader(str(landing), str(landing / "supply_chain" / "2025-01-02"), LIMIT)


def test_the_limit_comes_from_the_environment() -> None:
    assert max_bundle_bytes({}) == DEFAULT_MAX_BUNDLE_BYTES == 1 << 30
    assert max_bundle_bytes({"SMECREDIT_MAX_BUNDLE_BYTES": "4096"}) == 4096
    with pytest.raises(ValueError, match="must be a positive number of bytes"):
        max_bundle_bytes({"SMECREDIT_MAX_BUNDLE_BYTES": "1GB"})
