"""Tampered copies of a simulated bundle, for tests and drills: each kind is one attack and
lands in the quarantine with a known reason when the copy is verified."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

from attestations.ledger import jsonl, resign_manifest, write_files
from attestations.verifier import BUNDLE_FILES
from pipelines.simulate.config import WorldConfig
from pipelines.simulate.ledger_export import Consortium

# kind -> the reason its altered lines get, and how many lines it alters ("all" or 1)
TAMPERS: dict[str, tuple[str, str]] = {
    "edit-record": ("proof_invalid", "1"),
    "drop-signatures": ("header_untrusted", "all"),
    "truncate": ("manifest_mismatch", "all"),
    "garbage-line": ("line_invalid", "1"),
    "foreign-signature": ("manifest_invalid", "all"),
}


def load_world_config(world: Path) -> WorldConfig:
    """The configuration a world was generated with (its ``world.json``)."""
    data = json.loads((world / "world.json").read_text())
    data["start"] = date.fromisoformat(data["start"])
    data["other_banks"] = tuple(data["other_banks"])
    return WorldConfig(**data)


def _edit_first_leaf(lines: list[dict[str, Any]]) -> None:
    record = json.loads(lines[0]["leaf"])
    record["record_id"] = record["record_id"] + "-forged"
    lines[0]["leaf"] = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def tamper_bundle(bundle: Path, dest: Path, how: str, world: Path) -> Path:
    """Write a copy of ``bundle`` at ``dest`` altered as ``how`` says (one of ``TAMPERS``).

    Raises:
        ValueError: ``how`` is not a known kind, or the bundle is empty.
    """
    if how not in TAMPERS:
        raise ValueError(f"unknown tamper {how!r}; expected one of {', '.join(TAMPERS)}")
    files = {name: (bundle / name).read_bytes() for name in BUNDLE_FILES}
    if not files["records.jsonl"].strip():
        raise ValueError(f"bundle {bundle} has no records to tamper with")
    consortium = Consortium(load_world_config(world))
    source = json.loads(files["manifest.json"])["source"]
    exporter = consortium.exporters[source].key
    records = [json.loads(x) for x in files["records.jsonl"].split(b"\n") if x]
    headers = [json.loads(x) for x in files["headers.jsonl"].split(b"\n") if x]
    if how == "edit-record":
        _edit_first_leaf(records)
        files = resign_manifest({**files, "records.jsonl": jsonl(records)}, exporter)
    elif how == "drop-signatures":
        for line in headers:
            line["signatures"] = line["signatures"][:2]
        files = resign_manifest({**files, "headers.jsonl": jsonl(headers)}, exporter)
    elif how == "truncate":
        files["records.jsonl"] = files["records.jsonl"][: len(files["records.jsonl"]) - 40]
    elif how == "garbage-line":
        files = resign_manifest(
            {**files, "records.jsonl": files["records.jsonl"] + b"\x00\xff garbage\n"}, exporter
        )
    else:  # foreign-signature: the manifest signed by another data owner's key
        other = next(s for s in consortium.exporters if s != source)
        files = resign_manifest(files, consortium.exporters[other].key)
    shutil.rmtree(dest, ignore_errors=True)
    return write_files(dest, files)
