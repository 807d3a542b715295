"""Rewriting a pack replaces the folder in one step and leaves no temporary folder behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipelines.evidence.pack import _exchange, write_pack


def test_a_rewrite_replaces_the_folder_and_the_zip(tmp_path: Path) -> None:
    dest = tmp_path / "evidence" / "LN1"
    first = write_pack(str(dest), {"loan.json": b'{"v":1}', "records.jsonl": b"a\n"})
    second = write_pack(str(dest), {"loan.json": b'{"v":2}'})
    assert first != second
    assert sorted(p.name for p in dest.iterdir()) == ["loan.json"]
    assert (dest / "loan.json").read_bytes() == b'{"v":2}'
    assert hashlib.sha256((tmp_path / "evidence" / "LN1.zip").read_bytes()).hexdigest() == second
    assert sorted(p.name for p in (tmp_path / "evidence").iterdir()) == ["LN1", "LN1.zip"]


def test_two_local_folders_swap_in_one_step(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("new")
    (b / "x").write_text("old")
    assert _exchange(str(a), str(b))
    assert (b / "x").read_text() == "new" and (a / "x").read_text() == "old"
