"""Hostile input and faults at ingest (issue #20), end to end: every folder in the landing
zone is accounted for, nothing outside the landing root reaches the lake, no bundle blocks
another, large records land, outer-line integers of any size get the spec's reason, and a
killed run's leftovers are removed by the next run."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from attestations.ledger import write_files
from pipelines.ingest import IngestConfig, ingest
from tests.attestations.builders import FIRM, Ledger, contribution, edit_lines, resign

SECRET = "TOP-SECRET-PAYROLL-OF-THE-BANK"


def _table(lake: Path, name: str) -> Any:
    return ds.dataset(str(lake / name), format="parquet", partitioning="hive").to_table().to_pandas()


def receipt(n: int, goods: str) -> dict[str, Any]:
    return {
        "record_id": f"receipt-{n}",
        "source": "supply_chain",
        "kind": "warehouse_receipt",
        "firm_id": FIRM,
        "event_time": "2025-03-01T08:00:00Z",
        "body": {
            "receipt_no": f"WR-{n}",
            "warehouse_id": "WH-1",
            "goods": goods,
            "quantity": 10,
            "unit": "t",
            "unit_value_fen": 100_000,
            "status": "issued",
            "pledgee": None,
        },
    }


class Landing:
    """A chain with one block per bundle, written into ``<tmp>/landing``."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.led = tmp, Ledger()
        self.landing = tmp / "landing"
        (tmp / "trust.json").write_text(json.dumps(self.led.policy_dict()))

    def add(
        self, name: str, records: list[dict[str, Any]], source: str = "social_insurance", folder: str = ""
    ) -> Path:
        height = self.led.seal(records).header["height"]
        files = self.led.bundle(source, first=height, last=height, bundle_id=name)
        return write_files(self.landing / source / (folder or name), files)

    def config(self, **changes: Any) -> IngestConfig:
        return IngestConfig(
            str(self.landing), str(self.tmp / "lake"), str(self.tmp / "trust.json"), 1.0, **changes
        )


def _lake_bytes(lake: Path) -> bytes:
    return b"".join(p.read_bytes() for p in lake.rglob("*") if p.is_file())


def test_links_devices_and_fifos_are_refused_accounted_for_and_never_read(tmp_path: Path) -> None:
    land = Landing(tmp_path)
    land.add("good-1", [contribution(i) for i in range(3)])
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jsonl").write_text(json.dumps({"height": 1, "leaf": SECRET}) + "\n")
    linked = land.add("records-link", [contribution(i) for i in range(3, 6)], folder="2025-01-02")
    (linked / "records.jsonl").unlink()
    (linked / "records.jsonl").symlink_to(outside / "secret.jsonl")
    elsewhere = write_files(
        outside / "bundle", land.led.bundle("social_insurance", first=0, last=0, bundle_id="x")
    )
    (land.landing / "social_insurance" / "folder-link").symlink_to(elsewhere)
    zero = land.add("dev-zero", [contribution(i) for i in range(6, 9)])
    (zero / "headers.jsonl").unlink()
    (zero / "headers.jsonl").symlink_to("/dev/zero")
    fifo = land.add("fifo", [contribution(i) for i in range(9, 12)])
    (fifo / "records.jsonl").unlink()
    os.mkfifo(fifo / "records.jsonl")
    land.add("good-2", [contribution(i) for i in range(12, 15)])

    report = ingest(land.config())
    lake = tmp_path / "lake"
    log = _table(lake, "ingest_log").set_index("bundle_id")
    assert sorted(log.index) == ["2025-01-02", "dev-zero", "fifo", "folder-link", "good-1", "good-2"]
    assert len(report.rows) == 6
    assert log.loc[["good-1", "good-2"], "verified"].tolist() == [3, 3]
    refused = log.loc[["dev-zero", "fifo", "folder-link", "2025-01-02"]]
    assert (refused.validation == "bundle_unreadable").all() and (refused.lines == 0).all()
    quarantine = _table(lake, "quarantine").set_index("bundle_id")
    details = quarantine.loc[refused.index, "detail"].to_dict()
    assert details == {
        "dev-zero": "headers.jsonl is a symbolic link: refused, never followed",
        "fifo": "records.jsonl is a FIFO: refused, never followed",
        "folder-link": "the bundle folder is a symbolic link or lies outside the landing root",
        "2025-01-02": "records.jsonl is a symbolic link: refused, never followed",
    }
    assert (quarantine.loc[refused.index, "reason"] == "bundle_unreadable").all()
    assert SECRET.encode() not in _lake_bytes(lake)
    # refused bundles are not remembered as done: once the operator fixes one, it lands
    (linked / "records.jsonl").unlink()
    write_files(linked, land.led.bundle("social_insurance", first=1, last=1, bundle_id="records-link"))
    rows = {r["bundle_id"]: r for r in ingest(land.config()).rows}
    assert rows["records-link"]["verified"] == 3 and rows["records-link"]["validation"] == "passed"
    assert set(rows) == {"records-link", "dev-zero", "fifo", "folder-link"}
    log = _table(lake, "ingest_log")  # the refusal's row made way for the landed bundle's
    assert log.bundle_uri.is_unique and "2025-01-02" not in set(log.bundle_id)
    assert "2025-01-02" not in set(_table(lake, "quarantine").bundle_id)


def test_a_bundle_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    land = Landing(tmp_path)
    big = land.add("big", [contribution(i) for i in range(40)])
    land.add("small", [contribution(40)])
    size = sum(p.stat().st_size for p in big.iterdir())
    report = ingest(land.config(max_bundle_bytes=size - 1))
    rows = {r["bundle_id"]: r for r in report.rows}
    assert rows["small"]["verified"] == 1 and rows["big"]["validation"] == "bundle_unreadable"
    quarantine = _table(tmp_path / "lake", "quarantine").set_index("bundle_id")
    assert f"hold {size:,} bytes, over the limit of {size - 1:,}" in quarantine.loc["big", "detail"]


def test_a_two_megabyte_string_member_lands(tmp_path: Path) -> None:
    land = Landing(tmp_path)
    goods = "steel coil " * 200_000  # 2.2 MB, one member of a record the spec allows
    land.add("big-string", [receipt(1, goods), receipt(2, "cement")], source="supply_chain")
    land.add("after", [contribution(0)])
    rows = {r["bundle_id"]: r for r in ingest(land.config()).rows}
    assert rows["big-string"]["verified"] == 2 and rows["after"]["verified"] == 1
    receipts = _table(tmp_path / "lake", "verified/supply_chain/warehouse_receipt").set_index("record_id")
    assert receipts.loc["receipt-1", "goods"] == goods


def test_a_bundle_that_fails_to_land_is_quarantined_and_the_others_land(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipelines.ingest.land as land_module

    land = Landing(tmp_path)
    land.add("before", [contribution(i) for i in range(3)])
    land.add("poison", [contribution(i) for i in range(3, 7)])
    land.add("after", [contribution(i) for i in range(7, 9)])
    real = land_module.land_tables

    def failing(cfg: Any, source: str, key: str, tables: Any) -> None:
        real(cfg, source, key, tables)  # some partitions are written, then it breaks
        if key.startswith("poison"):
            raise OSError("straddling object straddles two block boundaries")

    monkeypatch.setattr(land_module, "land_tables", failing)
    rows = {r["bundle_id"]: r for r in ingest(land.config()).rows}
    assert rows["before"]["verified"] == 3 and rows["after"]["verified"] == 2
    assert rows["poison"]["validation"] == "land_failed" and rows["poison"]["verified"] == 0
    lake = tmp_path / "lake"
    quarantine = _table(lake, "quarantine")
    poison = quarantine[quarantine.bundle_id == "poison"]
    assert len(poison) == 4 and set(poison.reason) == {
        "land_failed: OSError: straddling object straddles two block boundaries"
    }
    assert all(json.loads(bytes(raw))["leaf"] for raw in poison.raw)  # the lines, kept verbatim
    landed = _table(lake, "verified/social_insurance/contribution")
    assert sorted(landed.bundle_id.unique()) == ["after", "before"] and len(landed) == 5
    monkeypatch.setattr(land_module, "land_tables", real)
    again = {r["bundle_id"]: r for r in ingest(land.config()).rows}
    assert set(again) == {"poison"} and again["poison"]["verified"] == 4
    assert len(_table(lake, "verified/social_insurance/contribution")) == 9
    assert "poison" not in set(_table(lake, "quarantine").bundle_id)


def test_outer_line_integers_beyond_64_bits_get_the_spec_reasons(tmp_path: Path) -> None:
    land = Landing(tmp_path)
    folder = land.add("b", [contribution(i) for i in range(3)])
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    heights = [2**70, 0, 0]
    indexes = [0, 2**70, -(2**70)]

    def edit(lines: list[dict[str, Any]]) -> None:
        for line, height, index in zip(lines, heights, indexes, strict=True):
            line["height"], line["index"] = height, index

    files["records.jsonl"] = edit_lines(files["records.jsonl"], edit)
    write_files(folder, resign(files, land.led.exporters["social_insurance"].key))
    (row,) = ingest(land.config()).rows
    assert json.loads(row["quarantined_by_reason"]) == {"unknown_block": 1, "index_out_of_range": 2}


def test_a_killed_runs_leftovers_are_removed_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    land = Landing(tmp_path)
    land.add("b", [contribution(0)])
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    killed = temp / f"smecredit-state-{child.pid}-x1y2"
    killed.mkdir()
    (killed / "state.sqlite").write_bytes(b"\0" * 6_500_000)
    state = tmp_path / "lake" / "state"
    state.mkdir(parents=True)
    stale = state / ".tmp-test-chain.sqlite-0a1b2c"
    stale.write_bytes(b"half a state")
    ingest(land.config())
    assert not killed.exists() and not stale.exists()
    # the state store is opened in place: no temporary copy of it is left beside it
    assert {p.name for p in state.iterdir()} <= {
        "ledger-state.sqlite",
        "ledger-state.sqlite-wal",
        "ledger-state.sqlite-shm",
        "ledger-state.sqlite.locks",
    }
    assert not list(temp.glob("smecredit-state-*"))  # this run's own folder is gone too
    with sqlite3.connect(state / "ledger-state.sqlite") as db:
        assert db.execute("SELECT count(*) FROM verified_record").fetchone() == (1,)
